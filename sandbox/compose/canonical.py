"""Short syntax to long syntax: one shape per attribute, as ``docker compose config`` prints it.

    ports: ["127.0.0.1:8080-8081:80-81/udp"]
        → [{target: 80, published: "8080", host_ip: "127.0.0.1", protocol: "udp", mode: "ingress"},
           {target: 81, published: "8081", host_ip: "127.0.0.1", protocol: "udp", mode: "ingress"}]
    volumes: ["./html:/usr/share/nginx/html:ro"]
        → [{type: bind, source: "/abs/project/html", target: "/usr/share/nginx/html", read_only: true,
            bind: {create_host_path: true}}]
    environment: ["A=1", "B"]       → {A: "1", B: null}
    command: "sh -c 'echo hi'"      → ["sh", "-c", "echo hi"]
    depends_on: [db]                → {db: {condition: service_started, required: true, restart: false}}

Each file's services are made canonical as soon as they are read, before
they are merged or extended: merging two long forms needs no special case
for short ones, and a relative path is resolved against the folder it was
written for (the project folder; the extended file's folder for ``extends``).
Canonical forms are fixed points: making a canonical service canonical
changes nothing.

Sources: compose-go's ``transform/`` (one canonical function per attribute),
``format/volume.go``, ``paths/``; docker/go-connections' ``nat.ParsePortSpec``
for ports; the Compose Specification, "Services top-level elements".
"""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

from ..humanize import go_duration
from ..humanize import go_duration_text as show_duration
from .errors import ComposeError

WINDOWS_ABSOLUTE = re.compile(r"^[A-Za-z]:[\\/]")
REMOTE_CONTEXT = re.compile(r"^(?:[a-z]+://|git@|github\.com/)")


class Invalid(ValueError):
    """A value the loader cannot read; ``path`` extends the service's path."""

    def __init__(self, reason: str, path: tuple = ()):
        self.reason = reason
        self.path = path
        super().__init__(reason)


# --- paths ---------------------------------------------------------------------------------

def absolute(source: str, base: Path, home: str) -> str:
    """A host path written in a compose file, made absolute: ``~`` is the home, relative is under ``base``."""
    if source == "~" or source.startswith("~/"):
        source = home + source[1:]
    if WINDOWS_ABSOLUTE.match(source) or source.startswith("/"):
        return os.path.normpath(source) if source.startswith("/") else source
    return os.path.normpath(os.path.join(base, source))


# --- small conversions ---------------------------------------------------------------------

def as_text(value) -> str | None:
    """A YAML scalar as the string Compose would use (``true`` → "true", ``1.5`` → "1.5")."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def mapping_of(value, what: str) -> dict:
    """``["A=1", "B"]`` or ``{A: 1, B: null}`` → ``{"A": "1", "B": None}`` (environment, labels, args...)."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return {str(k): as_text(v) for k, v in value.items()}
    if isinstance(value, str):
        value = [value]
    out = {}
    for i, item in enumerate(value):
        if not isinstance(item, str):
            raise Invalid(f"{what} entries are KEY=VALUE strings, not {item!r}", (i,))
        key, equals, text = item.partition("=")
        out[key] = text if equals else None
    return out


def string_list(value) -> list[str]:
    """``"8.8.8.8"`` or ``["8.8.8.8"]`` → ``["8.8.8.8"]``."""
    if value is None:
        return []
    return [as_text(v) for v in (value if isinstance(value, list) else [value])]


def argv(value):
    """command/entrypoint: a string is split as a shell would (compose-go uses shellwords)."""
    if value is None or isinstance(value, list):
        return None if value is None else [as_text(v) for v in value]
    try:
        return shlex.split(value)
    except ValueError as error:
        raise Invalid(f"cannot split {value!r} into words: {error}") from None


# --- durations -----------------------------------------------------------------------------

def parse_duration(text) -> int:
    """A Go duration ("1m30s", "1.5s", "300ms") in nanoseconds (Go's ``time.ParseDuration``)."""
    if isinstance(text, (int, float)) and not isinstance(text, bool):
        return int(text * 1_000_000_000)  # a bare number is seconds, as compose-go's duration hook says
    try:
        return go_duration(str(text))
    except ValueError:
        raise Invalid(f"invalid duration {text!r}: write a number and a unit, like 30s, 1m30s "
                      "or 500ms") from None


def duration(value) -> str:
    return show_duration(parse_duration(value))


# --- ports ---------------------------------------------------------------------------------

PORT_SPEC = re.compile(
    r"^(?:(?:(?P<ip>\[[0-9a-fA-F:.]+\]|[0-9.]+|[0-9a-fA-F:]*::[0-9a-fA-F:]*):)?(?P<published>[0-9]*(?:-[0-9]+)?):)?"
    r"(?P<target>[0-9]+(?:-[0-9]+)?)(?:/(?P<protocol>[a-zA-Z]+))?$")


def _range(text: str, spec: str) -> list[int]:
    first, _, last = text.partition("-")
    start, end = int(first), int(last or first)
    if not (0 <= start <= end <= 65535):
        raise Invalid(f"invalid port {spec!r}: a port is a number from 0 to 65535, a range goes upward")
    return list(range(start, end + 1))


def ports(value) -> list[dict]:
    """Every published port in long syntax, ranges expanded one entry per port."""
    out = []
    for i, item in enumerate(value or []):
        try:
            out.extend(_port(item))
        except Invalid as error:
            raise Invalid(error.reason, (i,) + error.path) from None
    return out


def _port(item) -> list[dict]:
    if isinstance(item, dict):
        return [_port_mapping(item)]
    spec = as_text(item)
    match = PORT_SPEC.match(spec)
    if not match:
        raise Invalid(f"invalid port {spec!r}: write [HOST_IP:][HOST_PORT:]CONTAINER_PORT[/PROTOCOL], like 8080:80")
    ip = (match.group("ip") or "").strip("[]") or None
    protocol = (match.group("protocol") or "tcp").lower()
    targets = _range(match.group("target"), spec)
    published = match.group("published") or ""
    if not published:
        hosts = [None] * len(targets)
    elif "-" in published and len(targets) == 1:
        hosts = [published]  # one container port, published on the first free port of a range
    else:
        hosts = [str(p) for p in _range(published, spec)]
        if len(hosts) != len(targets):
            raise Invalid(f"invalid port {spec!r}: the host range and the container range differ in length")
    return [{"target": t, "published": h, "host_ip": ip, "protocol": protocol, "mode": "ingress"}
            for t, h in zip(targets, hosts)]


def _port_mapping(item: dict) -> dict:
    out = dict(item)
    try:
        out["target"] = int(item.get("target"))
    except (TypeError, ValueError):
        raise Invalid(f"invalid port target {item.get('target')!r}: a container port is a number", ("target",)) from None
    out["published"] = as_text(item.get("published")) if item.get("published") not in (None, "") else None
    out["host_ip"] = item.get("host_ip") or None
    out["protocol"] = (item.get("protocol") or "tcp").lower()
    out["mode"] = item.get("mode") or "ingress"
    return out


# --- volumes -------------------------------------------------------------------------------

VOLUME_MODES = {"ro", "rw", "z", "Z", "nocopy", "cached", "delegated", "consistent",
                "shared", "rshared", "slave", "rslave", "private", "rprivate", "copy"}


def _is_host_path(source: str) -> bool:
    return source.startswith((".", "/", "~")) or bool(WINDOWS_ABSOLUTE.match(source))


def split_volume(spec: str) -> tuple[str | None, str, str]:
    """``SOURCE:TARGET[:MODE]`` or ``TARGET`` → (source, target, mode); a Windows drive's ``C:`` is kept whole."""
    parts, rest = [], spec
    while rest:
        drive = WINDOWS_ABSOLUTE.match(rest)
        cut = rest.find(":", 2 if drive else 0)
        if cut < 0:
            parts.append(rest)
            break
        parts.append(rest[:cut])
        rest = rest[cut + 1:]
    if len(parts) == 1:
        return None, parts[0], ""
    if len(parts) == 2:
        if parts[1] in VOLUME_MODES or "," in parts[1]:
            raise Invalid(f"invalid volume {spec!r}: {parts[1]!r} is a mode, the container path is missing")
        return parts[0], parts[1], ""
    if len(parts) == 3:
        return parts[0], parts[1], parts[2]
    raise Invalid(f"invalid volume {spec!r}: write SOURCE:TARGET[:MODE]")


def volumes(value, base: Path, home: str) -> list[dict]:
    out = []
    for i, item in enumerate(value or []):
        try:
            out.append(_volume(item, base, home))
        except Invalid as error:
            raise Invalid(error.reason, (i,) + error.path) from None
    return out


def _volume(item, base: Path, home: str) -> dict:
    if isinstance(item, dict):
        out = dict(item)
        if "target" not in out:
            raise Invalid("a volume needs a target, the path inside the container")
        kind = out.setdefault("type", "volume")
        out.setdefault("source", None)
        if kind == "bind" and out["source"]:
            out["source"] = absolute(out["source"], base, home)
            out.setdefault("bind", {"create_host_path": True})
        if kind == "volume":
            out.setdefault("volume", {})
        out["read_only"] = bool(out.get("read_only", False))
        return out
    source, target, mode = split_volume(as_text(item))
    options = [m for m in mode.split(",") if m]
    unknown = [m for m in options if m not in VOLUME_MODES]
    if unknown:
        raise Invalid(f"invalid volume {item!r}: unknown mode {unknown[0]!r} (ro, rw, z, Z, nocopy...)")
    out = {"type": "volume", "source": source, "target": target, "read_only": "ro" in options}
    if source and _is_host_path(source):
        out["type"] = "bind"
        out["source"] = absolute(source, base, home)
        out["bind"] = {"create_host_path": True}
        selinux = next((m for m in options if m in ("z", "Z")), None)
        propagation = next((m for m in options if m.endswith(("shared", "slave", "private"))), None)
        if selinux:
            out["bind"]["selinux"] = selinux
        if propagation:
            out["bind"]["propagation"] = propagation
    else:
        out["volume"] = {"nocopy": True} if "nocopy" in options else {}
    return out


# --- the other attributes ------------------------------------------------------------------

def build(value, base: Path) -> dict:
    out = {"context": value} if isinstance(value, str) else dict(value or {})
    context = as_text(out.get("context")) or "."
    out["context"] = context if REMOTE_CONTEXT.match(context) else absolute(context, base, "~")
    if "dockerfile_inline" not in out:
        out.setdefault("dockerfile", "Dockerfile")
    for key in ("args", "labels"):
        if key in out:
            out[key] = mapping_of(out[key], f"build.{key}")
    return out


def depends_on(value) -> dict:
    if isinstance(value, list):
        value = {name: None for name in value}
    out = {}
    for name, spec in (value or {}).items():
        spec = dict(spec or {})
        spec.setdefault("condition", "service_started")
        spec.setdefault("required", True)
        spec.setdefault("restart", False)
        out[name] = spec
    return out


def healthcheck(value) -> dict:
    out = dict(value or {})
    test = out.get("test")
    if isinstance(test, str):
        out["test"] = ["CMD-SHELL", test]
    if out.get("disable") in (True, "true"):
        out["disable"] = True
    for key in ("interval", "timeout", "start_period", "start_interval"):
        if out.get(key) is not None:
            try:
                out[key] = duration(out[key])
            except Invalid as error:
                raise Invalid(error.reason, (key,)) from None
    if out.get("test") and out["test"][0] not in ("CMD", "CMD-SHELL", "NONE"):
        raise Invalid('the test must start with "CMD", "CMD-SHELL" or "NONE"', ("test",))
    return out


def networks(value) -> dict:
    if isinstance(value, list):
        return {name: None for name in value}
    return {name: (dict(spec) if spec else None) for name, spec in (value or {}).items()}


def env_files(value, base: Path) -> list[dict]:
    """env_file: a path, paths, or ``{path, required, format}`` → ``[{path: absolute, required}]``."""
    out = []
    for item in ([value] if isinstance(value, str) else value or []):
        item = {"path": item} if isinstance(item, str) else dict(item)
        item["path"] = absolute(item["path"], base, "~")
        item["required"] = item.get("required", True) not in (False, "false")
        out.append(item)
    return out


def extra_hosts(value) -> list[str]:
    if isinstance(value, dict):
        return [f"{host}={ip}" for host, ips in value.items()
                for ip in (ips if isinstance(ips, list) else [ips])]
    return string_list(value)


def service(spec: dict | None, base: Path, home: str = "~") -> dict:
    """One service in long syntax; raises :class:`Invalid` with the attribute's path."""
    out = dict(spec or {})
    steps = [
        ("build", lambda v: build(v, base)),
        ("command", argv), ("entrypoint", argv),
        ("environment", lambda v: mapping_of(v, "environment")),
        ("labels", lambda v: mapping_of(v, "labels")),
        ("annotations", lambda v: mapping_of(v, "annotations")),
        ("sysctls", lambda v: mapping_of(v, "sysctls")),
        ("ports", ports),
        ("expose", string_list),
        ("volumes", lambda v: volumes(v, base, home)),
        ("networks", networks),
        ("depends_on", depends_on),
        ("healthcheck", healthcheck),
        ("env_file", lambda v: env_files(v, base)),
        ("extra_hosts", extra_hosts),
        ("dns", string_list), ("dns_search", string_list), ("tmpfs", string_list),
        ("stop_grace_period", duration),
    ]
    for key, canonical in steps:
        if key in out and out[key] is not None:
            try:
                out[key] = canonical(out[key])
            except Invalid as error:
                raise Invalid(error.reason, (key,) + error.path) from None
    return out


def services(tree: dict, base: Path, home: str, file) -> dict:
    """The file's tree with every service canonical; errors name the file and the path."""
    out = dict(tree)
    if isinstance(tree.get("services"), dict):
        out["services"] = {}
        for name, spec in tree["services"].items():
            try:
                out["services"][name] = service(spec, base, home)
            except Invalid as error:
                raise ComposeError(error.reason, file, ("services", name) + error.path) from None
    return out
