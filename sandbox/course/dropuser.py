"""Privileges in the grading container: the runner keeps five capabilities, the kernel none.

The grading container's first process (the runner) stays root *inside the
container*: it must read the hidden tests and write the results.  The
learner's code runs in the kernel, which this launcher starts as another
user, with nothing that would let it reach the runner:

1. prctl(PR_CAPBSET_DROP) for every capability: the bounding set is empty, so
   no later execve(2) (of a set-user-ID program, say) can give one back.
2. setgroups, setgid, setuid to ``nobody`` (65534): a change of uid from 0
   clears the permitted and effective capabilities (capabilities(7),
   "Effect of user ID changes on capabilities").  A process of another uid
   cannot signal the runner, read its memory or open its /proc/PID/fd (ptrace
   access mode checks, ptrace(2)).
3. prctl(PR_SET_NO_NEW_PRIVS): execve(2) never grants privileges again.
4. stdin, stdout and stderr become /dev/null: the kernel talks to the runner
   over its ZeroMQ sockets only, so a submission cannot write into the
   runner's output, where the results travel.

The runner itself keeps only what it needs (:func:`limit_runner`): CAP_CHOWN,
CAP_KILL, CAP_SETGID, CAP_SETUID, CAP_SETPCAP, and CAP_SYS_PTRACE to read the
kernel's /proc/PID files from outside.  Without CAP_SYS_ADMIN,
CAP_DAC_READ_SEARCH and the rest, even a runner the learner managed to
subvert (it parses the kernel's messages, which the learner controls) could
not mount, open files by handle or load modules.

Usage (a kernelspec's argv): ``python -m sandbox.course.dropuser UID -f CONNECTION_FILE``
"""

from __future__ import annotations

import os
import sys

from ..isolation import capabilities
from ..kernel import syscalls as sc

# SYS_PTRACE: the checks read the kernel's /proc/PID/ns and mountinfo from outside, which
# ptrace's access check guards (ptrace(2), "Ptrace access mode checking"); the kernel, another
# uid without capabilities, can still trace or signal nothing of the runner's.
RUNNER_CAPS = ["CHOWN", "KILL", "SETGID", "SETUID", "SETPCAP", "SYS_PTRACE"]


def limit_runner() -> None:
    """Keep only :data:`RUNNER_CAPS`, in the bounding, permitted and effective sets."""
    capabilities.drop_bounding(RUNNER_CAPS)
    capabilities.set_final(RUNNER_CAPS, user_is_root=True)


def become(uid: int, gid: int) -> None:
    """Drop to ``uid``/``gid`` for good: groups first, then gid, then uid.  setresuid(2)"""
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)


def silence_stdio() -> None:
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))


def main(argv: list[str]) -> None:
    uid = int(argv[0])
    connection_file = argv[argv.index("-f") + 1]
    # The runner wrote the connection file readable by root only; the kernel gets its own
    # copy, in /tmp: world-writable, so root needs no CAP_DAC_OVERRIDE to create it there.
    with open(connection_file, "rb") as f:
        connection = f.read()
    own_copy = f"/tmp/kernel-{uid}.json"
    fd = os.open(own_copy, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.write(fd, connection)
    os.close(fd)
    os.chown(own_copy, uid, uid)
    capabilities.drop_bounding([])
    become(uid, uid)
    silence_stdio()
    # No history database: nothing of what the kernel runs is written to disk.
    os.execv(sys.executable, [sys.executable, "-m", "ipykernel_launcher", "-f", own_copy,
                              "--HistoryManager.enabled=False"])


if __name__ == "__main__":
    main(sys.argv[1:])
