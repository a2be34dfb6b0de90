"""The firewall rules the course adds: NAT out, published ports in.  nft(8)

Every rule lives in one nftables table of the course's own, so that

    nft list table ip sandbox

shows exactly what the course added, and nothing of the host's is touched::

    table ip sandbox {
        chain prerouting  { type nat hook prerouting priority dstnat; fib daddr type local jump ports }
        chain output      { type nat hook output priority -100; fib daddr type local jump ports }
        chain ports       { tcp dport 8080 dnat to 172.17.0.2:80 comment "<container id>" }
        chain postrouting { type nat hook postrouting priority srcnat;
                            ip saddr 172.17.0.0/16 oifname != "sandbox0" masquerade comment "net:bridge"
                            ip saddr 127.0.0.0/8 oifname "sandbox0" masquerade comment "net:bridge" }
        chain forward     { type filter hook forward priority filter;
                            (isolation between networks, and --internal ones cut off) }
    }

Why nftables and not iptables: one table of our own, listed with one
command and removed with one (``nft delete table ip sandbox``), where
iptables would mix our rules into the host's shared chains.  Debian's
iptables is itself nftables underneath (iptables-nft).

How a published port answers on the host's own 127.0.0.1: DNAT in the
``output`` hook (locally made packets) as well as ``prerouting`` (packets
from outside), plus ``route_localnet`` on the bridge (set by
:mod:`sandbox.isolation.links`), which lets a packet from 127.0.0.1 leave by a device
that is not ``lo``, and a masquerade so the container answers the bridge and
not its own loopback.  Docker does this with a userland proxy (one process
per published port, ``docker-proxy``, copying bytes) in front of DNAT; the
kernel's path is faster and costs no process, so it is the one chosen here.
What it cannot do: a process on the host that listens on the same port is
shadowed; :mod:`sandbox.network.ports` refuses to publish a port a host process holds.

Each rule carries a comment naming its owner (a container's id, or
``net:NAME`` for a network's), so that a crashed run's rules are found and
deleted by that name alone.
"""

from __future__ import annotations

import json

from ..errors import SandboxError

TABLE = "sandbox"
NFT = "nft"

SKELETON = f"""\
table ip {TABLE} {{
    chain ports {{ }}
    chain prerouting {{ type nat hook prerouting priority dstnat; policy accept;
        fib daddr type local jump ports; }}
    chain output {{ type nat hook output priority -100; policy accept;
        fib daddr type local jump ports; }}
    chain postrouting {{ type nat hook postrouting priority srcnat; policy accept; }}
    chain forward {{ type filter hook forward priority filter; policy accept; }}
}}
"""


class RuleError(SandboxError):
    """An ``nft`` command failed."""


def nft(script: str) -> None:
    """Run an nft script (``nft -f -``): all its commands happen, or none (one transaction)."""
    _run(["-f", "-"], script)


def _run(args: list[str], script: str | None = None) -> str:
    """``nft ARGS`` (``script`` on its stdin): what it printed, or its error as one sentence.
    Started with posix_spawn (sandbox.isolation.links.run), not subprocess, whose import alone costs
    more than an ``nft`` run, on the path of every ``run -p``."""
    from ..isolation.links import run
    try:
        code, err, out = run([NFT, *args], script, capture=True)
    except FileNotFoundError:
        raise RuleError("`nft` is not installed: apt-get install nftables") from None
    if code != 0:
        errors = [line for line in err.splitlines() if "Error:" in line]
        raise RuleError(f"nft {' '.join(args)}: {(errors or [err.strip()])[0]}")
    return out


def ensure_table(then: str = "") -> bool:
    """Make the course's table and its chains, unless they are there; True if made now.

    ``then``: more nft commands to run in the same transaction when the table is made
    (a bridge's first rules): one ``nft`` run instead of two on the first container's path.
    """
    try:
        _run(["list", "chain", "ip", TABLE, "ports"])
        return False
    except RuleError:
        nft(SKELETON + then)
        return True


def delete_table() -> None:
    """Remove the course's table, once no bridge of the course is left to need it."""
    try:
        _run(["delete", "table", "ip", TABLE])
    except RuleError:
        pass  # gone already


def network_rules(owner: str, device: str, subnet: str, internal: bool,
                  others: list[str]) -> str:
    """A network's rules, as nft commands: NAT out (unless internal), isolation from ``others``."""
    tag = f'comment "{owner}"'
    rules = [f'add rule ip {TABLE} postrouting ip saddr 127.0.0.0/8 oifname "{device}" '
             f"masquerade {tag}"]
    if internal:  # no way out, and no way in but from its own bridge
        rules += [f'add rule ip {TABLE} forward iifname "{device}" oifname != "{device}" drop {tag}',
                  f'add rule ip {TABLE} forward oifname "{device}" iifname != "{device}" drop {tag}']
    else:
        rules.append(f'add rule ip {TABLE} postrouting ip saddr {subnet} oifname != "{device}" '
                     f"masquerade {tag}")
    for other in others:  # networks do not see each other (Docker's DOCKER-ISOLATION)
        rules.append(f'add rule ip {TABLE} forward iifname "{device}" oifname "{other}" drop {tag}')
        rules.append(f'add rule ip {TABLE} forward iifname "{other}" oifname "{device}" drop {tag}')
    return "\n".join(rules) + "\n"


def port_rules(cid: str, container_ip: str, ports: list[dict]) -> str:
    """DNAT for each published port: host [ip:]port → container ip:port, tagged with ``cid``."""
    rules = []
    for p in ports:
        match = f"ip daddr {p['HostIp']} " if p["HostIp"] not in ("", "0.0.0.0") else ""
        rules.append(f"add rule ip {TABLE} ports {match}{p['Proto']} dport {p['HostPort']} "
                     f"dnat to {container_ip}:{p['ContainerPort']} comment \"{cid}\"")
    return "\n".join(rules) + "\n"


def missing_parts(network: dict) -> str:
    """The nft commands that bring back a network's table and rules, if they are gone ("")."""
    from .networks import device, subnet_of, tag
    try:
        listing = json.loads(_run(["-j", "list", "table", "ip", TABLE]))
    except (RuleError, ValueError):
        listing = None
    script = "" if listing else SKELETON
    owners = {item["rule"].get("comment") for item in (listing or {}).get("nftables", [])
              if "rule" in item}
    if tag(network) not in owners:
        script += network_rules(tag(network), device(network), subnet_of(network)[0],
                                network["Internal"], [])
    return script


def rules_by_owner() -> dict[str, list[tuple[str, int]]]:
    """Every rule of the table with a comment: owner → [(chain, handle)]."""
    try:
        listing = json.loads(_run(["-j", "-a", "list", "table", "ip", TABLE]))
    except (RuleError, ValueError):
        return {}
    owners: dict[str, list[tuple[str, int]]] = {}
    for item in listing.get("nftables", []):
        rule = item.get("rule")
        if rule and rule.get("comment"):
            owners.setdefault(rule["comment"], []).append((rule["chain"], rule["handle"]))
    return owners


def delete_owned(owners: list[str] | None = None, keep=None) -> list[str]:
    """Delete the rules of ``owners`` (or of every owner for which ``keep(owner)`` is false);
    returns the owners whose rules went."""
    for attempt in range(3):  # another process may delete some of them meanwhile: list again
        found = rules_by_owner()
        if owners is not None:
            doomed = [o for o in owners if o in found]
        else:
            doomed = [o for o in found if not keep(o)]
        script = "".join(f"delete rule ip {TABLE} {chain} handle {handle}\n"
                         for o in doomed for chain, handle in found[o])
        if not script:
            return doomed
        try:
            nft(script)
            return doomed
        except RuleError:
            if attempt == 2:
                raise
    return []
