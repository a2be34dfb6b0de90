"""Plugging a container into its networks, and unplugging it: set-up and tear-down as a pair.

The monitor (sandbox.engine.runtime) calls :func:`attach` once the container's
network namespace exists and before the container's first process is
forked into it, so that the command finds ``eth0`` ready:

    1. the network's bridge and rules, if this is its first container  (sandbox.network.networks)
    2. an address, leased under a lock                                  (sandbox.network.ipam)
    3. a veth pair: one end on the bridge, ``eth0`` inside, address, route  (sandbox.isolation.links)
    4. the endpoint record the DNS responder reads                      (ROOT/networks/NAME/endpoints)
    5. the published ports: claimed host-wide, then one DNAT rule each  (sandbox.network.ports, sandbox.network.nat)

:func:`detach` undoes the same steps in reverse, from the container's id
alone (its veth's name and its rules' comments are derived from it), so the
monitor calls it when the container exits, and ``rm`` and ``system prune``
call it again for a container whose monitor was killed.  Every step of
:func:`detach` does nothing if its part is already gone.
"""

from __future__ import annotations

import os
from pathlib import Path

from ..isolation import links


from . import networks
def attach(container, netns_fd: int) -> dict:
    """Plug ``container`` into every network of its spec; the state's Networks and Ports."""
    spec = container.spec
    root, cid = container.root, container.id
    plugged: dict = {}
    try:
        for index, (name, wanted) in enumerate(spec.networks.items()):
            plugged[name] = plug(root, cid, container.name, netns_fd, name,
                                 wanted.get("Aliases") or [], wanted.get("IPv4Address"),
                                 f"eth{index}", default_route=index == 0)
        primary = next(iter(plugged.values()), None)
        published = publish(root, cid, primary["IPAddress"], spec.ports,
                            networks.lookup(root, next(iter(plugged)))) if spec.ports else []
        _write_hosts(container, primary["IPAddress"] if primary else None)
    except BaseException:
        detach(root, cid, list(spec.networks), bool(spec.ports))
        raise
    from .ports import as_docker
    return {"Networks": plugged, "Ports": as_docker(published)}


def plug(root: Path, cid: str, cname: str, netns_fd: int, name: str, aliases: list[str],
         wanted_ip: str | None, inner: str, default_route: bool) -> dict:
    """One network: lease, veth, endpoint record, DNS.  Its entry of the state's Networks."""
    record = networks.lookup(root, name)
    subnet, gateway = networks.subnet_of(record)
    prefixlen = int(subnet.split("/")[1])
    with networks.bridge_lock(root):  # the bridge, and our address on it, in one step
        networks.bring_up(root, record)
        address = networks.leases(root, record).take(root, cid, wanted_ip)
    veth = links.host_veth_name(cid, record["Id"])
    route = gateway if default_route and not record["Internal"] else None
    try:
        mac = links.plug(netns_fd, veth, networks.device(record), inner, address, prefixlen,
                         route, links.default_route_mtu())
    except BaseException:
        networks.leases(root, record).give_back(cid)
        networks.take_down_if_unused(root, record)
        raise
    endpoint_id = os.urandom(32).hex()
    networks.write_endpoint(root, name, cid, {
        "Name": cname, "Aliases": aliases, "IPv4Address": f"{address}/{prefixlen}",
        "MacAddress": mac, "EndpointID": endpoint_id, "HostVeth": veth, "Device": inner})
    if name != networks.DEFAULT:
        networks.start_dns(root, record)
    return {"NetworkID": record["Id"], "EndpointID": endpoint_id, "Gateway": gateway,
            "IPAddress": address, "IPPrefixLen": prefixlen, "MacAddress": mac,
            "Aliases": aliases or None}


def publish(root: Path, cid: str, address: str, wanted: list[dict], network: dict) -> list[dict]:
    """Claim the host ports, then add their DNAT rules in one nft transaction.  Only if that
    fails (the table is gone: ``nft flush ruleset``, a chapter 09 exercise) is the table
    listed, and the network's own rules added again with them: a published port on
    127.0.0.1 needs its masquerade.  One ``nft`` run in the usual case, not two."""
    from . import nat, ports
    decided = ports.claim_all(wanted, root, cid)
    try:
        rules = nat.port_rules(cid, address, decided)
        try:
            nat.nft(rules)
        except nat.RuleError:
            nat.nft(nat.missing_parts(network) + rules)
    except BaseException:
        ports.release(cid)
        raise
    return decided


def _write_hosts(container, address: str | None) -> None:
    """/etc/hosts with the container's own address (written before its init mounts it)."""
    from .netconfig import hosts
    text = hosts(container.config["Hostname"], address, container.spec.extra_hosts)
    # In place, not by rename: init may have bind-mounted the file already (it builds the
    # root filesystem meanwhile), and a mount keeps the inode it was given.  Nothing in
    # the container reads it before the monitor says "go".
    with open(container.dir / "hosts", "r+") as f:
        f.truncate(0)
        f.write(text)


def detach(root: Path, cid: str, names: list[str], had_ports: bool = True,
           exited: bool = False) -> None:
    """Unplug container ``cid`` from ``names``: its rules, veths, leases, endpoints; each
    step only if its part is still there.  ``exited``: its processes are all gone."""
    if had_ports:
        from . import nat, ports
        nat.delete_owned([cid])
        ports.release(cid)
    for name in names:
        unplug(root, cid, name, exited)


def unplug(root: Path, cid: str, name: str, exited: bool = False) -> None:
    """One network's part.  When the container's processes are all gone (``exited``), its
    network namespace goes, and the kernel deletes the veth pair with it: deleting it
    here too would only wait (``ip link del`` of a veth takes 10 to 40 ms)."""
    try:
        record = networks.lookup(root, name)
    except networks.NetworkNotFound:
        return
    try:
        if not exited:
            links.delete(links.host_veth_name(cid, record["Id"]))
    finally:  # the address is given back even if the veth would not go (prune tries again)
        networks.leases(root, record).give_back(cid)
        networks.take_down_if_unused(root, record)
    if networks.remove_endpoint(root, name, cid):
        networks.stop_dns(root, name)


def cleanup(root: Path, container, exited: bool = False) -> None:
    """What the container held: for the monitor when it exits (``exited``), and for ``rm``
    (after a monitor that died)."""
    spec = container.spec
    if spec.rootless:
        from . import rootless_net, rootless_netns  # they plugged it in: they unplug it
        rootless_net.detach(container, container.state)
        if rootless_netns.uses(spec):  # the veth went with the container's namespace
            detach(root, container.id, sorted(spec.networks), False, exited=True)
        return
    names = set(spec.networks) | set(container.state.get("Networks") or {})
    if names or spec.ports:
        detach(root, container.id, sorted(names), bool(spec.ports), exited)


def prune(root: Path, running) -> None:
    """``system prune``: leftovers whose container is gone, in this root and host-wide.

    ``running(cid)`` says whether a container still runs: the caller's (sandbox.containers
    reads records; the network layer, below it, does not)."""
    from . import ipam, nat, ports
    from ..paths import containers_dir
    for record in networks.all_networks(root):
        name = record["Name"]
        for cid in list(networks.endpoints(root, name)):
            if not (containers_dir(root) / cid).is_dir():
                unplug(root, cid, name)
        networks.leases(root, record).reclaim()
        if not networks.endpoints(root, name):
            networks.stop_dns(root, name)
    if os.geteuid() != 0:
        from . import rootless_netns
        rootless_netns.prune(root)  # the user's namespace, with no user network left
        return
    for record in networks.all_networks(root):
        _prune_veths(root, record)
    ports.release("", stale_too=True)
    live = {h["id"] for h in _claim_holders()}

    def keep(owner: str) -> bool:
        if owner.startswith(("net:sandbox0", "net:sbx-")):
            return links.exists(owner[4:])  # a network's rules stay while its bridge does
        if len(owner) != 64 or owner.strip("0123456789abcdef"):
            return True  # not a rule of ours
        return owner in live or (containers_dir(root) / owner).is_dir() and running(owner)
    nat.delete_owned(keep=keep)
    for record in networks.all_networks(root):  # rules deleted behind our back come back
        script = nat.missing_parts(record) if links.exists(networks.device(record)) else ""
        if script:
            nat.nft(script)
    leases = ipam.Leases(ipam.HOST_WIDE / networks.DEFAULT_DEVICE / "leases", "0.0.0.0/0",
                         "0.0.0.0")
    leases.reclaim()
    if links.exists(networks.DEFAULT_DEVICE):  # its last holder was killed (a linger, a build)
        networks.take_down_if_unused(root, networks.default(root), linger=0)


def _prune_veths(root: Path, record: dict) -> None:
    """Remove the veths on a network's bridge that no lease accounts for.

    A veth is made after its address is leased and deleted before the lease is
    given back, so one without a lease belongs to no container.  The default
    bridge is shared by every state root: its leases name their root, whose
    ``bridge`` record has the id the veth's name was made from.
    """
    import json
    leases = networks.leases(root, record)
    veths = links.veths_on(networks.device(record))  # first: a veth seen here has its lease
    expected = set()
    for _, holder in leases.holders():
        if not holder.get("id"):
            continue  # a hold (a build, the bridge's linger): no veth
        network_id = record["Id"]
        if record["Name"] == networks.DEFAULT:
            try:
                path = Path(holder["root"]) / "networks" / networks.DEFAULT / "network.json"
                network_id = json.loads(path.read_text())["Id"]
            except (OSError, ValueError, KeyError):
                continue
        expected.add(links.host_veth_name(holder.get("id", ""), network_id))
    for veth in veths:
        if veth.startswith("veth") and veth not in expected:
            try:
                links.delete(veth)
            except links.LinkError:
                pass


def _claim_holders() -> list[dict]:
    import json
    from .ports import CLAIMS
    found = []
    try:
        names = os.listdir(CLAIMS)
    except FileNotFoundError:
        return []
    for name in names:
        try:
            with open(os.path.join(CLAIMS, name)) as f:
                found.append(json.load(f))
        except (OSError, ValueError):
            continue
    return found


# --- network connect, network disconnect -------------------------------------------------------
def connect(container, name: str, aliases: list[str], ip: str | None) -> None:
    """``docker network connect``: plug a running container in now (a new ``ethN`` appears
    inside), or a stopped one at its next start."""
    from ..errors import Conflict, UsageError
    spec = container.spec
    if spec.rootless:
        raise UsageError(f"network connect: rootless containers cannot be connected to "
                         f"another network yet: run {container.name} with --network {name}")
    if spec.own_netns or spec.network == "host" or spec.network.startswith("container:"):
        raise Conflict(f"container {container.name} has --network {spec.network or 'none'}: "
                       "a container sharing a network namespace with the host or another "
                       "container, or with none, cannot be connected to any other network")
    if name in spec.networks:
        raise Conflict(f"endpoint with name {container.name} already exists in network {name}")
    if name == networks.DEFAULT and (aliases or ip):
        raise UsageError("network-scoped aliases and --ip are only supported for user-defined "
                         "networks")
    wanted = {"Aliases": list(aliases), "IPv4Address": ip}
    if container.running:
        pid = container.pid
        used = set(links.inner_names(pid))
        inner = next(f"eth{n}" for n in range(64) if f"eth{n}" not in used)
        netns = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            entry = plug(container.root, container.id, container.name, netns, name, list(aliases),
                         ip, inner, default_route=False)
        finally:
            os.close(netns)
        plugged = dict(container.state.get("Networks") or {}, **{name: entry})
        container.write_state(Networks=plugged)
    _save_networks(container, dict(spec.networks, **{name: wanted}))


def disconnect(container, name: str) -> None:
    """``docker network disconnect``: its veth goes (and ``ethN`` inside with it)."""
    if container.spec.rootless and container.running:
        from ..errors import UsageError
        raise UsageError(f"network disconnect: a running rootless container cannot leave a "
                         f"network yet: stop {container.name} first")
    unplug(container.root, container.id, name)
    plugged = dict(container.state.get("Networks") or {})
    if plugged.pop(name, None) is not None:
        container.write_state(Networks=plugged)
    networks_left = dict(container.spec.networks)
    networks_left.pop(name, None)
    _save_networks(container, networks_left)


def _save_networks(container, plugged: dict) -> None:
    import json
    from ..paths import write_atomic
    config = json.loads((container.dir / "config.json").read_text())
    config["Spec"]["networks"] = plugged
    write_atomic(container.dir / "config.json", json.dumps(config, indent=2))
    container.config = config
