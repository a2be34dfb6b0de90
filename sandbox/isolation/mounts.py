"""Files from outside the image: bind mounts (``-v /host:/container:ro``) and tmpfs (``--tmpfs``).

A bind mount makes a directory (or file) that already exists somewhere
visible at a second place, the same inode seen through two paths (mount(2),
MS_BIND).  A container sees the host's directory *through* its own mount
namespace: writes go straight to the host's files, unless the mount is made
read-only.  Making a bind mount read-only takes a second call, a remount
with MS_RDONLY; the first call ignores every flag but MS_BIND and MS_REC.

A tmpfs is a filesystem that lives in memory (tmpfs(5)); its pages count
against the container's memory cgroup, and it vanishes with the container.

Docker's spellings, as ``docker run`` reads them:

    -v /host/dir:/in/container          read-write bind mount
    -v /host/dir:/in/container:ro       read-only bind mount
    --tmpfs /tmp                        an empty tmpfs
    --tmpfs /tmp:size=64m,mode=1777     with tmpfs(5) options
    --tmpfs /work:exec                  noexec, nosuid and nodev are the default; exec, suid,
                                        dev and ro change them

Volumes (:mod:`sandbox.engine.volumes`) are bind mounts of directories the sandbox keeps:

    -v data:/var/lib/data               the volume "data", made the first time it is used
    -v /var/lib/data                    an anonymous volume, removed by ``rm -v`` and ``run --rm``
    --mount type=volume,src=data,dst=/d,readonly,volume-nocopy
    --mount type=bind,src=/host,dst=/d  --mount type=tmpfs,dst=/t,tmpfs-size=64m
    --volumes-from other[:ro]           every volume and bind mount of the container "other"

Parsing here does no I/O beyond checking that a bind mount's host path exists.
"""

from __future__ import annotations

import os
import re

from ..kernel import syscalls as sc
from ..errors import UsageError


# The modes ``-v`` takes after the second colon, comma-separated (Docker's linux parser).
# z, Z (SELinux labels) and the propagation words are accepted and have no effect here.
VOLUME_MODES = {"ro", "rw", "nocopy", "z", "Z", "private", "rprivate"}
VOLUME_NAME = r"[a-zA-Z0-9][a-zA-Z0-9_.-]+"  # Docker's local driver: at least two characters


def parse_volume(text: str) -> dict:
    """``-v [SOURCE:]TARGET[:MODE]`` → a mount record.

    SOURCE is a host path (absolute: a bind mount) or a volume's name; with no
    SOURCE, an anonymous volume is made for the container.  As Docker reads it,
    ``-v /data:ro`` is an anonymous volume at /data, read-only.
    """
    parts = text.split(":")
    if len(parts) > 3 or "" in parts:
        raise UsageError(f"invalid volume specification: '{text}' (-v): expected "
                         "[/host/path|volume-name:]/container/path[:ro]")
    if len(parts) == 1 or (len(parts) == 2 and _is_mode(parts[1])):
        source, target, mode = "", parts[0], parts[1] if len(parts) == 2 else "rw"
    else:
        source, target = parts[0], parts[1]
        mode = parts[2] if len(parts) == 3 else "rw"
    if not _is_mode(mode):
        raise UsageError(f"invalid mode '{mode}' in volume '{text}': expected ro or rw")
    words = set(mode.split(","))
    given = mode if len(parts) == 3 or (len(parts) == 2 and not source) else ""  # inspect's Mode
    _check_target(target, f"volume '{text}'")
    if source.startswith("/"):
        if not os.path.exists(source):
            # Docker would create a missing directory; refusing catches typos instead.
            raise UsageError(f"invalid volume '{text}': {source} does not exist on the host")
        return {"type": "bind", "source": os.path.realpath(source), "target": target,
                "readonly": "ro" in words, "mode": given}
    if source:
        check_name(source)
    return volume_mount(source, target, "ro" in words, "nocopy" in words,
                        given or ("z" if source else ""))


def check_name(name: str) -> None:
    """Docker's rule for a local volume's name, with Docker's two messages."""
    if len(name) < 2 and re.fullmatch(r"[a-zA-Z0-9]?", name):
        raise UsageError(f"create {name}: volume name is too short, names should be at least "
                         "two alphanumeric characters")
    if not re.fullmatch(VOLUME_NAME, name):
        raise UsageError(f'create {name}: "{name}" includes invalid characters for a local volume '
                         'name, only "[a-zA-Z0-9][a-zA-Z0-9_.-]" are allowed. If you intended to '
                         "pass a host directory, use absolute path")


def _is_mode(text: str) -> bool:
    words = text.split(",")
    return all(w in VOLUME_MODES for w in words) and not {"ro", "rw"} <= set(words)


def _check_target(target: str, what: str) -> None:
    if not target.startswith("/") or target.rstrip("/") == "":
        raise UsageError(f"invalid {what}: the container path must be absolute and not /")


def volume_mount(name: str, target: str, readonly: bool = False, nocopy: bool = False,
                 mode: str = "") -> dict:
    """A volume mount's record; ``name`` empty: an anonymous volume, named when it is made."""
    return {"type": "volume", "name": name, "source": "", "target": target,
            "readonly": readonly, "nocopy": nocopy, "mode": mode}


def parse_mount(text: str) -> dict:
    """``--mount type=volume|bind|tmpfs,source=...,target=...[,readonly]`` → a mount record.

    The fields are comma-separated values, as a CSV line (Docker's opts/mount.go);
    the type defaults to volume.  ``volume-*``, ``bind-*`` and ``tmpfs-*`` fields
    belong to their type; ``consistency`` is accepted and, as on Linux, ignored.
    """
    import csv
    fields = next(csv.reader([text]), [])
    wanted = {"type": "volume", "source": "", "target": "", "readonly": False}
    by_type: dict = {"volume": {}, "bind": {}, "tmpfs": {}}
    for field in fields:
        key, eq, value = field.partition("=")
        if not eq and key in ("readonly", "ro", "volume-nocopy", "bind-nonrecursive"):
            key, value = key, "true"
        elif not eq:
            raise _mount_error(text, f"invalid field '{field}' must be a key=value pair")
        if key == "type":
            wanted["type"] = value.lower()
        elif key in ("source", "src"):
            wanted["source"] = os.path.abspath(value) if value in (".", "..") or \
                value.startswith("./") else value
        elif key in ("target", "dst", "destination"):
            wanted["target"] = value
        elif key in ("readonly", "ro"):
            wanted["readonly"] = _mount_bool(text, key, value)
        elif key == "consistency":
            continue
        elif key in ("volume-label", "volume-opt"):  # each may come more than once
            by_type["volume"].setdefault(key, []).append(value)
        elif key in MOUNT_KEYS:
            by_type[key.split("-")[0]][key] = _typed_value(text, key, value)
        else:
            raise _mount_error(text, f"unexpected key '{key}' in '{field}'")
    if not wanted["target"]:
        raise _mount_error(text, "target is required")
    for kind, given in by_type.items():
        if given and kind != wanted["type"]:
            raise UsageError(f"cannot mix '{kind}-*' options with mount type "
                             f"'{wanted['type']}'")
    return _mount_record(text, wanted, by_type.get(wanted["type"], {}))


# The typed fields --mount takes (Docker's opts/mount.go), besides type, source, target, ro.
MOUNT_KEYS = {"volume-nocopy", "volume-label", "volume-driver", "volume-opt",
              "bind-propagation", "bind-nonrecursive", "tmpfs-size", "tmpfs-mode"}


def _mount_error(text: str, why: str) -> UsageError:
    return UsageError(f'invalid argument "{text}" for "--mount" flag: {why}')


def _typed_value(text: str, key: str, value: str):
    if key in ("volume-nocopy", "bind-nonrecursive"):
        return _mount_bool(text, key, value)
    if key in ("tmpfs-size", "tmpfs-mode"):
        return _tmpfs_value(text, key, value)
    if key == "bind-propagation" and value not in ("private", "rprivate"):
        raise UsageError(f"bind-propagation={value} is not supported: mounts here are always "
                         "private (rprivate)")
    if key == "volume-driver" and value != "local":
        raise UsageError(f'volume driver "{value}" is not supported: only "local" is')
    return value


def _mount_record(text: str, wanted: dict, typed: dict) -> dict:
    kind, source, target, readonly = (wanted["type"], wanted["source"], wanted["target"],
                                      wanted["readonly"])
    where = f'invalid mount config for type "{kind}"'
    if kind not in ("volume", "bind", "tmpfs"):
        raise UsageError(f"{where}: mount type unknown (use volume, bind or tmpfs)")
    _check_target(target, f"--mount '{text}'")
    if kind == "tmpfs":
        if source:
            raise UsageError(f"{where}: field Source must not be specified")
        options = ",".join(filter(None, [typed.get("tmpfs-size", ""),
                                         typed.get("tmpfs-mode", "mode=1777")]))
        return {"type": "tmpfs", "source": "tmpfs", "target": target, "readonly": readonly,
                "options": options + (",ro" if readonly else ""), "mount": True}
    if kind == "bind":
        if typed.get("bind-nonrecursive"):
            raise UsageError("bind-nonrecursive is not supported: a bind mount here always "
                             "brings the host directory's own mounts along")
        if not source:
            raise UsageError(f"{where}: field Source must not be empty")
        if not os.path.isabs(source):
            raise UsageError(f"{where}: invalid mount path: '{source}' mount path must be "
                             "absolute")
        if not os.path.exists(source):
            raise UsageError(f"{where}: bind source path does not exist: {source}")
        return {"type": "bind", "source": os.path.realpath(source), "target": target,
                "readonly": readonly, "mode": ""}
    if source:
        check_name(source)
    m = volume_mount(source, target, readonly, bool(typed.get("volume-nocopy")))
    for key, field in (("volume-label", "labels"), ("volume-opt", "options")):
        if key in typed:  # given to the volume if this mount makes it (Docker's rule too)
            m[field] = dict(item.partition("=")[::2] for item in typed[key])
    return m


def _mount_bool(text: str, key: str, value: str) -> bool:
    if value.lower() in ("1", "t", "true"):
        return True
    if value.lower() in ("0", "f", "false"):
        return False
    raise UsageError(f"invalid argument \"{text}\" for \"--mount\" flag: invalid value for "
                     f"{key}: {value}")


def _tmpfs_value(text: str, key: str, value: str) -> str:
    """``tmpfs-size=64m`` → ``size=64m``; ``tmpfs-mode=1770`` → ``mode=1770`` (octal)."""
    pattern = r"[0-9]+[kKmMgG]?[bB]?" if key == "tmpfs-size" else r"[0-7]{1,4}"
    if not re.fullmatch(pattern, value):
        raise UsageError(f"invalid argument \"{text}\" for \"--mount\" flag: invalid value for "
                         f"{key}: {value}")
    if key == "tmpfs-mode":
        return f"mode={value}"
    return "size=" + value.rstrip("bB")


def parse_tmpfs(text: str) -> dict:
    """``--tmpfs TARGET[:OPTIONS]`` → a tmpfs mount record."""
    target, _, options = text.partition(":")
    if not target.startswith("/") or target == "/":
        raise UsageError(f"invalid tmpfs mount '{text}': the container path must be absolute "
                         "and not /")
    return {"type": "tmpfs", "source": "tmpfs", "target": target, "readonly": False,
            "options": options or "mode=1777"}


# Words of a --tmpfs option list that are mount(2) flags, not tmpfs(5) options:
# each sets or clears one flag.  Docker's default is noexec, nosuid, nodev.
_TMPFS_FLAG_WORDS = {
    "ro": (sc.MS_RDONLY, True), "rw": (sc.MS_RDONLY, False),
    "noexec": (sc.MS_NOEXEC, True), "exec": (sc.MS_NOEXEC, False),
    "nosuid": (sc.MS_NOSUID, True), "suid": (sc.MS_NOSUID, False),
    "nodev": (sc.MS_NODEV, True), "dev": (sc.MS_NODEV, False),
}
TMPFS_DEFAULT_FLAGS = sc.MS_NOEXEC | sc.MS_NOSUID | sc.MS_NODEV


def tmpfs_flags(options: str) -> tuple[int, str]:
    """``size=64m,exec,mode=1777`` → (mount flags, the options tmpfs itself reads)."""
    flags, data = TMPFS_DEFAULT_FLAGS, []
    for word in filter(None, options.split(",")):
        if word in _TMPFS_FLAG_WORDS:
            bit, on = _TMPFS_FLAG_WORDS[word]
            flags = flags | bit if on else flags & ~bit
        else:
            data.append(word)
    return flags, ",".join(data)


def parse_all(volumes=(), tmpfs=(), mount=()) -> list[dict]:
    """Every ``-v``, ``--tmpfs`` and ``--mount``, in the order the kernel must mount them."""
    mounts = ([parse_volume(v) for v in volumes] + [parse_tmpfs(t) for t in tmpfs]
              + [parse_mount(m) for m in mount])
    return ordered(mounts)


def ordered(mounts: list[dict]) -> list[dict]:
    """The mounts, a parent before its children (``/data`` before ``/data/logs``), as Docker
    sorts them: mounting the parent later would hide the child.  Two at one place: refused."""
    targets = [_clean(m["target"]) for m in mounts]
    for t in targets:
        if targets.count(t) > 1:
            raise UsageError(f"duplicate mount point: {t}")
    return sorted(mounts, key=lambda m: _clean(m["target"]).count("/"))


def _clean(target: str) -> str:
    return os.path.normpath("/" + target.lstrip("/"))


def merged(own: list[dict], inherited: list[dict], image_volumes: list[str]) -> list[dict]:
    """The container's mounts: its own, then ``--volumes-from``'s, then the image's ``VOLUME``s.

    Docker's precedence: a place the user mounted something at keeps the
    user's mount; what ``--volumes-from`` brings covers the image's volumes.
    Every image volume not covered becomes an anonymous volume.
    """
    taken = {_clean(m["target"]) for m in own}
    mounts = list(own)
    for m in inherited:
        if _clean(m["target"]) not in taken:
            mounts.append(m)
            taken.add(_clean(m["target"]))
    for target in image_volumes:
        if _clean(target) not in taken and _clean(target) != "/":
            mounts.append(volume_mount("", _clean(target)))
            taken.add(_clean(target))
    return ordered(mounts)


def parse_volumes_from(text: str) -> tuple[str, str]:
    """``--volumes-from CONTAINER[:ro|:rw]`` → (container, mode); mode "" keeps each mount's."""
    ref, _, mode = text.partition(":")
    if not ref or mode not in ("", "ro", "rw"):
        raise UsageError(f"invalid --volumes-from '{text}': expected CONTAINER[:ro|:rw]")
    return ref, mode


def shared_mounts(mounts: list[dict], mode: str) -> list[dict]:
    """What ``--volumes-from`` takes from a container: its volumes and bind mounts (its
    tmpfs mounts are its own), read-only or read-write as ``mode`` says, else as they were."""
    taken = []
    for m in mounts:
        if m["type"] in ("volume", "bind"):
            readonly = m["readonly"] if not mode else mode == "ro"
            taken.append(dict(m, readonly=readonly))
    return taken


def mount_json(m: dict) -> dict:
    """One entry of ``docker inspect``'s ``Mounts``."""
    rw = not m.get("readonly")
    if m["type"] == "volume":
        return {"Type": "volume", "Name": m["name"], "Source": m["source"],
                "Destination": m["target"], "Driver": "local", "Mode": m.get("mode", ""),
                "RW": rw, "Propagation": ""}
    if m["type"] == "bind":
        return {"Type": "bind", "Source": m["source"], "Destination": m["target"],
                "Mode": m.get("mode", ""), "RW": rw, "Propagation": "rprivate"}
    return {"Type": "tmpfs", "Source": "", "Destination": m["target"], "Mode": "", "RW": rw,
            "Propagation": ""}
