"""Docker's copy-up: the image's files at a volume's mount point, copied into the empty volume.

    rootfs/data          the image's /data (overlay)      ─┐ opened (a descriptor) first,
    rootfs/data          the volume, mounted over it       │ then the volume is mounted over:
                         ◀──────── copy ───────────────────┘ the descriptor still reaches the
                                                             image's directory underneath

A mount hides what was at its mount point, but a descriptor opened before
the mount still refers to the directory underneath (mount(2): the mount
covers the *path*, not the inode).  So the container's init opens the
image's directory, mounts the volume over it, and copies through the
descriptor, inside the container's user namespace: the copies belong to the
container's root (and its other users), as the originals did, rootless too.

Docker copies only into an *empty* volume, and not with ``volume-nocopy``; two
containers starting on one new volume take turns (flock(2) on its directory).
Owners, modes, times, symbolic links and hard links are kept; sockets and
device nodes are left out (a rootless user may not make device nodes).
Nothing is followed: a symbolic link is copied as a link, and every name is
opened relative to its parent's descriptor with O_NOFOLLOW, so neither the
image nor a container sharing the volume can send a write outside it.

Man pages: mount(2), openat(2), linkat(2), fchownat(2), utimensat(2), flock(2).
"""

from __future__ import annotations

import fcntl
import os
import stat

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_unmapped: tuple = ()  # the (uid, gid) that stand for "not mapped here", in a user namespace
_root_dev = 0  # the image's filesystem (the overlay): what is on another one is not copied


def open_underneath(path, root_dev: int) -> int:
    """A descriptor for the image's directory at ``path``, opened before a mount covers it;
    -1 if there is no directory there, or if what is there is not the image's (another
    filesystem, ``root_dev`` being the overlay's: /proc, /dev, a bind mount)."""
    try:
        fd = os.open(path, DIR_FLAGS)
    except OSError:
        return -1
    if os.fstat(fd).st_dev != root_dev:
        os.close(fd)
        return -1
    return fd


def copy_if_empty(source_fd: int, target) -> None:
    """Copy the tree under ``source_fd`` into the directory ``target`` if ``target`` is empty.

    The volume's own directory takes the owner and mode of the image's, as
    Docker's copy does (a /var/lib/mysql owned by mysql stays so).
    """
    target_fd = os.open(target, DIR_FLAGS)
    try:
        # Two containers starting on one new volume: the second waits, then finds it full.
        # flock(2) on the volume's directory: every container's mount of it is one inode.
        fcntl.flock(target_fd, fcntl.LOCK_EX)  # released when the descriptor is closed
        if os.listdir(target_fd):
            return  # not a new volume: its files are the user's, never overwritten
        global _unmapped, _root_dev
        _unmapped = _overflow_ids()
        _root_dev = os.fstat(source_fd).st_dev
        linked: dict = {}
        try:
            _copy_dir(source_fd, target_fd, linked)
        finally:
            for first_dir, _ in linked.values():
                os.close(first_dir)
        _copy_attributes(os.fstat(source_fd), target_fd)
    finally:
        os.close(target_fd)


def _copy_dir(src: int, dst: int, linked: dict) -> None:
    """Copy every entry of the directory ``src`` into the directory ``dst``."""
    for entry in os.scandir(src):
        try:
            _copy_entry(src, dst, entry, linked)
        except FileExistsError:
            continue  # written meanwhile by a container that has it mounted already: theirs


def _copy_entry(src: int, dst: int, entry: os.DirEntry, linked: dict) -> None:
    st = entry.stat(follow_symlinks=False)
    name = entry.name
    if stat.S_ISDIR(st.st_mode) and st.st_dev != _root_dev:
        return  # a mount point inside (a -v at /data/sub): not the image's files
    if stat.S_ISDIR(st.st_mode):
        os.mkdir(name, 0o700, dir_fd=dst)
        sub_src = os.open(name, DIR_FLAGS, dir_fd=src)
        sub_dst = os.open(name, DIR_FLAGS, dir_fd=dst)
        try:
            _copy_dir(sub_src, sub_dst, linked)
            _copy_attributes(st, sub_dst)
        finally:
            os.close(sub_src)
            os.close(sub_dst)
    elif stat.S_ISLNK(st.st_mode):
        os.symlink(os.readlink(name, dir_fd=src), name, dir_fd=dst)
        _chown(name, st, dst)
        os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=dst,
                 follow_symlinks=False)
    elif stat.S_ISREG(st.st_mode):
        _copy_file(src, dst, name, st, linked)
    elif stat.S_ISFIFO(st.st_mode):
        os.mkfifo(name, 0o600, dir_fd=dst)
        # Opened, not named: a name could have been swapped for a link meanwhile.
        fifo = os.open(name, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW | os.O_CLOEXEC,
                       dir_fd=dst)
        try:
            _copy_attributes(st, fifo)
        finally:
            os.close(fifo)
    # sockets and device nodes: left out


def _copy_file(src: int, dst: int, name: str, st: os.stat_result, linked: dict) -> None:
    """A regular file; a second name of an inode already copied becomes a hard link to the copy."""
    if st.st_nlink > 1:
        key = (st.st_dev, st.st_ino)
        if key in linked:
            first_dir, first_name = linked[key]
            os.link(first_name, name, src_dir_fd=first_dir, dst_dir_fd=dst,
                    follow_symlinks=False)
            return
    fd_out = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                     0o600, dir_fd=dst)
    try:
        fd_in = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=src)
        try:
            while os.sendfile(fd_out, fd_in, None, 1 << 20):
                pass
        finally:
            os.close(fd_in)
        _copy_attributes(st, fd_out)
    finally:
        os.close(fd_out)
    if st.st_nlink > 1:
        linked[(st.st_dev, st.st_ino)] = (os.dup(dst), name)  # kept open: links may come later


def _overflow_ids() -> tuple:
    """In a user namespace, files owned by ids it does not map show as the overflow ids
    (65534: user_namespaces(7), "Unmapped user and group IDs").  Copied, they stay the
    container root's: given to 65534 they would become a real, unrelated host user's."""
    from .userns import in_initial_namespace
    if in_initial_namespace():
        return ()  # the host's own ids: 65534 is nobody, a real owner
    try:
        with open("/proc/sys/kernel/overflowuid") as u, \
                open("/proc/sys/kernel/overflowgid") as g:
            return int(u.read()), int(g.read())
    except OSError:
        return ()


def _copy_attributes(st: os.stat_result, fd: int) -> None:
    """Owner first, then mode: chown(2) clears the setuid and setgid bits."""
    if (st.st_uid, st.st_gid) != _unmapped:
        try:
            os.fchown(fd, st.st_uid, st.st_gid)
        except OSError:
            pass  # an owner this user namespace does not map: the container's root keeps it
    os.fchmod(fd, stat.S_IMODE(st.st_mode))
    os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))


def _chown(name: str, st: os.stat_result, dir_fd: int) -> None:
    if (st.st_uid, st.st_gid) == _unmapped:
        return
    try:
        os.chown(name, st.st_uid, st.st_gid, dir_fd=dir_fd, follow_symlinks=False)
    except OSError:
        pass
