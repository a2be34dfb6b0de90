"""A container's view of names: its /etc/hosts and /etc/resolv.conf.  hosts(5), resolv.conf(5)

Docker writes both for every container and bind-mounts them over the
image's; so does this (sandbox.isolation.rootfs mounts them).  The rules, from moby's
libnetwork/resolvconf:

- resolv.conf starts from the host's.  On a network of its own the
  container cannot reach the host's loopback, so ``nameserver 127.x`` and
  ``::1`` lines are dropped (systemd-resolved's 127.0.0.53 is the usual
  one), and if none is left Google's public resolvers take their place.
  With ``--network host`` the host's file is used as it is.
- ``--dns`` replaces the nameservers.  On a user network the nameserver is
  the network's gateway, where :mod:`sandbox.network.dns` answers for the names of
  the network's containers and forwards the rest.
- hosts has localhost, the container's own name on its address, and each
  ``--add-host name:ip``.

These functions are pure: they get texts and return texts.
"""

from __future__ import annotations

import ipaddress

PUBLIC_RESOLVERS = ["8.8.8.8", "8.8.4.4"]  # what Docker falls back to (IPv4 only here)


def resolv_conf(host_text: str, mode: str, dns: list[str] = (), gateway: str | None = None) -> str:
    """The container's resolv.conf for network ``mode`` ("none", "host", "bridge", a user network)."""
    if mode == "host" and not dns:
        return host_text
    kept = []
    servers = []
    for line in host_text.splitlines():
        words = line.split()
        if words[:1] == ["nameserver"] and len(words) > 1:
            if not _loopback(words[1]):
                servers.append(words[1])
            continue
        kept.append(line)
    if dns:
        servers = list(dns)
    elif gateway:
        servers = [gateway]
    elif not servers:
        servers = list(PUBLIC_RESOLVERS)
    return "\n".join([f"nameserver {s}" for s in servers] + [k for k in kept if k.strip()]) + "\n"


def _loopback(address: str) -> bool:
    try:
        return ipaddress.ip_address(address.split("%")[0]).is_loopback
    except ValueError:
        return False


def hosts(hostname: str, address: str | None, extra: list[str] = ()) -> str:
    """The container's /etc/hosts: localhost, its own name, then ``--add-host``'s entries."""
    lines = ["127.0.0.1\tlocalhost", "::1\tlocalhost ip6-localhost ip6-loopback"]
    for entry in extra:
        name, ip = parse_add_host(entry)
        lines.append(f"{ip}\t{name}")
    lines.append(f"{address or '127.0.1.1'}\t{hostname}")
    return "\n".join(lines) + "\n"


def parse_add_host(entry: str) -> tuple[str, str]:
    """``--add-host name:ip`` (also ``name=ip``, as newer Docker takes it)."""
    from ..errors import UsageError
    sep = "=" if "=" in entry else ":"
    name, _, ip = entry.partition(sep)
    try:
        ipaddress.ip_address(ip.strip("[]"))
    except ValueError:
        raise UsageError(f"invalid --add-host {entry}: expected HOST:IP, e.g. db:10.0.0.5") from None
    if not name:
        raise UsageError(f"invalid --add-host {entry}: the host name is empty")
    return name, ip.strip("[]")


def check_dns(servers: list[str]) -> list[str]:
    from ..errors import UsageError
    for s in servers:
        try:
            ipaddress.ip_address(s)
        except ValueError:
            raise UsageError(f"invalid --dns {s}: expected an IP address") from None
    return list(servers)
