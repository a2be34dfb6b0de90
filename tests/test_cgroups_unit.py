"""cgroups without containers: Docker's flags as numbers, the files each cgroup version
gets, and the layout read from mountinfo and /proc/self/cgroup (pure, no containers).

The sample texts below are what real machines show: a Debian 10 / CentOS 7 host
(v1), a Debian 11-12 or Ubuntu 20.04 host with systemd's hybrid layout, and an
Ubuntu 22.04+ / Fedora host (v2).
"""

import os

import pytest

from sandbox.isolation import cgroups
from sandbox.isolation.cgroups import (CFS_PERIOD_US, CgroupMount, Limits, V1Cgroup, V2Cgroup, for_container,
                             from_paths, layout, mounts, needed_controllers, own_paths,
                             parse_limits, parse_size, v1_files, v2_files)
from sandbox.errors import MissingFeature, UsageError

KiB, MiB, GiB = 1024, 1024 ** 2, 1024 ** 3
CPUS = len(os.sched_getaffinity(0))  # what parse_limits compares --cpus with
CID = "4f1c" + "0" * 60

# --- sample texts --------------------------------------------------------------------
# Lines that are not cgroups, as every mountinfo has them.
OTHER_MOUNTS = """\
22 28 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw
23 28 0:22 / /proc rw,nosuid,nodev,noexec,relatime shared:13 - proc proc rw
28 1 254:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw,errors=remount-ro
"""

# Debian 10: one hierarchy per controller, cpu and cpuacct co-mounted, systemd's named one.
MOUNTINFO_V1 = OTHER_MOUNTS + """\
25 22 0:24 / /sys/fs/cgroup ro,nosuid,nodev,noexec shared:8 - tmpfs tmpfs ro,mode=755
26 25 0:25 / /sys/fs/cgroup/systemd rw,nosuid,nodev,noexec,relatime shared:9 - cgroup cgroup rw,xattr,name=systemd
29 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid,nodev,noexec,relatime shared:11 - cgroup cgroup rw,cpu,cpuacct
30 25 0:29 / /sys/fs/cgroup/memory rw,nosuid,nodev,noexec,relatime shared:12 - cgroup cgroup rw,memory
31 25 0:30 / /sys/fs/cgroup/pids rw,nosuid,nodev,noexec,relatime shared:13 - cgroup cgroup rw,pids
32 25 0:31 / /sys/fs/cgroup/net_cls,net_prio rw,nosuid,nodev,noexec,relatime shared:14 - cgroup cgroup rw,net_cls,net_prio
33 25 0:32 / /sys/fs/cgroup/cpuset rw,nosuid,nodev,noexec,relatime shared:15 - cgroup cgroup rw,cpuset
34 25 0:33 / /sys/fs/cgroup/devices rw,nosuid,nodev,noexec,relatime shared:16 - cgroup cgroup rw,devices
"""

# Hybrid: the same, plus systemd's cgroup2 at .../unified, which has no controller.
# (The cgroup2 mount point is a placeholder: mounts() reads its cgroup.controllers.)
MOUNTINFO_HYBRID = MOUNTINFO_V1 + """\
27 25 0:26 / {unified} rw,nosuid,nodev,noexec,relatime shared:10 - cgroup2 cgroup2 rw,nsdelegate
"""

# v2: one hierarchy.
MOUNTINFO_V2 = OTHER_MOUNTS + """\
35 22 0:30 / {unified} rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot
"""

SESSION = "/user.slice/user-1000.slice/session-2.scope"
PROC_CGROUP_V1 = f"""\
12:pids:{SESSION}
11:memory:{SESSION}
10:cpu,cpuacct:/user.slice
9:cpuset:/
8:net_cls,net_prio:/
7:devices:/user.slice
6:freezer:/
5:blkio:/user.slice
4:perf_event:/
3:hugetlb:/
2:rdma:/
1:name=systemd:{SESSION}
"""
PROC_CGROUP_HYBRID = PROC_CGROUP_V1 + f"0::{SESSION}\n"
APP = "/user.slice/user-1000.slice/user@1000.service/app.slice/vte-spawn-3bd1.scope"
PROC_CGROUP_V2 = f"0::{APP}\n"


@pytest.fixture
def cgroup2(tmp_path):
    """A directory standing for a cgroup2 mount point: only its cgroup.controllers is read."""
    def make(controllers: str) -> str:
        path = tmp_path / "cgroup2"
        path.mkdir()
        (path / "cgroup.controllers").write_text(controllers + "\n")
        return str(path)
    return make


# --- sizes -------------------------------------------------------------------------
@pytest.mark.parametrize("text, size", [
    ("64m", 64 * MiB), ("1g", GiB), ("512k", 512 * KiB), ("1024b", 1024), ("1.5g", 3 * GiB // 2),
    ("1024", 1024), ("64M", 64 * MiB), ("64mb", 64 * MiB), ("64MiB", 64 * MiB),
    ("2kb", 2 * KiB), (" 32m ", 32 * MiB), ("1t", 1024 ** 4), ("0.5m", MiB // 2),
])
def test_sizes_read_as_docker_reads_them(text, size):
    assert parse_size(text, "-m, --memory") == size


@pytest.mark.parametrize("text", ["10x", "", "m", "kb", "abc", "1.2.3m", "64 m b", "ten"])
def test_a_bad_size_is_one_sentence_naming_the_flag(text):
    with pytest.raises(UsageError) as err:
        parse_size(text, "-m, --memory")
    message = str(err.value)
    assert message.startswith(f'invalid argument "{text}" for "-m, --memory" flag: invalid size')
    assert "\n" not in message


@pytest.mark.parametrize("text", [
    "inf", "nan", "infm", "-5m",
])
def test_infinity_and_nan_are_bad_sizes(text):
    with pytest.raises(UsageError):
        parse_size(text, "-m, --memory")


# --- parse_limits --------------------------------------------------------------------
def test_all_flags_at_once():
    limits = parse_limits(memory="64m", memory_swap="128m", cpus="0.5", cpu_shares="512",
                          pids_limit="20")
    assert limits.as_dict() == {"memory": 64 * MiB, "memory_swap": 128 * MiB, "cpus": 0.5,
                                "cpu_shares": 512, "pids_limit": 20}
    assert limits


def test_no_flags_is_no_limits():
    limits = parse_limits()
    assert not limits and limits.as_dict() == {}
    assert v1_files(limits) == {} and v2_files(limits) == {}


def test_limits_at_the_edges_are_accepted():
    assert parse_limits(memory="6m").memory == cgroups.MIN_MEMORY
    assert parse_limits(cpus="0.01").cpus == 0.01
    assert parse_limits(cpus=str(CPUS)).cpus == CPUS
    assert parse_limits(pids_limit="-1").pids_limit == -1
    assert parse_limits(memory="64m", memory_swap="-1").memory_swap == -1
    assert parse_limits(memory="64m", memory_swap="64m").memory_swap == 64 * MiB
    assert parse_limits(cpu_shares="2").cpu_shares == 2


RANGE = (f"the range of CPUs is from 0.01 to {CPUS}.00, as there are only {CPUS} CPUs "
         "available")


@pytest.mark.parametrize("flags, message", [
    ({"memory": "10x"}, 'invalid argument "10x" for "-m, --memory" flag: invalid size: '
                        "'10x' (use a number with b, k, m or g, like 64m)"),
    ({"memory": "1"}, "--memory 1: the minimum memory limit allowed is 6MB"),
    ({"memory": "6143k"}, "--memory 6143k: the minimum memory limit allowed is 6MB"),
    ({"cpus": "-1"}, f"--cpus -1: {RANGE}"),
    ({"cpus": "1000"}, f"--cpus 1000: {RANGE}"),
    ({"cpus": "0.001"}, f"--cpus 0.001: {RANGE}"),
    ({"cpus": "half"}, 'invalid argument "half" for "--cpus" flag: not a number'),
    ({"pids_limit": "abc"}, 'invalid argument "abc" for "--pids-limit" flag: '
                            'strconv.ParseInt: parsing "abc": invalid syntax'),
    ({"pids_limit": "0"}, "--pids-limit 0: must be a positive number (or -1 for no limit)"),
    ({"pids_limit": "-2"}, "--pids-limit -2: must be a positive number (or -1 for no limit)"),
    ({"cpu_shares": "1"}, "--cpu-shares 1: must be between 2 and 262144"),
    ({"memory": "64m", "memory_swap": "32m"},
     "--memory-swap must be at least --memory: it is the total of memory and swap"),
    ({"memory_swap": "128m"}, "--memory-swap needs --memory as well"),
])
def test_bad_limits_are_one_sentence_naming_the_flag(flags, message):
    with pytest.raises(UsageError) as err:
        parse_limits(**flags)
    assert str(err.value) == message
    assert "\n" not in str(err.value)
    assert err.value.exit_code == 125  # what `docker run` exits with for a bad flag


# --- what is written where ----------------------------------------------------------
def test_v1_files_names_and_values():
    limits = Limits(memory=64 * MiB, cpus=0.5, cpu_shares=512, pids_limit=20)
    assert v1_files(limits) == {
        "memory": {"memory.limit_in_bytes": str(64 * MiB)},
        "cpu": {"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "50000", "cpu.shares": "512"},
        "pids": {"pids.max": "20"},
    }


@pytest.mark.parametrize("cpus, quota", [(0.5, 50000), (1.5, 150000), (0.01, 1000), (2, 200000),
                                         (0.333, 33300)])
def test_cfs_quota_is_cpus_times_the_period(cpus, quota):
    assert CFS_PERIOD_US == 100_000  # Docker's period
    assert v1_files(Limits(cpus=cpus))["cpu"]["cpu.cfs_quota_us"] == str(quota)
    assert v2_files(Limits(cpus=cpus))["cpu.max"] == f"{quota} 100000"


def test_v1_memory_swap_is_memory_plus_swap_and_unlimited_pids_is_max():
    files = v1_files(Limits(memory=64 * MiB, memory_swap=96 * MiB, pids_limit=-1))
    assert files["memory"] == {"memory.limit_in_bytes": str(64 * MiB),
                               "memory.memsw.limit_in_bytes": str(96 * MiB)}
    assert files["pids"] == {"pids.max": "max"}


def test_v2_files_names_and_values():
    limits = Limits(memory=64 * MiB, cpus=0.5, cpu_shares=1024, pids_limit=20)
    assert v2_files(limits) == {"memory.max": str(64 * MiB),
                                "memory.swap.max": str(64 * MiB),  # Docker: as much swap as memory
                                "cpu.max": "50000 100000", "cpu.weight": "39", "pids.max": "20"}


@pytest.mark.parametrize("swap, swap_max", [(-1, "max"), (96 * MiB, str(32 * MiB)),
                                            (64 * MiB, "0")])
def test_v2_swap_max_counts_swap_alone(swap, swap_max):
    files = v2_files(Limits(memory=64 * MiB, memory_swap=swap))
    assert files["memory.max"] == str(64 * MiB) and files["memory.swap.max"] == swap_max


@pytest.mark.parametrize("shares, weight", [(2, 1), (1024, 39), (512, 20), (262144, 10000)])
def test_shares_become_weight_by_runcs_formula(shares, weight):
    # runc/crun: weight = 1 + ((shares - 2) * 9999) / 262142
    assert weight == 1 + ((shares - 2) * 9999) // 262142
    assert v2_files(Limits(cpu_shares=shares))["cpu.weight"] == str(weight)


def test_unlimited_pids_is_max_on_v2():
    assert v2_files(Limits(pids_limit=-1)) == {"pids.max": "max"}


def test_needed_controllers():
    assert needed_controllers(Limits(memory=64 * MiB)) == {"memory"}
    assert needed_controllers(Limits(cpus=1, pids_limit=5)) == {"cpu", "pids"}
    assert needed_controllers(Limits(cpu_shares=100)) == {"cpu"}
    assert needed_controllers(Limits()) == set()


# --- reading the layout -------------------------------------------------------------
def test_mounts_v1():
    found = mounts(MOUNTINFO_V1)
    assert [(m.path, m.version, m.controllers) for m in found] == [
        ("/sys/fs/cgroup/systemd", 1, ()),
        ("/sys/fs/cgroup/cpu,cpuacct", 1, ("cpu", "cpuacct")),
        ("/sys/fs/cgroup/memory", 1, ("memory",)),
        ("/sys/fs/cgroup/pids", 1, ("pids",)),
        ("/sys/fs/cgroup/net_cls,net_prio", 1, ("net_cls", "net_prio")),
        ("/sys/fs/cgroup/cpuset", 1, ("cpuset",)),
        ("/sys/fs/cgroup/devices", 1, ("devices",)),
    ]
    assert layout(found) == "v1"


def test_mounts_hybrid(cgroup2):
    unified = cgroup2("")  # systemd's cgroup2 in a hybrid layout: no controller in it
    found = mounts(MOUNTINFO_HYBRID.format(unified=unified))
    assert [(m.path, m.version, m.controllers) for m in found if m.version == 2] == [
        (unified, 2, ())]
    assert len([m for m in found if m.version == 1]) == 7
    assert layout(found) == "hybrid"


def test_mounts_v2_reads_the_controllers(cgroup2):
    path = cgroup2("cpuset cpu io memory hugetlb pids rdma misc")
    found = mounts(MOUNTINFO_V2.format(unified=path))
    assert [(m.path, m.version, m.controllers) for m in found] == [
        (path, 2, ("cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"))]
    assert layout(found) == "v2"


def test_layout_without_cgroups():
    assert mounts(OTHER_MOUNTS) == []
    assert layout([]) == "none"
    # systemd's named hierarchy alone has no controller: not a v1 host
    assert layout([CgroupMount("/sys/fs/cgroup/systemd", 1, ())]) == "none"


def test_mounts_of_this_machine_are_read():
    found = mounts()  # /proc/self/mountinfo
    assert layout(found) in ("v1", "v2", "hybrid")


def test_own_paths_v1():
    own = own_paths(PROC_CGROUP_V1)
    assert own["memory"] == own["pids"] == own["systemd"] == SESSION
    assert own["cpu"] == own["cpuacct"] == own["blkio"] == "/user.slice"  # co-mounted: both
    assert own["net_cls"] == own["net_prio"] == own["cpuset"] == "/"
    assert "" not in own


def test_own_paths_hybrid_and_v2():
    assert own_paths(PROC_CGROUP_HYBRID)[""] == SESSION
    assert own_paths(PROC_CGROUP_V2) == {"": APP}


def test_own_paths_of_this_process():
    own = own_paths()  # /proc/self/cgroup
    assert own and all(path.startswith("/") for path in own.values())


# --- which directories a container gets --------------------------------------------
def test_hybrid_container_gets_v1_dirs_below_its_own_cgroups(cgroup2, monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    found = mounts(MOUNTINFO_HYBRID.format(unified=cgroup2("")))
    cgroup = for_container(CID, found, own_paths(PROC_CGROUP_HYBRID))
    assert isinstance(cgroup, V1Cgroup)
    assert cgroup.dirs == {
        "cpu": f"/sys/fs/cgroup/cpu,cpuacct/user.slice/sandbox/{CID}",
        "cpuacct": f"/sys/fs/cgroup/cpu,cpuacct/user.slice/sandbox/{CID}",
        "memory": f"/sys/fs/cgroup/memory{SESSION}/sandbox/{CID}",
        "pids": f"/sys/fs/cgroup/pids{SESSION}/sandbox/{CID}",
        "devices": f"/sys/fs/cgroup/devices/user.slice/sandbox/{CID}",
    }  # the controllers limits need, and devices; co-mounted ones share a directory
    assert from_paths(cgroup.paths()).dirs == cgroup.dirs


def test_v1_container_of_a_process_at_the_root(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    cgroup = for_container(CID, mounts(MOUNTINFO_V1), own_paths("11:memory:/\n12:pids:/\n"))
    assert cgroup.dirs["memory"] == f"/sys/fs/cgroup/memory/sandbox/{CID}"
    assert cgroup.dirs["pids"] == f"/sys/fs/cgroup/pids/sandbox/{CID}"
    assert cgroup.dirs["cpu"] == f"/sys/fs/cgroup/cpu,cpuacct/sandbox/{CID}"  # not in own: "/"


def test_v1_refuses_an_unprivileged_user_with_one_sentence(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda path, mode, **kw: False if str(path).startswith(
        "/sys/fs/cgroup/") else real_access(path, mode, **kw))
    with pytest.raises(MissingFeature) as err:
        for_container(CID, mounts(MOUNTINFO_V1), own_paths(PROC_CGROUP_V1))
    message = str(err.value)
    assert "run as root" in message and "\n" not in message


def test_v2_container_gets_one_dir(cgroup2):
    path = cgroup2("cpu memory pids")
    cgroup = for_container(CID, mounts(MOUNTINFO_V2.format(unified=path)), own_paths("0::/\n"))
    assert isinstance(cgroup, V2Cgroup)
    assert cgroup.dir == os.path.join(path, "sandbox", CID)
    assert from_paths(cgroup.paths()).dir == cgroup.dir


def test_no_cgroup_filesystem_is_a_missing_feature():
    with pytest.raises(MissingFeature, match="no cgroup filesystem is mounted"):
        for_container(CID, [], {})


def test_from_paths_of_nothing():
    assert from_paths(None) is None and from_paths({}) is None
