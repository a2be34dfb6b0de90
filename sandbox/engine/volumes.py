"""Named volumes: directories the sandbox keeps for containers, apart from any one container.

    0700  ROOT/volumes/
    0600  ├── .lock              flock(2): volumes are created, claimed and removed one at a time
    0700  └── <name>/
    0600      ├── volume.json    Name, Driver, Labels, Options, CreatedAt (``volume inspect``)
    0755      └── _data/         the volume's files: bind-mounted at the container's target

A volume is a bind mount (mount(2), MS_BIND) whose source the sandbox owns:
the container's writes go to ``_data`` on the host, not to its overlay's
upper directory, so they outlive ``rm`` and the next container sees them.
This is Docker's ``local`` driver (/var/lib/docker/volumes/<name>/_data).

A volume with ``-o type=tmpfs`` keeps no files: each container that mounts
it gets a fresh tmpfs (tmpfs(5)) there, with the volume's ``o=`` options.

Anonymous volumes (``-v /data``, an image's ``VOLUME``) get a random 64-hex
name and the label ``com.docker.volume.anonymous``, as Docker gives them;
``rm -v`` and ``run --rm`` remove them with their container, and
``volume prune`` removes those nobody uses.  Named ones stay until
``volume rm``, which is refused while any container, running or not, has
the volume in its record.

The first time a container mounts an empty volume, the image's files at
that place are copied into it (Docker's copy-up): see
:func:`sandbox.isolation.rootfs.copy_tree`, which does it inside the container.
"""

from __future__ import annotations

import fcntl
import json
import os
import re
import time
from contextlib import contextmanager
from pathlib import Path

from ..errors import Conflict, NotFound, UsageError, VolumeNotFound
from ..paths import SHARED_DIR, ensure, rmtree, write_atomic

DRIVER = "local"
ANONYMOUS_LABEL = "com.docker.volume.anonymous"
OPTION_KEYS = ("type", "o", "device")  # what the local driver reads (mount(8)'s -t, -o, device)


def volumes_dir(root: Path) -> Path:
    return Path(root) / "volumes"


def data_dir(root: Path, name: str) -> Path:
    """Where a volume's files live on the host: its ``Mountpoint``."""
    return volumes_dir(root) / name / "_data"


@contextmanager
def locked(root: Path):
    """Hold the volumes' lock: between "nobody uses it" and removing it, nobody may claim it."""
    ensure(volumes_dir(root))
    fd = os.open(volumes_dir(root) / ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # released when the descriptor is closed
        yield
    finally:
        os.close(fd)


# --- checking what the user asked for (no I/O; the name: sandbox.isolation.mounts.check_name) ----
def parse_pairs(items: list[str], flag: str) -> dict:
    """``["a=1", "b"]`` → ``{"a": "1", "b": ""}``, for ``--label`` and ``-o``."""
    pairs = {}
    for item in items:
        key, _, value = item.partition("=")
        if not key:
            raise UsageError(f"invalid {flag} '{item}': expected key=value")
        pairs[key] = value
    return pairs


def check_options(options: dict) -> None:
    """The local driver's options this sandbox can honour: ``type=tmpfs`` with ``o=``."""
    for key in options:
        if key not in OPTION_KEYS:
            raise UsageError(f"invalid option key: {key!r} (the local driver takes "
                             "type, o and device)")
    if options and options.get("type") != "tmpfs":
        raise UsageError(f"volume option type={options.get('type', '')} is not supported: only "
                         "-o type=tmpfs (with -o o=size=64m,mode=1777) is")


def tmpfs_options(volume: dict) -> str | None:
    """The tmpfs(5) options of a ``type=tmpfs`` volume, or None for a volume with files."""
    options = volume.get("Options") or {}
    return options.get("o", "") if options.get("type") == "tmpfs" else None


# --- the volumes on disk ----------------------------------------------------------------
def create(root: Path, name: str | None = None, labels: dict | None = None,
           options: dict | None = None, anonymous: bool = False) -> tuple[dict, bool]:
    """Make a volume, or find the one of that name (Docker's ``create`` is idempotent).

    Returns (the volume's record, whether it was made now).  It is made in the
    scratch directory and renamed into place, so that a killed ``create``
    leaves no half-made volume under ``volumes/``.
    """
    from ..isolation.mounts import check_name
    options = dict(options or {})
    check_options(options)
    if name is None:
        name = os.urandom(32).hex()
    check_name(name)
    labels = dict(labels or {})
    if anonymous:
        labels.setdefault(ANONYMOUS_LABEL, "")
    final = volumes_dir(root) / name
    if final.is_dir():
        return get(root, name), False
    scratch = ensure(Path(root) / "tmp") / f"volume-{os.getpid()}-{name}"
    rmtree(scratch)
    ensure(scratch)
    ensure(scratch / "_data", SHARED_DIR)  # as a root filesystem's directory: every user passes
    record = {"CreatedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "Driver": DRIVER, "Labels": labels, "Mountpoint": str(final / "_data"),
              "Name": name, "Options": options, "Scope": "local"}
    write_atomic(scratch / "volume.json", json.dumps(record, indent=2))
    ensure(volumes_dir(root))
    try:
        os.rename(scratch, final)
    except OSError:  # made meanwhile by another process: that one counts
        rmtree(scratch)
        return get(root, name), False
    return record, True


def get(root: Path, name: str) -> dict:
    """A volume's record, as ``docker volume inspect`` shows it."""
    if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]+", name or ""):  # mounts.VOLUME_NAME
        raise VolumeNotFound(f"No such volume: {name}")
    try:
        return json.loads((volumes_dir(root) / name / "volume.json").read_text())
    except FileNotFoundError:
        raise VolumeNotFound(f"No such volume: {name}") from None


def all_volumes(root: Path) -> list[dict]:
    """Every volume, sorted by name (as ``docker volume ls`` sorts them)."""
    try:
        names = sorted(os.listdir(volumes_dir(root)))
    except FileNotFoundError:
        return []
    found = []
    for name in names:
        try:
            found.append(get(root, name))
        except NotFound:
            continue  # the lock file, or a volume being removed right now
    return found


def is_anonymous(volume: dict) -> bool:
    return ANONYMOUS_LABEL in (volume.get("Labels") or {})


def users(root: Path, name: str) -> list:
    """Every container whose record mounts the volume ``name``, running or not."""
    from .records import all_containers
    return [c for c in all_containers(root)
            if any(m.get("type") == "volume" and m.get("name") == name for m in c.spec.mounts)]


def remove(root: Path, name: str) -> None:
    """``docker volume rm``: refused while a container has the volume in its record."""
    with locked(root):
        get(root, name)
        held_by = users(root, name)
        if held_by:
            c = held_by[0]
            raise Conflict(f"remove {name}: volume is in use by container {c.name} "
                           f"({c.short_id}); remove that container first (sandbox rm {c.name})")
        _delete(root, name)


def _delete(root: Path, name: str) -> None:
    """Rename the volume away (one step, so no one sees half of it), then delete its files."""
    trash = ensure(Path(root) / "tmp") / f"removing-{os.getpid()}-volume-{name}"
    try:
        os.rename(volumes_dir(root) / name, trash)
    except FileNotFoundError:
        return
    rmtree(trash)


def prune(root: Path, all: bool = False) -> list[str]:
    """``docker volume prune``: remove unused anonymous volumes; with ``all``, every unused one."""
    removed = []
    with locked(root):
        used = {m.get("name") for c in _containers(root) for m in c.spec.mounts
                if m.get("type") == "volume"}
        for volume in all_volumes(root):
            if volume["Name"] not in used and (all or is_anonymous(volume)):
                _delete(root, volume["Name"])
                removed.append(volume["Name"])
    return removed


def _containers(root: Path) -> list:
    from .records import all_containers
    return all_containers(root)


def remove_anonymous(root: Path, mounts: list[dict]) -> None:
    """After a container is removed (``rm -v``, ``--rm``): its anonymous volumes nobody else uses.

    A volume another container still mounts (``--volumes-from``) stays, as in Docker.
    """
    names = [m["name"] for m in mounts if m.get("type") == "volume" and m.get("anonymous")]
    if not names:
        return
    with locked(root):
        for name in names:
            if not users(root, name):
                _delete(root, name)


# --- a container's volumes --------------------------------------------------------------
def claim(root: Path, mounts: list[dict], userns: dict | None = None) -> tuple[list[dict], list]:
    """Give each volume mount its volume, made now if it does not exist yet.

    Call it holding :func:`locked`, and write the container's record before
    letting go: from then on ``volume rm`` sees that the volume is in use.
    Returns (the mounts with ``source`` filled in, the names of the volumes
    made now, which the caller removes if the container is not made after all).
    """
    claimed, made = [], []
    for m in mounts:
        if m["type"] != "volume":
            claimed.append(m)
            continue
        volume, new = create(root, m["name"] or None, labels=m.get("labels"),
                             options=m.get("options"), anonymous=not m["name"])
        if new:
            made.append(volume["Name"])
        if userns:
            _hand_over(data_dir(root, volume["Name"]), userns)
        claimed.append(dict(m, name=volume["Name"], source=volume["Mountpoint"],
                            anonymous=is_anonymous(volume), tmpfs=tmpfs_options(volume)))
    return claimed, made


def _hand_over(data: Path, userns: dict) -> None:
    """An empty volume is given to a remapped root (``--uidmap``), which copies the image's
    files into it and writes there (Docker's ``userns-remap`` makes its volumes the same way)."""
    if not os.listdir(data):
        os.chown(data, userns["uid"], userns["gid"])


def forget(root: Path, made: list[str]) -> None:
    """Remove the volumes :func:`claim` made for a container that was not made after all."""
    for name in made:
        _delete(root, name)
