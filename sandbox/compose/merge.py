"""Merging compose files: ``-f compose.yaml -f compose.override.yaml`` is one model.

    compose.yaml                 compose.override.yaml          merged
    ───────────────────────      ──────────────────────         ───────────────────────
    web:                         web:                           web:
      image: app:1                 image: app:dev      ─▶         image: app:dev        a scalar: the later wins
      environment: {A: "1"}        environment: {B: "2"}          environment: {A: "1", B: "2"}   mappings merge
      ports: [8080→80]             ports: [8080→80, 9090→90]      ports: [8080→80, 9090→90]  unique by key
      command: [a]                 command: [b]                   command: [b]          replaced, never appended
      dns: [1.1.1.1]               dns: [8.8.8.8]                 dns: [1.1.1.1, 8.8.8.8]    other lists: appended

The rules are the Compose Specification's, "Merge and override"
(13-merge.md), with compose-go's details (``override/merge.go``,
``override/uncity.go``): which lists are unique and by what key.  Both
sides are already canonical (canonical.py), so environment and labels are
mappings and ports and volumes long syntax.

``!reset`` and ``!override`` (yamlfile.py) arrive as paths: the earlier
model loses what is at those paths before the later file is merged in, so
a ``!reset`` value disappears and an ``!override`` value replaces.
"""

from __future__ import annotations

import copy


def _port_key(port: dict):
    return (port.get("host_ip"), port.get("published"), port.get("target"), port.get("protocol", "tcp"))


# A unique list: the key of an entry.  A later entry with a key already present replaces it.
UNIQUE = {
    "ports": _port_key,
    "volumes": lambda v: v.get("target") if isinstance(v, dict) else v,
    "secrets": lambda v: v.get("target") or v.get("source") if isinstance(v, dict) else v,
    "configs": lambda v: v.get("target") or v.get("source") if isinstance(v, dict) else v,
    "devices": lambda v: v.get("target") if isinstance(v, dict) else str(v).split(":")[min(1, str(v).count(":"))],
    "expose": str,
    "cap_add": str, "cap_drop": str, "dns": str, "dns_opt": str, "dns_search": str,
    "profiles": str, "tmpfs": str, "links": str, "extra_hosts": str,
    "env_file": lambda v: v.get("path") if isinstance(v, dict) else v,
}

REPLACED = {"command", "entrypoint"}  # in a service; and healthcheck.test


def unique(entries: list, key) -> list:
    """Entries with one per key, the last one winning, at the place of the first."""
    out, where = [], {}
    for entry in entries:
        k = key(entry)
        if k in where:
            out[where[k]] = entry
        else:
            where[k] = len(out)
            out.append(entry)
    return out


def merge(base, override, path: tuple = ()):
    """``override`` merged onto ``base`` (neither is changed); ``path`` tells which rule applies."""
    if override is None:
        return copy.deepcopy(base)
    if isinstance(base, dict) and isinstance(override, dict):
        out = copy.deepcopy(base)
        for key, value in override.items():
            out[key] = merge(out[key], value, path + (key,)) if key in out else copy.deepcopy(value)
        return out
    if isinstance(base, list) and isinstance(override, list):
        if _in_service(path) and path[-1] in REPLACED or path[-2:] == ("healthcheck", "test"):
            return copy.deepcopy(override)
        joined = copy.deepcopy(base) + copy.deepcopy(override)
        if _in_service(path) and path[-1] in UNIQUE:
            return unique(joined, UNIQUE[path[-1]])
        if path[-2:] == ("ipam", "config"):
            return unique(joined, lambda c: c.get("subnet") if isinstance(c, dict) else c)
        return joined
    return copy.deepcopy(override)


def _in_service(path: tuple) -> bool:
    """True for a service's own attribute: ("services", NAME, attribute)."""
    return len(path) == 3 and path[0] == "services"


def clear(tree: dict, paths: list[tuple]) -> dict:
    """A copy of ``tree`` without what is at each path (the paths tagged ``!reset`` or ``!override``)."""
    out = copy.deepcopy(tree)
    for path in paths:
        parent = out
        for part in path[:-1]:
            parent = _child(parent, part)
            if parent is None:
                break
        else:
            if isinstance(parent, dict):
                parent.pop(path[-1], None)
            elif isinstance(parent, list) and isinstance(path[-1], int) and path[-1] < len(parent):
                del parent[path[-1]]
    return out


def _child(node, part):
    if isinstance(node, dict):
        return node.get(part)
    if isinstance(node, list) and isinstance(part, int) and part < len(node):
        return node[part]
    return None


def merge_files(base: dict, override: dict, tagged: list[tuple] = ()) -> dict:
    """One more file onto the model so far: clear its tagged paths, then merge (13-merge.md)."""
    return merge(clear(base, list(tagged)), override)
