"""COPY and ADD: read the files a step copies, checksum them, and write the layer they make.

    sources                                   the layer                the image below (target)
    ──────────────────────────────────        ──────────────────       ─────────────────────────
    build context  (ContextTree, seen  ─┐     usr/                ◀──  existing parents: their
      through .dockerignore)            │     usr/src/                 own mode and owner
    a stage or image (LayeredTree, its ─┼──▶  usr/src/app/        ◀──  missing ones: 0755
      unpacked layers, not mounted)     │     usr/src/app/main.py      the copied files
    a URL (ADD: download)              ─┘

A COPY step changes the image only by the files it writes, so its layer is
written straight from the sources, as a tar (OCI image spec, layer.md):
nothing is mounted and nothing runs, so no privilege is needed.  The owners
are *recorded* in the tar; no file on disk is ever chowned.

Docker's rules (the Dockerfile reference, "COPY" and "ADD"; BuildKit
``frontend/dockerfile/dockerfile2llb/convert_copy.go``, and the copier it
drives, tonistiigi/fsutil ``copy/copy.go``):

    DEST                   a relative DEST is joined to WORKDIR; one ending in / (or .) names
                           a directory; missing directories on the way are made (0755)
    SRC a directory        its *contents* are copied into DEST, never the directory itself
    SRC a file             DEST/<name> if DEST names a directory or is one in the image,
                           else DEST itself
    several SRC, or a      DEST must be a directory: "When using COPY with more than one
      wildcard matching    source file, the destination must be a directory and end with a /"
      several paths
    SRC a symbolic link    followed (the source itself only); links below it stay links
    owners                 --chown, else 0:0; COPY --from keeps the stage's owners
    ADD of a tar archive   extracted into DEST (plain, gzip, bzip2, xz: told by the bytes)
    ADD of a URL           downloaded, 0600, never extracted

Every path is resolved *inside* its tree (:func:`sandbox.paths.resolve_links`):
a link in the context or in an image never leads to the host's files.  Hard
links among the sources are written as separate files (their content is
the same; only the shared inode is not kept), and sockets are left out: a
tar cannot hold one.

The cache key of a COPY is :func:`checksum` of its sources: names, types,
modes, owners, link targets and content, never times, so that ``touch`` of
an unchanged file keeps the cache, as BuildKit's ``cache/contenthash`` does.
"""

from __future__ import annotations

import hashlib
import os
import posixpath
import stat
import tarfile
import time
from dataclasses import dataclass
from pathlib import Path

from ..content.changes import is_opaque, is_whiteout
from ..content.layers import (WHITEOUT_PREFIX, LayerTooLarge, UncompressedStream, UnsafeLayer,
                              clean_name)
from ..content.settings import LayerLimits
from ..errors import SandboxError
from ..paths import is_root, resolve_links
from .dockerignore import Matcher
from .pathmatch import BadPattern, filepath_match, has_wildcards

CHUNK = 1 << 20
NEW_DIR_MODE = 0o755       # what a missing directory on the way to DEST is made with
DOWNLOAD_MODE = 0o600      # an ADDed URL's mode, unless --chmod
MAX_USER_FILE = 10 << 20   # /etc/passwd and /etc/group are read up to this (BuildKit's limit)


class CopyError(SandboxError):
    """A COPY or ADD that Docker's rules refuse, or whose source cannot be read."""

    exit_code = 1


def _clean(path: str) -> str:
    """A path inside a tree, relative, without ``.``, ``..`` or a trailing ``/``; "" is its root.

    ``..`` stops at the root: ``COPY ../x`` copies the context's ``x``, as Docker does.
    """
    return posixpath.normpath("/" + path).lstrip("/")


def _join(*parts: str) -> str:
    return "/".join(p for p in parts if p)


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except (FileNotFoundError, NotADirectoryError):
        return None


# --- two trees, read the same way ---------------------------------------------------------
class _Tree:
    """What COPY reads: paths relative to the tree's root, ``""`` being the root.

    ``lstat``, ``listdir`` and ``real_path`` take *physical* paths: every
    parent must be a directory, a symbolic link on the way is not followed
    (that is :meth:`resolve`'s work), so nothing outside the tree is reached.
    """

    def lstat(self, rel: str) -> os.stat_result | None:
        raise NotImplementedError

    def real_path(self, rel: str) -> Path | None:
        raise NotImplementedError

    def owner(self, st: os.stat_result) -> tuple[int, int]:
        """The owner the image gives this file (as uid, gid)."""
        raise NotImplementedError

    def listdir(self, rel: str) -> list[str]:
        raise NotImplementedError

    def readlink(self, rel: str) -> str:
        return os.readlink(self.real_path(rel))

    def resolve(self, rel: str, follow_last: bool = True) -> str:
        """``rel`` with every symbolic link on the way followed inside the tree."""
        def link_at(parts: list[str]) -> str | None:
            path = "/".join(parts)
            st = self.lstat(path)
            return self.readlink(path) if st is not None and stat.S_ISLNK(st.st_mode) else None
        return "/".join(resolve_links(rel, link_at, follow_last))

    def glob(self, pattern: str) -> list[str]:
        """The paths matching ``pattern``, one Go ``filepath.Match`` per name, sorted.

        As BuildKit's ``ResolveWildcards``: the names before the first wildcard
        are resolved (links followed), then the tree below is walked, and a
        matching directory is not looked into.
        """
        parts = _clean(pattern).split("/") if _clean(pattern) else []
        fixed = []
        while parts and not has_wildcards(parts[0]):
            fixed.append(parts.pop(0))
        if not parts:
            path = "/".join(fixed)
            return [path] if self.lstat(self.resolve(path)) is not None else []
        base, rest, found = self.resolve("/".join(fixed)), "/".join(parts), []

        def walk(below: str, depth: int) -> None:
            for name in self.listdir(_join(base, below)):
                rel = _join(below, name)
                st = self.lstat(_join(base, rel))
                if filepath_match(rest, rel):
                    found.append(_join(base, rel))
                elif depth < len(parts) and stat.S_ISDIR(st.st_mode):
                    walk(rel, depth + 1)

        st = self.lstat(base)
        if st is not None and stat.S_ISDIR(st.st_mode):
            walk("", 1)
        return sorted(found)


class ContextTree(_Tree):
    """The build context, as ``.dockerignore`` lets the build see it.

    An excluded file does not exist here.  An excluded directory does only
    when an exception (``!dir/keep``) brings back something below it, and
    then it holds only what was brought back, as BuildKit sends it.
    """

    def __init__(self, root: Path, matcher: Matcher):
        self.root = Path(root)
        self.matcher = matcher
        self._stats: dict[str, os.stat_result | None] = {}

    def lstat(self, rel: str) -> os.stat_result | None:
        rel = _clean(rel)
        st = self._on_disk(rel)
        if st is None or not rel or not self.matcher.excluded(rel):
            return st
        if stat.S_ISDIR(st.st_mode) and self.matcher.may_include_below(rel):
            if any(self.lstat(_join(rel, name)) is not None for name in os.listdir(self.root / rel)):
                return st  # it holds something an exception brings back
        return None

    def _on_disk(self, rel: str) -> os.stat_result | None:
        """The file at ``rel`` if every directory on the way is one (not a link): a physical path."""
        if rel not in self._stats:
            parent = self._on_disk(posixpath.dirname(rel)) if rel else None
            if not rel:
                self._stats[rel] = os.stat(self.root)  # the context may be reached by a link
            elif parent is None or not stat.S_ISDIR(parent.st_mode):
                self._stats[rel] = None
            else:
                self._stats[rel] = _lstat(self.root / rel)
        return self._stats[rel]

    def listdir(self, rel: str) -> list[str]:
        rel = _clean(rel)
        st = self.lstat(rel)
        if st is None or not stat.S_ISDIR(st.st_mode):
            return []
        return sorted(n for n in os.listdir(self.root / rel) if self.lstat(_join(rel, n)))

    def real_path(self, rel: str) -> Path | None:
        rel = _clean(rel)
        return self.root / rel if self.lstat(rel) is not None else None

    def owner(self, st: os.stat_result) -> tuple[int, int]:
        return 0, 0  # the context's files are the builder's, not the image's: Docker gives 0:0


class LayeredTree(_Tree):
    """An image's (or a stage's) files, read from its unpacked layers, topmost first.

    What overlayfs(5) would show, worked out without mounting:

        layer 2 (top)   etc/app.conf           whiteout (char 0/0): gone below
        layer 1         etc/ (opaque)           nothing of layer 0's etc/ shows
        layer 0         etc/passwd  bin/sh      bin/sh shows: nothing above hides it

    The topmost layer that has a path decides what it is; a directory merges
    with the directories below it until one is opaque, or a layer has a
    non-directory there.  ``rootless``: the layers were unpacked by the
    caller, so the caller's uid and gid stand for the image's root (as
    :func:`sandbox.content.changes.layer_tar` records them).
    """

    def __init__(self, lower_dirs: list[str], rootless: bool | None = None):
        self.layers = [Path(d) for d in lower_dirs]
        self.rootless = (not is_root()) if rootless is None else rootless
        self._merged: dict[str, list[Path]] = {"": self.layers}
        self._found: dict[str, Path | None] = {}

    def _merged_dirs(self, rel: str) -> list[Path]:
        """The layers whose directory ``rel`` shows through, topmost first ([] if not a directory)."""
        if rel not in self._merged:
            layers = []
            for layer in self._merged_dirs(posixpath.dirname(rel)):
                st = _lstat(layer / rel)
                if st is None:
                    continue
                if not stat.S_ISDIR(st.st_mode):
                    break  # a file, a link or a whiteout hides every layer below
                layers.append(layer)
                if is_opaque(layer / rel):
                    break
            self._merged[rel] = layers
        return self._merged[rel]

    def real_path(self, rel: str) -> Path | None:
        rel = _clean(rel)
        if not rel:
            return self.layers[0] if self.layers else None
        if rel not in self._found:
            self._found[rel] = None
            for layer in self._merged_dirs(posixpath.dirname(rel)):
                st = _lstat(layer / rel)
                if st is not None:
                    self._found[rel] = None if is_whiteout(st) else layer / rel
                    break
        return self._found[rel]

    def lstat(self, rel: str) -> os.stat_result | None:
        path = self.real_path(rel)
        return os.lstat(path) if path is not None else None

    def listdir(self, rel: str) -> list[str]:
        rel = _clean(rel)
        names = set()
        for layer in self._merged_dirs(rel):
            names.update(os.listdir(layer / rel))
        return sorted(n for n in names if self.real_path(_join(rel, n)) is not None)

    def owner(self, st: os.stat_result) -> tuple[int, int]:
        uid, gid = st.st_uid, st.st_gid
        if self.rootless:
            uid = 0 if uid == os.geteuid() else uid
            gid = 0 if gid == os.getegid() else gid
        return uid, gid


# --- what a source names ------------------------------------------------------------------
def expand(tree: _Tree, source: str, where: str = "the build context") -> list[str]:
    """The paths a COPY source names: itself, or what its wildcard matches.

    A source that names nothing is an error, as in Docker:
    ``"missing.txt": not found in the build context``.
    """
    path = _clean(source)
    try:
        found = tree.glob(path) if has_wildcards(path) else (
            [path] if tree.lstat(tree.resolve(path)) is not None else [])
    except BadPattern as err:
        raise CopyError(f'"{source}": {err}') from None
    if not found:
        raise CopyError(f'"{source}": not found in {where}')
    return found


def _walk(tree: _Tree, top: str):
    """``top`` and, if it is a directory, everything below it: (path below top, stat), sorted,
    parents first.  Links below top are not followed."""
    st = tree.lstat(top)
    yield "", st
    if stat.S_ISDIR(st.st_mode):
        for name in tree.listdir(top):
            for below, child in _walk(tree, _join(top, name)):
                yield _join(name, below), child


# --- the cache key ------------------------------------------------------------------------
def checksum(tree: _Tree, sources: list[str], follow_links: bool = True,
             where: str = "the build context") -> str:
    """``sha256:<hex>`` over every path the sources match, recursively.

    Each path counts by its name, type, permission bits (setuid too), owner
    (from an image; the context's files become 0:0 whatever they are),
    link target and the sha256 of its content.  Not its mtime nor its inode:
    ``touch`` or a fresh checkout keeps the cache.
    """
    digest = hashlib.sha256()
    for source in sources:
        for path in expand(tree, source, where):
            top = tree.resolve(path, follow_last=follow_links)
            for below, st in _walk(tree, top):
                digest.update(_record(tree, _join(path, below) or ".", _join(top, below), st))
    return "sha256:" + digest.hexdigest()


def _record(tree: _Tree, name: str, physical: str, st: os.stat_result) -> bytes:
    """One path's line in the checksum."""
    mode = st.st_mode
    uid, gid = tree.owner(st)
    if stat.S_ISREG(mode):
        extra = _content_digest(tree.real_path(physical))
    elif stat.S_ISLNK(mode):
        extra = tree.readlink(physical)
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        extra = f"{os.major(st.st_rdev)},{os.minor(st.st_rdev)}"
    else:
        extra = ""
    kind = stat.S_IFMT(mode)
    line = f"{name}\0{kind:o}\0{stat.S_IMODE(mode):o}\0{uid}\0{gid}\0{extra}\n"
    return line.encode("utf-8", "surrogateescape")


def _content_digest(path: Path) -> str:
    digest = hashlib.sha256()
    with _open_source(path) as f:
        while chunk := f.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _open_source(path: Path):
    """A source file, opened for reading without following a link swapped in meanwhile."""
    try:
        return os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC), "rb")
    except OSError as err:
        raise CopyError(f"cannot read {path}: {err.strerror}") from None


# --- --chown by name ----------------------------------------------------------------------
def resolve_chown(spec: str, target: _Tree | None) -> tuple[int, int]:
    """``--chown=user[:group]`` as numbers: names are looked up in the image's own
    ``/etc/passwd`` and ``/etc/group``, never the host's.

    A user alone gives its group from passwd (a number alone: the same number
    as gid), as BuildKit's ``readUser`` does.
    """
    user, _, group = spec.partition(":")
    if not user:
        raise CopyError(f"--chown={spec}: a user is needed before the ':'")
    if user.isdigit():
        uid = gid = int(user)
    else:
        fields = _lookup(target, "etc/passwd", user, numbers=2)
        if fields is None:
            raise CopyError(f"unable to find user {user}: no matching entries in passwd file")
        uid, gid = int(fields[2]), int(fields[3])
    if group:
        if group.isdigit():
            gid = int(group)
        else:
            fields = _lookup(target, "etc/group", group, numbers=1)
            if fields is None:
                raise CopyError(f"unable to find group {group}: no matching entries in "
                                "group file")
            gid = int(fields[2])
    return uid, gid


def _lookup(target: _Tree | None, database: str, name: str, numbers: int) -> list[str] | None:
    """The fields of ``name``'s line in the image's passwd or group file, or None.

    The line must have ``numbers`` numeric fields after the password (uid and
    gid in passwd, gid in group), or it is no entry.
    """
    path = target.real_path(target.resolve(database)) if target is not None else None
    if path is None or not stat.S_ISREG(os.lstat(path).st_mode):
        return None
    with _open_source(path) as f:
        text = f.read(MAX_USER_FILE).decode("utf-8", "replace")
    for line in text.splitlines():
        fields = line.split(":")
        ids = fields[2:2 + numbers]
        if fields[0] == name and len(ids) == numbers and all(f.isdigit() for f in ids):
            return fields
    return None


# --- ADD of a URL -------------------------------------------------------------------------
@dataclass
class Download:
    """A URL fetched by ADD: the file, the sha256 of its bytes (the step's cache key), and
    the mtime Last-Modified gives it."""

    url: str
    path: Path
    digest: str
    mtime: int
    filename: str


def is_url(source: str) -> bool:
    return source.startswith(("http://", "https://"))


def url_filename(url: str) -> str:
    """The name a URL's file gets in a directory: its path's last name (BuildKit's rule)."""
    from urllib.parse import urlsplit
    base = posixpath.basename(urlsplit(url).path.rstrip("/"))
    return base if base not in ("", ".", "/") else "__unnamed__"


def download(url: str, into: Path, timeout: float = 60) -> Download:
    """Fetch ``url`` into a new file in the directory ``into``, hashing it as it comes.

    urllib, not a library with a pool of threads: the builder's process makes
    user namespaces, which a threaded process cannot.
    """
    import email.utils
    import tempfile
    import urllib.error
    import urllib.request
    digest = hashlib.sha256()
    fd, name = tempfile.mkstemp(dir=into, prefix=".add-")
    try:
        request = urllib.request.Request(url, headers={"User-Agent": "sandbox-build"})
        with os.fdopen(fd, "wb") as f, urllib.request.urlopen(request, timeout=timeout) as reply:
            while chunk := reply.read(CHUNK):
                digest.update(chunk)
                f.write(chunk)
            modified = reply.headers.get("Last-Modified")
    except urllib.error.HTTPError as err:
        os.unlink(name)
        raise CopyError(f"cannot download {url}: the server answered {err.code} "
                        f"{err.reason}") from None
    except (urllib.error.URLError, OSError) as err:
        os.unlink(name)
        reason = getattr(err, "reason", None) or getattr(err, "strerror", None) or err
        raise CopyError(f"cannot download {url}: {reason}") from None
    mtime = int(time.time())
    if modified:
        try:
            mtime = int(email.utils.parsedate_to_datetime(modified).timestamp())
        except (TypeError, ValueError):
            pass  # a Last-Modified no one can read: the file is new, as Docker makes it
    return Download(url, Path(name), "sha256:" + digest.hexdigest(), mtime, url_filename(url))


# --- the layer ----------------------------------------------------------------------------
class _LayerWriter:
    """The layer being written, and the image it will lie on (``target``).

    ``written`` remembers what the layer holds, so that later sources see the
    earlier ones (a directory made by the first, a link it wrote) as the
    image will.
    """

    def __init__(self, out, target: _Tree | None, new_owner: tuple[int, int]):
        self.tar = tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT)
        self.target = target
        self.new_owner = new_owner  # of the directories this layer makes on the way
        self.written: dict[str, tarfile.TarInfo] = {}
        self.count = 0
        self.now = int(time.time())

    def _below(self, path: str) -> os.stat_result | None:
        return self.target.lstat(path) if self.target is not None else None

    def kind(self, path: str) -> str | None:
        """"dir", "other" or None: what the image shows at ``path`` once this layer is on it."""
        if not path:
            return "dir"
        info = self.written.get(path)
        if info is not None:
            return "dir" if info.isdir() else "other"
        st = self._below(path)
        return None if st is None else "dir" if stat.S_ISDIR(st.st_mode) else "other"

    def resolve(self, path: str) -> str:
        """``path`` with the links of the image (and of this layer) followed inside it."""
        def link_at(parts: list[str]) -> str | None:
            rel = "/".join(parts)
            info = self.written.get(rel)
            if info is not None:
                return info.linkname if info.issym() else None
            st = self._below(rel)
            if st is not None and stat.S_ISLNK(st.st_mode):
                return self.target.readlink(rel)
            return None
        return "/".join(resolve_links(path, link_at, follow_last=True))

    def ensure_dir(self, path: str) -> None:
        """Make ``path`` a directory in the layer, with its parents.

        A directory the image has is written with its own mode, owner and
        time, so that this layer does not change it; a missing one is made
        0755 (BuildKit's ``MkdirAll``), owned by --chown or root.
        """
        parts = path.split("/") if path else []
        for i in range(1, len(parts) + 1):
            sub = "/".join(parts[:i])
            kind = self.kind(sub)
            if kind == "other":
                raise CopyError(f"cannot copy to /{path}: /{sub} is not a directory")
            if sub in self.written:
                continue
            st = self._below(sub)
            if st is not None:
                self.add(_tar_info(sub, st, self.target.owner(st), None, self.target, sub))
            else:
                info = tarfile.TarInfo(sub)
                info.type, info.mode, info.mtime = tarfile.DIRTYPE, NEW_DIR_MODE, self.now
                info.uid, info.gid = self.new_owner
                self.add(info)

    def add(self, info: tarfile.TarInfo, content=None) -> None:
        if posixpath.basename(info.name).startswith(WHITEOUT_PREFIX):
            raise CopyError(f"cannot copy to /{info.name}: a layer reads a name starting with "
                            f"{WHITEOUT_PREFIX} as a deletion (OCI image spec, layer.md)")
        earlier = self.written.get(info.name)
        if info.isdir() and earlier is not None and earlier.isdir():
            return  # once is enough: a second entry for a directory would change nothing
        self.tar.addfile(info, content)
        self.written[info.name] = info
        self.count += 1

    def close(self) -> None:
        self.tar.close()


def _tar_info(name: str, st: os.stat_result, owner: tuple[int, int], chmod: int | None,
              tree: _Tree, physical: str) -> tarfile.TarInfo | None:
    """The tar header for the file ``physical`` of ``tree``, copied to ``name``; None for
    a socket, which a tar cannot hold."""
    info = tarfile.TarInfo(name)
    mode = st.st_mode
    info.mode = stat.S_IMODE(mode) if chmod is None else chmod
    if stat.S_ISDIR(mode):
        info.type = tarfile.DIRTYPE
    elif stat.S_ISREG(mode):
        info.type, info.size = tarfile.REGTYPE, st.st_size
    elif stat.S_ISLNK(mode):
        info.type, info.linkname, info.mode = tarfile.SYMTYPE, tree.readlink(physical), 0o777
    elif stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        info.type = tarfile.CHRTYPE if stat.S_ISCHR(mode) else tarfile.BLKTYPE
        info.devmajor, info.devminor = os.major(st.st_rdev), os.minor(st.st_rdev)
    elif stat.S_ISFIFO(mode):
        info.type = tarfile.FIFOTYPE
    else:
        return None
    info.uid, info.gid = owner
    info.mtime = int(st.st_mtime)
    return info


@dataclass
class _Options:
    chown: tuple[int, int] | None
    chmod: int | None
    keep_owner: bool

    def owner(self, tree: _Tree, st: os.stat_result) -> tuple[int, int]:
        if self.chown is not None:
            return self.chown
        return tree.owner(st) if self.keep_owner else (0, 0)


def write_copy_layer(out, tree: _Tree, sources: list, dest: str, *, workdir: str,
                     target: LayeredTree | None, chown: tuple[int, int] | None,
                     chmod: int | None, keep_owner: bool, add: bool, where: str) -> int:
    """Write the layer of one COPY or ADD as an uncompressed tar to the binary file ``out``.

    ``sources`` are paths of ``tree`` (wildcards allowed) and, for ADD, URLs
    or :class:`Download` s already fetched.  ``target`` is the image the layer
    will lie on (None: scratch); ``where`` names ``tree`` in messages ("the
    build context", "stage builder").  Returns the number of entries written.
    """
    verb = "ADD" if add else "COPY"
    names_dir = dest.endswith("/") or dest in ("", ".")  # BuildKit's test, to the letter
    destination = _clean(posixpath.join("/", workdir or "/", dest))
    items: list[tuple[str, object]] = []  # ("path", a path of tree) or ("url", URL or Download)
    for source in sources:
        if isinstance(source, Download) or (add and is_url(source)):
            items.append(("url", source))
        elif is_url(source):
            raise CopyError(f"source can't be a URL for COPY: {source} (use ADD, or RUN curl)")
        else:
            items.extend(("path", path) for path in expand(tree, source, where))
    options = _Options(chown, chmod, keep_owner)
    writer = _LayerWriter(out, target, chown or (0, 0))
    try:
        destination = writer.resolve(destination)
        if len(items) > 1 and not names_dir and writer.kind(destination) != "dir":
            raise CopyError(f"When using {verb} with more than one source file, the "
                            f"destination must be a directory and end with a /: {dest}")
        for kind, item in items:
            if kind == "path":
                _copy_path(writer, tree, item, destination, names_dir, options, add)
            else:
                _copy_url(writer, item, destination, names_dir, options)
    finally:
        writer.close()
    return writer.count


def _copy_path(writer: _LayerWriter, tree: _Tree, path: str, dest: str, names_dir: bool,
               options: _Options, add: bool) -> None:
    """One matched source path: a directory's contents, an archive (ADD), or one file."""
    top = tree.resolve(path)  # the source itself is followed if it is a link
    st = tree.lstat(top)
    if stat.S_ISDIR(st.st_mode):
        if writer.kind(dest) == "other":
            raise CopyError(f"cannot copy to non-directory: /{dest}")
        writer.ensure_dir(dest)
        for below, child in _walk(tree, top):
            if below:
                _copy_entry(writer, tree, _join(top, below), child, _join(dest, below), options)
        return
    if add and stat.S_ISREG(st.st_mode) and _is_archive(tree.real_path(top)):
        _extract(writer, tree.real_path(top), path, dest, options.chown)
        return
    final = dest
    if names_dir or writer.kind(dest) == "dir":
        final = _join(dest, posixpath.basename(path))  # the name it has in the source
    writer.ensure_dir(posixpath.dirname(final))
    _copy_entry(writer, tree, top, st, final, options)


def _copy_entry(writer: _LayerWriter, tree: _Tree, physical: str, st: os.stat_result,
                name: str, options: _Options) -> None:
    """One file, directory or link of the source, written at ``name``."""
    is_dir, there = stat.S_ISDIR(st.st_mode), writer.kind(name)
    if is_dir and there == "other":
        raise CopyError(f"cannot copy to non-directory: /{name}")
    if not is_dir and there == "dir":
        raise CopyError(f"cannot replace to directory /{name} with file (a directory of "
                        "that name is already in the image)")
    chmod = None if stat.S_ISLNK(st.st_mode) else options.chmod
    info = _tar_info(name, st, options.owner(tree, st), chmod, tree, physical)
    if info is None:
        return
    if info.isreg():
        with _open_source(tree.real_path(physical)) as f:
            writer.add(info, f)
    else:
        writer.add(info)


def _copy_url(writer: _LayerWriter, item, dest: str, names_dir: bool,
              options: _Options) -> None:
    """ADD of a URL: the downloaded file, at DEST or DEST/<its name>, 0600, never extracted."""
    import tempfile
    if isinstance(item, Download):
        _write_download(writer, item, dest, names_dir, options)
        return
    with tempfile.TemporaryDirectory(prefix="sandbox-add-") as scratch:
        _write_download(writer, download(item, Path(scratch)), dest, names_dir, options)


def _write_download(writer: _LayerWriter, got: Download, dest: str, names_dir: bool,
                    options: _Options) -> None:
    final = _join(dest, got.filename) if names_dir or writer.kind(dest) == "dir" else dest
    writer.ensure_dir(posixpath.dirname(final))
    if writer.kind(final) == "dir":
        raise CopyError(f"cannot replace to directory /{final} with file {got.url}")
    info = tarfile.TarInfo(final)
    info.size = got.path.stat().st_size
    info.mode = DOWNLOAD_MODE if options.chmod is None else options.chmod
    info.uid, info.gid = options.chown or (0, 0)
    info.mtime = got.mtime
    with open(got.path, "rb") as f:
        writer.add(info, f)


# --- ADD of a local archive ---------------------------------------------------------------
def _is_archive(path: Path) -> bool:
    """Is this file a tar archive, plain or compressed?  Its bytes say, not its name
    (BuildKit's ``isArchivePath``: it is one if a first tar header can be read)."""
    try:
        with UncompressedStream(path, LayerLimits().max_bytes) as stream:
            with tarfile.open(fileobj=stream, mode="r|") as tar:
                return tar.next() is not None
    except (tarfile.TarError, SandboxError, OSError, EOFError):
        return False


def _extract(writer: _LayerWriter, archive: Path, shown: str, dest: str,
             chown: tuple[int, int] | None) -> None:
    """ADD of a tar: its entries, into DEST, as ``tar -x`` would leave them there.

    The archive is as untrusted as a layer (:mod:`sandbox.content.layers`):
    no name may climb out with ``..``, a hard link must point at an earlier
    entry, and it is read under the layer limits.  Its owners are kept
    unless --chown (Docker's ``Untar``); its ``.wh.`` files are not whiteouts
    here, and a layer cannot hold a file of that name, so they are left out.
    """
    limits = LayerLimits()
    writer.ensure_dir(dest)
    seen: dict[str, str] = {}
    member = None
    try:
        with UncompressedStream(archive, limits.max_bytes, f"archive {shown}") as stream, \
                tarfile.open(fileobj=stream, mode="r|") as tar:
            for count, member in enumerate(tar, 1):
                if count > limits.max_entries:
                    raise LayerTooLarge(f"archive {shown} holds more than "
                                        f"{limits.max_entries:,} entries")
                _extract_entry(writer, tar, member, dest, chown, seen)
    except UnsafeLayer as err:
        entry = f", entry {member.name!r}" if member is not None else ""
        raise CopyError(f"cannot ADD archive {shown}{entry}: {err}") from None
    except (tarfile.TarError, OSError, EOFError) as err:
        raise CopyError(f"cannot ADD archive {shown}: it is damaged or cut short ({err})") from None


def _extract_entry(writer: _LayerWriter, tar, member, dest: str,
                   chown: tuple[int, int] | None, seen: dict[str, str]) -> None:
    name = clean_name(member.name.lstrip("/"))  # "/etc/x" is DEST/etc/x, as tar -x makes it
    parent, _, base = name.rpartition("/")
    if not name or base.startswith(WHITEOUT_PREFIX):
        return
    if not (member.isdir() or member.isreg() or member.issym() or member.islnk()
            or member.ischr() or member.isblk() or member.isfifo()):
        return  # other types (GNU sparse, volume headers) carry no file of their own
    where = writer.resolve(_join(dest, parent))  # links of the image, followed inside it
    writer.ensure_dir(where)
    path = _join(where, base)
    if not member.isdir() and writer.kind(path) == "dir":
        raise UnsafeLayer(f"it would replace the directory /{path} with a file")
    info = tarfile.TarInfo(path)
    info.type, info.mode, info.mtime = member.type, member.mode & 0o7777, int(member.mtime)
    info.uid, info.gid = chown or (member.uid, member.gid)
    info.linkname, info.devmajor, info.devminor = member.linkname, member.devmajor, member.devminor
    if member.islnk():
        linked = seen.get(clean_name(member.linkname.lstrip("/")))
        if linked is None:
            raise UnsafeLayer(f"hard link {member.name!r} points at {member.linkname!r}, "
                              "which is no earlier entry of the archive")
        info.linkname = linked
    seen[name] = path
    if member.isreg():
        info.size = member.size
        writer.add(info, tar.extractfile(member))
    else:
        writer.add(info)
