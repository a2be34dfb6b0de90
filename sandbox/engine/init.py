"""``--init``: a process 1 that passes signals on and reaps zombies, as tini does.

    without --init                          with --init
    PID 1  sh -c 'sleep 100'                PID 1  the reaper (this module; no capability
                                                   but CAP_KILL, the container's seccomp filter)
                                            └── PID 2  sh -c 'sleep 100'   (the command)

Process 1 of a PID namespace is special (pid_namespaces(7)):

- the kernel delivers to it only the signals it has a handler for, so a
  ``sh`` or ``sleep`` that never asked for SIGTERM ignores ``docker stop``'s
  SIGTERM and is killed ten seconds later;
- every orphan of the namespace becomes its child, and only its wait(2)
  removes them: a program that was never written to be an init leaves them
  as zombies (``<defunct>`` in ``ps``), each holding a pid.

tini (github.com/krallin/tini), which Docker runs for ``--init``, does both
jobs and nothing else.  So does :func:`run`: it blocks every signal it will
pass on, forks the command, and then waits in sigwaitinfo(2): SIGCHLD means
"reap" (waitpid(-1, WNOHANG) until nothing is left), any other signal is
sent on to the command.  When the command exits, the reaper exits with its
exit code, or 128 + the signal that killed it; the kernel then kills
whatever else is left in the namespace.

Why no binary: the container's init is already a forked Python inside the
container's namespaces, after pivot_root.  It forks the command and stays on
as the reaper, so nothing has to be copied into the image.  The price is
memory: the reaper is a copy of the ``sandbox`` process that started it.
Its pages are shared copy-on-write, and the garbage collector is frozen so
that it does not write to (and so copy) every page; ``tests/test_lifecycle_verbs.py``
measures what it costs.
"""

from __future__ import annotations

import gc
import os
import signal

# Not passed on, as in tini: these report a fault of the reaper itself, or stop a
# background process that touches the terminal (SIGTTIN, SIGTTOU).
NOT_FORWARDED = {signal.SIGFPE, signal.SIGILL, signal.SIGSEGV, signal.SIGBUS, signal.SIGABRT,
                 signal.SIGTRAP, signal.SIGSYS, signal.SIGTTIN, signal.SIGTTOU,
                 signal.SIGKILL, signal.SIGSTOP}
FORWARDED = sorted(set(signal.valid_signals()) - NOT_FORWARDED - {signal.SIGCHLD})
WATCHED = set(FORWARDED) | {signal.SIGCHLD}
NAME = b"sandbox-init"


def run(start_command, tty: bool, confine) -> None:
    """Fork the command (``start_command`` never returns), then reap and forward until it exits.

    ``confine`` narrows the reaper after the fork (seccomp, capabilities): the
    command makes its own steps, with its own security settings.
    """
    # First: a signal that arrives between here and sigwaitinfo must wait, pending,
    # not kill us (a host `kill` of process 1 with no handler) or be lost.
    signal.pthread_sigmask(signal.SIG_BLOCK, WATCHED)
    command = os.fork()
    if command == 0:
        os.setpgid(0, 0)  # a process group of its own: Ctrl-C reaches it once, not twice
        if tty:
            os.tcsetpgrp(0, os.getpid())  # and the terminal's foreground (SIGTTOU is blocked)
        start_command()  # unblocks the signals (process.reset_signals), then execve(2)
        os._exit(127)
    for sig in FORWARDED:  # the monitor's ignored signals: back to default, still blocked
        signal.signal(sig, signal.SIG_DFL)
    _name_myself(NAME)
    confine()
    gc.disable()
    gc.freeze()  # the collector must not touch (and so copy) the pages we share
    os._exit(_reap_and_forward(command))


def _name_myself(name: bytes) -> None:
    """What ``ps`` calls us (prctl(2) PR_SET_NAME, at most 15 bytes), as Docker's is docker-init.

    Only the short name changes: /proc/1/cmdline still shows the ``sandbox``
    command line that started the container (rewriting it needs CAP_SYS_RESOURCE
    in the host's user namespace, which a rootless container has not).
    """
    from ..kernel import syscalls as sc
    sc.set_name(name)


def _reap_and_forward(command: int) -> int:
    """The reaper's loop: the command's exit code, once it has exited."""
    while True:
        sig = signal.sigwaitinfo(WATCHED).si_signo
        if sig == signal.SIGCHLD:
            code = reap(command)
            if code is not None:
                return code
            continue
        try:
            os.kill(command, sig)
        except ProcessLookupError:
            pass  # it has exited; the SIGCHLD is pending and ends the loop


def reap(command: int) -> int | None:
    """Collect every child that has exited; the command's exit code if it was among them."""
    from .monitor import exit_code
    code = None
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return code
        if pid == 0:
            return code
        if pid == command:
            code = exit_code(status)
