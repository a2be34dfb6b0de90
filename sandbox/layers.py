"""Layers: unpack each image layer once, safely, and share it read-only.

A layer is a tar archive of the files one build step added, changed or
deleted (OCI image spec, layer.md).  Deletions are *whiteouts*: an empty file
``.wh.<name>`` means "<name> is gone", and ``.wh..wh..opq`` in a directory
means "hide everything the layers below had here".  overlayfs(5) spells the
same ideas differently, so unpacking translates them:

    OCI layer tar             overlayfs lower directory
    ───────────────────────   ──────────────────────────────────────────────
    dir/.wh.name              dir/name as a character device 0/0
    dir/.wh..wh..opq          xattr overlay.opaque="y" on dir

A layer tar is untrusted input.  Every name goes through :func:`secure_join`,
which resolves ``..`` and symbolic links *inside* the extraction root, so
nothing is ever written outside it.
"""

from __future__ import annotations

import os
import shutil
import stat

from pathlib import Path

from .paths import UnsafePath, ensure, rmtree, secure_join  # noqa: F401 (secure_join: re-exported)

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"


# A layer entry that would write outside its root, or is otherwise malformed: the same
# error as any path that would leave its root (secure_join raises it too).
UnsafeLayer = UnsafePath


def clean_name(name: str) -> str:
    """Check a tar entry's name and return it relative, without ``./``.

    Absolute names and ``..`` components are refused: a layer only ever
    describes paths below its own root.
    """
    if name.startswith("/"):
        raise UnsafeLayer(f"entry {name!r} has an absolute name")
    parts = [p for p in name.split("/") if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeLayer(f"entry {name!r} climbs out with '..'")
    return "/".join(parts)


def unpack(archive: Path, dest: Path, rootless: bool, notices: list[str] | None = None) -> None:
    """Unpack one layer tarball (plain or gzip) into the directory ``dest``."""
    import tarfile  # here, not at the top: `sandbox run` of an unpacked image never needs it
    import zlib
    notices = notices if notices is not None else []
    dirs: list[tuple[str, int, float]] = []
    member = None
    try:
        with _open_layer(archive) as tar:
            for member in tar:  # reading the next header can fail too (truncated, bad gzip)
                _unpack_entry(tar, member, dest, rootless, notices, dirs)
    except UnsafeLayer:
        raise
    except (OSError, EOFError, zlib.error, tarfile.TarError) as err:
        where = f"entry {member.name!r}" if member is not None else f"layer {archive}"
        raise UnsafeLayer(f"cannot unpack {where}: {err}") from err
    # Directory modes and times last: an entry created inside a directory
    # changes its mtime, and a rootless user could not create it in a
    # directory that is already read-only (0555).  A directory that a later
    # entry replaced, or that is now reached through a symbolic link, is
    # skipped: chmod(2) and utime(2) would follow the link out of dest.
    for relative, mode, mtime in reversed(dirs):
        if _is_real_dir(dest, relative):
            path = dest / relative
            os.chmod(path, mode)
            os.utime(path, (mtime, mtime), follow_symlinks=False)


def _is_real_dir(root: Path, relative: str) -> bool:
    """True if every component of ``relative`` below root is a directory, not a symbolic link."""
    path = root
    for part in relative.split("/"):
        path = path / part
        try:
            if not stat.S_ISDIR(os.lstat(path).st_mode):
                return False
        except OSError:
            return False
    return True


ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


def _open_layer(archive: Path):
    """A layer tar, plain, gzip (tarfile knows) or zstd (needs the zstandard package).

    The compression is read from the file's first bytes, not from its name or
    media type: that is what the bytes say.
    """
    import tarfile
    with open(archive, "rb") as f:
        magic = f.read(4)
    if magic != ZSTD_MAGIC:
        return tarfile.open(archive, mode="r:*")
    try:
        import zstandard
    except ImportError:
        raise UnsafeLayer(f"layer {archive.name} is zstd-compressed: install the zstandard "
                          "package (pip install zstandard) to use it") from None
    stream = zstandard.ZstdDecompressor().stream_reader(open(archive, "rb"), closefd=True)
    return tarfile.open(fileobj=stream, mode="r|")  # a stream: entries in order, no seeking


def _unpack_entry(tar, member, dest: Path, rootless: bool, notices, dirs) -> None:
    name = clean_name(member.name)
    if not name:
        return  # the root itself ("./")
    parent_rel, _, base = name.rpartition("/")
    try:
        parent = secure_join(dest, parent_rel, follow_last=True)
        _mkdir_inside(dest, parent)
    except UnsafeLayer as err:
        raise UnsafeLayer(f"entry {name!r}: {err}") from None

    if base == OPAQUE_MARKER:
        _set_opaque(parent, rootless)
        return
    if base.startswith(WHITEOUT_PREFIX):
        hidden = base[len(WHITEOUT_PREFIX):]
        if hidden in ("", ".", ".."):  # ".wh..." would delete the directory above dest
            raise UnsafeLayer(f"entry {name!r} is a whiteout that names no file")
        _make_whiteout(parent / hidden)
        return

    target = parent / base
    if target.is_dir() and not target.is_symlink():
        if not member.isdir():
            shutil.rmtree(target)
    elif target.exists() or target.is_symlink():
        target.unlink()

    mode = member.mode & 0o7777
    if rootless and mode & (stat.S_ISUID | stat.S_ISGID):
        notices.append(f"dropped the setuid/setgid bit of /{name} (rootless)")
        mode &= ~(stat.S_ISUID | stat.S_ISGID)

    if member.isdir():
        target.mkdir(mode=0o700, exist_ok=True)
        dirs.append((str(target.relative_to(dest)), mode, member.mtime))
    elif member.isreg():
        with tar.extractfile(member) as src:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
            with os.fdopen(fd, "wb") as out:
                shutil.copyfileobj(src, out, 1 << 20)
    elif member.issym():
        os.symlink(member.linkname, target)
    elif member.islnk():
        try:
            source = secure_join(dest, clean_name(member.linkname))
        except UnsafeLayer as err:
            raise UnsafeLayer(f"hard link {name!r} points outside the layer: {err}") from None
        if not source.is_file() or source.is_symlink():
            raise UnsafeLayer(f"hard link {name!r} points at {member.linkname!r}, "
                              "which is not a regular file of this layer")
        os.link(source, target)
    elif member.ischr() or member.isblk() or member.isfifo():
        if rootless and not member.isfifo():
            notices.append(f"skipped device node /{name} (rootless)")
            return
        kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK if member.isblk() else stat.S_IFIFO
        os.mknod(target, kind | mode, os.makedev(member.devmajor, member.devminor))
    else:
        return  # other types (sparse, GNU extensions) carry no file of their own

    if not rootless:
        os.lchown(target, member.uid, member.gid)
    if not member.issym() and not member.isdir():  # directories: at the end, see unpack()
        os.chmod(target, mode)
        os.utime(target, (member.mtime, member.mtime))


def _mkdir_inside(root: Path, path: Path) -> None:
    """mkdir -p, refusing to create anything that is not below root."""
    if path != root and root not in path.parents:
        raise UnsafeLayer(f"{path} is outside the layer root {root}")
    path.mkdir(parents=True, exist_ok=True)


def _make_whiteout(path: Path) -> None:
    """An overlayfs whiteout: a character device with number 0/0 (overlayfs(5))."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()
    os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0))


def _set_opaque(directory: Path, rootless: bool) -> None:
    """Mark a directory opaque: overlayfs shows none of the lower layers' entries in it.

    As root the attribute is ``trusted.overlay.opaque``; an unprivileged user
    cannot write the trusted namespace, so rootless overlays are mounted with
    ``userxattr`` and read ``user.overlay.opaque`` instead.
    """
    name = "user.overlay.opaque" if rootless else "trusted.overlay.opaque"
    os.setxattr(directory, name, b"y", follow_symlinks=False)


def unpacked_layer(layers_dir: Path, tmp_dir: Path, diff_id: str, blob: Path,
                   rootless: bool, notices: list[str] | None = None) -> Path:
    """The directory holding this layer unpacked, unpacking it first if needed.

    The layer is unpacked into a scratch directory and renamed into place only
    when complete, so a crash never leaves a half-unpacked layer that another
    container would use.  If two processes race, the second rename fails and
    its copy is thrown away.
    """
    final = layers_dir / diff_id.split(":", 1)[1]
    if final.exists():
        return final
    ensure(layers_dir)
    scratch = Path(ensure(tmp_dir)) / f"layer-{os.getpid()}-{final.name[:12]}"
    rmtree(scratch)
    scratch.mkdir()
    try:
        unpack(blob, scratch, rootless, notices)
        os.rename(scratch, final)
    except OSError:
        if not final.exists():
            raise
    finally:
        rmtree(scratch)  # paths.rmtree: a rootless copy may hold read-only directories
    return final
