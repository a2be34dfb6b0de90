"""Published ports: ``-p [IP:][HOSTPORT:]CONTAINERPORT[/tcp|/udp]``, ``-P``, ``sandbox port``.

    host                                        container 172.17.0.2
    127.0.0.1:8080 ─┐
    192.0.2.2:8080 ─┴─ DNAT (sandbox.network.nat) ──►   :80  busybox httpd

Publishing a port is one firewall rule that rewrites the destination of
packets for the host's port to the container's address and port
(destination NAT).  Nothing listens on the host's port: the kernel forwards
each packet.  So that two containers never get the same host port, each
published port is *claimed* first, host-wide, with a file made O_EXCL under
/run/sandbox/ports (``tcp-8080``, holding who claimed it).  A claim whose
monitor process is gone is stale and may be taken over.

Parsing (:func:`parse`) is pure and follows Docker's rules (docker-cli's
opts/port.go, moby's nat.ParsePortSpec): ranges on both sides must have
the same length; an empty HOSTPORT means "any free port", picked from the
kernel's ephemeral range (/proc/sys/net/ipv4/ip_local_port_range) as
Docker's port allocator does.
"""

from __future__ import annotations

import json
import os

from ..errors import SandboxError, UsageError
from ..kernel import procfs

CLAIMS = "/run/sandbox/ports"


class PortError(SandboxError):
    """A port that cannot be published."""


# --- parsing (pure) ---------------------------------------------------------------------
def parse(specs: list[str]) -> list[dict]:
    """``-p`` values → one entry per container port:
    {"HostIp", "HostPort" ("" = any, "8000-8010" = one of), "ContainerPort", "Proto"}."""
    entries = []
    for spec in specs:
        entries += _parse_one(spec)
    return entries


def _parse_one(spec: str) -> list[dict]:
    def bad(why: str):
        return UsageError(f"invalid -p {spec}: {why}")
    rest, _, proto = spec.partition("/")
    proto = proto or "tcp"
    if proto not in ("tcp", "udp"):
        raise bad(f"protocol {proto!r} is not tcp or udp")
    parts = rest.split(":")
    if len(parts) > 3:
        raise bad("expected [IP:][HOSTPORT:]CONTAINERPORT (IPv6 addresses are not supported)")
    host_ip, host_port = "", ""
    if len(parts) == 3:
        host_ip, host_port, container = parts
    elif len(parts) == 2:
        host_port, container = parts
    else:
        container = parts[0]
    if host_ip:
        import ipaddress
        try:
            ipaddress.IPv4Address(host_ip)
        except ValueError:
            raise bad(f"{host_ip!r} is not an IPv4 address") from None
    first, last = _range(container, "container port", bad)
    if host_port:
        hfirst, hlast = _range(host_port, "host port", bad)
        if hlast - hfirst != last - first and first != last:
            raise bad("the host and container port ranges are not the same size")
    entries = []
    for i, port in enumerate(range(first, last + 1)):
        if not host_port:
            hp = ""
        elif first == last and hlast != hfirst:
            hp = f"{hfirst}-{hlast}"  # one container port, a host range: any one of them
        else:
            hp = str(hfirst + i)
        entries.append({"HostIp": host_ip, "HostPort": hp, "ContainerPort": port, "Proto": proto})
    return entries


def _range(text: str, what: str, bad) -> tuple[int, int]:
    low, _, high = text.partition("-")
    try:
        first, last = int(low), int(high or low)
    except ValueError:
        raise bad(f"{what} {text!r} is not a number or a range like 8000-8010") from None
    for n in (first, last):
        if not 1 <= n <= 65535:
            raise bad(f"{what} {n} is not between 1 and 65535")
    if last < first:
        raise bad(f"{what} range {text} ends before it starts")
    return first, last


def exposed(image_config: dict) -> list[dict]:
    """``-P``: every port the image EXPOSEs ("80/tcp": {}), each to any free host port."""
    entries = []
    for key in sorted(image_config.get("ExposedPorts") or {}):
        port, _, proto = key.partition("/")
        entries += _parse_one(f"{port}/{proto or 'tcp'}")
    return entries


def merged(explicit: list[dict], from_expose: list[dict]) -> list[dict]:
    """-p's entries, then -P's for container ports -p did not name."""
    named = {(p["ContainerPort"], p["Proto"]) for p in explicit}
    return explicit + [p for p in from_expose if (p["ContainerPort"], p["Proto"]) not in named]


# --- claiming host ports ---------------------------------------------------------------
def claim_all(entries: list[dict], root, cid: str) -> list[dict]:
    """Claim a host port for every entry; the entries with their host port decided.
    All or nothing: on failure the claims made here are given back."""
    os.makedirs(CLAIMS, 0o700, exist_ok=True)
    decided = []
    try:
        for entry in entries:
            decided.append(dict(entry, HostPort=str(_claim(entry, root, cid))))
    except BaseException:
        release(cid)
        raise
    return decided


def _claim(entry: dict, root, cid: str) -> int:
    if entry["HostPort"] and "-" not in entry["HostPort"]:
        port = int(entry["HostPort"])
        if not _try_claim(entry, port, root, cid):
            shown = entry["HostIp"] or "0.0.0.0"
            raise PortError(f"-p {shown}:{port}:{entry['ContainerPort']}: Bind for "
                            f"{shown}:{port} failed: port is already allocated")
        return port
    if entry["HostPort"]:
        low, high = (int(n) for n in entry["HostPort"].split("-"))
    else:
        low, high = _ephemeral_range()
    candidates = list(range(low, high + 1))
    start = int.from_bytes(os.urandom(4), "little") % len(candidates)  # `random` imports slowly
    for port in candidates[start:] + candidates[:start]:
        if _try_claim(entry, port, root, cid):
            return port
    raise PortError(f"-p {entry['HostPort'] or ''}:{entry['ContainerPort']}: no free host port "
                    f"left in {low}-{high}")


def _try_claim(entry: dict, port: int, root, cid: str) -> bool:
    path = os.path.join(CLAIMS, f"{entry['Proto']}-{port}")
    me = {"root": str(root), "id": cid, "pid": os.getpid(), "start": procfs.start_time(os.getpid())}
    for _ in range(2):
        try:
            with open(path, "x") as f:
                json.dump(me, f)
        except FileExistsError:
            if not _stale(path):
                return False
            os.unlink(path)  # its monitor is gone: the claim is void
            continue
        if _host_holds(entry, port):
            os.unlink(path)
            return False
        return True
    return False


def _stale(path: str) -> bool:
    try:
        with open(path) as f:
            holder = json.load(f)
    except FileNotFoundError:
        return False
    except ValueError:
        return True
    return not procfs.is_alive(holder.get("pid"), holder.get("start"))


def _host_holds(entry: dict, port: int) -> bool:
    """Whether a host process listens on (or holds) the port: DNAT would shadow it."""
    # The C module, not `socket`, whose import costs 2 ms of every `run -p` (as sandbox.engine.monitor).
    import _socket as socket
    kind = socket.SOCK_STREAM if entry["Proto"] == "tcp" else socket.SOCK_DGRAM
    s = socket.socket(socket.AF_INET, kind)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((entry["HostIp"] or "0.0.0.0", port))
    except OSError:
        return True
    finally:
        s.close()
    return False


def _ephemeral_range() -> tuple[int, int]:
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            low, high = f.read().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def release(cid: str, stale_too: bool = False) -> None:
    """Give back the claims of container ``cid`` (and, with ``stale_too``, every stale one)."""
    try:
        names = os.listdir(CLAIMS)
    except FileNotFoundError:
        return
    for name in names:
        path = os.path.join(CLAIMS, name)
        try:
            with open(path) as f:
                holder = json.load(f)
        except (OSError, ValueError):
            continue
        if holder.get("id") == cid or stale_too and _stale(path):
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass


# --- what Docker shows --------------------------------------------------------------------
def as_docker(decided: list[dict], exposed_only: list[dict] = ()) -> dict:
    """NetworkSettings.Ports: {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}], ...}."""
    shown: dict = {f"{p['ContainerPort']}/{p['Proto']}": None for p in exposed_only}
    for p in decided:
        shown.setdefault(f"{p['ContainerPort']}/{p['Proto']}", None)
        key = f"{p['ContainerPort']}/{p['Proto']}"
        shown[key] = (shown[key] or []) + [{"HostIp": p["HostIp"] or "0.0.0.0",
                                            "HostPort": str(p["HostPort"])}]
    return shown


def port_lines(ports: dict, wanted: str | None = None) -> list[str]:
    """``docker port``'s output: ``80/tcp -> 0.0.0.0:8080``, or for one port just ``0.0.0.0:8080``."""
    if wanted is not None:
        key = wanted if "/" in wanted else f"{wanted}/tcp"
        return [f"{b['HostIp']}:{b['HostPort']}" for b in ports.get(key) or []]
    lines = []
    for key, bindings in sorted(ports.items(), key=lambda kv: _sort_key(kv[0])):
        lines += [f"{key} -> {b['HostIp']}:{b['HostPort']}" for b in bindings or []]
    return lines


def ps_column(ports: dict) -> str:
    """``docker ps``'s PORTS: ``0.0.0.0:8080->80/tcp, 443/tcp``."""
    shown = []
    for key, bindings in sorted(ports.items(), key=lambda kv: _sort_key(kv[0])):
        if not bindings:
            shown.append(key)
        shown += [f"{b['HostIp']}:{b['HostPort']}->{key}" for b in bindings or []]
    return ", ".join(shown)


def _sort_key(key: str):
    port, _, proto = key.partition("/")
    return (int(port) if port.isdigit() else 0, proto)
