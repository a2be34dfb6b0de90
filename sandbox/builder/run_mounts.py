"""RUN --mount: what a RUN step may see besides the image, and never keeps.

BuildKit lets one RUN mount, for the time of that command only:

    --mount=type=cache,target=/root/.cache     a directory that outlives builds (a package
                                               cache): under the state root, build-cache/mounts/
    --mount=type=tmpfs,target=/scratch         an empty tmpfs
    --mount=type=bind,source=x,target=/src     files of the context (or ``from=`` a stage or
                                               an image), read-only unless ``rw``; writes to
                                               an ``rw`` bind are thrown away
    --mount=type=secret / ssh                  not supported here: refused, with the reason

None of it is part of the step's layer: the mounts sit above the overlay, and
what lands in them is not in the upper directory.  A bind mount's files are
copied to a scratch directory first, so the step sees the context as the
``.dockerignore`` filters it, and a ``from=`` stage whose files lie in several
layers appears as one directory.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import stat
from pathlib import Path

from ..errors import UsageError
from ..isolation.mounts import parse_all
from ..paths import ensure, rmtree


@contextlib.contextmanager
def run_mounts(stage_build, command):
    """The mounts of ``command`` (a RUN) as ``create_container`` takes them; scratch
    directories are removed on leaving."""
    scratch: list[Path] = []
    try:
        specs = [_mount(stage_build, m, scratch, command) for m in command.mounts]
        yield parse_all(mount=[s for s in specs if s])
    finally:
        for directory in scratch:
            rmtree(directory)


def _mount(stage_build, mount: dict, scratch: list[Path], command) -> str | None:
    kind = mount.get("type") or "bind"
    target = mount.get("target")
    if not target:
        raise UsageError("RUN --mount needs a target")
    target = os.path.join(stage_build.inner.get("WorkingDir") or "/", target)
    if kind == "cache":
        return f"type=bind,source={_cache_dir(stage_build, mount, target)},target={target}"
    if kind == "tmpfs":
        extra = f",tmpfs-size={mount['size']}" if mount.get("size") else ""
        return f"type=tmpfs,target={target}{extra}"
    if kind == "bind":
        copy = _materialized(stage_build, mount, scratch, command)
        ro = ",readonly" if mount.get("readonly", True) else ""  # BuildKit: read-only by default
        return f"type=bind,source={copy},target={target}{ro}"
    if kind in ("secret", "ssh"):
        if str(mount.get("required", "")).lower() in ("false", "") and kind == "secret":
            return None  # an optional secret that is not there: the step runs without it
        raise UsageError(f"RUN --mount=type={kind} is not supported by sandbox build "
                         "(it has no --secret or --ssh flag)")
    raise UsageError(f"RUN --mount: unknown mount type {kind!r}: bind, cache, tmpfs")


def _cache_dir(stage_build, mount: dict, target: str) -> Path:
    """A cache mount's directory, one per ``id`` (the target by default)."""
    name = hashlib.sha256((mount.get("id") or target).encode()).hexdigest()[:32]
    directory = ensure(stage_build.build.root / "build-cache" / "mounts" / name)
    return directory


def _materialized(stage_build, mount: dict, scratch: list[Path], command) -> Path:
    """A bind mount's source, copied out of the context or a stage into a scratch directory."""
    from .copy_step import source_tree
    tree, _, _ = source_tree(stage_build, mount.get("from"), command)
    root = stage_build.build.root / "tmp" / f"build-{os.getpid()}-mount-{os.urandom(4).hex()}"
    scratch.append(root)
    ensure(root)
    source = (mount.get("source") or "").strip("/")
    found = tree.lstat(source or ".")
    if found is None:
        raise UsageError(f"RUN --mount source {mount.get('source')!r}: not found")
    if stat.S_ISDIR(found.st_mode):
        _copy_tree(tree, source, root)
        return root
    shutil.copy2(tree.real_path(source), root / "file")
    return root / "file"


def _copy_tree(tree, rel: str, dest: Path) -> None:
    for name in tree.listdir(rel or "."):
        child = f"{rel}/{name}" if rel else name
        st = tree.lstat(child)
        if st is None:
            continue
        if stat.S_ISDIR(st.st_mode):
            os.mkdir(dest / name, 0o755)
            _copy_tree(tree, child, dest / name)
        elif stat.S_ISLNK(st.st_mode):
            os.symlink(tree.readlink(child), dest / name)
        elif stat.S_ISREG(st.st_mode):
            shutil.copy2(tree.real_path(child), dest / name)
