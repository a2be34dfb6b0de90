"""Foreground containers: the caller's side of ``run``, ``exec`` and ``attach`` while the program runs.

Without ``-t`` the program's output reaches the caller through its monitor
and the caller only passes on signals (Ctrl-C, ``kill``) to it.  With ``-t``
the program gets a pseudo-terminal (pty(7)): the caller switches its own
terminal to raw mode and copies bytes both ways, so that Ctrl-C becomes the
byte 0x03, which the container's terminal turns into SIGINT for the
container's foreground process, exactly as on a real terminal.

For ``run -it``, ``start -ai`` and ``attach`` the terminal's master side is
held by the container's monitor, and the caller is one of its clients
(:func:`attach`, over the monitor's socket; see :mod:`sandbox.engine.monitor`):
Ctrl-P Ctrl-Q (or ``--detach-keys``) leaves, and the container keeps its terminal.

Raw mode is entered with TCSANOW and left with TCSADRAIN (termios(3)),
never TCSAFLUSH: that would throw away what the user typed ahead, before
the container's shell printed its prompt.
"""

from __future__ import annotations

import fcntl
import os
import select
import signal
import struct
import termios
import tty as ttymod

from .engine.runtime import Started


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

    def __init__(self, signals=FORWARDED):
        self.signals = signals  # () for a terminal: Ctrl-C is a byte then, as Docker's sig-proxy
        self.pid = 0
        self.pending: list[int] = []
        self.old: dict = {}
        self.wakeup_fd = -1
        self._wakeup_w = -1
        self._old_wakeup = -1

    def __enter__(self) -> "SignalForwarder":
        self.old = {sig: signal.signal(sig, self._forward) for sig in self.signals}
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
        self.aim(started.init_pid)

    def aim(self, pid: int) -> None:
        """From now on, signals go to ``pid``; those that came while it started, too."""
        self.pid = pid
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
    container's :class:`~sandbox.engine.runtime.Stdio`, and :meth:`receive` returns
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
    saved = raw_mode(0) if stdin_is_tty else None
    if stdin_is_tty:
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
                try:
                    data = os.read(0, 65536)
                except OSError:  # EIO: our terminal hung up
                    data = b""
                if data:
                    _write_all(master, data)
                else:
                    watch.remove(0)  # end of our input: send EOF (^D) to the container
                    _write_all(master, b"\x04")
    finally:
        restore_mode(0, saved)


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


def raw_mode(fd: int) -> list | None:
    """Switch a terminal to raw mode at once, keeping typed-ahead input; return the old mode."""
    if not os.isatty(fd):
        return None
    saved = termios.tcgetattr(fd)
    ttymod.setraw(fd, termios.TCSANOW)
    return saved


def restore_mode(fd: int, saved: list | None) -> None:
    """Back to the old mode once our output is written (TCSADRAIN), keeping unread input."""
    if saved is not None:
        try:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)
        except termios.error:
            pass


# --- attach: a client of the monitor's socket -------------------------------------------
DEFAULT_DETACH_KEYS = "ctrl-p,ctrl-q"
_CTRL = "@abcdefghijklmnopqrstuvwxyz[\\]^_"  # ctrl-@ is 0, ctrl-a is 1, … ctrl-_ is 31


def parse_detach_keys(text: str) -> bytes:
    """``ctrl-p,ctrl-q`` → b"\\x10\\x11", as Docker reads ``--detach-keys`` (moby/term ToBytes):
    comma-separated keys, each a single character or ``ctrl-<one of @ a-z [ \\ ] ^ _>``."""
    from .errors import UsageError
    codes = bytearray()
    for key in text.split(","):
        if len(key) == 1:
            codes += key.encode()
        elif key.lower().startswith("ctrl-") and len(key) == 6 and key[5].lower() in _CTRL:
            codes.append(_CTRL.index(key[5].lower()))
        else:
            raise UsageError(f"invalid detach keys ({text}): Unknown character: '{key}'; use "
                             "letters or ctrl-<letter>, comma-separated, e.g. ctrl-p,ctrl-q")
    return bytes(codes)


class EscapeProxy:
    """Watch typed bytes for the detach keys, as Docker's escape proxy does.

    Bytes that may begin the sequence are held back; if the sequence
    completes, :attr:`detached` is set and they are never sent; if not, they
    are sent after all, followed by what broke the sequence.
    """

    def __init__(self, keys: bytes):
        self.keys = keys
        self.held = b""
        self.detached = False

    def feed(self, data: bytes) -> bytes:
        out = bytearray()
        for byte in data:
            if not self.keys:
                out.append(byte)
                continue
            if byte == self.keys[len(self.held)]:
                self.held += bytes([byte])
                if self.held == self.keys:
                    self.detached = True
                    return bytes(out)
                continue
            out += self.held + bytes([byte])
            self.held = b""
        return bytes(out)


def attach(sock, tty: bool, stdin: bool, stdin_once: bool, detach_keys: bytes,
           forwarder: SignalForwarder | None = None) -> int | None:
    """Be a client of a container's monitor until the container exits or we detach.

    ``sock`` is connected to the monitor (:mod:`sandbox.engine.monitor` describes the
    frames).  Returns the container's exit code, or None if the user detached.
    """
    import socket as _socket
    from .engine.monitor import frame, unframe
    saved = raw_mode(0) if tty and stdin else None
    escape = EscapeProxy(detach_keys if tty and stdin else b"")
    resized = [True]
    old_handlers = {}
    if tty:  # a hang-up or `kill` ends us, not the container, and gives the terminal back
        old_handlers = {sig: signal.signal(sig, _leave) for sig in (signal.SIGHUP, signal.SIGTERM)}
        old_handlers[signal.SIGWINCH] = signal.signal(signal.SIGWINCH,
                                                      lambda *_: resized.__setitem__(0, True))
    wake = [forwarder.wakeup_fd] if forwarder else []
    watch = [sock.fileno()] + ([0] if stdin else [])
    buffered, code = b"", None
    try:
        while code is None:
            if resized[0] and os.isatty(1):
                resized[0] = False
                rows, cols = _window_size(1)
                _send(sock, frame(b"w", struct.pack(">HH", rows, cols)), watch)
            try:
                ready, _, _ = select.select(watch + wake, [], [])
            except InterruptedError:
                continue
            if forwarder and forwarder.wakeup_fd in ready:
                forwarder.drain()
            if 0 in ready:
                try:
                    data = os.read(0, 65536)
                except OSError:  # EIO: our terminal hung up
                    data = b""
                if not data:
                    watch.remove(0)
                    if stdin_once:
                        _send(sock, frame(b"e"), watch)
                else:
                    data = escape.feed(data)
                    if data:
                        _send(sock, frame(b"i", data), watch)
                    if escape.detached:
                        return None
            if sock.fileno() in ready:
                try:
                    data = sock.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    return -1  # the monitor went away without an exit code
                frames, buffered = unframe(buffered + data)
                for tag, body in frames:
                    if tag in (b"1", b"2"):
                        _write_all(1 if tag == b"1" else 2, body)
                    elif tag == b"x":
                        code = struct.unpack(">i", body)[0]
        return code
    finally:
        restore_mode(0, saved)
        for sig, handler in old_handlers.items():
            signal.signal(sig, handler)
        try:
            sock.shutdown(_socket.SHUT_RDWR)
        except OSError:
            pass
        sock.close()


def _send(sock, data: bytes, watch: list[int]) -> None:
    """Send a frame to the monitor.  If it has closed its end (the container has just
    exited: EPIPE, ECONNRESET), stop reading our input, but go on reading what the
    monitor sent before it closed: the exit code is in there."""
    try:
        sock.sendall(data)
    except (BrokenPipeError, ConnectionResetError):
        if 0 in watch:
            watch.remove(0)


def _leave(signum, _frame) -> None:
    raise SystemExit(128 + signum)  # through the `finally`s: the terminal is restored


def _window_size(fd: int) -> tuple[int, int]:
    try:
        rows, cols, _, _ = struct.unpack("HHHH", fcntl.ioctl(fd, termios.TIOCGWINSZ,
                                                              struct.pack("HHHH", 0, 0, 0, 0)))
        return rows, cols
    except OSError:
        return 0, 0
