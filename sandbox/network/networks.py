"""Networks on disk: ``network create``, ``ls``, ``inspect``, ``rm``, ``prune``.

    ROOT/networks/NAME/network.json            what ``network inspect`` shows (Docker's fields)
    ROOT/networks/NAME/endpoints/<id>.json     one per attached container: name, aliases, address
    ROOT/networks/NAME/leases/<address>        the addresses handed out (sandbox.network.ipam)

A network is a bridge device on the host (``sandbox0`` for the default
``bridge``, ``sbx-<11 hex of its id>`` for the others), a subnet whose first
address the bridge holds (the gateway), and its rules in the course's nft
table (sandbox.network.nat).  The whole network is described by its one file, so
that set-up and tear-down are a pair: ``rm`` and ``prune`` undo from the file
alone what ``create`` did, even after a crash (netavark's shape).

The default network ``bridge`` exists without ``create``: its record is
written the first time a container uses it.  Names resolve on user networks
only, through the DNS responder of :mod:`sandbox.network.dns` on the gateway (as on
Docker, whose default bridge has no names).
"""

from __future__ import annotations

import fcntl
import json
import os
import re
from pathlib import Path

from . import ipam
from ..errors import Conflict, NotFound, SandboxError, UsageError
from ..humanize import now_iso
from ..paths import ensure, rmtree, write_atomic

DEFAULT = "bridge"
DEFAULT_DEVICE = "sandbox0"
MODES = ("none", "host", DEFAULT)  # and container:NAME, and a user network's name
HOST_LOCK = "/run/sandbox/network.lock"


class NetworkNotFound(NotFound):
    pass


def networks_dir(root: Path) -> Path:
    return Path(root) / "networks"


def device(record: dict) -> str:
    """The bridge's name: ``sbx-`` and 11 hex digits of the id, as a device name has at most
    15 characters (IFNAMSIZ, 16 with its NUL; Docker's are ``br-`` and 12)."""
    return DEFAULT_DEVICE if record["Name"] == DEFAULT else "sbx-" + record["Id"][:11]


def subnet_of(record: dict) -> tuple[str, str]:
    config = record["IPAM"]["Config"][0]
    return config["Subnet"], config["Gateway"]


def tag(record: dict) -> str:
    """The comment on the network's nft rules: its device, host-wide unique."""
    return "net:" + device(record)


# --- finding ------------------------------------------------------------------------------
def all_networks(root: Path) -> list[dict]:
    found = []
    try:
        names = sorted(os.listdir(networks_dir(root)))
    except FileNotFoundError:
        names = []
    for name in names:
        try:
            found.append(json.loads((networks_dir(root) / name / "network.json").read_text()))
        except (OSError, ValueError):
            continue
    return found


def lookup(root: Path, ref: str) -> dict:
    """A network by name, full id or unique id prefix."""
    path = networks_dir(root) / ref / "network.json"
    if "/" not in ref and ref not in (".", "..") and path.is_file():
        return json.loads(path.read_text())
    matches = [n for n in all_networks(root) if re.fullmatch(r"[0-9a-f]+", ref)
               and n["Id"].startswith(ref)]
    if len(matches) == 1:
        return matches[0]
    if ref == DEFAULT:
        return default(root)
    raise NetworkNotFound(f"network {ref} not found")


def default(root: Path) -> dict:
    """The default ``bridge`` network's record, written on first use; its subnet is the
    device's if ``sandbox0`` exists already (another state root made it)."""
    path = networks_dir(root) / DEFAULT / "network.json"
    try:
        record = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        record = None
    actual = _device_subnet(DEFAULT_DEVICE)
    if record and (actual is None or subnet_of(record) == actual):
        return record
    if actual is None:
        taken = [subnet_of(n)[0] for n in all_networks(root) if n["Name"] != DEFAULT]
        subnet = ipam.free_subnet(taken, _routes_but_ours())
        actual = (str(subnet), str(next(subnet.hosts())))
    record = _record(DEFAULT, os.urandom(32).hex(), actual[0], actual[1], False, {}, {})
    record["Options"] = {"com.docker.network.bridge.name": DEFAULT_DEVICE}
    ensure(path.parent)
    write_atomic(path, json.dumps(record, indent=2))
    return record


def _record(name, nid, subnet, gateway, internal, labels, options) -> dict:
    return {"Name": name, "Id": nid, "Created": now_iso(), "Scope": "local", "Driver": "bridge",
            "EnableIPv6": False,
            "IPAM": {"Driver": "default", "Options": {},
                     "Config": [{"Subnet": subnet, "Gateway": gateway}]},
            "Internal": internal, "Attachable": False, "Ingress": False,
            "Options": options, "Labels": labels}


def _device_subnet(dev: str) -> tuple[str, str] | None:
    """The IPv4 address and subnet of a device, from the kernel (SIOCGIFADDR, SIOCGIFNETMASK)."""
    import ipaddress
    import socket
    import struct
    if not os.path.exists(f"/sys/class/net/{dev}"):
        return None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        request = struct.pack("256s", dev.encode())
        try:
            addr = fcntl.ioctl(s.fileno(), 0x8915, request)[20:24]
            mask = fcntl.ioctl(s.fileno(), 0x891b, request)[20:24]
        except OSError:
            return None
    gateway = socket.inet_ntoa(addr)
    net = ipaddress.IPv4Network(f"{gateway}/{socket.inet_ntoa(mask)}", strict=False)
    return str(net), gateway


def _routes_but_ours() -> list:
    """The host's routes, except those of bridges the course made (which may be reused)."""
    with open("/proc/net/route") as f:
        lines = f.read().splitlines()
    ours = [lines[0]] + [line for line in lines[1:] if not line.split()[0].startswith(
        ("sandbox0", "sbx-"))]
    return ipam.host_routes("\n".join(ours))


# --- create, remove -------------------------------------------------------------------------
class _Locked:
    """flock(2) on a lock file: one network change at a time."""

    def __init__(self, path: str | Path):
        os.makedirs(os.path.dirname(path), 0o700, exist_ok=True)
        self.fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)

    def __enter__(self):
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        os.close(self.fd)


def locked(root: Path) -> _Locked:
    return _Locked(networks_dir(root) / ".lock")


def create(root: Path, name: str, subnet: str | None = None, gateway: str | None = None,
           internal: bool = False, labels: dict | None = None) -> dict:
    """``docker network create``: the record, the bridge device and the rules, or nothing."""
    if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", name):
        raise UsageError(f"invalid network name {name!r}: only [a-zA-Z0-9][a-zA-Z0-9_.-] "
                         "are allowed")
    if name in MODES:
        raise Conflict(f"network with name {name} already exists (it is predefined)")
    ensure(networks_dir(root))
    with locked(root):
        if (networks_dir(root) / name).exists():
            raise Conflict(f"network with name {name} already exists")
        taken = {n["Name"]: subnet_of(n)[0] for n in all_networks(root)}
        routes = ipam.host_routes()
        if subnet:
            net = ipam.check_subnet(subnet, taken, routes)
        else:
            bridge = _device_subnet(DEFAULT_DEVICE)
            net = ipam.free_subnet(list(taken.values()) + [bridge[0] if bridge else
                                                             ipam.POOLS[0]], routes)
        gw = ipam.check_gateway(gateway, net) if gateway else next(net.hosts())
        record = _record(name, os.urandom(32).hex(), str(net), str(gw), internal,
                         dict(labels or {}), {})
        directory = ensure(networks_dir(root) / name)
        try:
            write_atomic(directory / "network.json", json.dumps(record, indent=2))
            if os.geteuid() == 0:
                with bridge_lock(root):
                    bring_up(root, record)
        except BaseException:
            _tear_down(record)
            rmtree(directory)
            raise
    return record


def bridge_lock(root: Path) -> _Locked:
    """Held while a bridge is made, leased from or taken down: a container that has its
    address keeps its bridge (see :func:`take_down_if_unused`)."""
    return _Locked(_bridge_lock(root))


def bring_up(root: Path, record: dict) -> None:
    """Make the network's bridge and rules if they are not there (the default network's
    first container, a reboot).  The caller holds :func:`bridge_lock`."""
    from ..isolation import links
    dev = device(record)
    if links.exists(dev):
        return
    from . import nat
    subnet, gateway = subnet_of(record)
    others = [d for d in os.listdir("/sys/class/net")
              if d != dev and (d == DEFAULT_DEVICE or d.startswith("sbx-"))]
    rules = nat.network_rules(tag(record), dev, subnet, record["Internal"], others)
    links.ensure_bridge(dev, gateway, int(subnet.split("/")[1]))
    try:
        links.forwarding_on()
        # A new table has no rules of an earlier life of this bridge to delete: its
        # rules go in with it, in one nft run (each run costs ~10 ms).
        if not nat.ensure_table(then=rules):
            nat.delete_owned([tag(record)])
            nat.nft(rules)
    except BaseException:
        links.delete(dev)
        raise


def _bridge_lock(root: Path) -> str:
    """Host root's bridges are host-wide; a rootless user's live in its own namespace
    (sandbox.network.rootless_netns), one per state root."""
    from ..isolation.userns import is_host_root
    return HOST_LOCK if is_host_root() else str(networks_dir(root) / "bridge.lock")


def _tear_down(record: dict, root: Path | None = None) -> None:
    if os.geteuid() != 0:
        if root is not None:  # rootless: the bridge is in the user's own namespace
            from . import rootless_netns
            rootless_netns.tear_down(root, record)
        return
    from ..isolation import links
    from . import nat
    links.delete(device(record))
    if any(d == DEFAULT_DEVICE or d.startswith("sbx-") for d in os.listdir("/sys/class/net")):
        nat.delete_owned([tag(record)])
    else:
        nat.delete_table()  # no bridge of the course is left to need it; its rules go with it


LINGER = 2.0  # seconds the default bridge outlives its last container


def take_down_if_unused(root: Path, record: dict, linger: float = LINGER) -> None:
    """The default network's bridge lives while a container has an address on it: the last
    one to leave takes down the bridge, its rules, and the course's table if no bridge of
    the course is left.  (A user network's bridge lives until ``network rm``.)

    Not at once, but ``linger`` seconds later, by a process of its own (:func:`_linger`).
    Making the bridge and its rules costs ~10 ms, but taking them down ~70 ms: the kernel
    unregisters a device only after every CPU has passed a quiescent point (RCU grace
    periods, in netdev_run_todo), and nft rewrites the table.  A script that runs
    containers one after another would pay that on every run; with the linger it makes
    the bridge once, and the bridge is still gone two seconds after the last container.
    (Docker's ``docker0`` never goes: its daemon owns it.  Here nothing would.)"""
    if record["Name"] != DEFAULT or os.geteuid() != 0:
        return  # rootless: the bridge is in the user's own namespace (rootless_netns)
    with bridge_lock(root):
        held = leases(root, record)
        held.reclaim()  # a killed linger's or build's hold, a deleted state root's lease
        if held.holders():
            return
        if linger > 0 and _linger(root, record, linger):
            return
        _tear_down(record, root)


def _linger(root: Path, record: dict, seconds: float) -> bool:
    """Start a process that holds the bridge (a ``hold-PID`` lease, see ipam) until
    ``seconds`` have passed with no container coming or going, then takes it down if
    nobody holds it.  The caller holds :func:`bridge_lock`.  False if it could not start.

    A double fork, as a daemon's: the linger is nobody's child (no zombie for a
    monitor that stays, for ``--restart``), and its hold is written (by the middle
    process) before the caller lets go of the lock."""
    hold = leases(root, record)
    try:
        middle = os.fork()
    except OSError:
        return False
    if middle:
        try:
            _, status = os.waitpid(middle, 0)
        except ChildProcessError:
            return False
        return os.waitstatus_to_exitcode(status) == 0
    code = 1
    try:
        linger = os.fork()
        if linger:
            hold.hold_for(root, linger)
            code = 0
        else:
            _become_linger(root, record, hold, seconds)
    finally:
        os._exit(code)


def _become_linger(root: Path, record: dict, hold: ipam.Leases, seconds: float) -> None:
    """The linger itself: nothing of its parent's (a client's pipe held open would keep
    the client waiting for its end), a name for ``ps``, a wait, and the take-down."""
    import signal
    try:
        os.setsid()
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGPIPE):
            signal.signal(sig, signal.SIG_DFL)  # a monitor ignores them; `kill` may end us
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(3, 65536)
        os.chdir("/")
        from ..kernel import syscalls as sc
        sc.set_name(b"sandbox-linger")
        _wait_for_quiet(hold, seconds)
        with bridge_lock(root):
            hold.release(os.getpid())
            hold.reclaim()
            if not hold.holders():
                _tear_down(record, root)
    finally:
        os._exit(0)


def _wait_for_quiet(hold: ipam.Leases, seconds: float) -> None:
    """Sleep until ``seconds`` have passed since the leases last changed (a container
    came or went: the directory's mtime)."""
    import time
    while True:
        try:
            changed = os.stat(hold.dir).st_mtime
        except FileNotFoundError:
            return
        left = changed + seconds - time.time()
        if left <= 0:
            return
        time.sleep(min(left, seconds) + 0.01)


class held_default:
    """``with held_default(root):`` keeps the default bridge up for the block's time.

    Each container on the default network makes the bridge when it is the first, and
    the last one takes it down again (:func:`take_down_if_unused`): right for one
    ``run``, but a build that runs ten RUN steps one after the other would make and
    take down the bridge and its rules ten times.  Rootless, there is nothing to
    hold: the bridge lives in the user's own namespace.
    """

    def __init__(self, root: Path):
        self.root, self.path = root, None

    def __enter__(self) -> "held_default":
        if os.geteuid() == 0:
            record = default(self.root)
            with bridge_lock(self.root):
                self.path = leases(self.root, record).hold(self.root)
            self.record = record
        return self

    def __exit__(self, *exc) -> None:
        if self.path is not None:
            self.path.unlink(missing_ok=True)
            take_down_if_unused(self.root, self.record)


def remove(root: Path, ref: str) -> str:
    """``docker network rm``: refused while a container is attached (naming it)."""
    record = lookup(root, ref)
    name = record["Name"]
    if name == DEFAULT:
        raise Conflict(f"{name} is a pre-defined network and cannot be removed")
    with locked(root):
        users = attached(root, name)
        if users:
            raise Conflict(f"error while removing network: network {name} id {record['Id']} "
                           f"has active endpoints (container {users[0]})")
        _stop_dns(root, name)
        _tear_down(record, root)
        rmtree(networks_dir(root) / name)
    return name


def prune(root: Path) -> list[str]:
    """``docker network prune``: remove every user network no container is attached to."""
    removed = []
    for record in all_networks(root):
        if record["Name"] != DEFAULT and not attached(root, record["Name"]):
            try:
                removed.append(remove(root, record["Name"]))
            except (Conflict, NotFound):
                continue
    return removed


# --- endpoints --------------------------------------------------------------------------------
def endpoints_dir(root: Path, name: str) -> Path:
    return networks_dir(root) / name / "endpoints"


def endpoints(root: Path, name: str) -> dict[str, dict]:
    """container id → its endpoint record, for every container attached to ``name``."""
    directory = endpoints_dir(root, name)
    found = {}
    try:
        files = os.listdir(directory)
    except FileNotFoundError:
        return {}
    for f in files:
        if f.endswith(".json") and not f.startswith("."):
            try:
                found[f[:-5]] = json.loads((directory / f).read_text())
            except (OSError, ValueError):
                continue
    return found


def attached(root: Path, name: str) -> list[str]:
    """The names of the containers attached to a network (whose record still exists)."""
    from ..paths import containers_dir
    return [e.get("Name", cid) for cid, e in sorted(endpoints(root, name).items())
            if (containers_dir(root) / cid).is_dir()]


def write_endpoint(root: Path, name: str, cid: str, endpoint: dict) -> None:
    write_atomic(ensure(endpoints_dir(root, name)) / f"{cid}.json", json.dumps(endpoint))


def remove_endpoint(root: Path, name: str, cid: str) -> bool:
    """Remove a container's endpoint; True if it was the network's last one."""
    try:
        (endpoints_dir(root, name) / f"{cid}.json").unlink()
    except FileNotFoundError:
        pass
    return not endpoints(root, name)


def leases(root: Path, record: dict) -> ipam.Leases:
    subnet, gateway = subnet_of(record)
    if record["Name"] == DEFAULT and os.geteuid() == 0:
        directory = ipam.HOST_WIDE / DEFAULT_DEVICE / "leases"  # one device for every state root
    else:
        directory = networks_dir(root) / record["Name"] / "leases"
    return ipam.Leases(directory, subnet, gateway)


def start_dns(root: Path, record: dict) -> None:
    """A user network's names: the responder of :mod:`sandbox.network.dns` on its gateway."""
    from . import dns
    from .rootless_netns import upstreams  # rootless: pasta's forwarder, from the user's netns
    dns.ensure(root, record["Name"], subnet_of(record)[1], upstreams=upstreams(root))


def _stop_dns(root: Path, name: str) -> None:
    try:
        from . import dns
    except ImportError:
        return
    dns.stop(root, name)


def stop_dns(root: Path, name: str) -> None:
    if name != DEFAULT:
        _stop_dns(root, name)


def inspect_json(root: Path, record: dict) -> dict:
    """``docker network inspect``: the record with its Containers."""
    shown = dict(record)
    shown["Containers"] = {cid: {"Name": e.get("Name"), "EndpointID": e.get("EndpointID", ""),
                                 "MacAddress": e.get("MacAddress", ""),
                                 "IPv4Address": e.get("IPv4Address", ""), "IPv6Address": ""}
                           for cid, e in endpoints(root, record["Name"]).items()}
    return shown


def check_mode(root: Path, mode: str | None) -> str:
    """``--network``'s value, checked: none, host, bridge, container:NAME or a network's name."""
    if mode in (None, "", "default"):
        return DEFAULT
    if mode in MODES:
        return mode
    if mode.startswith("container:"):
        return mode  # that the container exists is checked above, by the caller (lifecycle)
    try:
        return lookup(root, mode)["Name"]
    except NetworkNotFound:
        raise SandboxError(f"--network {mode}: network {mode} not found") from None


def plan(root: Path, mode: str | None, aliases: list[str] = (), ip: str | None = None,
         rootless: bool = False) -> tuple[str, dict]:
    """``--network``, ``--network-alias`` and ``--ip`` checked: (the mode, the networks to
    plug the container into at start: name → {"Aliases", "IPv4Address"})."""
    mode = check_mode(root, mode)
    if mode in ("none", "host") or mode.startswith("container:"):
        if aliases or ip:
            flag = "--ip" if ip else "--network-alias"
            raise UsageError(f"{flag} needs a user-defined network (sandbox network create), "
                             f"not --network {mode}")
        return mode, {}
    if mode == DEFAULT and (aliases or ip):
        if ip:
            raise UsageError("--ip: user specified IP address is supported on user defined "
                             "networks only")
        raise UsageError("--network-alias: network-scoped aliases are only supported for "
                         "user-defined networks")
    if ip:
        import ipaddress
        subnet = subnet_of(lookup(root, mode))[0]
        try:
            inside = ipaddress.IPv4Address(ip) in ipaddress.IPv4Network(subnet)
        except ValueError:
            raise UsageError(f"invalid --ip {ip}: expected an IPv4 address") from None
        if not inside:
            raise UsageError(f"--ip {ip} is not in network {mode}'s subnet {subnet}")
    return mode, {mode: {"Aliases": list(aliases), "IPv4Address": ip}}


def is_root_user() -> bool:
    return os.geteuid() == 0
