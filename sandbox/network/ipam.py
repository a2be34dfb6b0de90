"""IP address management: which subnet a network gets, and which address a container gets.

    a network      172.18.0.0/16           chosen so that no route of the host covers it
    its gateway    172.18.0.1              the bridge's own address, the containers' way out
    a container    172.18.0.2, .3, ...     one lease file each, taken under flock(2)

A lease is a file named after the address, holding who took it::

    <leases>/172.18.0.2      {"root": "/var/lib/sandbox", "id": "<container id>"}

Taking one is "lock the directory (flock(2)), list it, create the lowest free
address with O_EXCL": twenty ``sandbox run`` started at once get twenty
different addresses.  A lease is given back when its container stops or is
removed, and ``system prune`` takes back any whose container is gone (a
``kill -9``'d monitor never gave its back).

Where the leases live: a user network's under ``ROOT/networks/NAME/leases``;
the default ``bridge``'s, as root, under /run/sandbox, because its device
``sandbox0`` is one for the whole host, shared by every state root (as
Docker's one daemon shares ``docker0``), and two roots must not hand out the
same address on it.  /run is emptied at boot, as the bridge is.

The choice of subnet (:func:`free_subnet`) is pure: it gets the host's routes
and the subnets already taken, and is tested without root.
"""

from __future__ import annotations

import fcntl
import ipaddress
import json
import os
from pathlib import Path

from ..errors import SandboxError

# Docker's default address pools: 172.17.0.0/16 ... 172.31.0.0/16, then 192.168.0.0/20 ...
POOLS = [f"172.{n}.0.0/16" for n in range(17, 32)] + \
        [f"192.168.{n}.0/20" for n in range(0, 256, 16)]
HOST_WIDE = Path("/run/sandbox")


class AddressError(SandboxError):
    """An address or subnet that cannot be had."""


# --- subnets (pure) -------------------------------------------------------------
def host_routes(text: str | None = None) -> list[ipaddress.IPv4Network]:
    """The host's IPv4 routes from /proc/net/route (little-endian hex), the default one left out."""
    if text is None:
        with open("/proc/net/route") as f:
            text = f.read()
    routes = []
    for line in text.splitlines()[1:]:
        fields = line.split()
        if len(fields) < 8:
            continue
        dest, mask = (int.from_bytes(bytes.fromhex(h), "little") for h in (fields[1], fields[7]))
        if mask == 0:
            continue  # the default route covers everything: it does not count
        routes.append(ipaddress.IPv4Network((dest, bin(mask).count("1")), strict=False))
    return routes


def free_subnet(taken: list, routes: list, pools: list[str] = POOLS) -> ipaddress.IPv4Network:
    """The first pool that overlaps neither a host route nor a subnet already taken."""
    busy = [ipaddress.ip_network(n) for n in list(taken) + list(routes)]
    for text in pools:
        candidate = ipaddress.ip_network(text)
        if not any(candidate.overlaps(b) for b in busy):
            return candidate
    raise AddressError("no free subnet is left in the default pools (172.17-31.0.0/16, "
                       "192.168.0.0/16); remove unused networks (sandbox network prune)")


def check_subnet(text: str, taken: dict, routes: list) -> ipaddress.IPv4Network:
    """``--subnet``: a valid IPv4 CIDR that no other network (``taken``: name → subnet) nor
    host route overlaps."""
    try:
        subnet = ipaddress.IPv4Network(text, strict=True)
    except ValueError:
        raise AddressError(f"invalid --subnet {text}: expected an IPv4 network such as "
                           "172.30.0.0/16") from None
    if subnet.prefixlen > 30:
        raise AddressError(f"invalid --subnet {text}: a /{subnet.prefixlen} has no room for a "
                           "gateway and a container")
    for name, other in taken.items():
        if subnet.overlaps(ipaddress.ip_network(other)):
            raise AddressError(f"--subnet {text}: Pool overlaps with other one on this address "
                               f"space (network {name} has {other})")
    for route in routes:
        if subnet.overlaps(route):
            raise AddressError(f"--subnet {text} overlaps the host's route to {route}")
    return subnet


def check_gateway(text: str, subnet: ipaddress.IPv4Network) -> ipaddress.IPv4Address:
    try:
        gateway = ipaddress.IPv4Address(text)
    except ValueError:
        raise AddressError(f"invalid --gateway {text}: expected an IPv4 address") from None
    if gateway not in subnet or gateway in (subnet.network_address, subnet.broadcast_address):
        raise AddressError(f"--gateway {text} is not a host address of the subnet {subnet}")
    return gateway


# --- leases -----------------------------------------------------------------------
class Leases:
    """The leases of one network: a directory of files named after addresses."""

    def __init__(self, directory: Path, subnet: str, gateway: str):
        self.dir = Path(directory)
        self.subnet = ipaddress.IPv4Network(subnet)
        self.gateway = ipaddress.IPv4Address(gateway)

    def _locked(self):
        os.makedirs(self.dir, 0o700, exist_ok=True)
        fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fcntl.flock(fd, fcntl.LOCK_EX)  # released when fd is closed
        return fd

    def take(self, root: Path, cid: str, wanted: str | None = None) -> str:
        """Lease the lowest free address (or ``wanted``, ``--ip``) to container ``cid``."""
        fd = self._locked()
        try:
            if wanted:
                return self._take(self._check_wanted(wanted), root, cid)
            used = set(os.listdir(self.dir))
            for address in self.subnet.hosts():
                if address != self.gateway and str(address) not in used:
                    return self._take(address, root, cid)
            raise AddressError(f"no free address left in {self.subnet}")
        finally:
            os.close(fd)

    def _check_wanted(self, text: str) -> ipaddress.IPv4Address:
        try:
            address = ipaddress.IPv4Address(text)
        except ValueError:
            raise AddressError(f"invalid --ip {text}: expected an IPv4 address") from None
        if address not in self.subnet or address == self.gateway or \
                address in (self.subnet.network_address, self.subnet.broadcast_address):
            raise AddressError(f"--ip {text} is not a free host address of {self.subnet}")
        if (self.dir / str(address)).exists():
            raise AddressError(f"--ip {text}: Address already in use")
        return address

    def _take(self, address, root: Path, cid: str) -> str:
        path = self.dir / str(address)
        with open(path, "x") as f:
            json.dump({"root": str(root), "id": cid}, f)
        return str(address)

    def give_back(self, cid: str) -> None:
        """Remove every lease of container ``cid``."""
        for address, holder in self.holders():
            if holder.get("id") == cid:
                _unlink(self.dir / address)

    def holders(self) -> list[tuple[str, dict]]:
        try:
            names = os.listdir(self.dir)
        except FileNotFoundError:
            return []
        found = []
        for name in names:
            try:
                found.append((name, json.loads((self.dir / name).read_text())))
            except (OSError, ValueError):
                continue
        return found

    def reclaim(self) -> list[str]:
        """Remove the leases whose container is gone (its directory no longer exists)."""
        freed = []
        for address, holder in self.holders():
            if not container_exists(holder):
                _unlink(self.dir / address)
                freed.append(address)
        return freed


    def hold(self, root: Path) -> Path:
        """A lease without an address, held by this process: the network's bridge stays up
        while it lives, though no container has an address (a build, between two RUN steps).
        Named ``hold-PID``, never an address, so no address is ever taken by it."""
        return self.hold_for(root, os.getpid())

    def hold_for(self, root: Path, pid: int) -> Path:
        """:meth:`hold`, for process ``pid`` (the default bridge's linger, see networks)."""
        fd = self._locked()
        try:
            path = self.dir / f"hold-{pid}"
            from ..kernel import procfs
            path.write_text(json.dumps({"root": str(root), "id": "", "pid": pid,
                                        "start": procfs.start_time(pid)}))
            return path
        finally:
            os.close(fd)

    def release(self, pid: int) -> None:
        """Give back process ``pid``'s hold."""
        _unlink(self.dir / f"hold-{pid}")


def container_exists(holder: dict) -> bool:
    """Is the holder of a lease still there: its container, or (a hold) its process?"""
    if holder.get("pid"):  # the same process (its start time), not a zombie (procfs)
        from ..kernel import procfs
        pid, started = int(holder["pid"]), holder.get("start")
        return procfs.is_alive(pid, started) if started else procfs.start_time(pid) is not None
    return (Path(holder.get("root", "/nonexistent")) / "containers" / holder.get("id", "-")).is_dir()


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass
