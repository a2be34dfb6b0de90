"""A root container whose root is not root: a user namespace mapped onto unused host ids.

A rootless container is in a user namespace because it must be: its user
has nothing else.  A root container can choose one too, and then its root
is, for the host's kernel, an ordinary uid that owns no file of the host's:

    container uid     host uid                    (user_namespaces(7), uid_map)
    0                 100000                      root inside: every capability, over the
    1 ... 65535       100001 ... 165535           container's own namespaces and files only
    anything else     shown as 65534 (nobody)     the host's files, e.g. /etc/shadow

``sandbox run --uidmap 0:100000:65536 --gidmap 0:100000:65536`` says so in
podman's spelling (Docker sets the same with ``userns-remap`` in its
daemon.json, from a range in /etc/subuid).  A process may write only its own
id into a new namespace's map; any other range needs CAP_SETUID in the
parent namespace, so the container's monitor, still host root, writes the
maps for its child (see :mod:`sandbox.engine.runtime`).

The grader uses this for every submission, with ranges of the
``sandbox-grader`` user's /etc/subuid and /etc/subgid entries.
"""

from __future__ import annotations

import os

from ..errors import UsageError

SIZE = 65536  # ids per container: enough for nobody (65534), as Docker's remapping gives


def in_initial_namespace() -> bool:
    """True in the host's own user namespace: its uid_map maps every id to itself."""
    try:
        with open("/proc/self/uid_map") as f:
            return f.read().split() == ["0", "0", "4294967295"]
    except OSError:
        return False


def is_host_root() -> bool:
    """uid 0 of the host, not of a user namespace (whose root is an ordinary user outside)."""
    return os.geteuid() == 0 and in_initial_namespace()


def parse(uidmap: str | None, gidmap: str | None) -> dict | None:
    """``--uidmap 0:100000:65536`` (and ``--gidmap``, the same when left out) → a userns record."""
    if not uidmap and not gidmap:
        return None
    if os.geteuid() != 0:
        raise UsageError("--uidmap needs root: an ordinary user's containers are already in a "
                         "user namespace, which maps only that user; leave --uidmap out")
    uid, size = _one(uidmap or gidmap, "--uidmap" if uidmap else "--gidmap")
    gid, gsize = _one(gidmap or uidmap, "--gidmap" if gidmap else "--uidmap")
    if size != gsize:
        raise UsageError(f"--uidmap and --gidmap must map as many ids ({size} and {gsize})")
    return {"uid": uid, "gid": gid, "size": size}


def _one(text: str, flag: str) -> tuple[int, int]:
    parts = text.split(":")
    try:
        inside, outside, size = (int(p) for p in parts)
    except ValueError:
        raise UsageError(f"invalid {flag} {text!r}: expected CONTAINER_ID:HOST_ID:SIZE, "
                         "e.g. 0:100000:65536") from None
    if inside != 0:
        raise UsageError(f"invalid {flag} {text!r}: the map must start at the container's "
                         "id 0 (one range, from root up)")
    if outside <= 0 or size <= 0 or outside + size > 2**32 - 1:
        raise UsageError(f"invalid {flag} {text!r}: the host range must start above 0 (0 is "
                         "the host's root) and fit in 32 bits")
    return outside, size


def write_maps(pid: int, userns: dict) -> None:
    """Write a child's uid_map and gid_map (as host root, from the parent namespace)."""
    for kind, start in (("uid", userns["uid"]), ("gid", userns["gid"])):
        with open(f"/proc/{pid}/{kind}_map", "w") as f:
            f.write(f"0 {start} {userns['size']}\n")


def subid_range(user: str, kind: str = "uid") -> tuple[int, int] | None:
    """``user``'s first range in /etc/subuid (or /etc/subgid): (start, count), or None."""
    try:
        with open(f"/etc/sub{kind}") as f:
            for line in f:
                name, _, rest = line.strip().partition(":")
                if name == user:
                    start, _, count = rest.partition(":")
                    return int(start), int(count)
    except (OSError, ValueError):
        return None
    return None
