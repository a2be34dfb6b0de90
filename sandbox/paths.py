"""Where the sandbox keeps its state: one root directory for everything, private to its owner.

    mode  path                               what
    0700  $SANDBOX_ROOT                      root: /var/lib/sandbox; rootless: $XDG_DATA_HOME/sandbox
    0700  ├── oci/                           the image store, an OCI image layout
    0600  │   ├── oci-layout, index.json
    0600  │   └── blobs/sha256/<hex>         manifests, configs and layer tarballs
    0700  ├── layers/                        each layer unpacked once, shared read-only:
      *   │   └── <diff-id hex>/             the image's own modes
    0700  ├── containers/<id>/               one directory per container
    0600  │   ├── config.json                what was asked for (image, command, env, ...)
    0600  │   ├── state.json                 what is happening (pid, status, exit code)
    0600  │   ├── seccomp.bpf                the container's compiled seccomp filter
    0755  │   ├── upper/ init/               the overlay's writable layer, the mount points' layer
    0700  │   ├── work/ rootfs/              the overlay's work dir, its mount point
    0644  │   ├── hostname hosts resolv.conf bind-mounted into the container's /etc
    0600  │   ├── <id>-json.log (.1, .2)     its output, as Docker's json-file driver writes it
    0600  │   └── attach.sock                the monitor's socket, for `attach` (while it runs)
    0700  ├── names/                         names/<name> (0600) holds the id of the container <name>
    0700  ├── volumes/<name>/                a volume: volume.json (0600) and _data/ (0755), its
      *   │                                  files, as the containers wrote them (sandbox.engine.volumes)
    0700  ├── cache/seccomp/<hash>.bpf      compiled seccomp filters, by profile and capabilities
    0700  └── tmp/                           scratch space; entries are renamed into place when complete

Several processes may share one root: names are claimed with O_EXCL, files are
written to a temporary name and renamed (rename(2) is atomic), and the image
index is changed under a file lock.

Only its owner may read the root (Docker's /var/lib/docker is 0710 root:root):
a container's config.json holds the ``-e API_KEY=...`` it was given, its logs
what it printed, and its upper directory whatever it wrote.  Every directory
the sandbox makes is 0700 and every file 0600, with the exceptions marked above:

- ``hostname``, ``hosts``, ``resolv.conf`` are 0644 because a container process
  running as another user (``-u nobody``) reads them through their bind mounts,
  which skip the 0700 directories above them (a bind mount is reached from
  inside the container, not by its path on the host);
- ``upper/`` is the container's ``/`` and ``init/``'s directories are its ``/etc``,
  ``/dev``, ``/proc`` and ``/sys`` (overlayfs shows the topmost layer's mode,
  overlayfs(5)), so they keep 0755, as a root filesystem does; their 0700
  parent keeps other users of the host out;
- unpacked layers keep the modes from the image for the same reason, behind
  the 0700 ``layers/``.

0710 (Docker's choice, so that the remapped root of ``userns-remap`` can pass
through) is not needed: no other user ever passes through a sandbox's root.
The modes are set whatever the umask: mkdir(2) and open(2) clear the umask's
bits from the mode they are given, so a permissive umask (000) cannot loosen
an explicit 0700 or 0600, and the 0755 and 0644 that must stay readable are
set again with chmod(2), which the umask does not touch (umask(2)).

:func:`secure_join` resolves a path inside another root (an image's files,
a container's root filesystem) the way the kernel would for a process
chrooted there, so that a symbolic link in an image never leads to the host.
"""

from __future__ import annotations

import os
import stat
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


PRIVATE_DIR = 0o700   # the sandbox's own directories: the owner only
PRIVATE_FILE = 0o600  # the sandbox's own files: the owner only
# What the root, containers/ and layers/ become once a container runs with --uidmap: its
# root is another host uid, which must walk down to its layers (Docker's data root with
# userns-remap is 0711 too).  Others may pass through, never list: names must be known.
TRAVERSABLE_DIR = 0o711
SHARED_DIR = 0o755    # a container's root filesystem layers: read by any user inside it
SHARED_FILE = 0o644   # the files bind-mounted into a container's /etc


def prepare_root(root: Path) -> Path:
    """Make sure the state root exists, is this user's, and is private (0700); return it.

    Called before anything is written under the root (the image store, a new
    container).  A root that already exists, with looser modes (made by
    ``mkdir`` under a umask of 022, or 0777 by hand), is tightened, as long as
    it belongs to this user: another user's state root is refused rather than
    used, since its owner can read and change what is written there.
    """
    root = Path(root)
    try:
        st = os.stat(root)
    except FileNotFoundError:
        return ensure(root)  # missing parents too are made 0700, as the XDG base directory spec asks
    if not stat.S_ISDIR(st.st_mode):
        raise SandboxError(f"the state root {root} is not a directory; set SANDBOX_ROOT to a "
                           "directory of your own")
    if st.st_uid != os.geteuid():
        raise SandboxError(f"the state root {root} belongs to {_user_name(st.st_uid)}, not to "
                           f"{_user_name(os.geteuid())}; set SANDBOX_ROOT to a directory of "
                           "your own")
    if stat.S_IMODE(st.st_mode) not in (PRIVATE_DIR, TRAVERSABLE_DIR):
        if st.st_mode & 0o022:
            _refuse_planted_entries(root)
        os.chmod(root, PRIVATE_DIR)
    return root


def _refuse_planted_entries(root: Path) -> None:
    """A root others could write may hold their entries (a symbolic link from ``containers``
    to a directory of theirs would receive this user's files): refuse it rather than trust it."""
    for entry in os.scandir(root):
        owner = entry.stat(follow_symlinks=False).st_uid
        if owner != os.geteuid():
            raise SandboxError(f"the state root {root} was writable by other users and holds "
                               f"{entry.name}, which belongs to {_user_name(owner)}; remove it "
                               "or set SANDBOX_ROOT to a new directory")


def _user_name(uid: int) -> str:
    import pwd
    try:
        return f"{pwd.getpwuid(uid).pw_name} (uid {uid})"
    except KeyError:
        return f"uid {uid}"


def open_to_remapped(root: Path) -> None:
    """Let a remapped container's root (another host uid) walk to its layers and its directory.

    Only the search bit (x) is added for others, on the root, ``containers/``
    and ``layers/``: they can reach a path whose name they know, and list none.
    """
    for path in (root, root / "containers", root / "layers"):
        ensure(path)
        if stat.S_IMODE(os.stat(path).st_mode) != TRAVERSABLE_DIR:
            os.chmod(path, TRAVERSABLE_DIR)


def ensure(path: Path, mode: int = PRIVATE_DIR) -> Path:
    """Create a directory with exactly ``mode`` (its missing parents 0700) if needed, and return it.

    A directory that already exists is left as it is.
    """
    path = Path(path)
    try:
        try:
            os.mkdir(path, mode)
        except FileNotFoundError:
            ensure(path.parent)
            os.mkdir(path, mode)
        os.chmod(path, mode)  # mkdir(2) clears the umask's bits from mode; chmod(2) does not
    except FileExistsError:
        if not path.is_dir():
            raise
    except PermissionError:
        raise SandboxError(f"cannot create {path}: permission denied; set SANDBOX_ROOT to a "
                           "directory you can write") from None
    return path


def write_atomic(path: Path, data: bytes | str, mode: int = PRIVATE_FILE) -> None:
    """Write a file with exactly ``mode`` so that readers see the old content or the new, never half.

    The data goes to a temporary file in the same directory, which rename(2)
    then moves over the target in one step.
    """
    if isinstance(data, str):
        data = data.encode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")  # threads too
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        os.fchmod(fd, mode)  # open(2) clears the umask's bits, and a leftover tmp keeps its mode
        os.write(fd, data)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def rmtree(path: Path) -> None:
    """Remove a directory tree, including the mode-000 ``work/work`` that overlayfs leaves.

    Each directory is opened (``O_NOFOLLOW``) and emptied through its descriptor, with
    unlinkat(2) and rmdir relative to it (``dir_fd``), so a symbolic link is removed, never
    followed, even one swapped in while we walk (what shutil.rmtree does too; not importing
    shutil, which imports bz2 and lzma, keeps ``run --rm`` a few milliseconds shorter).
    overlayfs creates its scratch directory without any permission bits; root ignores them,
    but a rootless user must first give itself the right to look inside or to unlink:
    chmod, then try again.
    """
    try:
        if not stat.S_ISDIR(os.lstat(path).st_mode):
            os.unlink(path)
            return
    except (FileNotFoundError, NotADirectoryError):   # nothing there (as os.path.lexists says)
        return
    # The directory it is in may be reached through links (only ``path`` itself is never followed).
    parent = os.open(os.path.dirname(os.path.abspath(path)), _DIRECTORY & ~os.O_NOFOLLOW)
    try:
        _remove_directory_at(parent, os.path.basename(os.path.abspath(path)))
    finally:
        os.close(parent)


_DIRECTORY = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _remove_directory_at(parent: int, name: str) -> None:
    """Empty the directory ``name`` of ``parent`` (a descriptor), then remove it."""
    try:
        fd = os.open(name, _DIRECTORY, dir_fd=parent)
    except PermissionError:                    # mode 000: open it up (we own it, or are root)
        os.chmod(name, 0o700, dir_fd=parent)   # a directory: O_NOFOLLOW just said it is none
        fd = os.open(name, _DIRECTORY, dir_fd=parent)
    try:
        with os.scandir(fd) as entries:
            children = [(e.name, e.is_dir(follow_symlinks=False)) for e in entries]
        for child, is_directory in children:
            if is_directory:
                _remove_directory_at(fd, child)
            else:
                _unlink_at(fd, child)
    finally:
        os.close(fd)
    _unlink_at(parent, name, os.rmdir)


def _unlink_at(directory: int, name: str, remove=os.unlink) -> None:
    """unlinkat(2) (``remove``: os.unlink, or os.rmdir for an emptied directory)."""
    try:
        remove(name, dir_fd=directory)
    except PermissionError:                    # a read-only directory of ours: open it up
        os.fchmod(directory, 0o700)
        remove(name, dir_fd=directory)
    except FileNotFoundError:
        pass


# --- a path inside another root ----------------------------------------------------------
MAX_SYMLINK_HOPS = 255


class UnsafePath(SandboxError):
    """A path (a layer entry, a mount target) that would lead outside the root it must
    stay in, or is otherwise malformed.  ``sandbox.content.layers`` calls it ``UnsafeLayer``."""


def secure_join(root: Path, relative: str, follow_last: bool = False) -> Path:
    """Join ``relative`` to ``root`` as if ``root`` were ``/``.

    Symbolic links met on the way are read and followed *inside* root: an
    absolute target restarts at root, and ``..`` never climbs above it.  This
    is what the kernel would do for a process chrooted into ``root``
    (path_resolution(7)), done by hand because the files are not in a chroot.
    """
    def link_at(parts: list[str]) -> str | None:
        candidate = root.joinpath(*parts)
        return os.readlink(candidate) if candidate.is_symlink() else None

    return root.joinpath(*resolve_links(relative, link_at, follow_last))


def resolve_links(relative: str, link_at, follow_last: bool = False) -> list[str]:
    """The components of ``relative`` once every symbolic link on the way is followed
    inside its root: :func:`secure_join`'s walk, for any tree.

    ``link_at(components)`` says what is at that path: a link's target, or None
    for anything else (a directory, a file, nothing).  A tree that is not one
    directory on disk (an image's layers, read one above the other) walks the
    same way with its own ``link_at``.
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
        target = link_at(done + [part]) if (todo or follow_last) else None
        if target is not None:
            hops += 1
            if hops > MAX_SYMLINK_HOPS:
                raise UnsafePath(f"too many symbolic links resolving {relative!r}")
            if target.startswith("/"):
                done = []
            todo = [p for p in target.split("/") if p] + todo
            continue
        done.append(part)
    return done


def containers_dir(root: Path) -> Path:
    """Where the containers' records live (sandbox.engine.records); here, at the bottom,
    because the network layer asks whether a container still has one."""
    return root / "containers"
