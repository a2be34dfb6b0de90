"""Where the sandbox keeps its state: one root directory for everything.

    $SANDBOX_ROOT                      (root: /var/lib/sandbox; rootless: $XDG_DATA_HOME/sandbox)
    ├── oci/                           the image store, an OCI image layout
    │   ├── oci-layout, index.json
    │   └── blobs/sha256/<hex>         manifests, configs and layer tarballs
    ├── layers/<diff-id hex>/          each layer unpacked once, shared read-only
    ├── containers/<id>/               one directory per container
    │   ├── config.json                what was asked for (image, command, env, ...)
    │   ├── state.json                 what is happening (pid, status, exit code)
    │   ├── upper/ work/ rootfs/       the overlay's writable layer, its work dir, its mount point
    │   ├── hostname hosts resolv.conf bind-mounted into the container's /etc
    │   └── stdout.log stderr.log      output of a detached container
    ├── names/<name>                   holds the id of the container called <name>
    └── tmp/                           scratch space; entries are renamed into place when complete

Several processes may share one root: names are claimed with O_EXCL, files are
written to a temporary name and renamed (rename(2) is atomic), and the image
index is changed under a file lock.

:func:`secure_join` resolves a path inside another root (an image's files,
a container's root filesystem) the way the kernel would for a process
chrooted there, so that a symbolic link in an image never leads to the host.
"""

from __future__ import annotations

import os
from pathlib import Path

from .errors import SandboxError


def is_root() -> bool:
    """True when running with uid 0 on the host (no user namespace needed)."""
    return os.geteuid() == 0


def state_root() -> Path:
    """The state root: ``$SANDBOX_ROOT``, else the default for root or rootless."""
    if os.environ.get("SANDBOX_ROOT"):
        return Path(os.environ["SANDBOX_ROOT"]).absolute()
    if is_root():
        return Path("/var/lib/sandbox")
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.expanduser("~/.local/share")
    return Path(data_home) / "sandbox"


def ensure(path: Path, mode: int = 0o755) -> Path:
    """Create a directory (and its parents) if needed, and return it."""
    try:
        path.mkdir(mode=mode, parents=True, exist_ok=True)
    except PermissionError:
        raise SandboxError(f"cannot create {path}: permission denied; set SANDBOX_ROOT to a "
                           "directory you can write") from None
    return path


def write_atomic(path: Path, data: bytes | str, mode: int = 0o644) -> None:
    """Write a file so that readers see the old content or the new, never half.

    The data goes to a temporary file in the same directory, which rename(2)
    then moves over the target in one step.
    """
    if isinstance(data, str):
        data = data.encode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def rmtree(path: Path) -> None:
    """Remove a directory tree, including the mode-000 ``work/work`` that overlayfs leaves.

    overlayfs creates its scratch directory without any permission bits; root
    ignores them, but a rootless user must first give itself the right to
    look inside (chmod), then remove it.
    """
    import shutil

    def unlock_and_retry(func, failed, _exc_info):
        if func in (os.open, os.scandir, os.listdir):   # could not look inside: open it up
            os.chmod(failed, 0o700)
            shutil.rmtree(failed, onerror=unlock_and_retry)
        else:                                           # could not unlink: open the parent
            os.chmod(os.path.dirname(failed), 0o700)
            func(failed)

    if os.path.lexists(path):
        shutil.rmtree(path, onerror=unlock_and_retry)


# --- a path inside another root ----------------------------------------------------------
MAX_SYMLINK_HOPS = 255


class UnsafePath(SandboxError):
    """A path (a layer entry, a mount target) that would lead outside the root it must
    stay in, or is otherwise malformed.  ``sandbox.layers`` calls it ``UnsafeLayer``."""


def secure_join(root: Path, relative: str, follow_last: bool = False) -> Path:
    """Join ``relative`` to ``root`` as if ``root`` were ``/``.

    Symbolic links met on the way are read and followed *inside* root: an
    absolute target restarts at root, and ``..`` never climbs above it.  This
    is what the kernel would do for a process chrooted into ``root``
    (path_resolution(7)), done by hand because the files are not in a chroot.
    """
    todo = [p for p in relative.split("/") if p]
    done: list[str] = []
    hops = 0
    while todo:
        part = todo.pop(0)
        if part in ("", "."):
            continue
        if part == "..":
            if done:
                done.pop()
            continue
        candidate = root.joinpath(*done, part)
        is_last = not todo
        if candidate.is_symlink() and (follow_last or not is_last):
            hops += 1
            if hops > MAX_SYMLINK_HOPS:
                raise UnsafePath(f"too many symbolic links resolving {relative!r}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                done = []
            todo = [p for p in target.split("/") if p] + todo
            continue
        done.append(part)
    return root.joinpath(*done)
