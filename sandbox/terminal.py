"""Foreground containers: the caller's side of ``run`` and ``exec`` while the program runs.

Without ``-t`` the program writes straight into the caller's descriptors and
the caller only passes on signals (Ctrl-C, ``kill``) to it.  With ``-t`` the
program gets a pseudo-terminal (pty(7)): the caller switches its own
terminal to raw mode and copies bytes both ways, so that Ctrl-C becomes the
byte 0x03, which the container's terminal turns into SIGINT for the
container's foreground process, exactly as on a real terminal.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import termios
import tty as ttymod

from .runtime import Started


FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1,
             signal.SIGUSR2)


class SignalForwarder:
    """Pass Ctrl-C, SIGTERM and friends on to the container's program.

    The handlers go in *before* the container starts: a signal that arrives
    while it is starting is kept and delivered as soon as its pid is known,
    instead of killing the command line and orphaning the container.

    Python runs a signal handler only between two steps of Python code: the
    kernel's handler just notes the signal.  A signal that lands after the
    last check and before a blocking call such as waitpid(2) would wait, not
    handled, until that call returns, which for a container that waits for
    the signal is never.  So the waiting is done in :meth:`wait` with poll(2)
    on the child's pidfd *and* on a "wakeup" pipe, into which the kernel-side
    handler writes a byte for every signal (``signal.set_wakeup_fd``, the
    self-pipe trick): a signal always ends the poll, and the Python handler
    runs.
    """

    def __init__(self):
        self.pid = 0
        self.pending: list[int] = []
        self.old: dict = {}
        self.wakeup_fd = -1
        self._wakeup_w = -1
        self._old_wakeup = -1

    def __enter__(self) -> "SignalForwarder":
        self.old = {sig: signal.signal(sig, self._forward) for sig in FORWARDED}
        self.wakeup_fd, self._wakeup_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        self._old_wakeup = signal.set_wakeup_fd(self._wakeup_w, warn_on_full_buffer=False)
        return self

    def __exit__(self, *exc) -> None:
        signal.set_wakeup_fd(self._old_wakeup)
        for sig, handler in self.old.items():
            signal.signal(sig, handler)
        os.close(self.wakeup_fd)
        os.close(self._wakeup_w)

    def drain(self) -> None:
        """Empty the wakeup pipe (its bytes only said "a signal came"; the handler did the work)."""
        try:
            while os.read(self.wakeup_fd, 512):
                pass
        except BlockingIOError:
            pass

    def wait(self, started: Started) -> int:
        """Wait for our child (the monitor) to exit, forwarding every signal; return ``$?``."""
        pidfd = os.pidfd_open(started.child_pid)
        try:
            poller = select.poll()
            poller.register(pidfd, select.POLLIN)
            poller.register(self.wakeup_fd, select.POLLIN)
            while not any(fd == pidfd for fd, _ in poller.poll()):
                self.drain()  # back in Python code: the pending handler has run or runs now
        finally:
            os.close(pidfd)
        return started.wait()

    def target(self, started: Started) -> None:
        self.pid = started.init_pid
        while self.pending:
            self._forward(self.pending.pop(0), None)

    def _forward(self, signum, _frame) -> None:
        if not self.pid:
            self.pending.append(signum)
            return
        try:
            os.kill(self.pid, signum)
        except ProcessLookupError:
            pass


class Console:
    """The caller's end of a console socket: the container sends its terminal's master side here.

    Used as a context manager around the start: ``child_fd`` goes into the
    container's :class:`~sandbox.runtime.Stdio`, and :meth:`receive` returns
    the master descriptor once the program has started.
    """

    def __init__(self):
        import socket
        self._socket = socket
        self.ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        self.child_fd = theirs.detach()

    def close_child_end(self) -> None:
        if self.child_fd >= 0:
            os.close(self.child_fd)
            self.child_fd = -1

    def receive(self) -> int:
        """The master side of the container's terminal (SCM_RIGHTS, unix(7))."""
        self.close_child_end()
        _, fds, _, _ = self._socket.recv_fds(self.ours, 16, 1)
        self.ours.close()
        if not fds:
            raise OSError("the container did not send its terminal")
        return fds[0]


def copy_window_size(from_fd: int, to_fd: int) -> None:
    """Give the container's terminal the caller's rows and columns (TIOCGWINSZ/TIOCSWINSZ)."""
    try:
        size = fcntl.ioctl(from_fd, termios.TIOCGWINSZ, struct.pack("HHHH", 0, 0, 0, 0))
        fcntl.ioctl(to_fd, termios.TIOCSWINSZ, size)
    except OSError:
        pass


def relay(master: int, started: Started, interactive: bool,
          forwarder: SignalForwarder | None = None) -> None:
    """Copy between the caller's stdin/stdout and the pty's master until the program exits.

    The ``forwarder``'s wakeup pipe is watched too, so that a signal never
    waits for the next byte to be handled.
    """
    stdin_is_tty = os.isatty(0)
    saved = termios.tcgetattr(0) if stdin_is_tty else None
    if stdin_is_tty:
        ttymod.setraw(0)
        copy_window_size(0, master)
        signal.signal(signal.SIGWINCH, lambda *_: copy_window_size(0, master))
    watch = [master] + ([0] if interactive else [])
    wake = [forwarder.wakeup_fd] if forwarder else []
    try:
        while master in watch:
            ready, _, _ = select.select(watch + wake, [], [])
            if forwarder and forwarder.wakeup_fd in ready:
                forwarder.drain()
            if master in ready:
                try:
                    data = os.read(master, 65536)
                except OSError:  # EIO: every slave side is closed, the program has exited
                    data = b""
                if not data:
                    watch.remove(master)
                else:
                    _write_all(1, data)
            if 0 in ready:
                data = os.read(0, 65536)
                if data:
                    _write_all(master, data)
                else:
                    watch.remove(0)  # end of our input: send EOF (^D) to the container
                    _write_all(master, b"\x04")
    finally:
        if saved is not None:
            termios.tcsetattr(0, termios.TCSAFLUSH, saved)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]
