"""The cgroup v2 driver against a STAND-IN for the kernel: a directory tree laid out like cgroup2.

THIS IS A STAND-IN.  The machine these tests were written on cannot give cgroup
v2 controllers: its controllers sit on v1 hierarchies and its cgroup2 mount
(/sys/fs/cgroup/unified) is empty.  So a directory tree in tmp_path, laid out
like a cgroup2 filesystem, replaces the kernel here.  The real v2 path, with
real limits enforced by a real kernel, runs in the GitHub workflow
.github/workflows/cgroup-v2.yml (ubuntu-latest is pure cgroup v2), where
tests/test_cgroups_real.py goes through it.

What the stand-in imitates of the kernel, and no more (:class:`FakeCgroup2`):
- ``mkdir`` of a cgroup fills it with interface files: cgroup.procs,
  cgroup.controllers (what the parent's cgroup.subtree_control enables), and
  the memory.*, cpu.*, pids.* files of those controllers;
- ``rmdir`` removes those files with the directory, and fails with EBUSY while
  a process or a child cgroup is left in it;
- attaching the device rules' eBPF program (devices.attach_v2) records the rules
  against the directory, and they go with it.
Writes are plain file writes: the tests read back what the driver wrote.  The
real device program runs in tests/test_devices.py, in this host's cgroup2 hierarchy.
"""

import errno
import os
import threading
from pathlib import Path

import pytest

from sandbox.isolation import cgroups, devices
from sandbox.isolation.cgroups import (DELEGATION_HINT, CgroupMount, Limits, V2Cgroup, _v2_parent, check,
                             for_container, from_paths, mounts, own_paths, prepare)
from sandbox.errors import MissingFeature

MiB = 1024 ** 2
CID = "c0ffee" + "1" * 58
SCOPE = "/user.slice/user-1000.slice/session-2.scope"


class FakeCgroup2:
    """A cgroup2 mount stand-in: a directory tree with the kernel's files (see the module doc)."""

    def __init__(self, root: Path, swap: bool = True):
        self.root = root
        self.swap = swap  # whether memory.swap.max exists (swap accounting on)
        self.made: dict[str, set[str]] = {}  # files the "kernel" made in each new cgroup
        self.attached: dict[str, tuple] = {}  # device rules attached to each cgroup
        root.mkdir()
        self._fill(root, ["cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"],
                   procs="1\n")  # the root cgroup: every controller, and processes

    @property
    def mount(self) -> CgroupMount:
        controllers = tuple(self.read("", "cgroup.controllers").split())
        return CgroupMount(str(self.root), 2, controllers)

    def path(self, rel: str) -> Path:
        return self.root / rel.strip("/")

    def read(self, rel: str, name: str) -> str:
        return (self.path(rel) / name).read_text()

    def write(self, rel: str, name: str, text: str) -> None:
        (self.path(rel) / name).write_text(text)

    def cgroup(self, rel: str, procs: str = "", controllers: str | None = None,
               subtree: str | None = None) -> Path:
        """Make an existing cgroup (and its ancestors), as systemd would have."""
        directory = self.path(rel)
        for parent in reversed(directory.relative_to(self.root).parents):
            if parent != Path("."):
                self._make(self.root / parent)
        self._make(directory)
        self.write(rel, "cgroup.procs", procs)
        if controllers is not None:
            self.write(rel, "cgroup.controllers", controllers + "\n")
        if subtree is not None:
            self.write(rel, "cgroup.subtree_control", subtree + "\n")
        return directory

    def _make(self, directory: Path) -> None:
        if directory.exists():
            return
        parent = (directory.parent / "cgroup.subtree_control").read_text()
        # Whether written "+cpu +memory" or shown "cpu memory": the controllers enabled.
        enabled = [w.lstrip("+") for w in parent.split() if not w.startswith("-")]
        _real_mkdir(directory)
        self._fill(directory, enabled)

    def _fill(self, directory: Path, controllers: list[str], procs: str = "") -> None:
        files = {"cgroup.procs": procs, "cgroup.controllers": " ".join(controllers) + "\n",
                 "cgroup.subtree_control": "", "cgroup.type": "domain\n",
                 "cgroup.events": "populated 0\nfrozen 0\n",
                 "cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\n"}
        if "memory" in controllers:
            files.update({"memory.current": "0\n", "memory.max": "max\n",
                          "memory.stat": "anon 0\nfile 0\nactive_file 0\ninactive_file 0\n",
                          "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\n"
                                           "oom_group_kill 0\n"})
            if self.swap:
                files.update({"memory.swap.max": "max\n", "memory.swap.current": "0\n"})
        if "cpu" in controllers:
            files.update({"cpu.max": "max 100000\n", "cpu.weight": "100\n"})
        if "pids" in controllers:
            files.update({"pids.current": "0\n", "pids.max": "max\n"})
        for name, text in files.items():
            (directory / name).write_text(text)
        self.made[str(directory)] = set(files)

    # the two system calls the kernel answers differently from a plain directory
    def mkdir(self, path, mode=0o777, *, dir_fd=None):
        directory = Path(os.fspath(path))
        if self.root not in directory.parents:
            return _real_mkdir(path, mode, dir_fd=dir_fd)
        if directory.exists():
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), str(path))
        if not directory.parent.exists():
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))
        self._make(directory)

    def rmdir(self, path, *, dir_fd=None):
        directory = Path(os.fspath(path))
        if self.root not in directory.parents:
            return _real_rmdir(path, dir_fd=dir_fd)
        if not directory.is_dir():
            raise FileNotFoundError(errno.ENOENT, os.strerror(errno.ENOENT), str(path))
        if (directory / "cgroup.procs").read_text().strip() or any(
                p.is_dir() for p in directory.iterdir()):
            raise OSError(errno.EBUSY, os.strerror(errno.EBUSY), str(path))
        for entry in directory.iterdir():  # the interface files go with the cgroup
            entry.unlink()
        _real_rmdir(directory)
        self.attached.pop(str(directory), None)  # and so does its device program

    def attach_devices(self, directory: str, device_rules) -> None:
        if not Path(directory, "cgroup.procs").exists():
            raise MissingFeature(f"{directory} is not a cgroup")
        self.attached[directory] = tuple(device_rules)


_real_mkdir, _real_rmdir = os.mkdir, os.rmdir


@pytest.fixture
def fake(tmp_path, monkeypatch):
    """A cgroup2 stand-in at tmp_path/cgroup, with the driver's mkdir and rmdir going to it.

    Laid out as on a systemd host where we are in a session scope: the scope holds
    processes, its slice above holds none and may have controllers enabled.
    """
    kernel = FakeCgroup2(tmp_path / "cgroup")
    kernel.write("", "cgroup.subtree_control", "cpuset cpu io memory pids\n")
    kernel.cgroup("/user.slice", subtree="cpu io memory pids")
    kernel.cgroup("/user.slice/user-1000.slice", subtree="cpu memory pids")
    kernel.cgroup(SCOPE, procs="1234\n1240\n")
    monkeypatch.setattr(os, "mkdir", kernel.mkdir)
    monkeypatch.setattr(os, "rmdir", kernel.rmdir)
    monkeypatch.setattr(devices, "attach_v2", kernel.attach_devices)
    return kernel


@pytest.fixture
def host(fake, monkeypatch):
    """Make the driver's own look at the host (mounts(), own_paths()) see the stand-in."""
    monkeypatch.setattr(cgroups, "mounts", lambda mountinfo=None: [fake.mount])
    monkeypatch.setattr(cgroups, "own_paths", lambda text=None: {"": SCOPE})
    return fake


def only_writable(monkeypatch, fake, writable: set[str]):
    """Play an unprivileged user: W_OK only on these cgroups of the stand-in (root may write
    all), and no device rules (a rootless container needs none)."""
    monkeypatch.setattr(devices, "needed", lambda: False)
    real_access = os.access

    def access(path, mode, **kw):
        directory = Path(os.fspath(path))
        if mode & os.W_OK and (directory == fake.root or fake.root in directory.parents):
            rel = "/" + str(directory.relative_to(fake.root))
            return ("/" if rel == "/." else rel) in writable
        return real_access(path, mode, **kw)
    monkeypatch.setattr(os, "access", access)


# --- where the container's cgroup goes ---------------------------------------------
def test_parent_is_the_nearest_ancestor_without_processes(fake):
    """STAND-IN for the kernel (cgroup2 laid out in tmp_path; the real v2 path runs in the
    GitHub workflow): our session scope holds processes, so the cgroup goes to the
    slice above it, never to the hierarchy's root."""
    parent = _v2_parent(str(fake.root), SCOPE)
    assert Path(parent) == fake.path("/user.slice/user-1000.slice")
    cgroup = for_container(CID, [fake.mount], {"": SCOPE})
    assert isinstance(cgroup, V2Cgroup)
    assert Path(cgroup.dir) == fake.path(f"/user.slice/user-1000.slice/sandbox/{CID}")
    assert Path(cgroup.dir).parent.parent != fake.root


def test_own_cgroup_without_processes_is_used_itself(fake):
    """STAND-IN for the kernel (cgroup2 laid out in tmp_path; the real v2 path runs in the
    GitHub workflow): an own cgroup that holds no process may have children itself."""
    fake.cgroup("/user.slice/user-1000.slice/user@1000.service/app.slice/empty.scope")
    own = "/user.slice/user-1000.slice/user@1000.service/app.slice/empty.scope"
    assert Path(_v2_parent(str(fake.root), own)) == fake.path(own)


def test_own_cgroup_at_the_root_uses_the_root(fake):
    """STAND-IN for the kernel (cgroup2 laid out in tmp_path; the real v2 path runs in the
    GitHub workflow): a process in the root cgroup (a container host's init, say)
    puts containers at <mount>/sandbox: the root is exempt from the no-process rule."""
    assert Path(_v2_parent(str(fake.root), "/")) == fake.root
    cgroup = for_container(CID, [fake.mount], {"": "/"})
    assert Path(cgroup.dir) == fake.root / "sandbox" / CID
    cgroup = for_container(CID, [fake.mount], {})  # no v2 line at all: the root as well
    assert Path(cgroup.dir) == fake.root / "sandbox" / CID


def test_delegated_user_gets_its_own_subtree(fake, monkeypatch):
    """STAND-IN for the kernel (cgroup2 laid out in tmp_path; the real v2 path runs in the
    GitHub workflow): with systemd's Delegate=, user@1000.service and below are the
    user's; the terminal's scope holds processes, app.slice above it none."""
    service = "/user.slice/user-1000.slice/user@1000.service"
    fake.cgroup(service, subtree="cpu memory pids")
    fake.cgroup(service + "/app.slice", subtree="")
    fake.cgroup(service + "/app.slice/vte-spawn-1.scope", procs="4242\n")
    only_writable(monkeypatch, fake, {service, service + "/app.slice",
                                      service + "/app.slice/vte-spawn-1.scope"})
    own = service + "/app.slice/vte-spawn-1.scope"
    assert Path(_v2_parent(str(fake.root), own)) == fake.path(service + "/app.slice")


def test_no_writable_cgroup_is_refused_with_the_fix(fake, monkeypatch):
    """STAND-IN for the kernel (cgroup2 laid out in tmp_path; the real v2 path runs in the
    GitHub workflow): an unprivileged user without delegation may write nothing from
    its scope up to the root: one sentence saying how to delegate."""
    only_writable(monkeypatch, fake, set())
    with pytest.raises(MissingFeature) as err:
        _v2_parent(str(fake.root), SCOPE)
    message = str(err.value)
    assert message == f"no cgroup this user may write at or above {SCOPE}; {DELEGATION_HINT}"
    assert "Delegate=" in message and "\n" not in message
    # A writable scope that holds processes is no use either (no internal processes).
    only_writable(monkeypatch, fake, {SCOPE})
    with pytest.raises(MissingFeature, match="no cgroup this user may write"):
        for_container(CID, [fake.mount], {"": SCOPE})


# --- create: the limits, with v2's names ---------------------------------------------
def test_create_writes_v2_names_and_enables_controllers_on_the_way_down(fake):
    """STAND-IN for the kernel (cgroup2 laid out in tmp_path; the real v2 path runs in the
    GitHub workflow): limits land in memory.max, memory.swap.max, cpu.max, cpu.weight
    and pids.max; "+cpu +memory +pids" goes to cgroup.subtree_control of the parent
    and of the sandbox cgroup below it, which both hold no process."""
    cgroup = for_container(CID, [fake.mount], {"": SCOPE})
    cgroup.create(Limits(memory=64 * MiB, cpus=0.5, cpu_shares=1024, pids_limit=20))
    parent = "/user.slice/user-1000.slice"
    here = f"{parent}/sandbox/{CID}"
    assert Path(cgroup.dir) == fake.path(here)
    assert {name: fake.read(here, name) for name in (
        "memory.max", "memory.swap.max", "cpu.max", "cpu.weight", "pids.max")} == {
        "memory.max": str(64 * MiB), "memory.swap.max": str(64 * MiB),
        "cpu.max": "50000 100000", "cpu.weight": "39", "pids.max": "20"}
    for level in (parent, f"{parent}/sandbox"):
        assert fake.read(level, "cgroup.subtree_control") == "+cpu +memory +pids"
        assert fake.read(level, "cgroup.procs").strip() == ""  # the no-internal-process rule
        assert {"cpu", "memory", "pids"} <= set(fake.read(level, "cgroup.controllers").split())
    # The controllers reached the container's cgroup, and no file was invented:
    # the kernel refuses to create files in a cgroup, so every write went to one it made.
    assert fake.read(here, "cgroup.controllers").split() == ["cpu", "memory", "pids"]
    assert set(os.listdir(cgroup.dir)) == fake.made[cgroup.dir]
    assert fake.read(SCOPE, "cgroup.procs") == "1234\n1240\n"  # our own scope untouched


def test_create_without_limits_still_makes_a_cgroup_for_stats(fake):
    """STAND-IN for the kernel (cgroup2 laid out in tmp_path; the real v2 path runs in the
    GitHub workflow): no limit, but the cgroup exists (stats reads it), limits at max."""
    cgroup = for_container(CID, [fake.mount], {"": SCOPE})
    cgroup.create(Limits())
    assert fake.read(f"/user.slice/user-1000.slice/sandbox/{CID}", "memory.max") == "max\n"
    assert fake.read("/user.slice/user-1000.slice", "cgroup.subtree_control") == \
        "+cpu +memory +pids"


def test_memory_swap_on_v2_counts_swap_alone(fake):
    """STAND-IN for the kernel (cgroup2 laid out in tmp_path; the real v2 path runs in the
    GitHub workflow): Docker's --memory-swap is memory + swap; memory.swap.max is swap."""
    cgroup = for_container(CID, [fake.mount], {"": SCOPE})
    cgroup.create(Limits(memory=64 * MiB, memory_swap=96 * MiB))
    here = f"/user.slice/user-1000.slice/sandbox/{CID}"
    assert fake.read(here, "memory.max") == str(64 * MiB)
    assert fake.read(here, "memory.swap.max") == str(32 * MiB)
    cgroup.remove()
    cgroup.create(Limits(memory=64 * MiB, memory_swap=-1, pids_limit=-1))
    assert fake.read(here, "memory.swap.max") == "max"
    assert fake.read(here, "pids.max") == "max"


def test_without_swap_accounting_swap_max_is_skipped(tmp_path, monkeypatch):
    """STAND-IN for the kernel (cgroup2 laid out in tmp_path; the real v2 path runs in the
    GitHub workflow): a kernel without swap accounting has no memory.swap.max; the
    memory limit is still written and nothing else is invented."""
    kernel = FakeCgroup2(tmp_path / "cgroup", swap=False)
    kernel.write("", "cgroup.subtree_control", "cpu memory pids\n")
    kernel.cgroup("/system.slice", subtree="cpu memory pids")
    kernel.cgroup("/system.slice/ssh.service", procs="812\n")
    monkeypatch.setattr(os, "mkdir", kernel.mkdir)
    monkeypatch.setattr(os, "rmdir", kernel.rmdir)
    cgroup = for_container(CID, [kernel.mount], {"": "/system.slice/ssh.service"})
    cgroup.create(Limits(memory=32 * MiB))
    assert Path(cgroup.dir) == kernel.path(f"/system.slice/sandbox/{CID}")
    assert kernel.read(f"/system.slice/sandbox/{CID}", "memory.max") == str(32 * MiB)
    assert not os.path.exists(os.path.join(cgroup.dir, "memory.swap.max"))
    assert set(os.listdir(cgroup.dir)) == kernel.made[cgroup.dir]


def test_a_controller_that_is_not_delegated_is_refused_before_anything_is_made(fake):
    """STAND-IN for the kernel (cgroup2 laid out in tmp_path; the real v2 path runs in the
    GitHub workflow): systemd often delegates memory and pids but not cpu; --cpus
    then fails with the fix, and no directory is left behind."""
    fake.write("/user.slice/user-1000.slice", "cgroup.controllers", "memory pids\n")
    cgroup = for_container(CID, [fake.mount], {"": SCOPE})
    assert cgroup.usable() == {"memory", "pids"}
    with pytest.raises(MissingFeature) as err:
        cgroup.create(Limits(cpus=0.5, memory=64 * MiB))
    assert str(err.value).startswith("the cgroup v2 controller(s) cpu are not delegated to ")
    assert DELEGATION_HINT in str(err.value)
    assert not fake.path("/user.slice/user-1000.slice/sandbox").exists()


def test_join_writes_zero_meaning_the_caller(fake):
    """STAND-IN for the kernel (cgroup2 laid out in tmp_path; the real v2 path runs in the
    GitHub workflow): the container's PID 1 moves itself in by writing "0"."""
    cgroup = for_container(CID, [fake.mount], {"": SCOPE})
    cgroup.create(Limits(pids_limit=20))
    cgroup.join()
    assert Path(cgroup.dir, "cgroup.procs").read_text() == "0"


# --- reading it: OOM kills, evidence, stats ------------------------------------------
@pytest.fixture
def made(fake):
    cgroup = for_container(CID, [fake.mount], {"": SCOPE})
    cgroup.create(Limits(memory=32 * MiB))
    return cgroup


def test_oom_killed_reads_memory_events(made):
    """STAND-IN for the kernel (cgroup2 laid out in tmp_path; the real v2 path runs in the
    GitHub workflow): oom_kill in memory.events is the kernel's word for it."""
    events = Path(made.dir, "memory.events")
    assert not made.oom_killed()
    events.write_text("low 0\nhigh 0\nmax 31\noom 1\noom_kill 0\noom_group_kill 0\n")
    assert not made.oom_killed()  # "oom" alone: the limit was hit, nobody was killed
    events.write_text("low 0\nhigh 0\nmax 52\noom 1\noom_kill 1\noom_group_kill 0\n")
    assert made.oom_killed()
    assert made.evidence() == {"memory.events": events.read_text()}


def test_stats_reads_memory_cpu_and_pids(made):
    """STAND-IN for the kernel (cgroup2 laid out in tmp_path; the real v2 path runs in the
    GitHub workflow): memory.current less inactive file cache (as docker stats shows
    it), the limit from memory.max, cpu.stat's usage_usec in ns, pids.current."""
    d = Path(made.dir)
    (d / "memory.current").write_text("10485760\n")
    (d / "memory.stat").write_text("anon 7340032\nfile 3145728\nactive_file 1048576\n"
                                   "inactive_file 2097152\n")
    (d / "cpu.stat").write_text("usage_usec 1500000\nuser_usec 1200000\nsystem_usec 300000\n"
                                "nr_periods 30\nnr_throttled 12\nthrottled_usec 600000\n")
    (d / "pids.current").write_text("3\n")
    assert made.stats() == {"memory": 8388608, "memory_limit": 32 * MiB,
                            "cpu_ns": 1_500_000_000, "pids": 3}
    (d / "memory.max").write_text("max\n")
    assert made.stats()["memory_limit"] == 0  # no limit: stats shows the host's memory


def test_stats_of_a_cgroup_that_is_gone_are_zeros(made):
    """STAND-IN for the kernel (cgroup2 laid out in tmp_path; the real v2 path runs in the
    GitHub workflow): a container that exited meanwhile reads as zeros, no crash."""
    made.remove()
    assert made.stats() == {"memory": 0, "memory_limit": 0, "cpu_ns": 0, "pids": 0}
    assert not made.oom_killed() and made.evidence() == {"memory.events": ""}


# --- remove: the container's cgroup and the empty sandbox parent ----------------------
def test_remove_takes_the_empty_sandbox_parent_too(fake, made):
    """STAND-IN for the kernel (cgroup2 laid out in tmp_path; the real v2 path runs in the
    GitHub workflow): the last container out removes <parent>/sandbox; the parent
    (a systemd slice) stays."""
    parent = fake.path("/user.slice/user-1000.slice")
    made.remove()
    assert not os.path.exists(made.dir)
    assert not (parent / "sandbox").exists()
    assert parent.is_dir()
    made.remove()  # twice is harmless (rm after the monitor removed it)


def test_remove_leaves_the_parent_while_another_container_is_in_it(fake, made):
    """STAND-IN for the kernel (cgroup2 laid out in tmp_path; the real v2 path runs in the
    GitHub workflow): rmdir of the shared sandbox cgroup fails (EBUSY) while
    another container's cgroup is still below it, and that is fine."""
    other = for_container("f" * 64, [fake.mount], {"": SCOPE})
    other.create(Limits(memory=32 * MiB))
    made.remove()
    assert not os.path.exists(made.dir) and os.path.isdir(other.dir)
    other.remove()
    assert not fake.path("/user.slice/user-1000.slice/sandbox").exists()


def test_remove_waits_for_the_kernel_to_empty_the_cgroup(made):
    """STAND-IN for the kernel (cgroup2 laid out in tmp_path; the real v2 path runs in the
    GitHub workflow): just after PID 1 exits, rmdir may still see it (EBUSY): the
    driver retries until the cgroup is empty."""
    procs = Path(made.dir, "cgroup.procs")
    procs.write_text("4321\n")
    emptied = threading.Timer(0.1, procs.write_text, [""])
    emptied.start()
    try:
        made.remove()
    finally:
        emptied.join()
    assert not os.path.exists(made.dir)


def test_release_by_the_monitor_keeps_the_evidence_and_reports_a_busy_cgroup(made):
    """STAND-IN for the kernel (cgroup2 laid out in tmp_path; the real v2 path runs in the
    GitHub workflow): the monitor reads OOMKilled and memory.events, then removes the
    cgroup; one that stays busy is handed back for `rm`/`system prune` to retry."""
    from sandbox.engine.monitor import _release_cgroup
    from sandbox.engine.records import _remove_cgroup
    events = "low 0\nhigh 0\nmax 52\noom 1\noom_kill 1\noom_group_kill 0\n"
    Path(made.dir, "memory.events").write_text(events)
    Path(made.dir, "cgroup.procs").write_text("4321\n")  # a process that will not go
    assert _release_cgroup(made.paths()) == (True, made.paths(), {"memory.events": events})
    assert os.path.isdir(made.dir)
    Path(made.dir, "cgroup.procs").write_text("")
    _remove_cgroup(made.paths())  # what `rm` does with a cgroup left in state.json
    assert not os.path.exists(made.dir)
    assert _release_cgroup(None) == (False, None, {})


# --- check and prepare, on a host that is (as far as they can tell) v2 -----------------
def test_check_passes_where_the_controllers_are_there(host):
    """STAND-IN for the kernel (cgroup2 laid out in tmp_path; the real v2 path runs in the
    GitHub workflow): mounts() and own_paths() are pointed at the stand-in."""
    check(Limits(memory=64 * MiB, cpus=0.5, pids_limit=20))
    check(Limits())
    assert not host.path("/user.slice/user-1000.slice/sandbox").exists()  # check makes nothing


def test_check_names_the_flag_the_controller_and_the_fix(host):
    """STAND-IN for the kernel (cgroup2 laid out in tmp_path; the real v2 path runs in the
    GitHub workflow): a missing pids controller refuses --pids-limit in one sentence."""
    host.write("/user.slice/user-1000.slice", "cgroup.controllers", "cpu memory\n")
    check(Limits(memory=64 * MiB, cpus=1))
    with pytest.raises(MissingFeature) as err:
        check(Limits(memory=64 * MiB, pids_limit=20))
    assert str(err.value) == ("--pids-limit cannot be enforced: this user may not use the pids "
                              f"controller; {DELEGATION_HINT}")


def test_prepare_makes_the_cgroup_with_its_limits(host):
    """STAND-IN for the kernel (cgroup2 laid out in tmp_path; the real v2 path runs in the
    GitHub workflow): what `run` calls before the container's first process exists."""
    cgroup = prepare(CID, Limits(memory=64 * MiB, pids_limit=20))
    assert isinstance(cgroup, V2Cgroup)
    assert cgroup.paths() == {"version": 2, "dir": str(
        host.path(f"/user.slice/user-1000.slice/sandbox/{CID}"))}
    assert Path(cgroup.dir, "memory.max").read_text() == str(64 * MiB)
    assert Path(cgroup.dir, "pids.max").read_text() == "20"
    assert from_paths(cgroup.paths()).dir == cgroup.dir
    cgroup.remove()


def test_prepare_failing_with_limits_raises_and_cleans_up(host):
    """STAND-IN for the kernel (cgroup2 laid out in tmp_path; the real v2 path runs in the
    GitHub workflow): a limit is never silently dropped."""
    host.write("/user.slice/user-1000.slice", "cgroup.controllers", "memory pids\n")
    with pytest.raises(MissingFeature, match="cpu are not delegated"):
        prepare(CID, Limits(cpus=0.5))
    assert not host.path("/user.slice/user-1000.slice/sandbox").exists()


def test_prepare_without_limits_is_none_where_no_cgroup_may_be_made(host, monkeypatch):
    """STAND-IN for the kernel (cgroup2 laid out in tmp_path; the real v2 path runs in the
    GitHub workflow): a rootless container without limits runs without a cgroup;
    with a limit, the same host refuses with the fix."""
    only_writable(monkeypatch, host, set())
    assert prepare(CID, Limits()) is None
    with pytest.raises(MissingFeature, match="Delegate="):
        prepare(CID, Limits(memory=64 * MiB))
    with pytest.raises(MissingFeature, match="Delegate="):
        check(Limits(memory=64 * MiB))


def test_prepare_with_no_cgroup_filesystem(monkeypatch):
    """STAND-IN for the kernel (no cgroup mount at all, as mounts() would report it; the
    real v2 path runs in the GitHub workflow): rootless without limits runs without a
    cgroup; root never does, as its container would have no device rules."""
    monkeypatch.setattr(cgroups, "mounts", lambda mountinfo=None: [])
    monkeypatch.setattr(devices, "needed", lambda: True)
    with pytest.raises(MissingFeature, match="no cgroup filesystem is mounted"):
        prepare(CID, Limits())
    monkeypatch.setattr(devices, "needed", lambda: False)
    assert prepare(CID, Limits()) is None
    with pytest.raises(MissingFeature, match="no cgroup filesystem is mounted"):
        prepare(CID, Limits(memory=64 * MiB))


# --- device rules: attached at create, as root only ---------------------------------------
@pytest.mark.parametrize("privileged, expected", [(False, devices.DOCKER_DEFAULT),
                                                  (True, devices.ALLOW_ALL)])
def test_prepare_as_root_attaches_the_device_rules(host, monkeypatch, privileged, expected):
    """STAND-IN for the kernel (cgroup2 laid out in tmp_path; the real program is attached
    and enforced in tests/test_devices.py): the rules go to the container's own cgroup,
    before any process is in it, and go with it."""
    monkeypatch.setattr(devices, "needed", lambda: True)
    cgroup = prepare(CID, Limits(), privileged=privileged)
    assert host.attached == {cgroup.dir: expected}
    assert Path(cgroup.dir, "cgroup.procs").read_text() == ""
    cgroup.remove()
    assert host.attached == {}


def test_prepare_rootless_attaches_nothing(host, monkeypatch):
    """STAND-IN for the kernel (cgroup2 laid out in tmp_path)."""
    monkeypatch.setattr(devices, "needed", lambda: False)
    cgroup = prepare(CID, Limits(memory=64 * MiB))
    assert host.attached == {}
    cgroup.remove()


def test_a_device_program_that_cannot_be_attached_stops_a_root_container(host, monkeypatch):
    """STAND-IN for the kernel (cgroup2 laid out in tmp_path): one sentence, nothing left."""
    def refuse(directory, device_rules):
        raise MissingFeature(f"the device rules cannot be attached to {directory}")
    monkeypatch.setattr(devices, "needed", lambda: True)
    monkeypatch.setattr(devices, "attach_v2", refuse)
    with pytest.raises(MissingFeature, match="device rules cannot be attached"):
        prepare(CID, Limits())
    assert not host.path("/user.slice/user-1000.slice/sandbox").exists()


def test_from_mountinfo_to_the_container_dir(fake):
    """STAND-IN for the kernel (cgroup2 laid out in tmp_path; the real v2 path runs in the
    GitHub workflow): the whole reading, from a v2 host's mountinfo line and its
    /proc/self/cgroup line, with the mount point being the stand-in."""
    mountinfo = (f"35 24 0:30 / {fake.root} rw,nosuid,nodev,noexec,relatime shared:9 - "
                 "cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n")
    found = mounts(mountinfo)
    assert cgroups.layout(found) == "v2"
    assert found[0].controllers == ("cpuset", "cpu", "io", "memory", "hugetlb", "pids",
                                    "rdma", "misc")
    cgroup = for_container(CID, found, own_paths(f"0::{SCOPE}\n"))
    assert Path(cgroup.dir) == fake.path(f"/user.slice/user-1000.slice/sandbox/{CID}")
