"""The kernel's files a container may not touch: masked and read-only /proc and /sys, and its cgroup.

/proc and /sys are windows onto the *host's* kernel, not the container's:
/proc/sys/kernel/hostname is per namespace, but most of /proc/sys is not,
and writing /proc/sysrq-trigger reboots the machine.  Docker therefore
mounts over the dangerous parts (moby ``oci/defaults.go``):

    masked     /proc/kcore /proc/keys /proc/timer_list ...   an empty file (/dev/null bound
                                                            over it) or an empty read-only tmpfs
    read-only  /proc/sys /proc/sysrq-trigger /proc/irq ...   bound onto itself, then read-only

and gives the container a cgroup namespace (cgroup_namespaces(7)) in which
its own cgroup is the root, mounted read-only at /sys/fs/cgroup:

    host:      /sys/fs/cgroup/memory/sandbox/<id>/memory.limit_in_bytes     (cgroup v1)
    container: /sys/fs/cgroup/memory/memory.limit_in_bytes

``--privileged`` or ``--security-opt systempaths=unconfined`` leave /proc
as it is; ``--privileged`` also leaves /sys and the cgroup files writable.
All of this happens in the container's mount namespace, before pivot_root.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from ..kernel import syscalls as sc

MASKED = ("proc/acpi", "proc/asound", "proc/kcore", "proc/keys", "proc/latency_stats",
          "proc/timer_list", "proc/timer_stats", "proc/sched_debug", "proc/scsi",
          "sys/firmware", "sys/devices/virtual/powercap")
READ_ONLY = ("proc/bus", "proc/fs", "proc/irq", "proc/sys", "proc/sysrq-trigger")

def mask(new_root: Path) -> None:
    """Hide each masked path: /dev/null over a file, an empty read-only tmpfs over a directory.

    A path this kernel does not have (/proc/scsi without SCSI) is skipped, as runc does.
    """
    for relative in MASKED:
        target = new_root / relative
        try:
            is_dir = os.path.isdir(target)
            if is_dir:
                sc.mount("tmpfs", target, "tmpfs", sc.MS_RDONLY)
            elif os.path.lexists(target):
                sc.mount("/dev/null", target, None, sc.MS_BIND)
        except sc.KernelCallError as err:
            if err.errno != errno.ENOENT:
                raise


def make_read_only(new_root: Path) -> None:
    """Bind each read-only path onto itself, then make that bind read-only.

    mount_setattr(2) sets only MS_RDONLY's counterpart and leaves /proc's nosuid,
    nodev and noexec as they are: a remount would have to repeat them, since in a
    user namespace the kernel refuses to clear flags a more privileged mount set.
    """
    for relative in READ_ONLY:
        target = new_root / relative
        if not os.path.lexists(target):
            continue
        sc.mount(target, target, None, sc.MS_BIND | sc.MS_REC)
        sc.mount_setattr(target, sc.AT_RECURSIVE, sc.MOUNT_ATTR_RDONLY)


def own_hierarchies(found: list, cgroup) -> list:
    """The hierarchies a container has a cgroup of its own in: the ones worth showing it.

    In a hierarchy where the runtime made it no cgroup (freezer, blkio, ... on
    v1), the root of its cgroup namespace would be its starter's cgroup, often
    the host's whole tree: those are left out.
    """
    if cgroup is None:
        return [m for m in found if m.path == "/sys/fs/cgroup"]  # v2: the one mount
    if cgroup.version == 2:
        return [m for m in found if m.version == 2]
    own = set(cgroup.dirs)
    return [m for m in found if m.version == 1 and own & set(m.controllers)]


def mount_cgroups(new_root: Path, writable: bool, rootless: bool, found: list) -> None:
    """The container's own cgroups at /sys/fs/cgroup, as the host lays them out.

    Runs after unshare(CLONE_NEWCGROUP), so every new cgroup mount shows the
    container's cgroup as its root.  cgroup v2: one cgroup2 mount.  v1 or
    hybrid: a small tmpfs with one mount per hierarchy in ``found`` (see
    :func:`own_hierarchies`), named as on the host.  Rootless on v1, the kernel
    may refuse to mount a hierarchy; that one is left empty.
    """
    target = f"{new_root}/sys/fs/cgroup"
    flags = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC
    hierarchies = [m for m in found if m.path.startswith("/sys/fs/cgroup")]
    if any(m.path == "/sys/fs/cgroup" for m in hierarchies):  # pure v2
        sc.mount("cgroup2", target, "cgroup2", flags | (0 if writable else sc.MS_RDONLY))
        return
    sc.mount("tmpfs", target, "tmpfs", flags, "mode=755,size=64k")
    for m in hierarchies:
        inner = f"{target}/{os.path.basename(m.path)}"
        fstype = "cgroup" if m.version == 1 else "cgroup2"
        os.mkdir(inner)
        try:
            sc.mount(fstype, inner, fstype, flags, m.options or None)
        except sc.KernelCallError:
            if not rootless:
                raise
    if not writable:
        sc.mount_setattr(target, sc.AT_RECURSIVE, sc.MOUNT_ATTR_RDONLY)
