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

from ..isolation import capabilities
from ..errors import SandboxError

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
    for item in image_env:
        key, sep, value = item.partition("=")
        if sep:  # an image's entry without "=" is ignored: it must never read *our* environment
            env[key] = value
    for item in extra:
        key, sep, value = item.partition("=")
        if sep:
            env[key] = value
        elif key in os.environ:  # `-e NAME` passes the caller's value through, as Docker does
            env[key] = os.environ[key]
    if tty:
        env.setdefault("TERM", "xterm")
    env.setdefault("HOME", home)
    return env


class User:
    """Who the program runs as: uid, primary gid, supplementary groups, home directory."""

    def __init__(self, uid: int, gid: int, groups: list[int], home: str):
        self.uid, self.gid, self.groups, self.home = uid, gid, groups, home


def resolve_user(user: str) -> User:
    """``-u`` as Docker reads it (``name``, ``uid``, ``name:group``, ``uid:gid``) → a :class:`User`.

    Names are looked up in the *container's* /etc/passwd and /etc/group, so
    this must run after the container's root is in place.  The supplementary
    groups are every group of /etc/group that lists the user by name, as
    runc's user lookup does (and as login(1) would with initgroups(3)).
    """
    if not user:
        user = "0"
    name, _, group = user.partition(":")
    passwd = _read_db("/etc/passwd")
    groups = _read_db("/etc/group")
    entry = next((e for e in passwd if e[0] == name or (name.isdigit() and e[2] == name)), None)
    if entry:
        uid, gid, home = int(entry[2]), int(entry[3]), entry[5] or "/"
    elif name.isdigit():
        uid, gid, home = int(name), int(name) if not group else 0, "/"
    else:
        raise SandboxError(f"unable to find user {name}: no matching entries in passwd file")
    if group:
        match = next((g for g in groups if g[0] == group or g[2] == group), None)
        if match:
            gid = int(match[2])
        elif group.isdigit():
            gid = int(group)
        else:
            raise SandboxError(f"unable to find group {group}: no matching entries in group file")
    member_of = [int(g[2]) for g in groups
                 if entry and len(g) > 3 and entry[0] in g[3].split(",") and g[2].isdigit()]
    return User(uid, gid, [gid] + [g for g in member_of if g != gid], home)


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
        if not os.path.lexists(cmd):  # Go's exec.LookPath stats it first: runc's words
            raise ExecFailed(f'exec: "{cmd}": stat {cmd}: no such file or directory', 127)
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
                      workdir: str, hostname: str, tty: bool, rootless: bool,
                      security: dict, seccomp_filter: bytes | None) -> None:
    """Become the user's program.  Only returns by raising.

    The order of the last steps is the order runc uses, and each needs the one before:

    1. the seccomp filter, while this process still has CAP_SYS_ADMIN, which
       loading a filter without no_new_privs requires (seccomp(2)); the filter
       allows every call that follows;
    2. the bounding set, which needs CAP_SETPCAP: after this, nothing the
       program runs can ever regain the dropped capabilities;
    3. the user: supplementary groups, gid, then uid (after setuid we could not);
    4. the effective and permitted sets (capset(2)), and no_new_privs if asked;
    5. execve(2).
    """
    if not cmd:
        raise SandboxError("no command specified")
    who = resolve_user(user)
    env = build_env(image_env, extra_env, hostname, who.home, tty)
    workdir = workdir or "/"
    if not os.path.isdir(workdir):
        os.makedirs(workdir, exist_ok=True)  # Docker creates a missing working directory
    os.chdir(workdir)
    if seccomp_filter is not None:
        from ..isolation.seccomp import install  # already imported on the host: see runtime.confinement
        install(seccomp_filter)
    try:
        capabilities.drop_bounding(security["caps"])
        _switch_user(who, rootless)
        capabilities.set_final(security["caps"], who.uid == 0)
        if security.get("no_new_privileges"):
            from ..kernel import syscalls as sc
            sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
    except OSError as err:
        if seccomp_filter is None or security.get("seccomp") == "default":
            raise
        # A profile of the user's that refuses prctl, capset or setuid stops the runtime
        # itself, between loading the filter and starting the program: say whose fault it is.
        raise SandboxError(f"the seccomp profile {security['seccomp']} refuses a call the "
                           f"runtime makes before starting the program ({err}): allow prctl, "
                           "capset, setgroups, setgid and setuid") from None
    program = find_program(cmd[0], env.get("PATH", DEFAULT_PATH))
    reset_signals()
    try:
        os.execve(program, cmd, env)
    except OSError as err:
        code = 127 if err.errno == errno.ENOENT else 126
        raise ExecFailed(f'exec: "{cmd[0]}": {os.strerror(err.errno).lower()}', code) from err


def _switch_user(who: User, rootless: bool) -> None:
    """Drop to the requested user: groups first, then gid, then uid (after setuid we could not).

    Rootless, setgroups(2) is denied in the user namespace (only one gid is
    mapped), so the program keeps no supplementary group at all.
    """
    uid, gid = who.uid, who.gid
    if (uid, gid) == (0, 0):
        if not rootless:
            # Root with no group of its own beyond 0 gets none at all, as before: Docker's
            # root lists only the groups /etc/group names it in.
            os.setgroups(who.groups if who.groups != [0] else [])
        # Even root to root: a process that joined a remapped container's user namespace
        # (exec) is still host root for the kernel until it takes that namespace's uid 0.
        os.setresgid(0, 0, 0)
        os.setresuid(0, 0, 0)
        return
    try:
        if not rootless:
            os.setgroups(who.groups)
        os.setgid(gid)
        os.setuid(uid)
    except OSError as err:
        if rootless and err.errno == errno.EINVAL:
            raise SandboxError(
                f"cannot run as uid {uid}: a rootless container maps only uid 0 to your own "
                "user; run as root to use other users") from None
        raise
