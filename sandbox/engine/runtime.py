"""Starting a container, and joining one: the processes, and the order of the steps.

    sandbox run (the caller)            the command line, or a notebook's kernel
    └── monitor                         new user namespace (rootless); unshare(CLONE_NEWPID)
        ├── (restarter)                 --restart only: /bin/sh waiting on a pipe, on the host
        └── container init, PID 1       unshare(mnt, uts, ipc, net, cgroup); mount; pivot_root;
                                        seccomp; capabilities; execve
            └── (--init) the command    init forks it and stays on as the reaper (sandbox.engine.init)

Why two processes under the caller:
- unshare(CLONE_NEWPID) does not move the caller; its *next child* becomes
  PID 1 of the new namespace.  The monitor makes that call, so the caller (a
  notebook kernel, perhaps) is never changed.
- A process with threads may not create a user namespace (unshare(2),
  EINVAL), and a notebook kernel has threads.  A freshly forked child has one.
- Someone must wait(2) for PID 1 to learn its exit code and write it down,
  even after the caller has gone (``-d``, or a ``sandbox`` that was killed).

``sandbox exec`` has the same shape: a child joins the container's
namespaces with setns(2), then forks, because joining a PID namespace, like
creating one, takes effect only for children.

The monitor also holds the container's streams, logs them and serves
``attach`` (see :mod:`sandbox.engine.monitor`).  With ``--restart``, before it makes
any namespace it forks a small ``/bin/sh`` that waits on a pipe and, when
told, starts the container again: the monitor itself cannot fork once the
container's PID namespace has died with its process 1.

Two pipes carry news back to the caller: the monitor sends the host pid of
PID 1; PID 1 sends nothing if execve(2) succeeds (the pipe is close-on-exec,
so the caller reads end-of-file) or an error message if any step failed.
"""

from __future__ import annotations

import fcntl
import json
import os
import termios
from collections import namedtuple

from ..isolation import cgroups, namespaces, rootfs
from ..kernel import procfs
from ..kernel import syscalls as sc
from .records import Container
from ..errors import SandboxError
from ..humanize import now_iso
from .monitor import Held, exec_lean, fork_restarter, ignore_signals, watch
from .process import exec_in_container

ERR_FD = 3  # where PID 1 and exec'd processes keep the error pipe, right after stdio
CONSOLE_FD = 4  # and the console socket, with -t
KEPT_FDS = 100  # where a remapped init keeps its -v sources, clear of the numbers above
_moved_report_fd = 0  # set in a child once its error pipe has moved to ERR_FD

# What the container's last steps need, read on the host: its security record, its
# compiled seccomp filter (None: unconfined), and the cgroup hierarchies it is shown.
# ``network_go``: with a network to plug in, the pipe on which the monitor says "ready"
# (sandbox.network.wiring); init reads it just before the command, -1 without.
Confinement = namedtuple("Confinement", "security seccomp_filter cgroup_mounts network_go",
                         defaults=(None, -1))
NETWORK_GO_FD = 90  # where init keeps that pipe, clear of stdio's 0 to 4 and the -v sources


class Stdio:
    """The three descriptors the container's program gets as 0, 1 and 2.

    With a ``console`` (one end of a Unix socket pair), the program gets a
    terminal instead, made *inside* the container: see :func:`_open_terminal`.
    """

    def __init__(self, stdin: int = 0, stdout: int = 1, stderr: int = 2, console: int = -1,
                 client: int = -1):
        self.stdin, self.stdout, self.stderr = stdin, stdout, stderr
        self.console = console
        self.client = client  # a socket the monitor serves as an attached client from the start

    @property
    def tty(self) -> bool:
        return self.console >= 0


class Started:
    """A container that has started: who to wait for, who to signal."""

    def __init__(self, child_pid: int, init_pid: int):
        self.child_pid = child_pid  # our direct child (monitor or exec helper); 0 if detached
        self.init_pid = init_pid    # the container's program, as the host numbers it
        self.error = ""             # why the program did not start, if it did not
        self.error_code = 0

    def as_error(self) -> SandboxError:
        """The start failure as an exception carrying Docker's exit code."""
        error = SandboxError(self.error)
        error.exit_code = self.error_code or 125
        return error

    def wait(self) -> int:
        """Wait for our child to exit and return the container's exit code."""
        from .monitor import exit_code
        while True:
            try:
                _, status = os.waitpid(self.child_pid, 0)
                return exit_code(status)
            except ChildProcessError:
                return 255


# --- run ------------------------------------------------------------------------
def start(container: Container, stdio: Stdio, detach: bool) -> Started:
    """Start a created (or exited) container.  With ``detach``, the caller is not its parent."""
    # The cgroup is made (and its limits written) before any process exists, so that
    # the container's first instruction already runs under its limits.
    security = container.spec.security or {}
    # The host's cgroup layout, read once: for the container's cgroup, and for the view of
    # it that init mounts at /sys/fs/cgroup.
    found = cgroups.mounts()
    cgroup = cgroups.prepare(container.id, cgroups.Limits(**container.spec.limits),
                             privileged=security.get("privileged", False), found=found)
    from ..isolation.systempaths import own_hierarchies
    found = own_hierarchies(found, cgroup)
    _import_what_the_monitor_needs(container.spec)
    info_r, info_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        _child_guard(lambda: _monitor_branch(container, stdio, detach, cgroup, info_w, err_w,
                                             found),
                     info_w)
    os.close(info_w)
    os.close(err_w)
    report = _read_all(info_r)
    failure = _read_all(err_r)
    if detach:
        os.waitpid(pid, 0)  # the intermediate process of the double fork exits at once
        pid = 0
    news = json.loads(report or "{}")
    started = Started(pid, news.get("pid", 0))
    for message in (news, json.loads(failure or "{}")):
        if "error" in message:
            started.error, started.error_code = message["error"], message["code"]
    if started.error and not news.get("pid") and cgroup is not None:
        # The monitor failed before it took the container over (it records the cgroup
        # and removes it at the end): the cgroup made here is ours to remove.
        try:
            cgroup.remove()
        except OSError:
            pass
    return started


def _import_what_the_monitor_needs(spec) -> None:
    """Import now the modules the monitor imports to plug the container in: a child
    inherits its parent's modules with fork(2), so a long-lived caller (the Python API, a
    notebook) imports them once, not once in each container's monitor (a few milliseconds
    of every ``sandbox.run``).  For the command line it is the same work, done earlier."""
    if spec.networks and not spec.rootless:
        from ..isolation import links, userns  # noqa: F401
        from ..kernel import netlink  # noqa: F401
        from ..network import networks, ports, wiring  # noqa: F401


def _monitor_branch(container: Container, stdio: Stdio, detach: bool, cgroup, info_w: int,
                    err_w: int, cgroup_mounts: list) -> None:
    """Runs in the child: becomes the monitor, forks the container's init, waits for it."""
    spec = container.spec
    if detach:
        # Double fork: the monitor must not be the caller's child, or a notebook
        # kernel would collect a zombie for every detached container.
        os.setsid()
        if os.fork() != 0:
            os._exit(0)
    ignore_signals()
    # Before any namespace or stream is made: the restarter stays on the host, holding nothing.
    restarter = fork_restarter(container) if detach and _restarts(spec) else (-1, 0)
    # Read on the host, as the monitor: a remapped init could not read the container's files.
    confined = confinement(container)._replace(cgroup_mounts=cgroup_mounts)
    streams = _HeldStreams(spec, stdio, detach)
    streams.held.restarter, streams.held.restarter_pid = restarter
    stdio = streams.container_side
    # The network namespace first, so that the container's processes are forked into it.
    # It is plugged in (sandbox.network.wiring: veth, address, route, published ports) while init
    # builds the root filesystem: init waits for "go" only just before the command.
    netns, go = _network_namespace(container)
    rootless_networked: dict = {}
    if go is not None:
        confined = confined._replace(network_go=go[0])
    host_netns = _enter_netns(netns)
    if spec.userns:
        waited, init_pid = _start_remapped(container, stdio, cgroup, err_w, info_w, confined)
    else:
        if spec.rootless and _on_user_network(spec):  # sandbox.network.rootless_netns: names too
            from ..network import rootless_netns  # the user namespace made inside the user's own
            rootless_networked = rootless_netns.attach(container)
        elif spec.rootless:
            namespaces.enter_user_namespace()
            if spec.networks:  # rootless networks: sandbox.network.rootless_net's (slirp4netns, pasta)
                rootless_networked = _rootless_network(container)
        sc.unshare(sc.CLONE_NEWPID)  # for the next child only
        init_pid = waited = os.fork()
        if init_pid == 0:
            os.close(info_w)
            _child_guard(lambda: _container_init(container, stdio, cgroup, err_w, confined),
                         err_w)
        if not spec.rootless:
            _own_pid_namespace_for_children()
    _leave_netns(host_netns)
    networked = _plug_in(container, netns, go, waited) or rootless_networked
    held = streams.started()  # the container's ends closed here; with -t, its master received
    os.close(err_w)
    _close_stdio(keep=[info_w, *held.fds()])
    if spec.healthcheck:  # before "running": nobody may see the last run's health with it
        _reset_health(container)
    container.write_state(Status="running", Pid=init_pid, PidStart=procfs.start_time(init_pid),
                          MonitorPid=os.getpid(), MonitorStart=procfs.start_time(os.getpid()),
                          StartedAt=now_iso(), ExitCode=0, Error="", OOMKilled=False,
                          Cgroup=cgroup.paths() if cgroup else None, **networked)
    os.write(info_w, json.dumps({"pid": init_pid}).encode())
    os.close(info_w)
    if detach:
        exec_lean(container.root, container.id, waited, held)
    os._exit(watch(container, waited, held))


def _reset_health(container: Container) -> None:
    """Each start begins ``starting`` (sandbox.engine.health; the monitor probes from now on)."""
    from .health import active, fresh
    if active(container.spec.healthcheck):
        container.write_health(fresh(container.health))


def _on_user_network(spec) -> bool:
    """Rootless on a user-defined network (not the default, which is pasta's)?"""
    return any(name not in ("bridge", "pasta") for name in spec.networks or {})


def _restarts(spec) -> bool:
    return (spec.restart or {}).get("Name", "no") != "no"


class _HeldStreams:
    """The container's stdin, stdout and stderr as the monitor holds them (see sandbox.engine.monitor).

    Detached (``-d``, ``start``, and ``run -it``, which attaches to a detached
    container): output goes into pipes, or with ``-t`` a terminal whose master
    side the monitor receives; ``-i`` gets a stdin pipe whose write end the
    monitor keeps, so that the container's input stays open with nobody attached.
    In the foreground (``run`` without ``-t``) the output goes through pipes
    too, the monitor copying it to the caller's stdout and stderr and to the
    log; the container reads the caller's stdin directly.
    """

    def __init__(self, spec, stdio: Stdio, detach: bool):
        self.mine: list[int] = []    # the container's ends: closed here once it has them
        self.console = None
        self.held = Held(client=stdio.client)
        if stdio.tty:  # the caller holds the terminal (exec-like): nothing to hold
            self.container_side = stdio
            return
        null = os.open(os.devnull, os.O_RDWR | os.O_CLOEXEC)
        self.mine.append(null)
        if detach and spec.tty:
            import socket
            self.console, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            self.mine.append(theirs.detach())
            self.container_side = Stdio(null, null, null, console=self.mine[-1])
            return
        stdin = stdio.stdin
        if detach:
            stdin = null
            if spec.interactive:
                stdin, self.held.stdin = os.pipe2(os.O_CLOEXEC)
                self.mine.append(stdin)
        out, err = self._pipe("out"), self._pipe("err")
        if not detach:
            self.held.sinks = (os.dup(stdio.stdout), os.dup(stdio.stderr))
        self.container_side = Stdio(stdin, out, err)

    def _pipe(self, name: str) -> int:
        read, write = os.pipe2(os.O_CLOEXEC)
        setattr(self.held, name, read)
        self.mine.append(write)
        return write

    def started(self) -> Held:
        """The container has its ends: close ours of them; receive its terminal's master."""
        for fd in self.mine:
            os.close(fd)
        if self.console is not None:
            import socket
            try:
                _, fds, _, _ = socket.recv_fds(self.console, 16, 1)
            except OSError:
                fds = []
            self.console.close()
            self.held.master = fds[0] if fds else -1  # none: init failed, and says why
        return self.held


def _network_namespace(container: Container) -> tuple[int | None, tuple[int, int] | None]:
    """The network namespace to fork the container into (None: init makes its own, for
    ``--network none``, or stays in the host's, ``--network host``), and, when it has
    networks to be plugged into, the "go" pipe (init's end moved to NETWORK_GO_FD)."""
    spec = container.spec
    if spec.own_netns or spec.network == "host" or spec.rootless:
        return None, None
    netns = _netns_for(container)
    if not spec.networks:
        return netns, None
    go_r, go_w = os.pipe2(os.O_CLOEXEC)
    moved = fcntl.fcntl(go_r, fcntl.F_DUPFD_CLOEXEC, NETWORK_GO_FD)
    os.close(go_r)
    return netns, (moved, go_w)


def _netns_for(container: Container) -> int | None:
    """The network namespace the container's processes are forked into, as a descriptor:
    a new one (bridge and user networks), another container's (``container:NAME``), or None
    (``none``: init makes its own; ``host``: it stays in the host's).  Here, not in
    sandbox.network.wiring: it reads another container's record, a layer above the network."""
    mode = container.spec.network
    if mode and mode.startswith("container:"):
        from ..errors import Conflict
        from .records import lookup
        other = lookup(container.root, mode.split(":", 1)[1])
        if not other.running:
            raise Conflict(f"cannot join the network of container {other.name}: it is not "
                           "running")
        return os.open(f"/proc/{other.pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    if container.spec.networks:
        from ..isolation.links import new_namespace
        return new_namespace()
    return None


def _rootless_network(container: Container) -> dict:
    """Rootless: a network namespace of this user namespace's, plugged in by
    :mod:`sandbox.network.rootless_net`, and this monitor moved into it, so that init is forked
    there; the state's Networks and Ports.

    The namespace is made by a short-lived child (the "holder"), because an
    unprivileged monitor that made it itself could never setns(2) back to the
    host's: ``rootless_net.attach`` gets the holder's pid, for slirp4netns or
    pasta, which run on the host's side and join the namespace by it.  The
    monitor itself needs the host's network no more.
    """
    from ..network import rootless_net
    ready_r, ready_w = os.pipe2(os.O_CLOEXEC)
    hold_r, hold_w = os.pipe2(os.O_CLOEXEC)
    holder = os.fork()
    if holder == 0:
        try:
            os.close(hold_w)  # or the read below would never see end-of-file
            os.close(ready_r)
            sc.unshare(sc.CLONE_NEWNET)
            os.write(ready_w, b"1")
            os.read(hold_r, 1)  # until the monitor has the namespace and has plugged it in
        finally:
            os._exit(0)
    os.close(ready_w)
    os.close(hold_r)
    try:
        if os.read(ready_r, 1) != b"1":
            raise SandboxError("cannot make the container's network namespace (unshare "
                               "CLONE_NEWNET failed in the user namespace)")
        netns = os.open(f"/proc/{holder}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            networked = rootless_net.attach(container, holder, container.spec.ports)
            sc.setns(netns, sc.CLONE_NEWNET)
        finally:
            os.close(netns)
    finally:
        os.close(ready_r)
        os.close(hold_w)
        os.waitpid(holder, 0)
    return networked or {}


def _own_pid_namespace_for_children() -> None:
    """Fork the monitor's later children (``ip``, ``nft``) in its own PID namespace again.

    After unshare(CLONE_NEWPID) every child of the monitor is born in the
    container's PID namespace: an ``ip`` would show up in the container's
    ``ps``, and once the container's PID 1 has exited, fork(2) fails there
    with ENOMEM (pid_namespaces(7)).  setns(2) to the namespace the monitor
    itself is in puts that right (root only: rootless, the host's PID
    namespace belongs to a user namespace we are not in).
    """
    own = os.open("/proc/self/ns/pid", os.O_RDONLY | os.O_CLOEXEC)
    try:
        sc.setns(own, sc.CLONE_NEWPID)
    finally:
        os.close(own)


def _enter_netns(netns: int | None) -> int | None:
    """setns(2) into ``netns``: the processes forked next are born inside it.  Returns
    the host's namespace, to come back to."""
    if netns is None:
        return None
    host = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    sc.setns(netns, sc.CLONE_NEWNET)
    return host


def _leave_netns(host: int | None) -> None:
    if host is not None:
        sc.setns(host, sc.CLONE_NEWNET)
        os.close(host)


def _plug_in(container: Container, netns: int | None, go, waited: int) -> dict:
    """Plug the namespace into the container's networks, then tell init to go on; the
    state's Networks and Ports.  On failure init reads end-of-file instead, and ends."""
    if netns is None:
        return {}
    if go is None:
        os.close(netns)  # container:NAME: the namespace lives on with its processes
        return {}
    init_end, go_w = go
    os.close(init_end)
    from ..network import wiring
    try:
        networked = wiring.attach(container, netns)
    except BaseException:
        os.close(go_w)
        os.waitpid(waited, 0)
        raise
    finally:
        os.close(netns)  # from now on the namespace lives exactly as long as its processes
    os.write(go_w, b"1")
    os.close(go_w)
    return networked


# --- a root container in a user namespace of its own (--uidmap) ----------------------
#
#     monitor (host root)                 writes the child's uid_map and gid_map, then puts
#     └── userns parent (new user ns)     the container's init into its cgroup: both need
#         └── container init, PID 1       host root, which nothing inside has any more
#
# The monitor stays outside, so that it can still remove the container's cgroup and
# record the exit; the userns parent waits for PID 1 and exits with its status.
def _start_remapped(container: Container, stdio: Stdio, cgroup, err_w: int, info_w: int,
                    confined) -> tuple[int, int]:
    """Fork the user namespace's first process, map its ids, place its init; (it, init)."""
    from ..isolation import userns
    ask_r, ask_w = os.pipe2(os.O_CLOEXEC)   # parent → monitor: "map me", then init's pid
    go_r, go_w = os.pipe2(os.O_CLOEXEC)     # monitor → parent, then → init: "done"
    parent = os.fork()
    if parent == 0:
        os.close(info_w)
        os.close(ask_r)
        os.close(go_w)
        _child_guard(lambda: _remapped_parent(container, stdio, err_w, ask_w, go_r, confined),
                     err_w)
    os.close(ask_w)
    os.close(go_r)
    step = "waiting for the user namespace"
    try:
        if os.read(ask_r, 1) == b"u":
            step = "writing its uid_map and gid_map"
            userns.write_maps(parent, container.spec.userns)
            os.write(go_w, b"1")
            step = "waiting for its init"
            init_pid = int(_read_all(ask_r) or "0")
            if init_pid and cgroup is not None:
                step = "putting its init in the cgroup"
                cgroup.join(init_pid)  # before init runs a single instruction of the image
        else:
            init_pid = 0
        if init_pid:
            os.write(go_w, b"1")
            return parent, init_pid
        failure = "its first process failed"  # and said why on the error pipe
    except (OSError, ValueError) as err:
        failure = f"{step}: {err}"
    finally:
        os.close(go_w)  # first: whoever waits for "go" now reads end-of-file, and ends
    os.waitpid(parent, 0)
    raise SandboxError(f"cannot start the container in its own user namespace: {failure}")


def _bind_sources_opened(mounts: list[dict]) -> list[dict]:
    """``-v`` sources (host paths and volumes) copied now, while this process is still host
    root, as detached mounts.

    The container's init mounts as its own root, an ordinary host uid, which
    may not even be able to walk to a source (one under a 0700 home).  So
    each source is cloned here with open_tree(2) (read-only already, for
    ``:ro``; a volume's only after its copy-up, in init), and init attaches the
    clone with move_mount(2): this is how runc hands bind mounts to a container
    in a user namespace.  A ``type=tmpfs`` volume has no source: init mounts it.
    """
    opened = []
    for m in mounts:
        if m["type"] == "bind" or m["type"] == "volume" and m.get("tmpfs") is None:
            tree = sc.open_tree(m["source"], sc.OPEN_TREE_CLONE | sc.OPEN_TREE_CLOEXEC
                                | sc.AT_RECURSIVE)
            if m["readonly"] and m["type"] == "bind":  # a volume: after its copy-up, in init
                sc.mount_setattr("", sc.AT_EMPTY_PATH | sc.AT_RECURSIVE, sc.MOUNT_ATTR_RDONLY,
                                 dfd=tree)
            fd = fcntl.fcntl(tree, fcntl.F_DUPFD_CLOEXEC, KEPT_FDS)  # above stdio's 0 to 4
            os.close(tree)
            m = dict(m, fd=fd)
        opened.append(m)
    return opened


def _remapped_parent(container: Container, stdio: Stdio, err_w: int, ask_w: int,
                     go_r: int, confined) -> None:
    """The user namespace's first process: become its root, make the PID namespace, fork init."""
    mounts = _bind_sources_opened(container.spec.mounts)  # first: while still host root
    sc.unshare(sc.CLONE_NEWUSER)
    os.write(ask_w, b"u")
    if os.read(go_r, 1) != b"1":
        os._exit(125)  # the monitor could not map our ids, and says why
    # Still host uid 0 for the kernel, which this namespace does not map: become its root,
    # host uid <start>, so that no file of the host's is ours any more (user_namespaces(7)).
    os.setresgid(0, 0, 0)
    os.setgroups([])
    os.setresuid(0, 0, 0)
    sc.unshare(sc.CLONE_NEWPID)  # owned by the new user namespace: init may mount proc
    init_pid = os.fork()
    if init_pid == 0:
        os.close(ask_w)
        _child_guard(lambda: _container_init(container, stdio, None, err_w, confined,
                                             placed=go_r, mounts=mounts), err_w)
    os.write(ask_w, str(init_pid).encode())
    os.close(ask_w)
    os.close(go_r)
    os.closerange(3, _max_fd())  # the caller's pipes: its end-of-file must not wait for us
    _detach_stdio()
    from .monitor import exit_code
    os._exit(exit_code(os.waitpid(init_pid, 0)[1]))


def _container_init(container: Container, stdio: Stdio, cgroup, err_w: int, confined,
                    placed: int = -1, mounts: list[dict] | None = None) -> None:
    """Process 1 of the container: the steps, in the order they must happen."""
    spec = container.spec
    security = confined.security
    if spec.init:
        from . import init as reaper  # now: after pivot_root this package is out of sight
    if cgroup is not None:
        cgroup.join()  # first: everything from here on counts against the limits
    if placed >= 0:  # remapped: the monitor puts us in the cgroup; wait until it has
        if os.read(placed, 1) != b"1":
            os._exit(125)  # the monitor could not, and says why
        os.close(placed)
    source_fds = [m["fd"] for m in mounts or () if "fd" in m]
    network_go = [confined.network_go] if confined.network_go >= 0 else []
    _set_stdio(stdio, err_w, keep=source_fds + network_go)
    # New namespaces for everything but the user and PID ones, which the monitor made.
    # Why here and not in the monitor: pivot_root moves every process of the mount
    # namespace that shares the old root, and the monitor must keep the host's files.
    # The cgroup namespace comes after joining the cgroup: its root is the cgroup the
    # process is in at unshare(2), so the container sees its own cgroup as "/".
    # The network namespace too, for --network none; any other mode has one already (the
    # monitor forked us into it: sandbox.network.wiring) or keeps the host's (--network host).
    sc.unshare(namespaces.CONTAINER_FLAGS if spec.own_netns
               else namespaces.CONTAINER_FLAGS & ~sc.CLONE_NEWNET)
    # Mounts and pivot_root need the container's directory, which is on the host's
    # filesystem: all of it happens before anything else changes the view.
    rootfs.build(container.dir, container.lower_dirs, spec.in_user_namespace,
                 spec.mounts if mounts is None else mounts, security, confined.cgroup_mounts)
    for fd in source_fds:
        os.close(fd)
    if stdio.tty:
        _open_terminal()  # after pivot_root: the terminal must come from the container's devpts
    sc.sethostname(container.config["Hostname"])
    if spec.own_netns:
        namespaces.loopback_up()  # otherwise the monitor did (ip link set lo up)
    if network_go:  # last: the command must find its network ready
        if os.read(confined.network_go, 1) != b"1":
            os._exit(125)  # the monitor could not plug it in, and says why
        os.close(confined.network_go)

    def command():
        exec_in_container(spec.cmd, spec.env, [], spec.user, spec.workdir,
                          container.config["Hostname"], spec.tty, spec.rootless,
                          security, confined.seccomp_filter)
    if spec.init:  # --init: stay on as the reaper, the command becomes PID 2
        reaper.run(command, spec.tty, lambda: _confine_reaper(confined.seccomp_filter))
    command()


def _confine_reaper(seccomp_filter: bytes | None) -> None:
    """The ``--init`` reaper keeps only what it needs: CAP_KILL (the command may run as
    another user), under the container's seccomp filter, with no_new_privs."""
    from ..isolation import capabilities
    if seccomp_filter is not None:
        from ..isolation.seccomp import install
        install(seccomp_filter)  # first: loading it needs CAP_SYS_ADMIN (seccomp(2))
    capabilities.drop_bounding(["KILL"])
    capabilities.set_final(["KILL"], True)
    sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
    os.close(ERR_FD)  # the caller reads end-of-file once the command has run execve(2)


def confinement(container: Container) -> Confinement:
    """The container's :class:`Confinement`, read now, before any namespace changes.

    After pivot_root(2) neither the container's directory nor this package's
    files are in sight: the seccomp module and the number of the last
    capability (which init drops up to) are loaded here too.  A container
    created before these defaults existed gets them now: never a container
    without a filter by accident.
    """
    from ..isolation import capabilities
    from . import security as sec
    capabilities.last_cap()
    security = container.spec.security or sec.default()
    if security["seccomp"] == "unconfined":
        return Confinement(security, None)
    from ..isolation import seccomp  # noqa: F401 - imported now, for seccomp.install after pivot_root
    try:
        with open(container.dir / sec.SECCOMP_FILE, "rb") as f:
            return Confinement(security, f.read())
    except FileNotFoundError:
        return Confinement(security, sec.seccomp_program(security,
                                                         container.root / "cache" / "seccomp"))


# --- exec -----------------------------------------------------------------------
def exec_into(container: Container, cmd: list[str], stdio: Stdio, env: list[str],
              user: str | None, workdir: str | None) -> Started:
    """Run ``cmd`` inside a running container, as ``docker exec`` does."""
    spec = container.spec
    # Read now, on the host: once the helper has joined the container's mount
    # namespace, neither the container's directory nor this package's files are there.
    confined = confinement(container)
    security, seccomp_filter = confined.security, confined.seccomp_filter
    nsfds = namespaces.open_namespaces(container.pid, spec.in_user_namespace,
                                       host_owned_net=not spec.own_netns and not spec.rootless)
    cgroup = cgroups.from_paths(container.state.get("Cgroup"))
    info_r, info_w = os.pipe2(os.O_CLOEXEC)
    err_r, err_w = os.pipe2(os.O_CLOEXEC)
    pid = os.fork()
    if pid == 0:
        def helper():
            ignore_signals()
            # The container's limits hold for exec'd programs too.  Join its cgroup
            # before the mount namespace: inside, /sys/fs/cgroup is not there to write.
            if cgroup is not None:
                cgroup.join()
            namespaces.join(nsfds)
            try:
                child = os.fork()
            except BlockingIOError:  # EAGAIN: the cgroup's pids.max is reached
                raise SandboxError("cannot start a process in the container: it has reached "
                                   "its pids limit (--pids-limit)") from None
            if child == 0:
                os.close(info_w)
                _child_guard(lambda: _exec_child(container, cmd, stdio, err_w, env, user,
                                                 workdir, security, seccomp_filter), err_w)
            os.close(err_w)
            _close_stdio(keep=[info_w])
            os.write(info_w, json.dumps({"pid": child}).encode())
            os.close(info_w)
            from .monitor import exit_code
            os._exit(exit_code(os.waitpid(child, 0)[1]))
        _child_guard(helper, info_w)
    for _, fd in nsfds:
        os.close(fd)
    os.close(info_w)
    os.close(err_w)
    news = json.loads(_read_all(info_r) or "{}")
    failure = json.loads(_read_all(err_r) or "{}")
    started = Started(pid, news.get("pid", 0))
    for message in (news, failure):
        if "error" in message:
            started.error, started.error_code = message["error"], message["code"]
    return started


def _exec_child(container, cmd, stdio, err_w, env, user, workdir, security,
                seccomp_filter) -> None:
    spec = container.spec
    _set_stdio(stdio, err_w)
    if stdio.tty:
        _open_terminal()  # the helper has joined the mount namespace: this is the container's
    exec_in_container(cmd, spec.env, env, spec.user if user is None else user,
                      workdir or spec.workdir, container.config["Hostname"], stdio.tty,
                      spec.rootless, security, seccomp_filter)


# --- plumbing -------------------------------------------------------------------
def _set_stdio(stdio: Stdio, err_w: int, keep: list[int] = ()) -> None:
    """Put the program's descriptors at 0, 1, 2 and the error pipe at 3; close the rest.

    A notebook kernel holds dozens of sockets; none of them belongs in a container.
    """
    os.setsid()  # a session of its own: the caller's terminal signals go to the caller
    fds = [stdio.stdin, stdio.stdout, stdio.stderr]
    moved = [os.dup(fd) for fd in fds]  # dup first: the targets 0..4 may be among the sources
    err = os.dup(err_w)
    console = os.dup(stdio.console) if stdio.tty else -1
    for target, fd in enumerate(moved):
        os.dup2(fd, target)
    os.dup2(err, ERR_FD)
    os.set_inheritable(ERR_FD, False)  # close-on-exec: a successful execve closes it
    global _moved_report_fd
    _moved_report_fd = ERR_FD
    if stdio.tty:
        os.dup2(console, CONSOLE_FD, inheritable=False)
    low = (CONSOLE_FD if stdio.tty else ERR_FD) + 1
    for fd in sorted(keep):  # close everything else, around the descriptors to keep
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, _max_fd())


def _open_terminal() -> None:
    """Make a pseudo-terminal inside the container and hand its master side to the caller.

    The terminal must come from the container's own devpts (its /dev/ptmx):
    one opened on the host would be a /dev/pts/N that does not exist inside,
    and ``tty`` would say "not a tty".  The master side travels to the caller
    over the Unix socket as SCM_RIGHTS ancillary data (unix(7)), which is how
    runc's "console socket" works.  The slave side becomes the program's
    stdin, stdout, stderr and controlling terminal.
    """
    import socket

    master, slave = os.openpty()  # posix_openpt("/dev/ptmx"), unlockpt, open the slave
    with socket.socket(fileno=CONSOLE_FD) as console:
        socket.send_fds(console, [b"pty"], [master])
    os.close(master)
    for fd in (0, 1, 2):
        os.dup2(slave, fd)
    os.close(slave)
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _max_fd() -> int:
    return os.sysconf("SC_OPEN_MAX")


def _close_stdio(keep: list[int]) -> None:
    """Close every descriptor the monitor inherited except ``keep``; 0, 1, 2 become /dev/null.

    The monitor holds copies of the caller's descriptors: the program's pipes,
    and the write end of its stdin pipe.  Kept open, they would stop the
    caller (or the program) from ever seeing end-of-file.
    """
    low = 3
    for fd in sorted(set(keep)):
        os.closerange(low, fd)
        low = fd + 1
    os.closerange(low, _max_fd())
    _detach_stdio()


def _detach_stdio() -> None:
    """Point the monitor's own 0, 1, 2 at /dev/null, so that it holds no pipe of the caller's."""
    null = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(null, fd)
    os.close(null)


def _child_guard(body, report_fd: int) -> None:
    """Run ``body`` in a forked child; never return into the caller's code.

    Any failure is sent as JSON through ``report_fd`` with the exit code Docker
    would use (125 when the runtime failed, 126 or 127 when the program did).
    """
    code = 125
    try:
        body()
    except SandboxError as err:
        code = getattr(err, "exit_code", 125)
        _report(report_fd, str(err), code)
    except BaseException:  # noqa: BLE001 - a forked child must never unwind into the caller
        import traceback
        _report(report_fd, "internal error: " + traceback.format_exc(), code)
    finally:
        os._exit(code)


def _report(fd: int, message: str, code: int) -> None:
    try:
        os.write(_moved_report_fd or fd, json.dumps({"error": message, "code": code}).encode())
    except OSError:
        pass


def _read_all(fd: int) -> str:
    chunks = []
    while True:
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode(errors="replace")
