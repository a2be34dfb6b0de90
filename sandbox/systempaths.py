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

    host: /sys/fs/cgroup/memory/sandbox/<id>/memory.max   container: /sys/fs/cgroup/memory/memory.max

``--privileged`` or ``--security-opt systempaths=unconfined`` leave /proc
as it is; ``--privileged`` also leaves /sys and the cgroup files writable.
All of this happens in the container's mount namespace, before pivot_root.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path

from . import syscalls as sc

MASKED = ("proc/acpi", "proc/asound", "proc/kcore", "proc/keys", "proc/latency_stats",
          "proc/timer_list", "proc/timer_stats", "proc/sched_debug", "proc/scsi",
          "sys/firmware", "sys/devices/virtual/powercap")
READ_ONLY = ("proc/bus", "proc/fs", "proc/irq", "proc/sys", "proc/sysrq-trigger")

# The flags /proc already has.  A read-only remount inside a user namespace must
# repeat them: the kernel refuses to clear flags a more privileged mount set ("locked").
_PROC_FLAGS = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC


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
    """Bind each read-only path onto itself, then make that bind read-only."""
    for relative in READ_ONLY:
        target = new_root / relative
        if not os.path.lexists(target):
            continue
        sc.mount(target, target, None, sc.MS_BIND | sc.MS_REC)
        sc.mount(None, target, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY | _PROC_FLAGS)


def mount_cgroups(new_root: Path, writable: bool, rootless: bool) -> None:
    """The container's own cgroups at /sys/fs/cgroup, as the host lays them out.

    Runs after unshare(CLONE_NEWCGROUP), so every new cgroup mount shows the
    container's cgroup as its root.  cgroup v2: one cgroup2 mount.  v1 or
    hybrid: a small tmpfs with one mount per hierarchy, named as on the host.
    Rootless on v1, the kernel may refuse to mount a hierarchy the user has
    no cgroup in; that one is left empty (a rootless container has no limits there).
    """
    target = new_root / "sys/fs/cgroup"
    flags = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC
    hierarchies = _host_hierarchies()
    if [h for h in hierarchies if h[0] == "/sys/fs/cgroup"]:  # pure v2
        sc.mount("cgroup2", target, "cgroup2", flags | (0 if writable else sc.MS_RDONLY))
        return
    sc.mount("tmpfs", target, "tmpfs", flags, "mode=755,size=64k")
    for mount_point, fstype, options in hierarchies:
        inner = target / os.path.basename(mount_point)
        inner.mkdir()
        try:
            sc.mount(fstype, inner, fstype, flags, options or None)
        except sc.KernelCallError:
            if not rootless:
                raise
    if not writable:
        sc.mount_setattr(target, sc.AT_RECURSIVE, sc.MOUNT_ATTR_RDONLY)


def _host_hierarchies() -> list[tuple[str, str, str]]:
    """(mount point, cgroup or cgroup2, options) for each cgroup mount under /sys/fs/cgroup.

    The options are the superblock's (``cpu``, ``xattr,name=systemd``): a v1
    hierarchy is mounted again by naming the same controllers.
    """
    found = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            dash = fields.index("-")
            fstype, mount_point = fields[dash + 1], fields[4]
            if fstype in ("cgroup", "cgroup2") and mount_point.startswith("/sys/fs/cgroup"):
                options = [o for o in fields[dash + 3].split(",") if o not in ("rw", "ro")]
                found.append((mount_point, fstype, ",".join(options)))
    return found
