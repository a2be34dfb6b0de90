"""A container's changes: what its writable layer holds, as ``docker diff`` and as a new layer.

Everything a container writes lands in its overlay's upper directory; the
image's layers below are never touched.  Reading the upper directory
therefore tells exactly what changed, and the upper directory, turned back
into a tar archive, is a new layer (``docker commit``).

overlayfs records a deletion as a *whiteout*; a layer tar records it as a
``.wh.`` file (OCI image spec, layer.md).  This module translates back:

    overlayfs upper directory                 OCI layer tar
    ──────────────────────────────────────    ───────────────────────
    name: character device 0/0                .wh.name
    dir with xattr overlay.opaque = "y"       dir/ and dir/.wh..wh..opq
"""

from __future__ import annotations

import os
import stat
import tarfile
from pathlib import Path

from .layers import OPAQUE_MARKER, WHITEOUT_PREFIX

OPAQUE_XATTRS = ("trusted.overlay.opaque", "user.overlay.opaque")


def is_whiteout(st: os.stat_result) -> bool:
    """overlayfs's mark for a deleted file: a character device with device number 0/0."""
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def is_opaque(path: Path) -> bool:
    """True if overlayfs hides every lower entry of this directory (it was deleted and remade)."""
    for name in OPAQUE_XATTRS:
        try:
            if os.getxattr(path, name, follow_symlinks=False) == b"y":
                return True
        except OSError:
            continue
    return False


def _walk(upper: Path):
    """Every path in the upper directory, parents before children, sorted: (relative, stat)."""
    for directory, dirs, files in os.walk(upper):
        dirs.sort()
        base = Path(directory)
        for name in sorted(dirs + files):
            path = base / name
            yield path.relative_to(upper), path, os.lstat(path)


def _hides_below(layer: Path, relative: Path) -> bool:
    """Does this layer hide, at ``relative``, whatever the layers below it have?

    It does when one of the path's parents is, in this layer, not a directory
    (a whiteout, a file, a link) or an opaque directory (overlayfs(5),
    "whiteouts and opaque directories").
    """
    for parent in reversed(relative.parents[:-1]):  # "a", then "a/b", ...
        try:
            st = os.lstat(layer / parent)
        except FileNotFoundError:
            return False
        if not stat.S_ISDIR(st.st_mode) or is_opaque(layer / parent):
            return True
    return False


def _in_lower(relative: Path, upper: Path, lower_dirs: list[str]) -> bool:
    """Does the image below the upper directory show this path?

    The topmost layer that has the path decides; a layer that hides the
    path's parents (see :func:`_hides_below`) ends the search.
    """
    if _hides_below(upper, relative):
        return False
    for layer in map(Path, lower_dirs):
        try:
            st = os.lstat(layer / relative)
        except (FileNotFoundError, NotADirectoryError):  # a parent is missing or a file
            if _hides_below(layer, relative):
                return False
            continue
        return not is_whiteout(st)
    return False


def diff(upper: Path, lower_dirs: list[str]) -> list[tuple[str, str]]:
    """``docker diff``: (kind, path) with A added, C changed, D deleted, sorted by path."""
    result = []
    for relative, path, st in _walk(upper):
        shown = "/" + str(relative)
        if is_whiteout(st):
            result.append(("D", shown))
        elif _in_lower(relative, upper, lower_dirs):
            result.append(("C", shown))
        else:
            result.append(("A", shown))
    return sorted(result, key=lambda change: change[1])


def layer_tar(upper: Path, output, rootless: bool) -> None:
    """Write the upper directory as an OCI layer tar to the binary file ``output``.

    Rootless, the files on disk belong to the user, who is uid 0 inside the
    container: they are recorded as owned by 0:0, which is what the container saw.
    """
    def owner(info: tarfile.TarInfo) -> tarfile.TarInfo:
        if rootless:
            info.uid = info.gid = 0
        info.uname = info.gname = ""
        return info

    with tarfile.open(fileobj=output, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        for relative, path, st in _walk(upper):
            parent = relative.parent
            if is_whiteout(st):
                entry = tarfile.TarInfo(str(parent / (WHITEOUT_PREFIX + relative.name)))
                entry.mtime = int(st.st_mtime)
                tar.addfile(owner(entry))
                continue
            info = owner(tar.gettarinfo(str(path), arcname=str(relative)))
            if info.isreg():
                with open(path, "rb") as f:
                    tar.addfile(info, f)
            else:
                tar.addfile(info)
            if info.isdir() and is_opaque(path):
                marker = tarfile.TarInfo(str(relative / OPAQUE_MARKER))
                marker.mtime = int(st.st_mtime)
                tar.addfile(owner(marker))
