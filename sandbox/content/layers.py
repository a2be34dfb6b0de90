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

A whiteout hides what the layers *below* had, never what its own layer has
(layer.md, "Whiteouts": "Files that are present in the same layer as a
whiteout file can only be hidden by whiteout files in subsequent layers").
Each layer is unpacked into a directory of its own, so whatever a whiteout
finds already there came from its own layer, and stays.

A layer tar is untrusted input.  Every name goes through :func:`secure_join`,
which resolves ``..`` and symbolic links *inside* the extraction root, so
nothing is ever written outside it.  Its content is untrusted too:

- it is hashed as it is decompressed, and must hash to the ``diff_id`` the
  image's config gives it (config.md, ``rootfs.diff_ids``), or it is not
  renamed into ``layers/<diff_id>``, which every image with that diff_id shares;
- it may not uncompress to more than ``max-layer-bytes`` nor hold more than
  ``max-layer-entries`` entries (:mod:`sandbox.content.settings`): a few kilobytes of
  gzip can inflate to a full disk.

    blob (gzip, zstd or plain) ──decompress──▶ UncompressedStream ──▶ tarfile ──▶ entries
                                                 sha256, byte count      entry count
"""

from __future__ import annotations

import os
import shutil
import stat

from pathlib import Path

from .digests import hex_part
from ..errors import SandboxError
from ..paths import UnsafePath, ensure, rmtree, secure_join  # noqa: F401 (secure_join: re-exported)
from .settings import LayerLimits

WHITEOUT_PREFIX = ".wh."
OPAQUE_MARKER = ".wh..wh..opq"
# File capabilities (capabilities(7), "File capabilities"), as GNU tar and Docker write
# them in a PAX header.  Images rely on them (ping's cap_net_raw, in some distributions).
CAPABILITY_XATTR = "security.capability"
PAX_CAPABILITY = "SCHILY.xattr." + CAPABILITY_XATTR


# A layer entry that would write outside its root, or is otherwise malformed: the same
# error as any path that would leave its root (secure_join raises it too).
UnsafeLayer = UnsafePath


class LayerTooLarge(SandboxError):
    """A layer that uncompresses to more bytes, or holds more entries, than the limits allow."""


class DiffIdMismatch(SandboxError):
    """A layer whose uncompressed bytes do not hash to the diff_id its image's config gives it."""


class CorruptLayer(UnsafeLayer):
    """A layer whose compressed bytes cannot be decompressed: damaged, or cut short."""


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


def unpack(archive: Path, dest: Path, rootless: bool, notices: list[str] | None = None,
           limits: LayerLimits = LayerLimits(), what: str = "",
           diff_id: str | None = None) -> str:
    """Unpack one layer blob (plain, gzip or zstd) into the directory ``dest``.

    Returns the layer's diff_id: the sha256 of its uncompressed bytes, hashed as
    tarfile reads them; with ``diff_id``, a layer that hashes to anything else is
    refused (:class:`DiffIdMismatch`).  ``what`` names the layer in messages
    (``image x: layers[2]``).
    """
    import tarfile  # here, not at the top: `sandbox run` of an unpacked image never needs it
    notices = notices if notices is not None else []
    dirs: list[tuple[str, int, float]] = []
    member = None
    try:
        with UncompressedStream(archive, limits.max_bytes, what) as stream:
            # Stream mode ("r|"): entries in order, each byte read once, through the hash.
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                for count, member in enumerate(tar, 1):  # the next header can fail too
                    if count > limits.max_entries:
                        raise LayerTooLarge(f"{stream.what} holds more than "
                                            f"{limits.max_entries:,} entries, the limit "
                                            "max-layer-entries (set it in "
                                            "$SANDBOX_ROOT/daemon.json)")
                    _unpack_entry(tar, member, dest, rootless, notices, dirs)
            actual = stream.finish()  # the end-of-archive padding is part of the diff_id
        if diff_id is not None and actual != diff_id:
            raise mismatch(stream.what, actual, diff_id)
    except CorruptLayer as err:  # it names the layer; add how far the unpacking got
        if member is None:
            raise
        raise CorruptLayer(f"cannot unpack entry {member.name!r}: {err}") from err
    except SandboxError:  # UnsafeLayer, LayerTooLarge, DiffIdMismatch: already one sentence
        raise
    except (OSError, tarfile.TarError) as err:  # a tar cut short, a full disk
        where = f"entry {member.name!r}" if member is not None else f"layer {archive}"
        raise UnsafeLayer(f"cannot unpack {where}: {err}") from err
    finish_dirs(dest, dirs)  # directory modes and times last (see there why)
    return actual


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


# --- a layer's uncompressed bytes, hashed and counted ----------------------------------------
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
GZIP_MAGIC = b"\x1f\x8b"
XZ_MAGIC = b"\xfd7zXZ\x00"
BZIP2_MAGIC = b"BZh"


def _open_decompressed(raw, what: str) -> tuple:
    """A seekable binary file's bytes, decompressed: gzip, zstd (needs the zstandard
    package), or plain tar; and xz and bzip2, which ``docker import`` accepts too.
    Returns the file to read and the errors its decompressor raises on damaged input.

    The compression is read from the first bytes, not from a file name or a
    media type: that is what the bytes say.
    """
    magic = raw.read(6)
    raw.seek(0)
    if magic.startswith(GZIP_MAGIC):
        import gzip
        import zlib
        # Several members are one stream (RFC 1952).  A bad header is an OSError
        # (BadGzipFile), bad data a zlib.error, a stream cut short an EOFError.
        return gzip.GzipFile(fileobj=raw, mode="rb"), (OSError, EOFError, zlib.error)
    if magic.startswith(XZ_MAGIC):
        import lzma
        return lzma.LZMAFile(raw, mode="rb"), (lzma.LZMAError, EOFError)
    if magic.startswith(BZIP2_MAGIC):
        import bz2
        return bz2.BZ2File(raw, mode="rb"), (OSError, EOFError)
    if not magic.startswith(ZSTD_MAGIC):
        return raw, ()  # plain: what goes wrong is the tar's to say
    try:
        import zstandard
    except ImportError:
        raise UnsafeLayer(f"{what} is zstd-compressed: install the zstandard package "
                          "(pip install zstandard) to use it") from None
    # read_across_frames: a layer may be several zstd frames (zstd:chunked writes many).
    # zstandard's own error is no OSError.
    return (zstandard.ZstdDecompressor().stream_reader(raw, closefd=False,
                                                       read_across_frames=True),
            (zstandard.ZstdError,))


class UncompressedStream:
    """A layer's uncompressed bytes as a file to read: each byte read is hashed and counted.

    ``blob`` is a path or a seekable binary file (a member of an archive).
    Reading past ``max_bytes`` raises :class:`LayerTooLarge`, so a decompression
    bomb stops at the limit instead of at a full disk; bytes the decompressor
    cannot make sense of raise :class:`CorruptLayer`.  ``finish()`` reads what
    is left and returns the sha256 of everything: the layer's diff_id.
    ``what`` names the layer in messages; without it, the blob's file name does.
    """

    def __init__(self, blob, max_bytes: int, what: str = ""):
        import hashlib  # OpenSSL's sha256: several times faster on large inputs, releases the GIL
        # The one default for a layer's name in messages: a path's file name, or an open file's.
        self.what = what or f"layer {Path(getattr(blob, 'name', '')).name}"
        self.raw = open(blob, "rb") if isinstance(blob, Path) else blob
        try:
            self.source, self.errors = _open_decompressed(self.raw, self.what)
        except BaseException:
            self.close()
            raise
        self.hasher, self.count = hashlib.sha256(), 0
        self.max_bytes = max_bytes

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` uncompressed bytes, hashed and counted; ``b""`` at the end.

        Without a size, at most 1 MiB, not the rest of the layer as a file's
        ``read()`` would give: the rest may be up to ``max-layer-bytes`` (32 GiB
        by default), far more than memory holds.  Every caller (tarfile,
        :meth:`Store.put_blob_stream`) reads in a loop until ``b""``.
        """
        if size is None or size < 0:
            size = 1 << 20
        try:
            data = self.source.read(min(size, self.max_bytes + 1 - self.count))
        except self.errors as err:
            raise CorruptLayer(f"{self.what} cannot be decompressed, it is damaged or cut "
                               f"short: {str(err) or type(err).__name__}") from err
        self.count += len(data)
        if self.count > self.max_bytes:
            raise LayerTooLarge(f"{self.what} uncompresses to more than {self.max_bytes:,} "
                                "bytes, the limit max-layer-bytes (set it in "
                                "$SANDBOX_ROOT/daemon.json)")
        self.hasher.update(data)
        return data

    def finish(self) -> str:
        while self.read(1 << 20):
            pass
        return "sha256:" + self.hasher.hexdigest()

    def close(self) -> None:
        for f in (getattr(self, "source", None), self.raw):
            if f is not None:
                f.close()

    def __enter__(self) -> "UncompressedStream":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def check_diff_id(blob: Path, diff_id: str, limits: LayerLimits = LayerLimits(),
                  what: str = "", field: str = "") -> None:
    """Refuse a layer blob that does not uncompress to ``diff_id`` (:class:`DiffIdMismatch`),
    or uncompresses to more than ``max-layer-bytes`` (:class:`LayerTooLarge`)."""
    with UncompressedStream(blob, limits.max_bytes, what) as stream:
        actual = stream.finish()
    if actual != diff_id:
        raise mismatch(stream.what, actual, diff_id, field)


def mismatch(what: str, actual: str, expected: str, field: str = "",
             stored: bool = False) -> DiffIdMismatch:
    """The one sentence for a layer that is not what its image's config says it is.

    ``stored``: the layer is already in the store (``save`` found it so), so the
    way out is to fetch the image again; otherwise it was just refused.
    """
    claimed = f"the config's {field}" if field else "its diff_id"
    ending = ("; remove the image with 'sandbox rmi' and pull or load it again" if stored
              else ", and was not kept")
    return DiffIdMismatch(f"{what} uncompresses to {actual}, not to {expected} as {claimed} "
                          f"says: the layer is not what the image claims{ending}")


# --- one entry --------------------------------------------------------------------------------
def _unpack_entry(tar, member, dest: Path, rootless: bool, notices, dirs) -> None:
    """One layer entry: a whiteout or an opaque marker (overlayfs's spelling), or a file."""
    name = clean_name(member.name)
    if not name:
        return  # the root itself ("./")
    parent, base = parent_inside(dest, name, rootless)
    if base == OPAQUE_MARKER:
        _set_opaque(parent, rootless)
        return
    if base.startswith(WHITEOUT_PREFIX):
        hidden = base[len(WHITEOUT_PREFIX):]
        if hidden in ("", ".", ".."):  # ".wh..." would name the directory above dest
            raise UnsafeLayer(f"entry {name!r} is a whiteout that names no file")
        _make_whiteout(parent / hidden, rootless)
        return
    target = parent / base
    # This layer deleted the path from the layers below, then made it again: a
    # directory made again must not show the deleted one's entries through it.
    recreated = _is_whiteout(target)
    image_owner = None if rootless else (lambda m: (m.uid, m.gid))
    write_entry(tar, member, dest, name, target, rootless, notices, dirs, image_owner)
    if recreated and member.isdir():
        _set_opaque(target, rootless)


def parent_inside(dest: Path, name: str, rootless: bool = True) -> tuple[Path, str]:
    """The directory that receives the clean entry ``name``, resolved and made inside ``dest``
    (:func:`secure_join`, links followed inside it), and the entry's last component."""
    parent_rel, _, base = name.rpartition("/")
    try:
        parent = secure_join(dest, parent_rel, follow_last=True)
        _mkdir_inside(dest, parent, rootless)
    except UnsafeLayer as err:
        raise UnsafeLayer(f"entry {name!r}: {err}") from None
    return parent, base


def write_entry(tar, member, dest: Path, name: str, target: Path, rootless: bool, notices,
                dirs, owner=None) -> None:
    """Write one tar entry (a file, directory, link, device or fifo) at ``target``.

    ``target`` is already resolved inside ``dest`` (:func:`parent_inside`);
    whatever is there is replaced, never written through: regular files are
    created with O_EXCL|O_NOFOLLOW, hard links may only point at a file of
    ``dest``.  ``owner(member)`` gives the (uid, gid) to lchown(2) it to, or
    None to leave it to whoever writes.  Directories are only recorded in
    ``dirs``: their modes and times come last (:func:`finish_dirs`).
    ``rootless``: an unprivileged writer, who may make no device nodes and keep
    no setuid bits or file capabilities (each left out is told in ``notices``).
    """
    if target.is_dir() and not target.is_symlink():
        if not member.isdir():
            rmtree(target)
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
            raise UnsafeLayer(f"hard link {name!r} points outside {dest}: {err}") from None
        if not source.is_file() or source.is_symlink():
            raise UnsafeLayer(f"hard link {name!r} points at {member.linkname!r}, "
                              f"which is not a regular file below {dest}")
        os.link(source, target)
    elif member.ischr() or member.isblk() or member.isfifo():
        if rootless and not member.isfifo():
            notices.append(f"skipped device node /{name} (rootless)")
            return
        kind = stat.S_IFCHR if member.ischr() else stat.S_IFBLK if member.isblk() else stat.S_IFIFO
        os.mknod(target, kind | mode, os.makedev(member.devmajor, member.devminor))
    else:
        return  # other types (sparse, GNU extensions) carry no file of their own

    ids = owner(member) if owner else None
    if ids is not None:
        os.lchown(target, *ids)
    if member.isreg():
        _restore_capabilities(member, target, name, rootless, notices)
    if not member.issym() and not member.isdir():  # directories: at the end, see unpack()
        os.chmod(target, mode)
        os.utime(target, (member.mtime, member.mtime))


def finish_dirs(dest: Path, dirs: list[tuple[str, int, float]]) -> None:
    """Give the directories :func:`write_entry` made their modes and times, deepest first.

    Last, because an entry created inside a directory changes its mtime, and a
    rootless user could not create it in a directory that is already read-only
    (0555).  A directory that a later entry replaced, or that is now reached
    through a symbolic link, is skipped: chmod(2) and utime(2) would follow the
    link out of dest.
    """
    for relative, mode, mtime in reversed(dirs):
        if _is_real_dir(dest, relative):
            path = dest / relative
            os.chmod(path, mode)
            os.utime(path, (mtime, mtime), follow_symlinks=False)


def _restore_capabilities(member, target: Path, name: str, rootless: bool, notices) -> None:
    """Set the file capabilities the layer gives a file (``security.capability``).

    After lchown(2), which clears them (capabilities(7)), and after the content is
    written, which clears them too.  Rootless, an unprivileged user may not write
    ``security.*`` attributes, so they are left out, as device nodes are.  No
    other extended attribute is restored: ``trusted.overlay.*`` or ``user.overlay.*``
    would give orders to overlayfs itself, and ``security.selinux`` belongs to the
    host's policy, not to an image.
    """
    value = member.pax_headers.get(PAX_CAPABILITY)
    if value is None:
        return
    if rootless:
        notices.append(f"dropped the file capabilities of /{name} (rootless)")
        return
    # tarfile decodes PAX values as UTF-8 with surrogateescape: this gives back the bytes.
    os.setxattr(target, CAPABILITY_XATTR, value.encode("utf-8", "surrogateescape"),
                follow_symlinks=False)


def _mkdir_inside(root: Path, path: Path, rootless: bool = True) -> None:
    """mkdir -p, refusing to create anything that is not below root.

    A directory this layer whited out and now puts entries in (``.wh.d`` then
    ``d/f``, with no ``d/`` entry) becomes an opaque directory again.
    """
    if path != root and root not in path.parents:
        raise UnsafeLayer(f"{path} is outside the layer root {root}")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        for directory in reversed([path, *path.parents]):
            if root in directory.parents and _is_whiteout(directory):
                directory.unlink()
                directory.mkdir(mode=0o755)
                _set_opaque(directory, rootless)
        path.mkdir(parents=True, exist_ok=True)


def _is_whiteout(path: Path) -> bool:
    """An overlayfs whiteout: a character device with number 0/0 (overlayfs(5))."""
    try:
        st = os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return False
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def _make_whiteout(path: Path, rootless: bool) -> None:
    """``.wh.<name>``: hide ``name`` of the layers below (overlayfs(5): a 0/0 character device).

    Only the layers below (layer.md, "Whiteouts": "Whiteout files MUST only apply
    to resources in lower/parent layers").  This directory holds this one layer
    only, so anything already at ``path`` came from this layer, and stays: a file
    or a link hides the one below by itself; a directory would let the one below
    show through, so it becomes opaque (the one below is gone, its own entries stay).
    umoci, unpacking into one flat directory, does the same: its whiteouts skip the
    paths the layer itself wrote (oci/layer/tar_extract.go, ``upperPaths``).
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0))
        return
    if stat.S_ISDIR(st.st_mode):
        _set_opaque(path, rootless)


def _set_opaque(directory: Path, rootless: bool) -> None:
    """Mark a directory opaque: overlayfs shows none of the lower layers' entries in it.

    As root the attribute is ``trusted.overlay.opaque``; an unprivileged user
    cannot write the trusted namespace, so rootless overlays are mounted with
    ``userxattr`` and read ``user.overlay.opaque`` instead.
    """
    name = "user.overlay.opaque" if rootless else "trusted.overlay.opaque"
    os.setxattr(directory, name, b"y", follow_symlinks=False)


# --- unpacked once, shared by every image with the same diff_id ------------------------------
def unpacked_layer(layers_dir: Path, tmp_dir: Path, diff_id: str, blob: Path,
                   rootless: bool, notices: list[str] | None = None,
                   limits: LayerLimits = LayerLimits(), what: str = "") -> Path:
    """The directory holding this layer unpacked, unpacking it first if needed.

    The layer is unpacked into a scratch directory and renamed into place only
    when complete *and* when what was unpacked hashes to ``diff_id``: the
    directory is found by that name by every image that lists it, so a layer
    that lies about its content must never get it.  A crash never leaves a
    half-unpacked layer either.  If two processes race, the second rename
    fails and its copy is thrown away.  ``what`` names the layer in messages.
    """
    final = layers_dir / hex_part(diff_id)
    if final.exists():
        return final
    ensure(layers_dir)
    scratch = Path(ensure(tmp_dir)) / f"layer-{os.getpid()}-{final.name[:12]}"
    rmtree(scratch)
    scratch.mkdir()
    try:
        unpack(blob, scratch, rootless, notices, limits, what, diff_id)
        os.rename(scratch, final)
    except OSError:
        if not final.exists():
            raise
    finally:
        rmtree(scratch)  # paths.rmtree: a rootless copy may hold read-only directories
    return final
