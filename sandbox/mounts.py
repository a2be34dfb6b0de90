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

Named volumes (``-v data:/var/lib/data``) are chapter 08's subject and are
not made here yet.
"""

from __future__ import annotations

import os

from . import syscalls as sc
from .errors import UsageError


def parse_volume(text: str) -> dict:
    """``-v SOURCE:TARGET[:ro|rw]`` → a bind mount record, checked against the host."""
    parts = text.split(":")
    if len(parts) not in (2, 3) or not parts[0] or not parts[1]:
        raise UsageError(f"invalid volume specification: '{text}': "
                         "expected /host/path:/container/path[:ro]")
    source, target = parts[0], parts[1]
    mode = parts[2] if len(parts) == 3 else "rw"
    if mode not in ("ro", "rw"):
        raise UsageError(f"invalid mode '{mode}' in volume '{text}': expected ro or rw")
    if not source.startswith("/"):
        raise UsageError(f"named volumes are not supported yet: '{source}' in '{text}'; "
                         "give an absolute host path to bind-mount a directory")
    if not target.startswith("/") or target == "/":
        raise UsageError(f"invalid volume '{text}': the container path must be absolute "
                         "and not /")
    if not os.path.exists(source):
        # Docker would create a missing directory; refusing catches typos instead.
        raise UsageError(f"invalid volume '{text}': {source} does not exist on the host")
    return {"type": "bind", "source": os.path.realpath(source), "target": target,
            "readonly": mode == "ro"}


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


def parse_all(volumes=(), tmpfs=()) -> list[dict]:
    """Every ``-v`` and ``--tmpfs``, in the order the kernel must mount them.

    A parent before its children (``/data`` before ``/data/logs``), as Docker
    sorts them: mounting the parent later would hide the child.
    """
    mounts = [parse_volume(v) for v in volumes] + [parse_tmpfs(t) for t in tmpfs]
    targets = [m["target"].rstrip("/") for m in mounts]
    for t in targets:
        if targets.count(t) > 1:
            raise UsageError(f"duplicate mount point: {t}")
    return sorted(mounts, key=lambda m: m["target"].rstrip("/").count("/"))


def check_network(network: str | None) -> None:
    """``--network``: every container here gets its own network namespace with only ``lo``,
    which is Docker's ``--network none``; bridges and published ports are chapter 09's."""
    if network not in (None, "none"):
        from .chapters import not_yet
        raise not_yet(f"--network {network}", "network",
                      "until then a container has only a loopback interface (--network none)")
