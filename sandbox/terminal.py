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
    """

    def __init__(self):
        self.pid = 0
        self.pending: list[int] = []
        self.old: dict = {}

    def __enter__(self) -> "SignalForwarder":
        self.old = {sig: signal.signal(sig, self._forward) for sig in FORWARDED}
        return self

    def __exit__(self, *exc) -> None:
        for sig, handler in self.old.items():
            signal.signal(sig, handler)

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


def relay(master: int, started: Started, interactive: bool) -> None:
    """Copy between the caller's stdin/stdout and the pty's master until the program exits."""
    stdin_is_tty = os.isatty(0)
    saved = termios.tcgetattr(0) if stdin_is_tty else None
    if stdin_is_tty:
        ttymod.setraw(0)
        copy_window_size(0, master)
        signal.signal(signal.SIGWINCH, lambda *_: copy_window_size(0, master))
    watch = [master] + ([0] if interactive else [])
    try:
        while master in watch:
            ready, _, _ = select.select(watch, [], [])
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
