"""The monitor: the process that holds a container's terminal, keeps its logs and writes down how it ended.

Docker keeps a ``containerd-shim`` per container and podman a ``conmon`` for
the same job: something must be the parent of the container's process 1, so
that the kernel reports its exit status (wait(2)) to someone who records it.
The same process holds the container's side of its input and output:

    container ──stdout pipe──▶ ┐                ┌──▶ ID-json.log (sandbox.engine.jsonlog)
              ──stderr pipe──▶ ├── monitor ─────┼──▶ the caller's stdout/stderr (foreground run)
      (or -t: the pty master)  ┘   poll(2)      └──▶ attached clients (attach.sock)
    container ◀──stdin pipe─── ◀── typed keys from attached clients (-i)

Because the monitor, not the caller, holds the pty's master and the write end
of the stdin pipe, a ``-it`` container keeps its terminal when nobody is
attached: ``sandbox attach`` connects to the Unix socket ``attach.sock`` in
the container's directory and is served by the monitor, and Ctrl-P Ctrl-Q
leaves without the container noticing.  A client that is killed just closes
its socket.  The socket is in the container's 0700 directory: only its owner
(and root) can connect.

The attach protocol is small frames, each ``tag, length (4 bytes, big
endian), data``: the monitor sends ``1`` (stdout), ``2`` (stderr) and, at
the end, ``x`` (the exit code); a client sends ``i`` (input), ``e`` (end of
input) and ``w`` (window size: rows, columns), which becomes TIOCSWINSZ on
the pty (tty_ioctl(4)), so the program gets SIGWINCH as on a real terminal.

For a foreground ``run`` the monitor is a forked copy of the caller.  For a
detached one it re-executes itself as a fresh, small Python
(``python -I -S``, importing only :mod:`sandbox.engine.monitor`), so that a container left running costs
a few megabytes, not a copy of the command line or of a notebook kernel.
The monitor imports only modules that start quickly and stay small.

A container with a healthcheck has its probes run from here too: the poll
loop's timeout is the time until the next one (:mod:`sandbox.engine.health`).
"""

from __future__ import annotations

import json
import os
import select
import signal
import struct
import sys
from pathlib import Path

from .records import Container, remove_files
from ..humanize import now_iso
from .jsonlog import JsonLog, log_path

# Why ignore them: in the foreground the monitor shares the terminal's process
# group with the `sandbox` command, so Ctrl-C reaches it too.  It must outlive
# that, record the exit, and leave the signal to the container (the command
# line forwards it).  Only SIGKILL stops a monitor.
IGNORED = (signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGHUP, signal.SIGTSTP,
           signal.SIGTTIN, signal.SIGTTOU, signal.SIGPIPE, signal.SIGUSR1, signal.SIGUSR2)

SOCKET = "attach.sock"
FRAME = struct.Struct(">cI")  # tag, length
CLIENT_TIMEOUT = 10  # seconds a client may stall our writes before it is let go
MAX_TYPED = 1 << 20  # bytes of input kept for a container that does not read them yet


def ignore_signals() -> None:
    for sig in IGNORED:
        signal.signal(sig, signal.SIG_IGN)


def exit_code(status: int) -> int:
    """A wait status as a shell's ``$?``: the exit code, or 128 + the signal that killed it."""
    code = os.waitstatus_to_exitcode(status)
    return 128 - code if code < 0 else code


def frame(tag: bytes, data: bytes = b"") -> bytes:
    return FRAME.pack(tag, len(data)) + data


def unframe(buffered: bytes) -> tuple[list[tuple[bytes, bytes]], bytes]:
    """The whole frames at the start of ``buffered`` as [(tag, body)], and what is left
    (the start of a frame still arriving): a stream socket delivers bytes, not messages."""
    frames = []
    while len(buffered) >= FRAME.size:
        tag, length = FRAME.unpack_from(buffered)
        if len(buffered) < FRAME.size + length:
            break
        frames.append((tag, buffered[FRAME.size:FRAME.size + length]))
        buffered = buffered[FRAME.size + length:]
    return frames, buffered


def socket_address(dir_fd: int) -> str:
    """The socket's path through /proc/self/fd: a Unix socket's path may be only 107 bytes
    long (unix(7)), and ``ROOT/containers/<64 hex digits>/attach.sock`` can be longer."""
    return f"/proc/self/fd/{dir_fd}/{SOCKET}"


class Held:
    """The descriptors the monitor holds for one run of the container (-1: not held).

    ``out``/``err``: read ends of its stdout/stderr pipes; ``master``: its
    terminal's master side (-t); ``stdin``: write end of its stdin pipe (-i);
    ``sinks``: where a foreground run's output goes too (the caller's stdout,
    stderr); ``client``: a client attached from the start (``run -it``,
    ``start -a``), so that not one byte of output is missed.
    """

    def __init__(self, out=-1, err=-1, master=-1, stdin=-1, sinks=(-1, -1), client=-1,
                 restarter=-1, restarter_pid=0):
        self.out, self.err, self.master, self.stdin = out, err, master, stdin
        self.sinks = tuple(sinks)
        self.client = client
        self.restarter, self.restarter_pid = restarter, restarter_pid  # see fork_restarter

    def fds(self) -> list[int]:
        return [fd for fd in (self.out, self.err, self.master, self.stdin, *self.sinks,
                              self.client, self.restarter) if fd >= 0]

    def encode(self) -> str:
        return json.dumps(self.__dict__)

    @classmethod
    def decode(cls, text: str) -> "Held":
        return cls(**json.loads(text))


def watch(container: Container, init_pid: int, held: Held | None = None,
          serve: bool = False) -> int:
    """Relay and log the container's streams until its process 1 exits; record the exit;
    remove it if ``--rm``.  Returns $?.  ``serve``: accept ``attach`` clients.

    With a restart policy the exit is recorded as "restarting" (and the delay
    before the next start), in one write: ``stop`` never sees it "exited" in between.
    """
    held = held or Held()
    relay = Relay(container, held, serve)
    try:
        status = relay.run(init_pid)
    finally:
        relay.close_streams()
    code = exit_code(status)
    end_network_helper(container)
    unplugged = _unplug(container)
    oom_killed, cgroup_left, evidence = _release_cgroup(container.state.get("Cgroup"))
    delay = restart_delay(container, code) if held.restarter >= 0 else None
    state = container.write_state(Status="exited" if delay is None else "restarting",
                                  ExitCode=code, Pid=0, FinishedAt=now_iso(),
                                  OOMKilled=oom_killed, Cgroup=cgroup_left,
                                  CgroupEvidence=evidence, **unplugged,
                                  **({} if delay is None else {"RestartDelay": delay}))
    relay.say_goodbye(code)  # after the state is written: a client reads it next
    if container.spec.auto_remove and not state.get("Restarting"):  # `restart` keeps it
        with RemovalLock(container):
            remove_files(container.root, container)
        from .volumes import remove_anonymous
        remove_anonymous(container.root, container.spec.mounts)  # as Docker's --rm does
    return code


def end_network_helper(container: Container) -> None:
    """A rootless container's network helper (pasta) ends with it: sandbox.network.rootless_net."""
    state = container.state
    if state.get("RootlessNetwork"):
        from ..network.rootless_net import detach
        detach(container, state)


def _unplug(container: Container) -> dict:
    """Give back what the container's networks held: veths, addresses, published ports
    (sandbox.network.wiring); the state's Networks and Ports as Docker shows a stopped container's.
    On failure ``rm`` and ``system prune`` try again."""
    spec = container.spec
    plugged = container.state.get("Networks")
    if not (spec.networks or spec.ports or plugged):
        return {}
    try:
        from ..network.wiring import cleanup
        cleanup(container.root, container, exited=True)
    except Exception:  # noqa: BLE001 - the exit must be recorded whatever happens here
        pass
    return {"Ports": {}, "Networks": {name: dict(entry, IPAddress="", IPPrefixLen=0,
                                                 Gateway="", MacAddress="")
                                      for name, entry in (plugged or {}).items()}}


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


class Relay:
    """One poll(2) loop over the container's output, its input, the clients and its exit."""

    def __init__(self, container: Container, held: Held, serve: bool):
        self.held = held
        self.spec = container.spec
        self.log = JsonLog(log_path(container.dir), getattr(self.spec, "log_opts", None))
        self.sources = {held.master: "stdout"} if held.master >= 0 else {
            fd: name for fd, name in ((held.out, "stdout"), (held.err, "stderr")) if fd >= 0}
        self.sinks = {name: fd for name, fd in zip(("stdout", "stderr"), held.sinks) if fd >= 0}
        self.input = held.master if held.master >= 0 else held.stdin
        self.typed = b""          # input for the container that did not fit yet
        self.end_of_input = False  # close it once `typed` is written (`e` from the client)
        if self.input >= 0:
            os.set_blocking(self.input, False)  # a container that reads nothing must not stop us
        self.clients: dict = {}  # socket fd -> [socket, bytes received but not yet used]
        self.poller = select.poll()
        self.listener = None
        if serve:
            try:
                self.listener = self._listen(container.dir)
            except OSError:  # no attach, but the container is still waited for and logged
                pass
        if held.client >= 0:
            self._add_client(held.client)
        # A healthcheck's timer and probes (sandbox.engine.health): imported only when there is one.
        self.checker = _checker(container, self.poller) if self.spec.healthcheck else None

    # --- the loop -----------------------------------------------------------------
    def run(self, init_pid: int) -> int:
        """Poll until process 1 has exited and its output is drained; its wait status."""
        pidfd = os.pidfd_open(init_pid)
        self.poller.register(pidfd, select.POLLIN)
        for fd in self.sources:
            self.poller.register(fd, select.POLLIN)
        status = None
        while status is None or self.sources:
            # Once it has exited, every writer is gone (its PID namespace died with it):
            # what is left in the pipes is read to the end, with a time limit all the same.
            events = self.poller.poll(self._wait_ms(status))
            if not events and status is not None:
                break
            for fd, mask in events:
                if fd == self.input and mask & select.POLLOUT:
                    self._flush_input()
                if fd == pidfd:
                    self.poller.unregister(pidfd)
                    os.close(pidfd)
                    status = _reap(init_pid)
                    if self.checker is not None:
                        self.checker.stop()  # the timers end with the container
                        self.checker = None
                elif self.checker is not None and self.checker.owns(fd):
                    self.checker.on_ready(fd)
                elif fd in self.sources and mask & ~select.POLLOUT:
                    self._read_output(fd)
                elif fd == self.input and mask & (select.POLLERR | select.POLLHUP):
                    self._close_input()  # the container closed its end of stdin
                elif self.listener is not None and fd == self.listener.fileno():
                    self._accept()
                elif fd in self.clients:
                    self._read_client(fd)
            if self.checker is not None:
                self.checker.tick()
        return status

    def _wait_ms(self, status) -> int | None:
        """How long poll(2) may sleep: for ever while the container runs (until the
        healthcheck's next probe, if it has one); a second for its last output."""
        if status is not None:
            return 1000
        return None if self.checker is None else self.checker.wait_ms()

    def _read_output(self, fd: int) -> None:
        try:
            data = os.read(fd, 65536)
        except BlockingIOError:  # the terminal's master is non-blocking, for our writes to it
            return
        except OSError:  # EIO: the terminal's last slave side closed
            data = b""
        if not data:
            self.poller.unregister(fd)
            del self.sources[fd]
            if fd == self.input:  # the terminal is gone: nothing can be typed into it
                self.input = -1
                self.typed = b""
            return
        stream = self.sources[fd]
        self.log.write(stream, data)
        sink = self.sinks.get(stream, -1)
        if sink >= 0:
            try:
                _write_all(sink, data)
            except OSError:  # the caller's reader left (`| head`): keep logging
                self.sinks.pop(stream)
        self._broadcast(frame(b"1" if stream == "stdout" else b"2", data))

    # --- attach clients -------------------------------------------------------------
    def _listen(self, cdir: Path):
        # The C module, not `socket`: the Python wrapper imports selectors and builds
        # enums, half a megabyte more in a process that stays as long as the container.
        import _socket as socket
        self.socket_path = cdir / SOCKET
        try:
            os.unlink(self.socket_path)  # left by a monitor that was killed
        except FileNotFoundError:
            pass
        dir_fd = os.open(cdir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            address = socket_address(dir_fd)
            listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            old = os.umask(0o177)  # 0600: the owner's only, as the rest of the directory
            try:
                listener.bind(address)
            finally:
                os.umask(old)
            listener.listen(8)
        finally:
            os.close(dir_fd)
        self.poller.register(listener.fileno(), select.POLLIN)
        return listener

    def _accept(self) -> None:
        try:
            fd, _ = self.listener._accept()  # accept(2): what socket.socket.accept() calls
        except OSError:
            return
        self._add_client(fd)

    def _add_client(self, fd: int) -> None:
        import _socket
        sock = _socket.socket(fileno=fd)
        sock.settimeout(CLIENT_TIMEOUT)
        self.clients[fd] = [sock, b""]
        self.poller.register(fd, select.POLLIN)

    def _drop_client(self, fd: int) -> None:
        sock, _ = self.clients.pop(fd)
        self.poller.unregister(fd)
        sock.close()

    def _broadcast(self, data: bytes) -> None:
        for fd, (sock, _) in list(self.clients.items()):
            try:
                sock.sendall(data)
            except OSError:  # gone, or stalled for CLIENT_TIMEOUT seconds
                self._drop_client(fd)

    def _read_client(self, fd: int) -> None:
        sock, buffered = self.clients[fd]
        try:
            data = sock.recv(65536)
        except OSError:
            data = b""
        if not data:  # detached, or killed: the container does not notice
            self._drop_client(fd)
            return
        frames, self.clients[fd][1] = unframe(buffered + data)
        for tag, body in frames:
            self._client_says(tag, body)

    def _client_says(self, tag: bytes, body: bytes) -> None:
        if tag == b"w" and self.held.master >= 0:
            import fcntl
            import termios
            rows, cols = struct.unpack(">HH", body)
            fcntl.ioctl(self.held.master, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))
        elif tag == b"i" and self.input >= 0:
            self.typed += body[:MAX_TYPED - len(self.typed)]  # more waiting than that: dropped
            self._flush_input()
        elif tag == b"e" and self.input >= 0 and self.held.master < 0:
            self.end_of_input = True  # `run -i` whose stdin ended: EOF inside, once written
            self._flush_input()

    # --- the container's input: written as it makes room (POLLOUT) --------------------------
    def _flush_input(self) -> None:
        try:
            while self.typed:
                self.typed = self.typed[os.write(self.input, self.typed):]
        except BlockingIOError:
            pass
        except OSError:  # EPIPE, EIO: the container closed its input; what was typed is lost
            self._close_input()
            return
        if not self.typed and self.end_of_input:
            self._close_input()
            return
        self._poll_input()

    def _poll_input(self) -> None:
        """Watch the input for room only while typed bytes wait (the master: for output too)."""
        mask = select.POLLOUT if self.typed else 0
        if self.input in self.sources:
            mask |= select.POLLIN
        if mask:
            self.poller.register(self.input, mask)  # registering again changes the mask
        elif self.input != self.held.master:
            try:
                self.poller.unregister(self.input)
            except KeyError:
                pass

    def _close_input(self) -> None:
        """No more input: the stdin pipe is closed (EOF inside); the terminal only stops
        being watched for room (it stays the container's output)."""
        self.typed = b""
        if self.input < 0:
            return
        if self.input in self.sources:
            self.poller.register(self.input, select.POLLIN)
        else:
            try:
                self.poller.unregister(self.input)
            except KeyError:
                pass
        if self.input != self.held.master:
            os.close(self.input)
            self.held.stdin = -1
        self.input = -1

    def say_goodbye(self, code: int) -> None:
        """Tell every client the exit code, then let them go."""
        self._broadcast(frame(b"x", struct.pack(">i", code)))
        for fd in list(self.clients):
            self._drop_client(fd)

    def close_streams(self) -> None:
        if self.checker is not None:  # the loop ended early: no probe may outlive it
            self.checker.stop()
            self.checker = None
        self.log.close()
        for fd in self.held.fds():
            if fd not in (self.held.client, self.held.restarter):
                try:
                    os.close(fd)
                except OSError:
                    pass
        if self.listener is not None:
            try:
                os.unlink(self.socket_path)  # by its path: the /proc/self/fd name is gone
            except OSError:
                pass
            self.listener.close()


def _checker(container: Container, poller):
    from .health import Checker, active
    return Checker(container, poller) if active(container.spec.healthcheck) else None


def _reap(pid: int) -> int:
    try:
        return os.waitpid(pid, 0)[1]
    except ChildProcessError:  # nothing to wait for: should not happen, but record it
        return 255 << 8


def _write_all(fd: int, data: bytes) -> None:
    while data:
        data = data[os.write(fd, data):]


def _release_cgroup(paths: dict | None) -> tuple[bool, dict | None, dict]:
    """Read whether the kernel's OOM killer struck, then remove the container's cgroup.

    Returns (OOM-killed?, the cgroup's paths if it could not be removed yet,
    the kernel's memory files as they were at the end, kept as evidence).
    """
    from ..isolation.cgroups import from_paths
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


def exec_lean(root: Path, cid: str, init_pid: int, held: Held) -> None:
    """Replace this process by a fresh, small Python running :func:`main`."""
    for fd in held.fds():
        os.set_inheritable(fd, True)
    package_parent = str(Path(__file__).resolve().parents[2])  # the folder holding sandbox/
    code = ("import sys; sys.path.insert(0, sys.argv[1]); "
            "from sandbox.engine.monitor import main; main(sys.argv[2:])")
    os.execv(sys.executable, [sys.executable, "-I", "-S", "-c", code, package_parent,
                              str(root), cid, str(init_pid), held.encode()])


def main(argv: list[str]) -> None:
    root, cid, init_pid, held = Path(argv[0]), argv[1], int(argv[2]), Held.decode(argv[3])
    ignore_signals()
    container = Container(root, cid)
    code = watch(container, init_pid, held, serve=True)
    if held.restarter >= 0:
        if container.state.get("Status") == "restarting" and waited_out_backoff(container):
            os.write(held.restarter, b"go\n")
        os.close(held.restarter)  # without "go" its read fails, and it ends
        try:
            os.waitpid(held.restarter_pid, 0)  # with "go": until the new start is recorded
        except ChildProcessError:
            pass
    os._exit(code)


# --- --restart: carried out here, as Docker's daemon would (see sandbox.engine.restart) -------------
def fork_restarter(container: Container) -> tuple[int, int]:
    """A small waiting process that can start the container again; (pipe to it, its pid).

    Why not this monitor: it has made the container's PID namespace with
    unshare(2), so its children are born in that namespace, which is dead once
    process 1 has exited: fork(2) fails with ENOMEM (pid_namespaces(7)).  So,
    before that, a ``/bin/sh`` (about a megabyte) is forked to wait on a pipe:
    "go" makes it exec a fresh Python that starts the container
    (:func:`sandbox.engine.lifecycle.restart_now`); the pipe closing makes it end.
    """
    read, write = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        os.dup2(read, 0)
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, 1)
        os.dup2(null, 2)
        os.closerange(3, os.sysconf("SC_OPEN_MAX"))
        for sig in IGNORED:  # ignored signals would stay ignored across execve(2)
            signal.signal(sig, signal.SIG_DFL)
        package_parent = str(Path(__file__).resolve().parents[2])  # the folder holding sandbox/
        code = ("import sys; sys.path.insert(0, sys.argv[1]); "
                "from sandbox.engine.lifecycle import restart_now; restart_now(*sys.argv[2:])")
        os.execv("/bin/sh", ["sh", "-c", 'read go && [ "$go" = go ] && exec "$@"', "restarter",
                             sys.executable, "-I", "-S", "-c", code, package_parent,
                             str(container.root), container.id])
    os.close(read)
    return write, pid


def restart_delay(container: Container, code: int) -> float | None:
    """Seconds to wait before starting it again (:mod:`sandbox.engine.restart`); None: never."""
    import time
    from ..humanize import parse_iso
    from .restart import next_delay, should_restart
    state = container.state
    if not should_restart(container.spec.restart, code, state.get("RestartCount", 0),
                          state.get("StoppedByUser", False)):
        return None
    ran_for = time.time() - parse_iso(state.get("StartedAt") or now_iso())
    return next_delay(state.get("RestartDelay", 0.0), ran_for)


def waited_out_backoff(container: Container) -> bool:
    """Sleep the recorded delay; False if ``stop`` (or ``rm -f``) came meanwhile.

    They set ``StoppedByUser``, which is checked every 50 ms.
    """
    import time
    deadline = time.monotonic() + container.state.get("RestartDelay", 0.0)
    while True:
        if container.state.get("StoppedByUser"):
            container.write_state(Status="exited")
            return False
        if time.monotonic() >= deadline:
            return True
        time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
