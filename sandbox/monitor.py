"""The monitor: the process that waits for a container and writes down how it ended.

Docker keeps a ``containerd-shim`` per container and podman a ``conmon`` for
the same job: something must be the parent of the container's process 1, so
that the kernel reports its exit status (wait(2)) to someone who records it.

For a foreground ``run`` the monitor is a forked copy of the caller.  For a
detached one it re-executes itself as a fresh, small Python
(``python -I -S``, importing only :mod:`sandbox.monitor`), so that a container left running costs
a few megabytes, not a copy of the command line or of a notebook kernel.
The monitor imports only modules that start quickly and stay small.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path

from .records import Container, remove_files
from .humanize import now_iso

# Why ignore them: in the foreground the monitor shares the terminal's process
# group with the `sandbox` command, so Ctrl-C reaches it too.  It must outlive
# that, record the exit, and leave the signal to the container (the command
# line forwards it).  Only SIGKILL stops a monitor.
IGNORED = (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP, signal.SIGTSTP,
           signal.SIGTTIN, signal.SIGTTOU, signal.SIGPIPE, signal.SIGUSR1, signal.SIGUSR2)


def ignore_signals() -> None:
    for sig in IGNORED:
        signal.signal(sig, signal.SIG_IGN)


def exit_code(status: int) -> int:
    """A wait status as a shell's ``$?``: the exit code, or 128 + the signal that killed it."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def watch(container: Container, init_pid: int) -> int:
    """Wait for the container's process 1, record its exit, remove it if ``--rm``.  Returns $?."""
    while True:
        try:
            _, status = os.waitpid(init_pid, 0)
            break
        except ChildProcessError:  # nothing to wait for: should not happen, but record it
            status = 255 << 8
            break
    code = exit_code(status)
    oom_killed, cgroup_left, evidence = _release_cgroup(container.state.get("Cgroup"))
    state = container.write_state(Status="exited", ExitCode=code, Pid=0, FinishedAt=now_iso(),
                                  OOMKilled=oom_killed, Cgroup=cgroup_left,
                                  CgroupEvidence=evidence)
    if container.spec.auto_remove and not state.get("Restarting"):  # `restart` keeps it
        with RemovalLock(container):
            remove_files(container.root, container)
        from .volumes import remove_anonymous
        remove_anonymous(container.root, container.spec.mounts)  # as Docker's --rm does
    return code


class RemovalLock:
    """Hold an exclusive lock on the container's directory: granted once every ``wait``
    (which holds it shared, lifecycle.wait) has read the exit code.  flock(2)"""

    def __init__(self, container: Container):
        self.fd = os.open(container.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def __enter__(self):
        import fcntl
        fcntl.flock(self.fd, fcntl.LOCK_EX)

    def __exit__(self, *exc):
        os.close(self.fd)


def _release_cgroup(paths: dict | None) -> tuple[bool, dict | None, dict]:
    """Read whether the kernel's OOM killer struck, then remove the container's cgroup.

    Returns (OOM-killed?, the cgroup's paths if it could not be removed yet,
    the kernel's memory files as they were at the end, kept as evidence).
    """
    from .cgroups import from_paths
    cgroup = from_paths(paths)
    if cgroup is None:
        return False, None, {}
    oom_killed = cgroup.oom_killed()
    evidence = cgroup.evidence()
    try:
        cgroup.remove()
    except OSError:
        return oom_killed, paths, evidence  # `rm` and `system prune` try again
    return oom_killed, None, evidence


def exec_lean(root: Path, cid: str, init_pid: int) -> None:
    """Replace this process by a fresh, small Python running :func:`main`."""
    package_parent = str(Path(__file__).resolve().parent.parent)
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "from sandbox.monitor import main; main(sys.argv[2:])")
    os.execv(sys.executable, [sys.executable, "-I", "-S", "-c", code, package_parent,
                              str(root), cid, str(init_pid)])


def main(argv: list[str]) -> None:
    root, cid, init_pid = Path(argv[0]), argv[1], int(argv[2])
    ignore_signals()
    os._exit(watch(Container(root, cid), init_pid))
