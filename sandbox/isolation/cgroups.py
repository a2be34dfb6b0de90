"""cgroups: limits on memory, CPU and processes, on v1, v2 and hybrid hosts.  cgroups(7)

A control group is a directory in a special filesystem.  Writing a process id
into its ``cgroup.procs`` moves the process in; writing into its other files
sets limits that the kernel enforces on every process inside.  Three layouts
exist in the wild:

    v1       one hierarchy per controller: /sys/fs/cgroup/memory, /sys/fs/cgroup/cpu, ...
    v2       one unified hierarchy at /sys/fs/cgroup, controllers listed in cgroup.controllers
    hybrid   the controllers on v1 hierarchies, plus a cgroup2 mount (often
             /sys/fs/cgroup/unified) that holds processes but no useful controller

The same limit has different file names in each version:

    docker flag        cgroup v1                                 cgroup v2
    --memory           memory.limit_in_bytes                     memory.max
    --memory-swap      memory.memsw.limit_in_bytes (mem + swap)  memory.swap.max (swap only)
    --cpus             cpu.cfs_quota_us / cpu.cfs_period_us      cpu.max ("quota period")
    --cpu-shares       cpu.shares (2..262144, default 1024)      cpu.weight (1..10000, default 100)
    --pids-limit       pids.max                                  pids.max
    OOM kills          memory.oom_control: oom_kill N            memory.events: oom_kill N

As root, a container's cgroup also carries Docker's device rules (devices.py):
on v1 in the devices hierarchy, on v2 as an eBPF program attached to the
cgroup.  Rootless containers need none (devices.py says why).

The layout is read from /proc/self/mountinfo at run time, never assumed.  A
container's cgroup is made below the cgroup of the process that starts it
(``<its cgroup>/sandbox/<container id>``), and is removed with the container.
On v2 a cgroup that hands controllers down may hold no processes itself, so
there it goes below the nearest ancestor without processes of its own (the
hierarchy's root only when every cgroup above ours has processes).
"""

from __future__ import annotations

import errno
import os
import signal
import time

from ..errors import MissingFeature, UsageError

V1_CONTROLLERS = ("cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids",
                  "net_cls", "net_prio", "perf_event", "hugetlb", "rdma", "misc")
# The v1 controllers a container's cgroup is made in: those its limits need,
# devices for its device rules, and freezer for ``pause`` (sandbox.isolation.freezer).
USED = ("memory", "cpu", "cpuacct", "pids", "devices", "freezer")
# Those a container does without when this user may not use them (partial delegation,
# rootless): such a container cannot be paused, and ``pause`` says so.
OPTIONAL = ("freezer",)
CFS_PERIOD_US = 100_000  # Docker's CFS period: 100 ms
MIN_MEMORY = 6 * 1024 * 1024  # Docker refuses less: "Minimum memory limit allowed is 6MB"
PARENT = "sandbox"


class CgroupMount:
    """One mounted cgroup hierarchy: where, which version, which controllers, and the
    superblock's options (``cpu``, ``xattr,name=systemd``), which mount it again."""

    def __init__(self, path: str, version: int, controllers: tuple[str, ...],
                 options: str = ""):
        self.path, self.version, self.controllers = path, version, controllers
        self.options = options

    def __repr__(self) -> str:
        return f"CgroupMount({self.path!r}, v{self.version}, {self.controllers})"


# --- reading the layout -------------------------------------------------------------
def mounts(mountinfo: str | None = None) -> list[CgroupMount]:
    """Every cgroup filesystem mounted here (proc(5), /proc/PID/mountinfo)."""
    if mountinfo is None:
        with open("/proc/self/mountinfo") as f:
            mountinfo = f.read()
    found = []
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields, after = left.split(), right.split()
        if len(fields) < 5 or not after:
            continue
        fstype, superopts, path = after[0], after[2] if len(after) > 2 else "", fields[4]
        if fstype == "cgroup":
            controllers = tuple(o for o in superopts.split(",") if o in V1_CONTROLLERS)
            options = ",".join(o for o in superopts.split(",") if o not in ("rw", "ro"))
            found.append(CgroupMount(path, 1, controllers, options))
        elif fstype == "cgroup2":
            found.append(CgroupMount(path, 2, tuple(_read(os.path.join(
                path, "cgroup.controllers"), "").split())))
    return found


def layout(found: list[CgroupMount] | None = None) -> str:
    """``v1``, ``v2``, ``hybrid`` or ``none``."""
    found = mounts() if found is None else found
    v1 = any(m.version == 1 and m.controllers for m in found)
    v2 = any(m.version == 2 for m in found)
    if v1 and v2:
        return "hybrid"
    return "v1" if v1 else "v2" if v2 else "none"


def own_paths(text: str | None = None) -> dict[str, str]:
    """This process's cgroup in each hierarchy, from /proc/self/cgroup: {controller: path}.

    Lines look like ``4:memory:/user.slice`` (v1) and ``0::/user.slice/...`` (v2,
    whose key here is ``""``).
    """
    if text is None:
        text = _read("/proc/self/cgroup", "")
    paths = {}
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(",") if controllers else [""]:
            paths[controller.removeprefix("name=")] = path
    return paths


def describe() -> tuple[str, str]:
    """The layout, and a sentence on the controllers and who may use them (for ``doctor``)."""
    found = mounts()
    kind = layout(found)
    if kind == "none":
        return kind, "no cgroup filesystem is mounted"
    v1 = sorted({c for m in found if m.version == 1 for c in m.controllers})
    v2 = sorted({c for m in found if m.version == 2 for c in m.controllers})
    parts = []
    if v1:
        parts.append("v1 controllers " + ", ".join(v1))
    if kind != "v1":
        parts.append("v2 controllers " + (", ".join(v2) if v2 else "(none)"))
    try:
        driver = _driver("probe", found, own_paths())
        parts.append(f"{'root' if os.geteuid() == 0 else 'this user'} may use "
                     + ", ".join(sorted(driver.usable())))
    except MissingFeature:
        parts.append("this user may use none of them (no delegated subtree)")
    return kind, "; ".join(parts)


# --- Docker's flags, checked and turned into numbers --------------------------------
class Limits:
    """The resource limits of one container, in the kernel's units; None means no limit."""

    def __init__(self, memory: int | None = None, memory_swap: int | None = None,
                 cpus: float | None = None, cpu_shares: int | None = None,
                 pids_limit: int | None = None):
        self.memory = memory            # bytes
        self.memory_swap = memory_swap  # bytes of memory + swap (Docker's meaning), -1 unlimited
        self.cpus = cpus                # CPUs' worth of time per period
        self.cpu_shares = cpu_shares    # relative weight, 1024 is the default
        self.pids_limit = pids_limit    # processes and threads

    def as_dict(self) -> dict:
        return {k: v for k, v in vars(self).items() if v is not None}

    def __bool__(self) -> bool:
        return bool(self.as_dict())


_UNITS = {"": 1, "b": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3, "t": 1024 ** 4}


def parse_size(text: str, flag: str) -> int:
    """``64m`` → 67108864, as Docker's go-units RAMInBytes reads it (``kb``, ``MiB`` too)."""
    value = str(text).strip().lower()
    for suffix in ("ib", "b"):
        if value.endswith(suffix) and value[:-len(suffix)][-1:].isalpha():
            value = value[:-len(suffix)]
    number, unit = value, ""
    if value and value[-1] in "bkmgt":
        number, unit = value[:-1], value[-1]
    try:
        size = int(float(number) * _UNITS[unit])  # int() refuses inf and nan
        if size < 0:
            raise ValueError(text)
    except (ValueError, KeyError, OverflowError):
        raise UsageError(f'invalid argument "{text}" for "{flag}" flag: invalid size: '
                         f"'{text}' (use a number with b, k, m or g, like 64m)") from None
    return size


def parse_limits(memory=None, memory_swap=None, cpus=None, cpu_shares=None,
                 pids_limit=None) -> Limits:
    """Check ``docker run``'s resource flags and return them as :class:`Limits`.

    Every mistake becomes one sentence naming the flag, before any container exists.
    """
    limits = Limits()
    if memory is not None:
        limits.memory = parse_size(memory, "-m, --memory")
        if limits.memory < MIN_MEMORY:
            raise UsageError(f"--memory {memory}: the minimum memory limit allowed is 6MB")
    if memory_swap is not None:
        if str(memory_swap).strip() == "-1":
            limits.memory_swap = -1
        else:
            limits.memory_swap = parse_size(memory_swap, "--memory-swap")
            if limits.memory is None:
                raise UsageError("--memory-swap needs --memory as well")
            if limits.memory_swap < limits.memory:
                raise UsageError("--memory-swap must be at least --memory: it is the total "
                                 "of memory and swap")
    if cpus is not None:
        available = len(os.sched_getaffinity(0))
        try:
            limits.cpus = float(cpus)
        except ValueError:
            raise UsageError(f'invalid argument "{cpus}" for "--cpus" flag: '
                             "not a number") from None
        if not 0.01 <= limits.cpus <= available:
            raise UsageError(f"--cpus {cpus}: the range of CPUs is from 0.01 to "
                             f"{available}.00, as there are only {available} CPUs available")
    if cpu_shares is not None:
        limits.cpu_shares = _integer(cpu_shares, "-c, --cpu-shares")
        if not 2 <= limits.cpu_shares <= 262144:
            raise UsageError(f"--cpu-shares {cpu_shares}: must be between 2 and 262144")
    if pids_limit is not None:
        limits.pids_limit = _integer(pids_limit, "--pids-limit")
        if limits.pids_limit == 0 or limits.pids_limit < -1:
            raise UsageError(f"--pids-limit {pids_limit}: must be a positive number "
                             "(or -1 for no limit)")
    return limits


def _integer(text, flag: str) -> int:
    try:
        return int(str(text).strip())
    except ValueError:
        raise UsageError(f'invalid argument "{text}" for "{flag}" flag: '
                         "strconv.ParseInt: parsing \"" + str(text) + '": invalid syntax') from None


def v1_files(limits: Limits) -> dict[str, dict[str, str]]:
    """What to write, per v1 controller: {controller: {file: value}}."""
    files: dict[str, dict[str, str]] = {}
    if limits.memory is not None:
        files.setdefault("memory", {})["memory.limit_in_bytes"] = str(limits.memory)
    if limits.memory_swap is not None:
        files.setdefault("memory", {})["memory.memsw.limit_in_bytes"] = str(limits.memory_swap)
    if limits.cpus is not None:
        files.setdefault("cpu", {}).update({
            "cpu.cfs_period_us": str(CFS_PERIOD_US),
            "cpu.cfs_quota_us": str(round(limits.cpus * CFS_PERIOD_US))})
    if limits.cpu_shares is not None:
        files.setdefault("cpu", {})["cpu.shares"] = str(limits.cpu_shares)
    if limits.pids_limit is not None:
        files.setdefault("pids", {})["pids.max"] = (
            "max" if limits.pids_limit == -1 else str(limits.pids_limit))
    return files


def v2_files(limits: Limits) -> dict[str, str]:
    """What to write in a v2 cgroup: {file: value}."""
    files = {}
    if limits.memory is not None:
        files["memory.max"] = str(limits.memory)
        # Docker's --memory-swap counts memory + swap; v2's swap.max counts swap alone.
        if limits.memory_swap is None:
            files["memory.swap.max"] = str(limits.memory)  # Docker's default: swap = memory
        elif limits.memory_swap == -1:
            files["memory.swap.max"] = "max"
        else:
            files["memory.swap.max"] = str(limits.memory_swap - limits.memory)
    if limits.cpus is not None:
        files["cpu.max"] = f"{round(limits.cpus * CFS_PERIOD_US)} {CFS_PERIOD_US}"
    if limits.cpu_shares is not None:
        # The conversion runc and crun use between v1 shares and v2 weight.
        files["cpu.weight"] = str(1 + ((limits.cpu_shares - 2) * 9999) // 262142)
    if limits.pids_limit is not None:
        files["pids.max"] = "max" if limits.pids_limit == -1 else str(limits.pids_limit)
    return files


# --- drivers: one container's cgroup -----------------------------------------------
class V1Cgroup:
    """A container's cgroup on v1 (or hybrid) hosts: one directory per controller hierarchy."""

    version = 1

    def __init__(self, dirs: dict[str, str]):
        self.dirs = dirs  # {controller: directory}; co-mounted controllers share a directory

    def usable(self) -> set[str]:
        return {c for c, d in self.dirs.items() if os.access(os.path.dirname(
            os.path.dirname(d)), os.W_OK)}

    def create(self, limits: Limits, device_rules=None) -> None:
        """Make the directories and write the limits, and the device rules unless None."""
        if device_rules is not None and "devices" not in self.dirs:
            raise MissingFeature("the devices cgroup controller is not mounted on this host, "
                                 "and without it a root container could open the host's "
                                 "disks: mount it (mount -t cgroup -o devices devices "
                                 "/sys/fs/cgroup/devices), or run rootless, which needs no "
                                 "device rules")
        for directory in sorted(set(self.dirs.values())):
            _mkdir_nested(directory)
        if device_rules is not None:  # no process is in the cgroup yet: none escapes them
            from . import devices  # only a root container's cgroup has rules (prepare)

            _write_each(self.dirs["devices"], devices.v1_writes(device_rules))
        for controller, files in v1_files(limits).items():
            directory = self.dirs.get(controller)
            if directory is None:
                raise MissingFeature(f"the {controller} controller is not mounted on this "
                                     "host, so this limit cannot be set")
            for name, value in files.items():
                if name == "memory.memsw.limit_in_bytes" and not os.path.exists(
                        os.path.join(directory, name)):
                    if value == "-1":
                        continue  # "unlimited swap" on a kernel that does not count swap
                    raise MissingFeature("--memory-swap needs swap accounting, which this "
                                         "kernel has off (boot with swapaccount=1)")
                _write(os.path.join(directory, name), value)
        memsw = os.path.join(self.dirs.get("memory", ""), "memory.memsw.limit_in_bytes")
        if limits.memory is not None and limits.memory_swap is None and os.path.exists(memsw):
            # Docker's default: as much swap as memory (memory + swap = 2 x --memory).
            # Kernels without swap accounting have no such file: nothing to cap then.
            _write(memsw, str(2 * limits.memory))

    def join(self, pid: int = 0) -> None:
        """Move a process in: ``pid``, or the calling process (writing 0 means "me")."""
        for directory in sorted(set(self.dirs.values())):
            _write(os.path.join(directory, "cgroup.procs"), str(pid))

    def pids(self) -> list[int]:
        """Every process in the cgroup (its ``cgroup.procs``), as the host numbers them."""
        directory = self.dirs.get("pids") or next(iter(sorted(self.dirs.values())), None)
        return _pids(directory)

    def stats(self) -> dict:
        memory = self.dirs.get("memory")
        usage = _int(memory, "memory.usage_in_bytes")
        cache = _stat_field(memory, "memory.stat", "total_inactive_file")
        return {"memory": max(usage - cache, 0), "memory_limit": _int(
            memory, "memory.limit_in_bytes"), "cpu_ns": _int(self.dirs.get("cpuacct"),
                                                              "cpuacct.usage"),
                "pids": _int(self.dirs.get("pids"), "pids.current")}

    def oom_killed(self) -> bool:
        return _stat_field(self.dirs.get("memory"), "memory.oom_control", "oom_kill") > 0

    def evidence(self) -> dict:
        """The kernel's own record of memory trouble: failcnt and oom_control."""
        memory = self.dirs.get("memory")
        return {"memory.failcnt": _int(memory, "memory.failcnt"),
                "memory.oom_control": _read(os.path.join(memory, "memory.oom_control"), "")
                if memory else ""}

    def remove(self) -> None:
        for directory in sorted(set(self.dirs.values())):
            _rmdir_nested(directory)

    def paths(self) -> dict:
        return {"version": 1, "dirs": self.dirs}


class V2Cgroup:
    """A container's cgroup on a v2 host: one directory in the unified hierarchy."""

    version = 2

    def __init__(self, directory: str):
        self.dir = directory

    def usable(self) -> set[str]:
        parent = os.path.dirname(os.path.dirname(self.dir))
        return set(_read(os.path.join(parent, "cgroup.controllers"), "").split())

    def create(self, limits: Limits, device_rules=None) -> None:
        """Make the directory and write the limits; attach the device rules unless None."""
        parent = os.path.dirname(self.dir)
        files = v2_files(limits)
        needed = {name.split(".")[0] for name in files}
        missing = needed - self.usable()
        if missing:
            raise MissingFeature(
                f"the cgroup v2 controller(s) {', '.join(sorted(missing))} are not delegated "
                f"to {os.path.dirname(parent)}; {DELEGATION_HINT}")
        # Controllers flow down: each level must enable them for its children
        # (cgroup.subtree_control), and a cgroup that does so may hold no processes.
        enable = " ".join("+" + c for c in sorted(needed | ({"memory", "pids", "cpu"} &
                                                            self.usable())))
        _mkdir_nested(parent)
        if enable:
            _write(os.path.join(os.path.dirname(parent), "cgroup.subtree_control"), enable)
            _write(os.path.join(parent, "cgroup.subtree_control"), enable)
        os.mkdir(self.dir)
        if device_rules is not None:  # no process is in the cgroup yet: none escapes them
            from . import devices  # only a root container's cgroup has rules (prepare)

            devices.attach_v2(self.dir, device_rules)
        for name, value in files.items():
            if name == "memory.swap.max" and not os.path.exists(os.path.join(self.dir, name)):
                continue  # no swap on this kernel: nothing to limit
            _write(os.path.join(self.dir, name), value)

    def join(self, pid: int = 0) -> None:
        """Move a process in: ``pid``, or the calling process (writing 0 means "me")."""
        _write(os.path.join(self.dir, "cgroup.procs"), str(pid))

    def pids(self) -> list[int]:
        """Every process in the cgroup (its ``cgroup.procs``), as the host numbers them."""
        return _pids(self.dir)

    def stats(self) -> dict:
        limit = _read(os.path.join(self.dir, "memory.max"), "max").strip()
        usage = _int(self.dir, "memory.current")
        cache = _stat_field(self.dir, "memory.stat", "inactive_file")
        return {"memory": max(usage - cache, 0),
                "memory_limit": 0 if limit == "max" else int(limit),
                "cpu_ns": _stat_field(self.dir, "cpu.stat", "usage_usec") * 1000,
                "pids": _int(self.dir, "pids.current")}

    def oom_killed(self) -> bool:
        return _stat_field(self.dir, "memory.events", "oom_kill") > 0

    def evidence(self) -> dict:
        return {"memory.events": _read(os.path.join(self.dir, "memory.events"), "")}

    def remove(self) -> None:
        _rmdir_nested(self.dir)

    def paths(self) -> dict:
        return {"version": 2, "dir": self.dir}


DELEGATION_HINT = ("to let your user set limits, delegate controllers with systemd: "
                   "sudo mkdir -p /etc/systemd/system/user@.service.d && printf "
                   "'[Service]\\nDelegate=cpu cpuset io memory pids\\n' | sudo tee "
                   "/etc/systemd/system/user@.service.d/delegate.conf && "
                   "sudo systemctl daemon-reload, then log in again")


def for_container(cid: str, found: list[CgroupMount] | None = None,
                  own: dict[str, str] | None = None):
    """The cgroup a new container should get on this host (not yet created)."""
    return _driver(cid, mounts() if found is None else found, own_paths() if own is None
                   else own)


def _driver(cid: str, found: list[CgroupMount], own: dict[str, str]):
    kind = layout(found)
    if kind in ("v1", "hybrid"):
        dirs = {}
        for m in found:
            if m.version != 1:
                continue
            for controller in set(m.controllers) & set(USED):
                base = own.get(controller, "/")
                dirs[controller] = os.path.join(m.path, base.lstrip("/"), PARENT, cid)
        cgroup = V1Cgroup(dirs)
        if os.geteuid() != 0:
            usable = cgroup.usable()
            cgroup.dirs = {c: d for c, d in dirs.items() if c not in OPTIONAL or c in usable}
        if os.geteuid() != 0 and not {"memory", "cpu", "pids"} & cgroup.usable():
            raise MissingFeature("cgroup v1 cannot be delegated to an unprivileged user: run "
                                 "as root, or use a distribution with cgroup v2 "
                                 "(systemd.unified_cgroup_hierarchy=1)")
        return cgroup
    if kind == "v2":
        mount = next(m for m in found if m.version == 2)
        parent = _v2_parent(mount.path, own.get("", "/"))
        return V2Cgroup(os.path.join(parent, PARENT, cid))
    raise MissingFeature("no cgroup filesystem is mounted; mount cgroup2 on /sys/fs/cgroup")


def _v2_parent(mount: str, own: str) -> str:
    """Where a v2 container cgroup can live: the nearest cgroup at or above our own
    that we may write and that holds no processes (cgroup v2's "no internal
    processes" rule: a cgroup that hands controllers to children may hold none)."""
    path = own
    while True:
        directory = os.path.join(mount, path.lstrip("/"))
        if path == "/" or (os.access(directory, os.W_OK)
                           and not _read(os.path.join(directory, "cgroup.procs"), "x").strip()):
            if os.access(directory, os.W_OK):
                return directory
            raise MissingFeature(f"no cgroup this user may write at or above {own}; "
                                 f"{DELEGATION_HINT}")
        path = os.path.dirname(path)


def needed_controllers(limits: Limits) -> set[str]:
    """The controllers these limits need: {"memory", "cpu", "pids"}."""
    return set(v1_files(limits))


def check(limits: Limits) -> None:
    """Raise MissingFeature, with the fix, if this user cannot set these limits here.

    Called before a container is created, so that a limit is never silently ignored.
    """
    if not limits:
        return
    driver = for_container("probe")
    missing = needed_controllers(limits) - driver.usable()
    if missing:
        flags = {"memory": "--memory", "cpu": "--cpus/--cpu-shares", "pids": "--pids-limit"}
        asked = ", ".join(flags[c] for c in sorted(missing))
        fix = DELEGATION_HINT if driver.version == 2 else (
            "cgroup v1 cannot be delegated to an unprivileged user: run as root")
        raise MissingFeature(f"{asked} cannot be enforced: this user may not use the "
                             f"{', '.join(sorted(missing))} controller; {fix}")


def prepare(cid: str, limits: Limits, privileged: bool = False,
            found: list[CgroupMount] | None = None):
    """Create a container's cgroup with its limits and, as root, Docker's device rules
    (every device with ``privileged``); None where this user cannot have one.

    Without limits a rootless container's cgroup is made where possible (``stats``
    reads it); with limits, or as root, failing to make one is an error (see
    :func:`check`): a root container without device rules could open the host's disks.
    """
    from . import devices  # here, not at the top: only a container start needs it

    # Rootless needs none: see devices.needed().
    device_rules = devices.rules(privileged) if devices.needed() else None
    required = bool(limits) or device_rules is not None
    try:
        cgroup = for_container(cid, found)
    except MissingFeature:
        if required:
            raise
        return None
    try:
        cgroup.create(limits, device_rules)
    except (MissingFeature, OSError):
        try:
            cgroup.remove()
        except OSError:
            pass
        if required:
            raise
        return None
    return cgroup


def why_none() -> str:
    """Why a container here may have no cgroup (so ``stats`` has no numbers for it), and the fix.

    :func:`prepare` gives a rootless container without limits no cgroup, rather
    than fail, where this user may not make one.
    """
    try:
        for_container("probe")
    except MissingFeature as err:
        return str(err)
    return "its cgroup could not be made when it started; start it again to get one"


def from_paths(paths: dict | None):
    """The driver for a cgroup recorded in a container's state, or None."""
    if not paths:
        return None
    return V1Cgroup(paths["dirs"]) if paths["version"] == 1 else V2Cgroup(paths["dir"])


# --- small file helpers ------------------------------------------------------------
def _read(path: str, default: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return default


def _write(path: str, value: str) -> None:
    """One write(2) of ``value``: a cgroup file takes one setting (one device rule) per write."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)  # O_TRUNC: as open("w")
        try:
            os.write(fd, value.encode())
        finally:
            os.close(fd)
    except OSError as err:
        raise MissingFeature(f"cannot write {value!r} to {path}: "
                             f"{os.strerror(err.errno)}") from None


def _write_each(directory: str, writes) -> None:
    """Write each (file, line, _) in order, opening each file once: one rule per write(2)."""
    fds: dict[str, int] = {}
    try:
        for name, line, _ in writes:
            path = os.path.join(directory, name)
            try:
                if name not in fds:
                    fds[name] = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
                os.write(fds[name], line.encode())
            except OSError as err:
                raise MissingFeature(f"cannot write {line!r} to {path}: "
                                     f"{os.strerror(err.errno)}") from None
    finally:
        for fd in fds.values():
            os.close(fd)


def _pids(directory: str | None) -> list[int]:
    if not directory:
        return []
    return [int(p) for p in _read(os.path.join(directory, "cgroup.procs"), "").split()]


def _int(directory: str | None, name: str) -> int:
    if not directory:
        return 0
    try:
        return int(_read(os.path.join(directory, name), "0").split()[0])
    except (ValueError, IndexError):
        return 0


def _stat_field(directory: str | None, name: str, key: str) -> int:
    """One ``key value`` line of a flat-keyed cgroup file (memory.stat, memory.events, ...)."""
    if not directory:
        return 0
    for line in _read(os.path.join(directory, name), "").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == key:
            return int(parts[1])
    return 0


def _mkdir_nested(directory: str) -> None:
    """mkdir -p for a container's cgroup; another container's removal may race with us
    for the shared ``sandbox`` parent, so retry if it vanishes under us.  Where this process
    may not make cgroups at all (mkdir(2): EROFS, EACCES, EPERM), one sentence says so."""
    for _ in range(10):
        try:
            os.makedirs(directory, exist_ok=True)
            return
        except FileNotFoundError:
            continue
        except OSError as err:
            if err.errno not in (errno.EROFS, errno.EACCES, errno.EPERM):
                raise
            raise MissingFeature(
                f"cannot make the container's cgroup {directory}: {os.strerror(err.errno)} "
                "(inside another container, /sys/fs/cgroup is usually mounted read-only); "
                "run on the host, in a container that may manage its cgroups, or as an "
                "ordinary user (rootless), and see `sandbox doctor`") from None
    os.makedirs(directory, exist_ok=True)


def _rmdir_nested(directory: str) -> None:
    """Remove a container's cgroup, then its ``sandbox`` parent if no other container uses it.

    rmdir(2) of a cgroup fails with EBUSY while a process is still inside.  After a
    container's PID 1 exits, the kernel kills every process of its PID namespace, but
    not the helpers that joined its cgroup from outside that namespace (an ``exec``'s,
    a healthcheck's, sandbox.engine.runtime.exec_into): they end when their child does,
    which on a busy machine may take a while.  This is only called once the container has
    ended, so whatever is still inside after a moment is the container's own leftover:
    it is killed, as runc's destroy kills what is left in a container's cgroup, and the
    removal tried again.  Given up on (EBUSY) only if something survives SIGKILL.
    """
    for attempt in range(RMDIR_ATTEMPTS):
        try:
            os.rmdir(directory)
            break
        except FileNotFoundError:
            break
        except OSError as err:
            if err.errno != errno.EBUSY or attempt == RMDIR_ATTEMPTS - 1:
                raise
            if attempt % 100 == 99:  # every half second
                _kill_leftovers(directory)
            time.sleep(0.005)
    try:
        os.rmdir(os.path.dirname(directory))
    except OSError:
        pass  # another container's cgroup is still there, or a race: fine either way


RMDIR_ATTEMPTS = 600  # 5 ms apart: three seconds


def _kill_leftovers(directory: str) -> None:
    """SIGKILL every process still in an ended container's cgroup (thawed first: a frozen
    process on cgroup v1 takes its SIGKILL only when thawed)."""
    for name, thawed in (("freezer.state", "THAWED"), ("cgroup.freeze", "0")):
        if os.path.exists(os.path.join(directory, name)):
            try:
                _write(os.path.join(directory, name), thawed)
            except OSError:
                pass
    for pid in _pids(directory):
        try:
            os.kill(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            continue


def container_cgroups() -> list[str]:
    """The containers' cgroups (``sandbox/<64 hex>``) below this process's own cgroup in
    each hierarchy, where the containers it starts get theirs."""
    found = []
    own = own_paths()
    for mount in mounts():
        for key in mount.controllers if mount.version == 1 else ("",):
            parent = os.path.join(mount.path, own.get(key, "/").lstrip("/"), "sandbox")
            try:
                entries = list(os.scandir(parent))
            except OSError:
                continue
            found += [e.path for e in entries
                      if len(e.name) == 64 and not e.name.strip("0123456789abcdef")]
    return found


def orphans(min_age: float = 60.0) -> list[str]:
    """:func:`container_cgroups` with no process in them, made more than ``min_age``
    seconds ago.

    A container's cgroup is made a moment before its first process joins it, and removed
    when its container ends; one that stays empty for a minute belongs to no container:
    its monitor was killed, or its state root deleted before ``rm`` could remove it.
    """
    found, now = [], time.time()
    for path in container_cgroups():
        try:
            old = now - os.lstat(path).st_ctime > min_age
        except OSError:
            continue
        if old and os.path.isdir(path) and not _pids(path):
            found.append(path)
    return sorted(found)


def remove_orphans(min_age: float = 60.0) -> list[str]:
    """``system prune``'s part: remove :func:`orphans`; the paths removed."""
    removed = []
    for directory in orphans(min_age):
        try:
            _rmdir_nested(directory)
            removed.append(directory)
        except OSError:
            continue  # something came to life in it, or it went meanwhile
    return removed
