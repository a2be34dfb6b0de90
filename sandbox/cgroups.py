"""cgroups: which layout this machine has, and which controllers this user may use.  cgroups(7)

Three layouts exist in the wild:

    v1       one hierarchy per controller: /sys/fs/cgroup/memory, /sys/fs/cgroup/cpu, ...
    v2       one unified hierarchy at /sys/fs/cgroup, controllers listed in cgroup.controllers
    hybrid   the controllers on v1 hierarchies, plus a cgroup2 mount (often
             /sys/fs/cgroup/unified) that holds processes but no useful controller

The layout is read from /proc/self/mountinfo, never assumed.
"""

from __future__ import annotations

import os
from dataclasses import dataclass


@dataclass(frozen=True)
class CgroupMount:
    path: str
    version: int                 # 1 or 2
    controllers: tuple[str, ...]  # for v1, from the mount options; for v2, cgroup.controllers


def mounts(mountinfo: str | None = None) -> list[CgroupMount]:
    """Every cgroup filesystem mounted here (proc(5), /proc/PID/mountinfo)."""
    if mountinfo is None:
        with open("/proc/self/mountinfo") as f:
            mountinfo = f.read()
    found = []
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields, after = left.split(), right.split()
        if not after:
            continue
        fstype, superopts = after[0], after[2] if len(after) > 2 else ""
        path = fields[4]
        if fstype == "cgroup":
            known = ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio",
                     "pids", "net_cls", "net_prio", "perf_event", "hugetlb", "rdma", "misc")
            controllers = tuple(o for o in superopts.split(",") if o in known)
            found.append(CgroupMount(path, 1, controllers))
        elif fstype == "cgroup2":
            try:
                with open(os.path.join(path, "cgroup.controllers")) as f:
                    controllers = tuple(f.read().split())
            except OSError:
                controllers = ()
            found.append(CgroupMount(path, 2, controllers))
    return found


def layout(found: list[CgroupMount] | None = None) -> str:
    """``v1``, ``v2``, ``hybrid`` or ``none``."""
    found = mounts() if found is None else found
    v1 = any(m.version == 1 and m.controllers for m in found)
    v2 = any(m.version == 2 for m in found)
    if v1 and v2:
        return "hybrid"
    return "v1" if v1 else "v2" if v2 else "none"


def describe() -> tuple[str, str]:
    """The layout, and a sentence on the controllers and who may use them."""
    found = mounts()
    kind = layout(found)
    if kind == "none":
        return kind, "no cgroup filesystem is mounted"
    v1 = sorted({c for m in found if m.version == 1 for c in m.controllers})
    v2 = sorted({c for m in found if m.version == 2 for c in m.controllers})
    parts = []
    if v1:
        parts.append("v1 controllers " + ", ".join(v1))
    if kind != "v1":
        parts.append("v2 controllers " + (", ".join(v2) if v2 else "(none)"))
    if os.geteuid() == 0:
        parts.append("root may use all of them")
    else:
        parts.append("this user may use " + (", ".join(_delegated_v2()) or "none of them "
                                             "(no delegated subtree)"))
    return kind, "; ".join(parts)


def _delegated_v2() -> list[str]:
    """Controllers enabled in a cgroup v2 subtree this user owns (systemd delegation)."""
    try:
        with open("/proc/self/cgroup") as f:
            own = next((line.split("::", 1)[1].strip() for line in f if line.startswith("0::")),
                       None)
    except OSError:
        return []
    if own is None:
        return []
    for m in mounts():
        if m.version != 2:
            continue
        directory = os.path.join(m.path, own.lstrip("/"))
        if os.access(directory, os.W_OK):
            try:
                with open(os.path.join(directory, "cgroup.controllers")) as f:
                    return f.read().split()
            except OSError:
                return []
    return []
