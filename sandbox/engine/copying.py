"""``sandbox cp``: files into and out of a container, as a tar stream.  tar(5), setns(2), pivot_root(2)

    sandbox cp (on the host)                      a child, inside the container's filesystem
    ─────────────────────────────                 ──────────────────────────────────────────
    writes a tar of SRC            ──── pipe ───▶  finds DEST, applies Docker's rules, unpacks
    applies Docker's rules, unpacks ◀─── pipe ────  writes a tar of SRC

Why a child: the container's files must be seen the way the container sees
them, with the kernel resolving every path and every symbolic link *inside*
the container's root.  A link in the container (``/etc -> /``, or a
``/data -> /home/you``) then leads to the container's own ``/``, never to the
host's, even if the container swaps links while the copy runs.  The child
gets there in one of two ways:

- a running container: setns(2) into its mount namespace (and first its user
  namespace, rootless or ``--uidmap``), which also makes the container's root
  the child's root: what ``exec`` does;
- a stopped container: the child makes a private mount namespace, mounts the
  container's overlay (image layers, init layer, upper directory; and its
  ``-v`` bind mounts) on ``<container>/rootfs``, and pivot_root(2)s into it.
  The mounts vanish with the child's namespace, even if it is killed.

Neither side trusts the tar the other sends: every name is cleaned (no
``..``, no absolute names) and every entry is written by
:func:`sandbox.content.layers.write_entry`, which resolves paths inside the target
directory, never writes through a symbolic link, and lets hard links point
only inside it.  A tar from stdin is read whole and checked before anything is
written.  The container side never calls into the C library's user database:
glibc would load the container's own NSS modules into the copying process
(Docker's CVE-2019-14271), so tar entries carry numbers, never user names;
and everything it runs is imported before it enters, since this package's
files are out of its sight once it is in the container.

A new file or directory is built beside its place and renamed into it when
whole, so a copy that fails or is interrupted (Ctrl-C, ``kill``) leaves no
half-written file; only SIGKILL can leave its ``.NAME.sandbox-cp-PID`` scratch.

Docker's path rules (docker/cli ``cli/command/container/cp.go``, moby
``archive/copy.go``):

    SRC is a file        DEST missing        saved as DEST (a DEST ending in / must exist)
                         DEST a file         overwritten
                         DEST a directory    saved as DEST/<name of SRC>
    SRC is a directory   DEST missing        made, with SRC's content
                         DEST a file         error: cannot copy a directory to a file
                         DEST a directory    copied as DEST/<name of SRC>, or, when SRC
                                             ends in /. , SRC's content into DEST

Ownership, as Docker: files copied in belong to the container's root (uid and
gid 0; rootless, that is the caller) unless ``-a`` keeps the tar's numbers;
files copied out belong to whoever runs ``cp``, unless ``-a`` (as root) keeps
the container's numbers.
"""

from __future__ import annotations

import os
import shutil
import stat
import tarfile
from pathlib import Path

from ..isolation import namespaces, rootfs
from ..kernel import syscalls as sc
from ..errors import NotFound, SandboxError, UsageError
from ..content.layers import UnsafeLayer, clean_name, finish_dirs, parent_inside, write_entry
from ..paths import ensure, is_root, rmtree, state_root
from .records import Container, lookup

CHUNK = 1 << 20
OVERFLOW_ID = 65534  # what an id that a user namespace does not map shows as (nobody)


class CopyError(SandboxError):
    """A copy that Docker's rules do not allow, or that failed on the way."""

    exit_code = 1  # what `docker cp` returns for any failure


# --- the command line's arguments (pure) --------------------------------------------------
def split_arg(arg: str) -> tuple[str, str]:
    """``web:/etc/hosts`` → ("web", "/etc/hosts"); a local path → ("", path).

    As Docker reads it (``splitCpArg``): an absolute path is local, and so is a
    relative one starting with ``.`` (``./file:name.txt``) or without a ``:``.
    """
    if arg.startswith("/"):
        return "", arg
    container, sep, path = arg.partition(":")
    if not sep or container.startswith("."):
        return "", arg
    return container, path


def source_name(path: str) -> str:
    """The name SRC's top entry has in the tar: its last component, or ``.`` when SRC
    ends with ``/.`` (or is ``/``): then its content is what is copied."""
    if not path.strip("/") or os.path.basename(path) == ".":
        return "."
    return os.path.basename(os.path.normpath(path))


def placement(src_is_dir: bool, src_name: str, dest: str,
              dest_is_dir: bool | None) -> tuple[str, str]:
    """Where the tar of SRC is unpacked and what its top entry becomes: (directory, name).

    ``dest_is_dir`` is True or False for a DEST that exists, None for one that
    does not.  An empty name puts SRC's content straight into the directory.
    """
    parent, base = os.path.split(os.path.normpath(dest))
    if dest_is_dir:
        return dest, "" if src_name == "." else src_name
    if dest_is_dir is False and src_is_dir:
        raise CopyError(f"cannot copy directory: {dest} is a file, and a directory cannot "
                        "be copied onto a file")
    if dest_is_dir is None and not src_is_dir and dest.endswith("/"):
        raise NotFound(f"no such directory: {dest} (a destination ending in / must be an "
                       "existing directory)")
    return parent or ".", base


def rebase(name: str, old: str, new: str) -> str:
    """A tar entry's name with its top component ``old`` replaced by ``new`` (moby's
    ``RebaseArchiveEntries``); ``new`` empty drops it.  Names not below ``old`` are refused."""
    name = name.rstrip("/")
    if name == old:
        rest = ""
    elif name.startswith(old + "/"):
        rest = name[len(old) + 1:]
    else:
        raise UnsafeLayer(f"entry {name!r} is not below {old!r}, the copied path")
    return "/".join(part for part in (new, rest) if part)


# --- a tar of a path, without the user database --------------------------------------------
def write_tar(path: str, arcname: str, out, follow: bool = False,
              id_base: tuple[int, int] = (0, 0)) -> None:
    """Write ``path`` (a file, or a directory and everything below it) as a tar to ``out``.

    The top entry is named ``arcname``; with ``follow``, a symbolic link at
    ``path`` is copied as what it points at.  Links below are copied as links.
    ``id_base`` is subtracted from owners on disk (a stopped ``--uidmap``
    container's files, read by host root), so that the tar says what the
    container sees.
    """
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        todo = [(path, arcname, follow)]
        while todo:
            current, name, follow_link = todo.pop()
            is_dir = _add_entry(tar, current, name, follow_link, id_base)
            if is_dir:
                for child in sorted(os.listdir(current), reverse=True):  # popped in order
                    todo.append((f"{current}/{child}", f"{name}/{child}", False))


def _add_entry(tar, path: str, name: str, follow: bool, id_base: tuple[int, int]) -> bool:
    """One entry, from lstat(2) (stat(2) with ``follow``); True if it is a directory."""
    st = os.stat(path) if follow else os.lstat(path)
    info = tarfile.TarInfo(name)
    info.mode = stat.S_IMODE(st.st_mode)
    # An id below the base is not the container's: the kernel's overflow id says so too.
    info.uid, info.gid = (i - base if i >= base else OVERFLOW_ID
                          for i, base in zip((st.st_uid, st.st_gid), id_base))
    info.mtime = int(st.st_mtime)
    if stat.S_ISREG(st.st_mode):
        # O_NOFOLLOW and O_NONBLOCK: a file swapped for a link or a fifo meanwhile is
        # refused, never followed or waited on.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC
                     | (0 if follow else os.O_NOFOLLOW))
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(fd)
            if not stat.S_ISREG(st.st_mode):
                raise CopyError(f"{path} changed while it was being copied")
            info.size = st.st_size
            tar.addfile(info, f)
        return False
    if stat.S_ISDIR(st.st_mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISLNK(st.st_mode):
        info.type, info.linkname = tarfile.SYMTYPE, os.readlink(path)
    elif stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(st.st_mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif stat.S_ISFIFO(st.st_mode):
        info.type = tarfile.FIFOTYPE
    else:
        return False  # a socket: tar(5) has no such type, and Docker skips them too
    tar.addfile(info)
    return info.type == tarfile.DIRTYPE


# --- unpacking a tar into a directory --------------------------------------------------
def unpack_stream(tar, members, directory: str, old: str | None, new: str, owner,
                  unprivileged: bool, notices: list[str]) -> None:
    """Write ``members`` of ``tar`` below ``directory``, each renamed by :func:`rebase`
    (``old`` None: names kept), through :func:`sandbox.content.layers.write_entry`.

    A new top entry (a new file or directory, or a file replacing a file) is
    built aside, in a scratch directory beside it, and renamed into place
    when whole (rename(2) is atomic): a copy that fails leaves nothing half
    written.  Entries merged into an existing directory are written in place.
    """
    target = Path(directory) / new if new else None
    if target is None or os.path.isdir(target):
        return _unpack_into(tar, members, Path(directory), old, new, owner, unprivileged,
                            notices)
    scratch = Path(directory) / f".{new}.sandbox-cp-{os.getpid()}"
    rmtree(scratch)
    scratch.mkdir(0o700)
    try:
        _unpack_into(tar, members, scratch, old, new, owner, unprivileged, notices)
        os.replace(scratch / new, target)
    finally:
        rmtree(scratch)


def _unpack_into(tar, members, dest: Path, old, new, owner, unprivileged, notices) -> None:
    dirs: list = []
    for member in members:
        name = clean_name(rebase(member.name, old, new) if old is not None else member.name)
        if not name:
            continue  # "." into an existing directory: the directory stays as it is
        if member.islnk():  # a hard link names another entry: renamed the same way
            member.linkname = rebase(member.linkname, old, new) if old is not None \
                else member.linkname
        parent, base = parent_inside(dest, name)
        write_entry(tar, member, dest, name, parent / base, unprivileged, notices, dirs, owner)
    finish_dirs(dest, dirs)


def check_archive(path: Path) -> None:
    """Refuse a tar (from stdin) with an entry that names a place outside its directory.

    Absolute names, ``..`` and hard links that leave are refused before
    anything is written; symbolic links are contained when written.
    """
    try:
        with tarfile.open(path, mode="r:*") as tar:  # plain, gzip, bzip2 or xz, as Docker
            for member in tar:
                clean_name(member.name)
                if member.islnk():
                    clean_name(member.linkname)
    except UnsafeLayer as err:
        raise CopyError(f"the tar archive on stdin is refused, nothing was copied: "
                        f"{err}") from None
    except (tarfile.TarError, EOFError) as err:
        raise CopyError(f"stdin is not a tar archive: {err}") from None


# --- the container's side --------------------------------------------------------------
class _Side:
    """What the child needs to enter the container's filesystem, read on the host first."""

    def __init__(self, container: Container, shown: str, writable: bool):
        self.container, self.shown, self.writable = container, shown, writable
        self.spec = container.spec
        self.namespaces = _open_namespaces(container)  # None: the container is stopped
        userns = self.spec.userns or {}
        # A stopped --uidmap container is mounted by host root: ids on disk are the
        # container's plus the start of its range.
        stopped_remapped = self.namespaces is None and userns
        self.uid_base = userns.get("uid", 0) if stopped_remapped else 0
        self.gid_base = userns.get("gid", 0) if stopped_remapped else 0
        # How many ids the container's user namespace maps (rootless: root only, which is
        # the caller: the caller's own ids in a tar mean the container's root).
        self.mapped = 1 if self.spec.rootless else userns.get("size", 1 << 32)
        self.caller = (os.getuid(), os.getgid()) if self.spec.rootless else (-1, -1)

    def enter(self) -> None:
        """In the child: make the container's root our root."""
        if self.namespaces is not None:
            namespaces.join(self.namespaces)
            if self.spec.userns:  # host root is nobody in there: become its root
                os.setresgid(0, 0, 0)
                os.setgroups([])
                os.setresuid(0, 0, 0)
        else:
            self._mount_stopped()
        os.chdir("/")

    def _mount_stopped(self) -> None:
        container, spec = self.container, self.spec
        if spec.rootless:
            namespaces.enter_user_namespace()
        sc.unshare(sc.CLONE_NEWNS)
        sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)  # nothing propagates to the host
        read_only = not self.writable or (spec.security or {}).get("read_only", False)
        if read_only:  # the upper directory as one more lower layer: nothing can change
            options = "lowerdir=" + ":".join([str(container.dir / "upper")]
                                             + container.lower_dirs)
            options += ",userxattr" if spec.in_user_namespace else ""
        else:
            options = rootfs.overlay_options(container.lower_dirs, str(container.dir / "upper"),
                                             str(container.dir / "work"),
                                             spec.in_user_namespace)
        new_root = container.dir / "rootfs"
        sc.mount("overlay", str(new_root), "overlay", sc.MS_RDONLY if read_only else 0, options)
        # -v bind mounts, as the running container has them: a copy to /data lands in the
        # volume, not under it.  rootfs's own helpers resolve each target inside new_root.
        for m in spec.mounts:
            if m.get("type") == "bind":
                for mount in rootfs._user_mount(m):
                    rootfs._mount_one(new_root, mount)
        rootfs.pivot_into(new_root)

    def owner(self, keep_ids: bool, notices: list[str]):
        """The ``owner`` for write_entry: the container's root, or with ``-a`` the tar's ids."""
        def ids(member):
            uid, gid = (member.uid, member.gid) if keep_ids else (0, 0)
            uid, gid = (0 if uid == self.caller[0] else uid, 0 if gid == self.caller[1] else gid)
            if uid >= self.mapped or gid >= self.mapped:
                notices.append(f"{member.name} keeps no owner {uid}:{gid}: the container's user "
                               f"namespace maps ids 0 to {self.mapped - 1} only")
                uid = gid = 0
            return uid + self.uid_base, gid + self.gid_base
        return ids

    def not_found(self, path: str) -> NotFound:
        return NotFound(f"Could not find the file {path} in container {self.shown}")


def _open_namespaces(container: Container):
    """The running container's user (if any) and mount namespaces, opened; None if stopped."""
    state = container.status()
    if state.get("Status") != "running":
        return None
    kinds = (["user"] if container.spec.in_user_namespace else []) + ["mnt"]
    opened = []
    try:
        for kind in kinds:
            opened.append((kind, os.open(f"/proc/{state['Pid']}/ns/{kind}",
                                         os.O_RDONLY | os.O_CLOEXEC)))
    except (FileNotFoundError, ProcessLookupError):  # it exited just now: copy as stopped
        for _, fd in opened:
            os.close(fd)
        return None
    return opened


def _close_namespaces(side: _Side) -> None:
    for _, fd in side.namespaces or ():
        os.close(fd)


def _absolute(path: str) -> str:
    """A container path, always from its root (``tmp/x`` is ``/tmp/x``, as Docker reads it),
    keeping a trailing ``/`` or ``/.``, which carry meaning."""
    return "/" + path.lstrip("/") if path else "/"


def _send_from_container(side: _Side, path: str, follow: bool, out_fd: int) -> None:
    """Child: write SRC, as the container sees it, as a tar to ``out_fd``."""
    side.enter()
    if _kind(path) is None and not (os.path.islink(path) and not follow):
        raise side.not_found(path)  # a dangling link is copied as a link, unless -L
    if path.endswith("/") and _kind(path) is not True:
        raise side.not_found(path)
    with os.fdopen(out_fd, "wb") as out:
        write_tar(path, source_name(path), out, follow, (side.uid_base, side.gid_base))


def _receive_in_container(side: _Side, dest: str, src: tuple[bool, str] | None,
                          keep_ids: bool, in_fd: int) -> list[str]:
    """Child: unpack the tar on ``in_fd`` where DEST says (Docker's rules); return notices.

    ``src`` is (SRC is a directory, its top entry's name), or None for a tar
    from stdin, which is unpacked into DEST as it is.
    """
    side.enter()
    shown = f'"{side.shown}:{dest}"'
    dest_is_dir = _kind(dest)
    if src is None:
        if not dest_is_dir:
            raise CopyError(f"destination {shown} must be a directory")
        directory, old, new = dest, None, ""
    else:
        if dest_is_dir is None:
            parent = os.path.dirname(os.path.normpath(dest))
            if _kind(parent) is not True:
                raise side.not_found(parent)
        directory, new = placement(src[0], src[1], dest, dest_is_dir)
        old = src[1]
    notices: list[str] = []
    try:
        with os.fdopen(in_fd, "rb") as stream, tarfile.open(fileobj=stream, mode="r|*") as tar:
            unpack_stream(tar, tar, directory, old, new, side.owner(keep_ids, notices),
                          side.spec.in_user_namespace, notices)
    except OSError as err:
        raise CopyError(f"cannot copy to {shown}: {err.strerror or err}") from None
    return notices


def _kind(path: str) -> bool | None:
    """True for a directory (links followed), False for anything else, None if missing."""
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return None


# --- the two directions ------------------------------------------------------------------
def copy_from(container: Container, shown: str, src: str, dest: str, follow: bool = False,
              keep_ids: bool = False) -> list[str]:
    """``docker cp CONTAINER:SRC DEST``; DEST ``-`` writes the tar to stdout.  Returns notices."""
    src = _absolute(src)
    if dest == "-":
        side = _Side(container, shown, writable=False)
        try:
            namespaces.collect(*namespaces.spawn(
                lambda: _send_from_container(side, src, follow, os.dup(1))))
        finally:
            _close_namespaces(side)
        return []
    dest = _local(dest)
    dest_is_dir = _kind(dest)
    if dest_is_dir is None and _kind(os.path.dirname(os.path.normpath(dest))) is not True:
        raise NotFound(f"stat {os.path.dirname(os.path.normpath(dest))}: no such file or "
                       "directory")
    side = _Side(container, shown, writable=False)  # opens the namespaces: after the checks
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        child = namespaces.spawn(lambda: _send_from_container(side, src, follow, w),
                                 close_in_child=(r,))
    finally:
        os.close(w)
        _close_namespaces(side)
    notices: list[str] = []
    stream = os.fdopen(r, "rb")
    _with_child(child, stream, lambda: _unpack_here(stream, dest, dest_is_dir, source_name(src),
                                                    keep_ids, notices))
    return notices


def _unpack_here(stream, dest: str, dest_is_dir: bool | None, name: str, keep_ids: bool,
                 notices: list[str]) -> None:
    """Host: unpack the container's tar at DEST, by Docker's rules (which need to know
    whether SRC is a directory: the tar's first entry says)."""
    with tarfile.open(fileobj=stream, mode="r|") as tar:
        members = iter(tar)
        first = next(members, None)
        if first is None:
            raise EOFError("the container sent nothing")  # the child says why
        directory, new = placement(first.isdir(), name, dest, dest_is_dir)
        owner = (lambda m: (m.uid, m.gid)) if keep_ids and is_root() else None

        def all_members():
            yield first
            yield from members
        unpack_stream(tar, all_members(), directory, name, new, owner, not is_root(), notices)


def copy_to(container: Container, shown: str, src: str, dest: str, follow: bool = False,
            keep_ids: bool = False) -> list[str]:
    """``docker cp SRC CONTAINER:DEST``; SRC ``-`` reads a tar from stdin.  Returns notices."""
    dest = _absolute(dest)
    if src == "-":
        return _copy_stdin_to(container, shown, dest, keep_ids)
    src = _local(src)
    try:
        st = os.stat(src) if follow else os.lstat(src)
    except (FileNotFoundError, NotADirectoryError):
        raise NotFound(f"lstat {src}: no such file or directory") from None
    if src.endswith("/") and not stat.S_ISDIR(os.stat(src).st_mode):
        raise CopyError(f"{src} is not a directory")
    name = source_name(src)
    side = _Side(container, shown, writable=True)
    r, w = os.pipe2(os.O_CLOEXEC)
    try:
        child = namespaces.spawn(
            lambda: _receive_in_container(side, dest, (stat.S_ISDIR(st.st_mode), name),
                                          keep_ids, r), close_in_child=(w,))
    finally:
        os.close(r)
        _close_namespaces(side)
    out = os.fdopen(w, "wb")
    return _with_child(child, out, lambda: write_tar(src, name, out, follow))


def _copy_stdin_to(container: Container, shown: str, dest: str, keep_ids: bool) -> list[str]:
    """A tar from stdin, read whole into a scratch file and checked, then unpacked in DEST."""
    import sys
    import bz2, lzma, zlib  # noqa: E401,F401 - tarfile's "r|*" needs them, and the child
    #                         cannot import them once it is inside the container
    scratch = container.root / "tmp" / f"cp-{os.getpid()}-stdin.tar"  # prune removes leftovers
    ensure(scratch.parent)
    try:
        with os.fdopen(os.open(scratch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
                       "wb") as f:
            shutil.copyfileobj(sys.stdin.buffer, f, CHUNK)
        check_archive(scratch)
        fd = os.open(scratch, os.O_RDONLY | os.O_CLOEXEC)
        side = _Side(container, shown, writable=True)
        try:
            return namespaces.collect(*namespaces.spawn(
                lambda: _receive_in_container(side, dest, None, keep_ids, fd)))
        finally:
            os.close(fd)
            _close_namespaces(side)
    finally:
        scratch.unlink(missing_ok=True)


def _with_child(child: tuple[int, int], stream, work):
    """Do the host's side of a copy on ``stream`` (our end of the pipe), then collect the
    child at the other end; return the child's result.

    When either side fails, the other sees the pipe break (end-of-file, EPIPE).
    So the failure the user is told is the cause, not the broken pipe it
    caused on the other side: see :func:`_cause`.
    """
    host_error = child_error = None
    try:
        with stream:  # closed before the child is collected: it may be waiting on it
            work()
    except (SandboxError, OSError, tarfile.TarError, EOFError) as err:
        host_error = err
    except BaseException:  # Ctrl-C: the child got it too; collect it, then stop
        try:
            namespaces.collect(*child)
        except BaseException:  # noqa: BLE001 - its own Ctrl-C, or the pipe we closed
            pass
        raise
    try:
        result = namespaces.collect(*child)
    except (SandboxError, OSError, tarfile.TarError, EOFError) as err:
        child_error = err
    if host_error is None and child_error is None:
        return result
    raise _cause(host_error, child_error)


def _cause(host_error, child_error) -> SandboxError:
    """The error that explains a failed copy.

    The child's own errors (SRC not found in the container, DEST not a
    directory) come first: the host then only saw a tar cut short.  Then the
    host's own (Docker's rules for DEST), which the child saw as a broken pipe.
    Then whichever system call failed, the child's unless it was the broken pipe.
    """
    for err in (child_error, host_error):
        if isinstance(err, SandboxError):
            return err
    err = child_error if child_error is not None and not isinstance(
        child_error, BrokenPipeError) else host_error or child_error
    if isinstance(err, OSError) and err.strerror:
        where = f": {err.filename}" if err.filename else ""
        return CopyError(f"the copy failed: {err.strerror}{where}")
    return CopyError(f"the copy failed: {err}")


def _local(path: str) -> str:
    """A host path made absolute, keeping a trailing ``/`` or ``/.`` (moby's
    ``PreserveTrailingDotOrSeparator``)."""
    absolute = os.path.abspath(path)
    if path.endswith("/.") or path == ".":
        return absolute.rstrip("/") + "/."
    if path.endswith("/") and absolute != "/":
        return absolute + "/"
    return absolute


# --- the verb ----------------------------------------------------------------------------
def cp(source: str, destination: str, follow: bool = False, keep_ids: bool = False,
       root: Path | None = None) -> list[str]:
    """``docker cp``: one side is ``CONTAINER:PATH``, the other a local path or ``-``."""
    if not source:
        raise UsageError("source can not be empty")
    if not destination:
        raise UsageError("destination can not be empty")
    src_container, src = split_arg(source)
    dest_container, dest = split_arg(destination)
    if src_container and dest_container:
        raise UsageError("copying between containers is not supported")
    if not src_container and not dest_container:
        raise UsageError("must specify at least one container source")
    root = root or state_root()
    if src_container:
        return copy_from(lookup(root, src_container), src_container, src, dest, follow,
                         keep_ids)
    return copy_to(lookup(root, dest_container), dest_container, src, dest, follow, keep_ids)


