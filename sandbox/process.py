"""The last steps before the user's program runs inside a container.

Shared by ``run`` (the container's process 1) and ``exec`` (a process that
joined the container): pick the user, the working directory and the
environment, find the program on the container's PATH, and execve(2) it.
Failures become Docker's exit codes: 126 when the program cannot be
executed, 127 when it does not exist.
"""

from __future__ import annotations

import errno
import os
import signal

from .errors import SandboxError

DEFAULT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class ExecFailed(SandboxError):
    """The container's program could not be started; ``exit_code`` is 126 or 127."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


def build_env(image_env: list[str], extra: list[str], hostname: str, home: str,
              tty: bool) -> dict[str, str]:
    """The environment as Docker builds it: PATH and HOSTNAME, the image's, then ``-e``."""
    env = {"PATH": DEFAULT_PATH, "HOSTNAME": hostname}
    for item in image_env + extra:
        key, sep, value = item.partition("=")
        if sep:
            env[key] = value
        elif key in os.environ:  # `-e NAME` passes the caller's value through, as Docker does
            env[key] = os.environ[key]
    if tty:
        env.setdefault("TERM", "xterm")
    env.setdefault("HOME", home)
    return env


def resolve_user(user: str) -> tuple[int, int, str]:
    """``-u`` as Docker reads it (``name``, ``uid``, ``name:group``, ``uid:gid``) → uid, gid, home.

    Names are looked up in the *container's* /etc/passwd and /etc/group, so
    this must run after the container's root is in place.
    """
    if not user:
        user = "0"
    name, _, group = user.partition(":")
    passwd = _read_db("/etc/passwd")
    entry = next((e for e in passwd if e[0] == name or (name.isdigit() and e[2] == name)), None)
    if entry:
        uid, gid, home = int(entry[2]), int(entry[3]), entry[5] or "/"
    elif name.isdigit():
        uid, gid, home = int(name), int(name) if not group else 0, "/"
    else:
        raise SandboxError(f"unable to find user {name}: no matching entries in passwd file")
    if group:
        groups = _read_db("/etc/group")
        match = next((g for g in groups if g[0] == group or g[2] == group), None)
        if match:
            gid = int(match[2])
        elif group.isdigit():
            gid = int(group)
        else:
            raise SandboxError(f"unable to find group {group}: no matching entries in group file")
    return uid, gid, home


def _read_db(path: str) -> list[list[str]]:
    try:
        with open(path) as f:
            return [line.rstrip("\n").split(":") for line in f if line.count(":") >= 2]
    except FileNotFoundError:
        return []
    except OSError as err:
        raise SandboxError(f"cannot read the image's {path}: {os.strerror(err.errno)}") from None


def find_program(cmd: str, path: str) -> str:
    """The file execve(2) will run: ``cmd`` itself if it has a slash, else the first hit on PATH."""
    if "/" in cmd:
        return cmd
    for directory in path.split(":"):
        candidate = os.path.join(directory or ".", cmd)
        if os.path.isfile(candidate) and os.access(candidate, os.X_OK):
            return candidate
    raise ExecFailed(f'exec: "{cmd}": executable file not found in $PATH', 127)


def reset_signals() -> None:
    """Give the program default signal handling and an empty signal mask.

    Ignored signals stay ignored across execve(2), and Python ignores
    SIGPIPE; a program that expects ``head`` to stop it would otherwise hang.
    """
    for sig in range(1, signal.NSIG):
        # getsignal reads Python's own table (no system call); only touch what was changed.
        if sig not in (signal.SIGKILL, signal.SIGSTOP) and signal.getsignal(sig) not in (
                signal.SIG_DFL, None):
            signal.signal(sig, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_SETMASK, [])


def exec_in_container(cmd: list[str], image_env: list[str], extra_env: list[str], user: str,
                      workdir: str, hostname: str, tty: bool, rootless: bool) -> None:
    """Become the user's program.  Only returns by raising."""
    if not cmd:
        raise SandboxError("no command specified")
    uid, gid, home = resolve_user(user)
    env = build_env(image_env, extra_env, hostname, home, tty)
    workdir = workdir or "/"
    os.makedirs(workdir, exist_ok=True)  # Docker creates a missing working directory
    os.chdir(workdir)
    _switch_user(uid, gid, rootless)
    program = find_program(cmd[0], env.get("PATH", DEFAULT_PATH))
    reset_signals()
    try:
        os.execve(program, cmd, env)
    except OSError as err:
        code = 127 if err.errno == errno.ENOENT else 126
        raise ExecFailed(f'exec: "{cmd[0]}": {os.strerror(err.errno).lower()}', code) from err


def _switch_user(uid: int, gid: int, rootless: bool) -> None:
    """Drop to the requested user: groups first, then gid, then uid (after setuid we could not)."""
    if (uid, gid) == (0, 0):
        if not rootless:
            os.setgroups([])
        return
    try:
        if not rootless:
            os.setgroups([gid])
        os.setgid(gid)
        os.setuid(uid)
    except OSError as err:
        if rootless and err.errno == errno.EINVAL:
            raise SandboxError(
                f"cannot run as uid {uid}: a rootless container maps only uid 0 to your own "
                "user; run as root to use other users") from None
        raise
