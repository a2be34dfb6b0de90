"""``sandbox volume create|ls|inspect|rm|prune``: Docker's volume verbs (see :mod:`sandbox.engine.volumes`)."""

from __future__ import annotations

import json
import sys

from ..engine import volumes
from ..errors import SandboxError, UsageError
from ..humanize import table
from ..paths import prepare_root, state_root


def _root():
    return prepare_root(state_root())  # another user's root is refused before anything is written


def cmd_volume_create(args, driver, label, opt) -> int:
    if driver != volumes.DRIVER:
        raise UsageError(f'volume driver "{driver}" is not supported: only "local" is')
    volume, _ = volumes.create(_root(), args[0] if args else None,
                               labels=volumes.parse_pairs(label, "--label"),
                               options=volumes.parse_pairs(opt, "--opt"))
    print(volume["Name"])
    return 0


def cmd_volume_ls(args, quiet) -> int:
    found = volumes.all_volumes(_root())
    if quiet:
        for v in found:
            print(v["Name"])
        return 0
    print(table([[v["Driver"], v["Name"]] for v in found], ["DRIVER", "VOLUME NAME"]))
    return 0


def cmd_volume_inspect(args, format) -> int:
    from .commands import render_format
    found, code = [], 0
    for name in args:
        try:
            found.append(volumes.get(_root(), name))
        except SandboxError as err:
            print(f"sandbox: {err}", file=sys.stderr)
            code = 1
    if format:
        for v in found:
            print(render_format(format, v))
    else:
        print(json.dumps(found, indent=4))
    return code


def cmd_volume_rm(args, force) -> int:
    code = 0
    for name in args:
        try:
            volumes.remove(_root(), name)
            print(name)
        except volumes.VolumeNotFound:
            if not force:
                print(f"sandbox: No such volume: {name}", file=sys.stderr)
                code = 1
        except SandboxError as err:
            print(f"sandbox: {err}", file=sys.stderr)
            code = 1
    return code


def cmd_volume_prune(args, all, force) -> int:
    if not force:
        which = "all volumes" if all else "all anonymous volumes"
        print(f"WARNING! This will remove {which} not used by at least one container.\n"
              "Are you sure you want to continue? [y/N] ", end="", flush=True)
        if sys.stdin.readline().strip().lower() not in ("y", "yes"):
            return 0
    removed = volumes.prune(_root(), all=all)
    if removed:
        print("Deleted Volumes:")
        print("\n".join(removed))
        print()
    print(f"Total reclaimed volumes: {len(removed)}")
    return 0
