"""Names on rootless user networks: one network namespace of the user's own, holding the
networks' bridges and DNS responders (podman's "rootless-netns").  (user_namespaces(7),
network_namespaces(7), veth(4), pasta(1))

    the host (user sandbox-ci)       the user's network namespace   the containers'
    ──────────────────────────       ────────────────────────────   ───────────────
                                     user ns U, owned by sandbox-ci
    "sandbox-rootless-netns" ──────► net ns N (held by its sleep)
    127.0.0.1, eth0 ◄── pasta ──────► eth0 10.0.2.100 (tap)
                                     sbx-3f2a… 10.89.0.1/24 ──veth── eth0 10.89.0.2  "web"
                                       │   nft: masquerade out eth0  (user ns C1 ⊂ U)
                                       │   sandbox.network.dns on 10.89.0.1:53
                                       └──veth── eth0 10.89.0.3  (user ns C2 ⊂ U)
    0.0.0.0:8080 ◄── sandbox.network.portproxy (-p 8080:80 of "web": listens here, connects in N)

Root plugs a container into a bridge in the host's namespace (:mod:`sandbox.network.wiring`).
An ordinary user may not: a bridge, a veth and an nft rule need CAP_NET_ADMIN over
the namespace they are made in, and the user has it only in namespaces of their own.
So, per state root, a small process ("the holder") makes a user namespace U and a
network namespace N in it, and sleeps: N lives as long as it does.  pasta (the
same helper as a default-network container's, :mod:`sandbox.network.rootless_net`) gives
N a tap device to the outside.  Inside N everything is as for root: the
networks' bridges, their NAT rules, one DNS responder per network, from the
very same modules.

A container on a user network then needs a veth with one end on a bridge in N
and the other in its own network namespace.  The monitor joins U (setns(2): a
user namespace owned by our uid, made from our namespace, gives us every
capability in it) and forks a short-lived child there.  Then it makes the
container's user namespace C1 *inside* U, and the container's network
namespace in C1.  The child joins N and plugs the veth in with
:func:`sandbox.network.wiring.attach`: having CAP_NET_ADMIN in U, it has it over
both ends.  The container's root is root of C1 only, with no power
over N.  (The child opens the container's network namespace as /proc/PID/ns/net
of the monitor: from U, an ancestor of C1, it has every capability over it.)

The child also mounts a sysfs of its own (in a mount namespace of its own):
/sys/class/net shows the devices of the namespace sysfs was mounted for, and
the host's /sys is the host's.

What lives where, and who ends it:

- ROOT/rootless-netns.json: the holder's and pasta's pids and start times.
  :func:`ensure` starts both (under ROOT/rootless-netns.lock) if they are not
  running; :func:`stop` ends both, and the namespace goes with the last
  process in it (the DNS responders are stopped first).
- It is stopped when the root's last user network is removed (``network rm``,
  ``network prune``), and by ``system prune`` when there is none.
- A container's veth goes with the container's network namespace; its address,
  endpoint record and the DNS responder (after the last endpoint) are given
  back from files, by the monitor or by ``rm``/``system prune`` (sandbox.network.wiring).

``-p`` on a rootless user network: pasta, started once for N, cannot add ports
later, so a container's published ports get a proxy of their own
(:mod:`sandbox.network.portproxy`), which listens on the host and connects in N.
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path

from ..kernel import procfs
from ..kernel import syscalls as sc
from ..errors import SandboxError

RECORD = "rootless-netns.json"
LOCK = "rootless-netns.lock"
LOG = "rootless-netns.log"
HOLDER_NAME = "sandbox-rootless-netns"  # the holder's argv[0]: what ps shows
DEFAULT_NETWORKS = ("bridge", "pasta")


def uses(spec) -> bool:
    """Does this container join a user network rootless (and so need the user's namespace)?"""
    return bool(spec.rootless) and any(n not in DEFAULT_NETWORKS for n in spec.networks or {})


# --- the holder and its pasta ------------------------------------------------------------
def ensure(root: Path) -> dict:
    """The running holder of ``root``'s namespace, started (with its pasta) if need be."""
    import fcntl
    with open(root / LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        found = running(root)
        if found:
            return found
        _stop_unlocked(root)  # half of it (pasta gone, say): all of it goes, then anew
        return _start(root)


def running(root: Path) -> dict | None:
    """The record, if its holder and its pasta both still run."""
    record = _read(root)
    if not record:
        return None
    holder, pasta = record.get("Holder") or {}, record.get("Pasta") or {}
    if _is_holder(holder) and procfs.is_alive(pasta.get("Pid"), pasta.get("PidStart")):
        return record
    return None


def stop(root: Path) -> None:
    """End the holder and its pasta, and with them the namespace and every bridge in it."""
    import fcntl
    if not (root / RECORD).exists():
        return
    with open(root / LOCK, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        _stop_unlocked(root)


def _stop_unlocked(root: Path) -> None:
    record = _read(root)
    if not record:
        return
    _stop_responders(root)  # a responder in the namespace would keep it alive
    from .rootless_net import detach
    detach(None, {"RootlessNetwork": record.get("Pasta")})
    holder = record.get("Holder") or {}
    if _is_holder(holder):
        try:
            os.kill(holder["Pid"], signal.SIGKILL)
        except ProcessLookupError:
            pass
        procfs.wait_gone(holder["Pid"], holder.get("PidStart"), 2.0)
    try:
        (root / RECORD).unlink()
    except FileNotFoundError:
        pass


def _start(root: Path) -> dict:
    holder = _start_holder()
    record = {"Holder": holder, "Pasta": None, "Log": str(root / LOG)}
    _write(root, record)  # at once: a crash from here on leaves something stop() finds
    from . import rootless_net
    netns = os.open(f"/proc/{holder['Pid']}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    userns = os.open(f"/proc/{holder['Pid']}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    pid_file = root / "rootless-netns.pasta.pid"
    try:
        argv = rootless_net.pasta_argv([], netns, userns, root / LOG, pid_file)
        status = rootless_net._run(argv, keep=[netns, userns])
    finally:
        os.close(netns)
        os.close(userns)
    pasta = rootless_net._read_pid(pid_file) if status == 0 else 0
    if not pasta:
        _stop_unlocked(root)
        raise rootless_net.RootlessNetError(
            "cannot give the user networks' namespace a way out: pasta failed: "
            f"{rootless_net._last_line(root / LOG) or f'exit status {status}'}")
    record["Pasta"] = {"Tool": "pasta", "Pid": pasta, "PidStart": procfs.start_time(pasta)}
    _write(root, record)
    return record


def _start_holder() -> dict:
    """Fork the holder: nobody's child, in a user and a network namespace of its own, then
    ``sleep infinity`` (named HOLDER_NAME).  It sends its pid, and the pipe closes at execve."""
    from ..isolation import namespaces
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    child = os.fork()
    if child == 0:
        try:
            os.close(read_end)
            os.setsid()
            if os.fork() != 0:
                os._exit(0)
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
                signal.signal(sig, signal.SIG_DFL)
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            os.closerange(3, write_end)
            os.closerange(write_end + 1, os.sysconf("SC_OPEN_MAX"))
            os.chdir("/")  # it outlives the caller: no directory of theirs kept busy
            namespaces.enter_user_namespace()
            sc.unshare(sc.CLONE_NEWNET)
            namespaces.loopback_up()
            os.write(write_end, str(os.getpid()).encode())
            os.execv("/bin/sleep", [HOLDER_NAME, "infinity"])
        finally:
            os._exit(127)
    os.close(write_end)
    os.waitpid(child, 0)
    with os.fdopen(read_end, "rb") as pipe:
        said = pipe.read()
    pid = int(said) if said.isdigit() else 0
    start = procfs.start_time(pid) if pid else None
    record = {"Pid": pid, "PidStart": start}
    if not pid or not _is_holder(record):
        raise SandboxError("cannot make the user networks' namespace (a user namespace with "
                           "a network namespace in it): check sandbox doctor")
    return record


# --- going in ------------------------------------------------------------------------------
def join_user_namespace(record: dict) -> None:
    """setns(2) into the holder's user namespace: every capability there, and over N."""
    fd = os.open(f"/proc/{record['Holder']['Pid']}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    try:
        sc.setns(fd, sc.CLONE_NEWUSER)
    finally:
        os.close(fd)


def inside(record: dict, action):
    """Run ``action()`` in a child that has joined the holder's user and network namespace,
    with a sysfs of N's; its result (JSON-able) or its error as a SandboxError."""
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    child = os.fork()
    if child == 0:
        os.close(read_end)
        _answer(write_end, lambda: _in_n(record, action))
    os.close(write_end)
    return _answer_of(child, read_end)


def attach(container) -> dict:
    """The monitor's part, rootless on a user network (see the drawing); the state's
    Networks and Ports.  The monitor binds the published ports on the host (for
    :mod:`sandbox.network.portproxy`), joins U and forks a child there; makes the container's
    user namespace inside U and its network namespace (so both are the container's,
    as with pasta); the child, still in U, plugs that namespace in from N."""
    from ..isolation import namespaces
    record = ensure(container.root)
    listeners = [_listen(p) for p in container.spec.ports]  # in the host's namespace
    join_user_namespace(record)
    go_r, go_w = os.pipe2(os.O_CLOEXEC)
    read_end, write_end = os.pipe2(os.O_CLOEXEC)
    child = os.fork()
    if child == 0:
        os.close(go_w)
        os.close(read_end)
        ready = os.read(go_r, 1) == b"1"

        def plug():
            if not ready:
                raise SandboxError("the container's network namespace was not made")
            netns = os.open(f"/proc/{os.getppid()}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            return _plug(container, netns, listeners)
        _answer(write_end, lambda: _in_n(record, plug))
    for _, sock in listeners:
        sock.close()  # the child has them, and hands them to the proxy
    os.close(go_r)
    os.close(write_end)
    try:
        namespaces.enter_user_namespace()  # the container's, inside U
        sc.unshare(sc.CLONE_NEWNET)        # its network namespace; the monitor stays in it
        os.write(go_w, b"1")
    finally:
        os.close(go_w)
        answer = _answer_of(child, read_end)
    return answer


def _plug(container, netns: int, listeners: list) -> dict:
    """In N: the veth, address, endpoint and DNS (sandbox.network.wiring), then the port proxy."""
    from . import wiring
    from .rootless_net import _docker_ports
    container.config["Spec"]["ports"] = []  # (this child's copy) the proxy publishes them,
    plugged = wiring.attach(container, netns)  # not root's nft rules
    if not listeners:
        return plugged
    address = next(iter(plugged["Networks"].values()))["IPAddress"]
    proxy = _start_proxy([(sock.fileno(), address, int(p["ContainerPort"]))
                          for p, sock in listeners])
    container.write_state(RootlessNetwork=proxy)
    return dict(plugged, Ports=_docker_ports([p for p, _ in listeners]),
                RootlessNetwork=proxy)


def check_ports(network: str | None, ports: list[dict]) -> None:
    """The proxy forwards TCP only: a UDP port of a rootless user network is refused."""
    if network in (None, "", "default", *DEFAULT_NETWORKS):
        return
    for entry in ports:
        if entry["Proto"] != "tcp":
            from ..errors import UsageError
            raise UsageError(f"-p {entry['HostPort'] or ''}:{entry['ContainerPort']}/udp with "
                             f"--network {network}: a rootless container on a user-defined "
                             "network publishes TCP ports only: use the default network for UDP")


def _listen(entry: dict):
    """A published port's listening socket, on the host: (the entry with its port, socket)."""
    import socket
    from .rootless_net import _host_port
    port = _host_port(entry)  # Docker's sentence for a port that is taken
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((entry.get("HostIp") or "", port))
    sock.listen(128)
    return dict(entry, HostPort=str(port)), sock


def _start_proxy(forwards: list[tuple[int, str, int]]) -> dict:
    import subprocess
    from . import portproxy
    proxy = subprocess.Popen(portproxy.argv(forwards), pass_fds=[fd for fd, _, _ in forwards],
                             stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True, cwd="/")
    return {"Tool": "sandbox.network.portproxy", "Pid": proxy.pid,
            "PidStart": procfs.start_time(proxy.pid)}


def _in_n(record: dict, action):
    """In a child: join U (unless there already) and N, mount N's sysfs, run ``action()``."""
    holder = record["Holder"]["Pid"]
    userns = os.open(f"/proc/{holder}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    netns = os.open(f"/proc/{holder}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    if os.stat("/proc/self/ns/user").st_ino != os.fstat(userns).st_ino:
        sc.setns(userns, sc.CLONE_NEWUSER)
    sc.setns(netns, sc.CLONE_NEWNET)
    sc.unshare(sc.CLONE_NEWNS)
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_SLAVE)
    sc.mount("sysfs", "/sys", "sysfs", sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC)
    return action()


def _answer(write_end: int, action) -> None:
    """In a child: run ``action()``, send {"result"} or {"error"} as JSON, and exit."""
    answer = {}
    try:
        answer = {"result": action()}
    except SandboxError as err:
        answer = {"error": str(err)}
    except BaseException as err:  # noqa: BLE001 - reported, as one sentence, by the parent
        answer = {"error": f"{type(err).__name__}: {err}"}
    finally:
        try:
            os.write(write_end, json.dumps(answer).encode())
        finally:
            os._exit(0)


def _answer_of(child: int, read_end: int):
    with os.fdopen(read_end, "rb") as pipe:
        said = pipe.read()
    os.waitpid(child, 0)
    answer = json.loads(said or b"{}")
    if "result" not in answer:
        raise SandboxError(answer.get("error") or "the user networks' namespace did not answer")
    return answer["result"]


def tear_down(root: Path, record: dict) -> None:
    """``network rm``: the network's bridge and rules go from N (if it runs), and N itself
    with the root's last user network."""
    held = running(root)
    if held:
        from . import networks

        def remove():
            from ..isolation import links
            from . import nat
            links.delete(networks.device(record))
            nat.delete_owned([networks.tag(record)])
        inside(held, remove)
    prune(root, but=record["Name"])


def prune(root: Path, but: str | None = None) -> None:
    """Stop the holder when ``root`` has no user network left (``but`` is going now)."""
    from . import networks
    left = [n for n in networks.all_networks(root)
            if n["Name"] not in (networks.DEFAULT, but)]
    if not left:
        stop(root)


def upstreams(root: Path) -> list[str] | None:
    """The DNS responders' upstream when they run in N: pasta's forwarder (the host's
    resolvers, loopback ones too, are asked from the host's side); None elsewhere."""
    record = _read(root)
    if not record or not _is_holder(record.get("Holder") or {}):
        return None
    try:
        here = os.stat("/proc/self/ns/net").st_ino
        there = os.stat(f"/proc/{record['Holder']['Pid']}/ns/net").st_ino
    except OSError:
        return None
    from .rootless_net import DNS
    return [DNS] if here == there else None


def _stop_responders(root: Path) -> None:
    from . import networks
    for network in networks.all_networks(root):
        if network["Name"] != networks.DEFAULT:
            networks.stop_dns(root, network["Name"])


# --- the record ------------------------------------------------------------------------------
def _read(root: Path) -> dict | None:
    try:
        return json.loads((root / RECORD).read_text())
    except (OSError, ValueError):
        return None


def _write(root: Path, record: dict) -> None:
    from ..paths import write_atomic
    write_atomic(root / RECORD, json.dumps(record, indent=2))


def _is_holder(holder: dict) -> bool:
    """Still our holder: the same process (its start time) running as HOLDER_NAME."""
    pid = holder.get("Pid")
    if not pid or not procfs.is_alive(pid, holder.get("PidStart")):
        return False
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().split(b"\0")[0] == HOLDER_NAME.encode()
    except OSError:
        return False
