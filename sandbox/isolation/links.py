"""Network devices: a bridge on the host, a veth pair per container.  ip-link(8), veth(4)

    host network namespace                      container's network namespace
    ───────────────────────                     ─────────────────────────────
    eth0 (the host's way out)                   lo      127.0.0.1
      ▲  NAT (sandbox.network.nat)                      eth0    172.17.0.2/16
    sandbox0  172.17.0.1/16  (a bridge)           │     default via 172.17.0.1
      ├── veth1a2b3c4  ◄──── one veth pair ───────┘
      └── veth5d6e7f8  ◄──── another container's

A veth pair is a cable with two ends: what goes in one comes out of the
other.  One end stays on the host, plugged into the bridge (a software
switch); the other is moved into the container's network namespace and
renamed ``eth0``.  The bridge has the gateway's address, so the host routes
to the containers through it, and the containers route out through it.

The bridge is made, and a veth deleted, with ``ip`` from iproute2, the same
commands chapter 09 types by hand.  A container's veth pair, on the path of
every ``sandbox run``, is made with the very messages ``ip`` would send,
over a netlink socket of our own (:mod:`sandbox.kernel.netlink`, each function
named after its ``ip`` command): starting ``ip`` twice (once on the host,
once inside) took about 3 ms, half of what a container's network added to
its start (the bench in bench/bench_net.py).
Namespaces are taken as descriptors (``netns /proc/self/fd/N``,
IFLA_NET_NS_FD), so a container's needs no name under /run/netns: it lives
exactly as long as something holds it open.

Two MTUs.  The bridge and the veths get the largest MTU a veth takes
(65535, as loopback's 65536 nearly): a packet between two containers, or
between the host and a container (``-p``), never leaves the host, so it
need not be cut to the size of the host's network card, and fewer, larger
packets cost the kernel less per byte (about 1.3× the throughput here with
the host's 1400).  What does leave, by the default route, must fit the
network outside: that route carries the host's MTU (``ip route add default
via GATEWAY mtu 1400``), so the container's TCP announces and uses segments
that fit (its MSS comes from the route), and larger datagrams are cut
before they go.  Docker gives its veths the host's MTU (``--mtu``, 1500 by
default) everywhere instead: simpler, slower between containers.
"""

from __future__ import annotations

import os
import socket
import time

from ..kernel import syscalls as sc
from ..errors import SandboxError

IP = "ip"
LOCAL_MTU = 65535  # the largest a veth takes (ETH_MAX_MTU): for traffic that stays on the host


class LinkError(SandboxError):
    """An ``ip`` command failed."""


def ip(args: list[str], stdin: str | None = None, pass_fds: tuple[int, ...] = ()) -> None:
    """Run ``ip ARGS``; its error, with the command, as one sentence if it fails."""
    try:
        code, err = run([IP, *args], stdin, pass_fds)
    except FileNotFoundError:
        raise LinkError("`ip` (iproute2) is not installed: apt-get install iproute2") from None
    if code != 0:
        what = " ".join(args) if stdin is None else f"{' '.join(args)} <<< {stdin!r}"
        raise LinkError(f"ip {what}: {err.strip()}")


def run(argv: list[str], stdin: str | None = None, pass_fds: tuple[int, ...] = (),
        capture: bool = False):
    """Run a program with posix_spawn(3): (its exit code, what it wrote on stderr), and what
    it wrote on stdout too with ``capture`` (else its stdout goes to /dev/null).

    Not the subprocess module: importing it costs a few milliseconds, on the
    path of every ``sandbox run``.
    """
    in_r, in_w = os.pipe()
    err_r, err_w = os.pipe()
    out_r, out_w = os.pipe() if capture else (None, os.open(os.devnull, os.O_WRONLY | os.O_CLOEXEC))
    actions = [(os.POSIX_SPAWN_DUP2, in_r, 0), (os.POSIX_SPAWN_DUP2, out_w, 1),
               (os.POSIX_SPAWN_DUP2, err_w, 2)]
    for fd in pass_fds:
        os.set_inheritable(fd, True)
    try:
        pid = os.posix_spawnp(argv[0], argv, os.environ, file_actions=actions)
    except BaseException:
        for fd in (in_w, err_r, out_r):
            if fd is not None:
                os.close(fd)
        raise
    finally:
        for fd in (in_r, err_w, out_w):
            os.close(fd)
        for fd in pass_fds:
            os.set_inheritable(fd, False)
    try:
        if stdin:
            os.write(in_w, stdin.encode())  # the program reads it all before it answers
    finally:
        os.close(in_w)
    texts = _read_all([out_r, err_r] if capture else [err_r])
    code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    return (code, texts[err_r], texts[out_r]) if capture else (code, texts[err_r])


def _read_all(fds: list[int]) -> dict[int, str]:
    """Read each pipe to its end, whichever has something first (select(2)): a program
    that fills one pipe while we wait on the other would wait for ever."""
    import select
    chunks: dict[int, list[bytes]] = {fd: [] for fd in fds}
    open_fds = list(fds)
    try:
        while open_fds:
            for fd in select.select(open_fds, [], [])[0]:
                data = os.read(fd, 65536)
                if data:
                    chunks[fd].append(data)
                else:
                    open_fds.remove(fd)
    finally:
        for fd in fds:
            os.close(fd)
    return {fd: b"".join(parts).decode(errors="replace") for fd, parts in chunks.items()}


def exists(device: str) -> bool:
    return os.path.exists(f"/sys/class/net/{device}")


def host_veth_name(cid: str, network_id: str) -> str:
    """``veth`` + 7 hex digits, the same for a container on a network every time: a crashed
    monitor's veth is found again from the container's id alone."""
    return "veth" + f"{int(cid[:16], 16) ^ int(network_id[:16], 16):016x}"[:7]


def mac_for(address: str) -> str:
    """Docker's MAC address for an IPv4 address: 02:42 then the address's four bytes."""
    return "02:42:" + ":".join(f"{int(b):02x}" for b in address.split("."))


def default_route_mtu() -> int:
    """The MTU of the device the host's default route leaves by (1500 if there is none)."""
    with open("/proc/net/route") as f:
        for line in f.read().splitlines()[1:]:
            fields = line.split()
            if len(fields) > 7 and fields[1] == "00000000" and fields[7] == "00000000":
                try:
                    with open(f"/sys/class/net/{fields[0]}/mtu") as m:
                        return int(m.read())
                except (OSError, ValueError):
                    break
    return 1500


# --- the bridge --------------------------------------------------------------------
def ensure_bridge(device: str, gateway: str, prefixlen: int, mtu: int = LOCAL_MTU) -> None:
    """Make the bridge with the gateway's address, up, unless it exists (call under a lock).

    Its MTU then follows its ports' (the smallest of them; 1500 with none): the kernel
    adjusts it as veths are plugged in, until someone sets it by hand.

    Its MAC address is set, as moby's bridge driver does (``setupDevice``): a bridge
    without one takes the smallest of its ports', so it changes when a veth with a
    smaller one is plugged in, and a container that has the old one in its ARP cache
    can no longer reach the gateway (nor the DNS server on it) for minutes."""
    if exists(device):
        return
    ip(["-batch", "-"], stdin=f"link add name {device} mtu {mtu} address {mac_for(gateway)} "
                             "type bridge\n"
                             f"addr add {gateway}/{prefixlen} dev {device}\n"
                             f"link set {device} up\n")
    # A published port must answer on 127.0.0.1 too: packets from 127.0.0.1, rewritten
    # (DNAT) to a container, may then leave by this device (ip-sysctl: route_localnet).
    _sysctl(f"net/ipv4/conf/{device}/route_localnet", "1")


def forwarding_on() -> None:
    """Let the host route between its devices (the containers' packets go out through it)."""
    _sysctl("net/ipv4/ip_forward", "1")


def _sysctl(name: str, value: str) -> None:
    with open(f"/proc/sys/{name}", "w") as f:
        f.write(value)


def delete(device: str) -> None:
    """Remove a device (a veth's other end goes with it); nothing if it is gone already."""
    if exists(device):
        try:
            ip(["link", "del", device])
        except LinkError:
            # The kernel may be removing it already: a container's veth goes with its
            # network namespace, once the last process in it has exited.
            for _ in range(20):
                if not exists(device):
                    return
                time.sleep(0.01)
            raise


def veths_on(bridge: str) -> list[str]:
    """The devices plugged into ``bridge``."""
    try:
        return sorted(os.listdir(f"/sys/class/net/{bridge}/brif"))
    except FileNotFoundError:
        return []


# --- a container's end ------------------------------------------------------------------
def plug(netns_fd: int, host_end: str, bridge: str, inner: str, address: str, prefixlen: int,
         gateway: str | None, route_mtu: int) -> str:
    """Make a veth pair: ``host_end`` on ``bridge``, ``inner`` in the namespace ``netns_fd``,
    with its address, up, and a default route via ``gateway`` (none: no way out) whose MTU
    is ``route_mtu`` (the host's way out); the pair itself has :data:`LOCAL_MTU`.  Returns
    the inner end's MAC address."""
    from ..kernel.netlink import Socket
    mac = mac_for(address)
    try:
        with Socket() as host:
            try:
                host.add_veth(host_end, LOCAL_MTU, bridge, inner, mac, netns_fd)
            except FileExistsError:
                _wait_for_old_end(host_end)
                host.add_veth(host_end, LOCAL_MTU, bridge, inner, mac, netns_fd)
    except OSError as e:
        raise LinkError(e.strerror) from None

    def inside():
        # IPv4 only: without IPv6 the link comes up without address autoconfiguration
        # and duplicate address detection (ip-sysctl: disable_ipv6), as on Docker's
        # networks without --ipv6.
        for scope in ("all", "default", inner):
            _sysctl(f"net/ipv6/conf/{scope}/disable_ipv6", "1")
        with Socket() as container:  # opened in here: it speaks to the container's namespace
            container.set_up("lo")
            container.add_address(inner, address, prefixlen)
            container.set_up(inner)
            if gateway:
                container.add_default_route(gateway, inner, route_mtu)
    try:
        in_namespace(netns_fd, inside)
    except BaseException as e:
        delete(host_end)
        if isinstance(e, OSError):
            raise LinkError(e.strerror) from None
        raise
    return mac


def _wait_for_old_end(host_end: str, timeout: float = 3.0) -> None:
    """Let the container's last veth go before its new one takes the same name.

    The name comes from the container's id, so a device that has it is this
    container's from its last run.  The kernel deletes that pair with the old network
    namespace, but later: a namespace is torn down by a kernel worker after its last
    process has gone (net/core/net_namespace.c, cleanup_net), a few milliseconds to a
    second on a busy machine.  A ``restart`` at once can come first.  Wait for it;
    still there after ``timeout``, delete it.  The name is looked up with
    if_nametoindex(3), in this thread's namespace (not /sys, which shows the namespace
    it was mounted in)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.if_nametoindex(host_end)
        except OSError:
            return  # gone
        time.sleep(0.02)
    try:
        ip(["link", "del", host_end])
    except LinkError:
        pass  # gone meanwhile; if not, adding it again says so


def in_namespace(netns_fd: int, action):
    """Run ``action()`` with this process in the network namespace ``netns_fd``, then come back.

    Only for a process with one thread: setns(2) moves the calling thread alone.
    Child processes started meanwhile (``ip``) are born inside.
    """
    host = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        sc.setns(netns_fd, sc.CLONE_NEWNET)
        try:
            return action()
        finally:
            sc.setns(host, sc.CLONE_NEWNET)
    finally:
        os.close(host)


def new_namespace() -> int:
    """A new, empty network namespace, as an open descriptor; this process stays where it is.

    unshare(CLONE_NEWNET) moves us into it; we keep a descriptor and setns(2)
    back.  Nothing else holds the namespace: it is gone once every descriptor
    and every process in it is.
    """
    host = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        sc.unshare(sc.CLONE_NEWNET)
        fd = os.open("/proc/self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        sc.setns(host, sc.CLONE_NEWNET)
    finally:
        os.close(host)
    return fd


def inner_names(pid: int) -> list[str]:
    """The devices in process ``pid``'s network namespace (/proc/PID/net/dev)."""
    with open(f"/proc/{pid}/net/dev") as f:
        return [line.split(":")[0].strip() for line in f.read().splitlines()[2:]]
