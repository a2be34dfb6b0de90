"""The container's root filesystem: an overlay, the kernel's pseudo-filesystems, then pivot_root.

Inside its own mount namespace, the container's process 1 builds its
filesystem under ``<container>/rootfs`` and then makes it ``/``:

    rootfs/            overlay: the image's layers (read-only) + upper/ (writable)
    rootfs/proc        a new proc, which shows only this PID namespace's processes
    rootfs/sys         sysfs, read-only
    rootfs/dev         a small tmpfs with null, zero, full, random, urandom, tty
    rootfs/dev/pts     a new devpts instance, for terminals made inside the container
    rootfs/dev/shm     tmpfs for POSIX shared memory
    rootfs/dev/mqueue  the IPC namespace's POSIX message queues (mq_overview(7))
    rootfs/etc/{hostname,hosts,resolv.conf}   bind-mounted from the container's directory
    rootfs/<target>    ``-v``, ``--mount`` and ``--tmpfs`` mounts (see :mod:`sandbox.isolation.mounts`);
                       a new volume is first filled from the image (:mod:`sandbox.isolation.copyup`)
    rootfs/sys/fs/cgroup, masked and read-only parts of /proc and /sys, last
                       (see :mod:`sandbox.isolation.systempaths`)

:func:`mount_plan` computes that list without touching anything (so it can be
read and unit-tested); :func:`build` carries it out.  Every mount happens in
the container's private mount namespace, so none of them is visible on the
host, and all of them vanish when the container's last process exits.

Man pages: mount_namespaces(7), mount(2), overlayfs (Documentation/filesystems/overlayfs.rst),
pivot_root(2), proc(5), sysfs(5), devpts (Documentation/filesystems/devpts.rst).
"""

from __future__ import annotations

import os
import stat
from collections import namedtuple
from pathlib import Path

from . import copyup
from ..kernel import syscalls as sc
from ..errors import SandboxError
from ..paths import secure_join

DEVICES = ("null", "zero", "full", "random", "urandom", "tty")
ATTACH = "(move_mount)"  # a Mount whose source is a detached mount's descriptor, not a path
ETC_FILES = ("hostname", "hosts", "resolv.conf")


# One mount(2) call: its five arguments (the target relative to the new root),
# whether the target must be a file (a bind mount of a file) or a directory, and
# whether the mount, with every mount below it, is then made read-only (mount_setattr(2)),
# and whether the image's files there are first copied into it (a volume: see sandbox.isolation.copyup).
Mount = namedtuple("Mount", "source target fstype flags data target_is_file read_only_tree "
                            "copy_up", defaults=(0, None, False, False, False))


def overlay_options(lower_dirs: list[str], upper: str, work: str, rootless: bool) -> str:
    """overlayfs's mount options.  The first lower directory is the topmost layer.

    ``userxattr`` makes overlayfs keep its bookkeeping in ``user.overlay.*``
    extended attributes, which an unprivileged user may write, instead of
    ``trusted.overlay.*``, which needs CAP_SYS_ADMIN on the host.
    """
    options = f"lowerdir={':'.join(lower_dirs)},upperdir={upper},workdir={work}"
    return options + (",userxattr" if rootless else "")


def mount_plan(container_dir: Path, lower_dirs: list[str], rootless: bool,
               user_mounts: list[dict] = (), privileged: bool = False,
               read_only: bool = False) -> list[Mount]:
    """Every mount that makes up the container's filesystem, in the order they must happen.

    The flags are Docker's: /proc, /sys, /dev/shm and /dev/mqueue are nosuid,
    nodev and noexec; /sys is read-only unless ``--privileged``; /dev is a
    tmpfs without nodev (device nodes must work there), so what stops a
    container from opening a disk through it is the devices cgroup.
    """
    nosuid_nodev_noexec = sc.MS_NOSUID | sc.MS_NODEV | sc.MS_NOEXEC
    plan = [
        # The overlay first: every other mount lands on a directory inside it.
        Mount("overlay", "", "overlay", 0,
              overlay_options(lower_dirs, str(container_dir / "upper"),
                              str(container_dir / "work"), rootless)),
        Mount("proc", "proc", "proc", nosuid_nodev_noexec),
        Mount("sysfs", "sys", "sysfs", nosuid_nodev_noexec | (0 if privileged else sc.MS_RDONLY)),
        Mount("tmpfs", "dev", "tmpfs", sc.MS_NOSUID | sc.MS_STRICTATIME, "mode=755,size=65536k"),
    ]
    # Device nodes are bind-mounted from the host's /dev: creating them with
    # mknod(2) needs CAP_MKNOD on the host, which a rootless user does not have.
    plan += [Mount(f"/dev/{d}", f"dev/{d}", None, sc.MS_BIND, target_is_file=True)
             for d in DEVICES]
    # A private devpts instance: the container sees only the terminals opened inside it.
    # gid=5 (tty) only when group 5 exists in the container's user namespace.
    pts_options = "newinstance,ptmxmode=0666,mode=0620" + ("" if rootless else ",gid=5")
    plan += [
        Mount("devpts", "dev/pts", "devpts", sc.MS_NOSUID | sc.MS_NOEXEC, pts_options),
        Mount("shm", "dev/shm", "tmpfs", nosuid_nodev_noexec, "mode=1777,size=65536k"),
        Mount("mqueue", "dev/mqueue", "mqueue", nosuid_nodev_noexec),
    ]
    # With --read-only these are read-only too, as Docker makes them (moby: NetworkMounts).
    plan += [Mount(str(container_dir / f), f"etc/{f}", None, sc.MS_BIND, target_is_file=True,
                   read_only_tree=read_only) for f in ETC_FILES]
    for m in user_mounts:
        plan += _user_mount(m)
    return plan


def _user_mount(m: dict) -> list[Mount]:
    """A ``-v``, ``--mount`` or ``--tmpfs`` mount as mount(2) calls: a read-only bind takes two.

    A volume is mounted writable, filled from the image if it is empty, and
    only then made read-only (``:ro``): Docker copies into read-only volumes too.
    """
    from .mounts import tmpfs_flags
    target = m["target"].lstrip("/")
    volume = m["type"] == "volume"
    copy = volume and not m.get("nocopy")
    if m["type"] == "tmpfs":
        flags, data = tmpfs_flags(m["options"])
        return [Mount("tmpfs", target, "tmpfs", flags, data)]
    if volume and m.get("tmpfs") is not None:  # a type=tmpfs volume: a fresh tmpfs each time
        flags, data = tmpfs_flags("exec," + m["tmpfs"])  # Docker's local driver: no noexec
        return [Mount("tmpfs", target, "tmpfs", flags, data, read_only_tree=m["readonly"],
                      copy_up=copy)]
    if "fd" in m:  # a detached copy, made while the caller was still host root
        is_file = not stat.S_ISDIR(os.fstat(m["fd"]).st_mode)
        return [Mount(m["fd"], target, ATTACH, 0, target_is_file=is_file,
                      read_only_tree=volume and m["readonly"], copy_up=copy)]
    if volume:
        return [Mount(m["source"], target, None, sc.MS_BIND | sc.MS_REC,
                      read_only_tree=m["readonly"], copy_up=copy)]
    is_file = not os.path.isdir(m["source"])
    # MS_REC: the host directory's own submounts come along.  Read-only must then hold
    # for them too, which only mount_setattr(2) with AT_RECURSIVE does in one step.
    return [Mount(m["source"], target, None, sc.MS_BIND | sc.MS_REC, target_is_file=is_file,
                  read_only_tree=m["readonly"])]


def build(container_dir: Path, lower_dirs: list[str], rootless: bool,
          user_mounts: list[dict], security: dict, cgroup_mounts: list) -> None:
    """Mount the container's filesystem under ``container_dir/rootfs`` and make it ``/``.

    Runs in process 1 of the container, in its new mount namespace (and its new
    cgroup namespace).  ``rootless`` means: in a user namespace (rootless, or
    ``--uidmap``), where overlayfs needs ``userxattr``.  ``security`` is the
    container's record from :mod:`sandbox.engine.security`: masked paths,
    ``--privileged``, ``--read-only``; ``cgroup_mounts`` the hierarchies to show
    at /sys/fs/cgroup (:func:`sandbox.isolation.systempaths.own_hierarchies`).
    """
    from . import systempaths
    privileged = security.get("privileged", False)
    new_root = container_dir / "rootfs"
    # Why first: mounts made from now on must not propagate back to the host's
    # namespace (mount_namespaces(7), "shared subtrees"), and pivot_root(2)
    # refuses to work when the new or the current root is a shared mount.
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
    for m in mount_plan(container_dir, lower_dirs, rootless, user_mounts, privileged,
                        security.get("read_only", False)):
        _mount_one(new_root, m)
    # After /sys (which it mounts on) and the user's mounts (which it must hide nothing of).
    systempaths.mount_cgroups(new_root, writable=privileged, rootless=rootless,
                              found=cgroup_mounts)
    if security.get("mask_paths", True):
        systempaths.mask(new_root)
        systempaths.make_read_only(new_root)
    _link_dev(new_root / "dev")
    if security.get("read_only"):
        # Last: every mount point above had to be created in the root first.  Only the
        # root's own mount becomes read-only; /dev, /proc, tmpfs and -v mounts keep theirs.
        sc.mount_setattr(new_root, 0, sc.MOUNT_ATTR_RDONLY)
    pivot_into(new_root)


def _mount_one(new_root: Path, m: Mount) -> None:
    # The target is resolved as the container will see it: a symbolic link in the
    # image (say /data -> /etc) must lead inside the new root, never to the host's /etc.
    target = secure_join(new_root, m.target, follow_last=True) if m.target else new_root
    # Opened before the mount covers it: the image's files, for a volume's copy-up.
    underneath = copyup.open_underneath(target, os.stat(new_root).st_dev) if m.copy_up else -1
    try:
        _mount_at(target, m, underneath)
    finally:
        if underneath >= 0:
            os.close(underneath)


def _mount_at(target: Path, m: Mount, underneath: int) -> None:
    try:
        if m.target_is_file:
            if not target.exists():
                target.parent.mkdir(parents=True, exist_ok=True)
                target.touch()
        else:
            target.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise SandboxError(f"cannot create the mount point /{m.target}: "
                           f"{err.strerror}") from None
    try:
        if m.fstype == ATTACH:
            sc.move_mount(m.source, target)
        else:
            sc.mount(m.source, target, m.fstype, m.flags, m.data)
        if underneath >= 0:
            _copy_up(underneath, target, m.target)
        if m.read_only_tree:
            sc.mount_setattr(target, sc.AT_RECURSIVE, sc.MOUNT_ATTR_RDONLY)
    except sc.KernelCallError:
        if m.fstype != "sysfs":
            raise
        # A rootless container may not mount a new sysfs on some kernels;
        # the host's /sys, bound read-only, is the next best thing.
        sc.mount("/sys", target, None, sc.MS_BIND | sc.MS_REC)
        sc.mount(None, target, None, sc.MS_BIND | sc.MS_REMOUNT | sc.MS_RDONLY)


def _copy_up(underneath: int, target: Path, shown: str) -> None:
    try:
        copyup.copy_if_empty(underneath, target)
    except OSError as err:
        where = f" ({err.filename})" if err.filename else ""
        raise SandboxError(f"cannot copy the image's /{shown} into its new volume: "
                           f"{err.strerror}{where}") from None


def _link_dev(dev: Path) -> None:
    """The symbolic links every /dev has: ptmx into devpts, and fd, stdin, stdout, stderr."""
    links = {"ptmx": "pts/ptmx", "fd": "/proc/self/fd", "stdin": "/proc/self/fd/0",
             "stdout": "/proc/self/fd/1", "stderr": "/proc/self/fd/2"}
    for name, target in links.items():
        os.symlink(target, dev / name)


def pivot_into(new_root: Path) -> None:
    """Make ``new_root`` the root of this mount namespace and drop the old one.

    pivot_root(".", ".") stacks the old root on top of the new one, at the
    same place; unmounting "." then removes the old root, and with it every
    way back to the host's files (this is how runc does it; pivot_root(2),
    NOTES).  chroot(2) would leave the old root mounted, reachable by a
    process that escapes the chroot, which chapter 02 shows.
    """
    os.chdir(new_root)
    sc.pivot_root(".", ".")
    sc.umount2(".", sc.MNT_DETACH)
    os.chdir("/")
