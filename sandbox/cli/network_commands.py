"""The ``sandbox network`` verbs: create, ls, inspect, rm, prune, connect, disconnect."""

from __future__ import annotations

import hashlib
import json
import sys

from ..network import networks
from ..errors import Conflict, SandboxError, UsageError
from ..humanize import table
from ..paths import prepare_root, state_root


def _root():
    return state_root()


def cmd_network_create(args, driver, subnet, gateway, internal, label) -> int:
    if driver != "bridge":
        raise UsageError(f"--driver {driver}: only the bridge driver is here")
    if gateway and not subnet:
        raise UsageError("--gateway needs --subnet (the gateway is an address of the subnet)")
    labels = {}
    for item in label:
        key, _, value = item.partition("=")
        labels[key] = value
    record = networks.create(prepare_root(_root()), args[0], subnet, gateway, bool(internal),
                             labels)
    print(record["Id"])
    return 0


def _pseudo(root, name: str) -> dict:
    """``host`` and ``none``: listed as Docker lists them, though nothing is stored for them."""
    nid = hashlib.sha256(f"{root}:{name}".encode()).hexdigest()
    return {"Name": name, "Id": nid, "Driver": "host" if name == "host" else "null",
            "Scope": "local"}


def _listed(root) -> list[dict]:
    found = {n["Name"]: n for n in networks.all_networks(root)}
    if networks.DEFAULT not in found and networks.is_root_user():
        found[networks.DEFAULT] = networks.default(prepare_root(root))
    return sorted(found.values(), key=lambda n: n["Name"]) + \
        [_pseudo(root, "host"), _pseudo(root, "none")]


def cmd_network_ls(args, quiet, no_trunc) -> int:
    rows = []
    for n in _listed(_root()):
        nid = n["Id"] if no_trunc else n["Id"][:12]
        if quiet:
            print(nid)
            continue
        rows.append([nid, n["Name"], n["Driver"], n.get("Scope", "local")])
    if not quiet:
        print(table(rows, ["NETWORK ID", "NAME", "DRIVER", "SCOPE"]))
    return 0


def cmd_network_inspect(args, format) -> int:
    root = _root()
    shown, missing = [], []
    for ref in args:
        try:
            shown.append(networks.inspect_json(root, networks.lookup(root, ref)))
        except networks.NetworkNotFound:
            missing.append(ref)
    if format:
        from .commands import render_format
        for obj in shown:
            print(render_format(format, obj))
    else:
        print(json.dumps(shown, indent=4))
    for ref in missing:
        print(f"sandbox: Error: No such network: {ref}", file=sys.stderr)
    return 1 if missing else 0


def cmd_network_rm(args) -> int:
    failed = 0
    for ref in args:
        try:
            networks.remove(_root(), ref)
            print(ref)
        except SandboxError as err:
            print(f"sandbox: {err}", file=sys.stderr)
            failed = 1
    return failed


def cmd_network_prune(args, force) -> int:
    if not force:
        print("WARNING! This will remove all custom networks not used by at least one "
              "container.\nAre you sure you want to continue? [y/N] ", end="", flush=True)
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    removed = networks.prune(_root())
    if removed:
        print("Deleted Networks:")
        print("\n".join(removed))
    return 0


def cmd_network_connect(args, alias, ip) -> int:
    from ..engine.records import lookup
    from ..network.wiring import connect
    root = _root()
    record = networks.lookup(root, args[0])
    container = lookup(root, args[1])
    connect(container, record["Name"], list(alias), ip)
    return 0


def cmd_network_disconnect(args, force) -> int:
    from ..engine.records import lookup
    from ..network.wiring import disconnect
    root = _root()
    record = networks.lookup(root, args[0])
    container = lookup(root, args[1])
    if record["Name"] not in container.spec.networks and not force:
        raise Conflict(f"container {container.id} is not connected to network {record['Name']}")
    disconnect(container, record["Name"])
    return 0
