"""Device rules: Docker's table, the v1 writes and the v2 eBPF program (pure), then the
kernel enforcing them (root): a process in the cgroup may make a block device node
but not open it, while /dev/null opens.

The real tests make their cgroups as ``t-devices-<pid>-<n>`` directly below a
hierarchy's root and remove them; the v2 one runs on this hybrid host too, as
cgroup-bpf device programs work in the cgroup2 hierarchy whatever the layout.
"""

import ctypes
import errno
import itertools
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.isolation import cgroups, devices
from sandbox.kernel import syscalls as sc
from sandbox.isolation.devices import (ALLOW_ALL, DOCKER_DEFAULT, BPF_ALU, BPF_AND, BPF_EXIT, BPF_JMP,
                             BPF_JNE, BPF_K, BPF_LDX, BPF_MEM, BPF_MOV, BPF_RSH, BPF_W, BPF_X,
                             Insn, Rule)
from sandbox.errors import MissingFeature
from sandbox.isolation.namespaces import in_child
from conftest import errno_of, root_only, sandbox

JNE_K, JNE_X = BPF_JMP | BPF_JNE | BPF_K, BPF_JMP | BPF_JNE | BPF_X
MOV_K, MOV_X = BPF_ALU | BPF_MOV | BPF_K, BPF_ALU | BPF_MOV | BPF_X
AND_K = BPF_ALU | BPF_AND | BPF_K
LDX_W, EXIT = BPF_LDX | BPF_MEM | BPF_W, BPF_JMP | BPF_EXIT
MKNOD, READ, WRITE = 1, 2, 4
BLOCK, CHAR = 1, 2


# --- the rules -------------------------------------------------------------------------
def test_docker_default_rules():
    """moby's defaults.go plus runc's AllowedDevices: mknod anything, open these."""
    assert [str(r) for r in DOCKER_DEFAULT] == [
        "c *:* m", "b *:* m", "c 1:3 rwm", "c 1:5 rwm", "c 1:7 rwm", "c 1:8 rwm", "c 1:9 rwm",
        "c 5:0 rwm", "c 5:1 rwm", "c 5:2 rwm", "c 136:* rwm", "c 10:200 rwm"]
    assert not any(r.major == 10 and r.minor == 229 for r in DOCKER_DEFAULT)  # no FUSE
    assert devices.rules() == DOCKER_DEFAULT
    assert [str(r) for r in devices.rules(privileged=True)] == ["a *:* rwm"]


def test_v1_writes_deny_everything_then_allow_each_rule():
    writes = [(name, line) for name, line, _ in devices.v1_writes(DOCKER_DEFAULT)]
    assert writes[0] == ("devices.deny", "a")
    assert writes[1:] == [("devices.allow", str(r)) for r in DOCKER_DEFAULT]
    assert [(n, line) for n, line, _ in devices.v1_writes(ALLOW_ALL)] == [("devices.allow", "a")]


def test_rootless_gets_no_rules(monkeypatch):
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert devices.needed() is False


def test_root_of_a_user_namespace_gets_no_rules():
    """Mapped to root in a new user namespace (unshare -U -r), as runc's RunningInUserNS."""
    code = "from sandbox.isolation import devices; print(devices.needed())"
    r = subprocess.run(["unshare", "-U", "-r", sys.executable, "-c", code],
                       capture_output=True, text=True, cwd=Path(__file__).parent.parent)
    if r.returncode != 0:
        pytest.skip(f"no user namespace here: {r.stderr.strip()}")
    assert r.stdout == "False\n"


# --- the v2 program ----------------------------------------------------------------------
TYPE = [Insn(LDX_W, 2, 1, 0), Insn(AND_K, 2, imm=0xffff)]  # r2 = access_type & 0xffff


def test_program_of_one_device():
    """c 1:3 rwm: three tests that each skip to the next rule, then return 1; else 0."""
    assert devices.program((Rule("c", 1, 3, "rwm"),)) == tuple(TYPE + [
        Insn(JNE_K, 2, off=6, imm=CHAR),                  # another type: skip the 6 after
        Insn(LDX_W, 4, 1, 4), Insn(JNE_K, 4, off=4, imm=1),  # another major
        Insn(LDX_W, 5, 1, 8), Insn(JNE_K, 5, off=2, imm=3),  # another minor
        Insn(MOV_K, 0, imm=1), Insn(EXIT),
        Insn(MOV_K, 0, imm=0), Insn(EXIT)])


def test_program_of_mknod_only_tests_the_access():
    """b *:* m: no numbers to test, but the access asked for must be within "m"."""
    assert devices.program((Rule("b", None, None, "m"),)) == tuple(TYPE + [
        Insn(JNE_K, 2, off=7, imm=BLOCK),
        Insn(LDX_W, 3, 1, 0), Insn(BPF_ALU | BPF_RSH | BPF_K, 3, imm=16),
        Insn(MOV_X, 6, 3), Insn(AND_K, 6, imm=MKNOD), Insn(JNE_X, 6, 3, off=2),
        Insn(MOV_K, 0, imm=1), Insn(EXIT),
        Insn(MOV_K, 0, imm=0), Insn(EXIT)])


def test_privileged_program_allows_everything():
    assert devices.program(ALLOW_ALL) == (Insn(MOV_K, 0, imm=1), Insn(EXIT))
    with pytest.raises(ValueError):
        devices.program(ALLOW_ALL + DOCKER_DEFAULT)


def test_instructions_are_struct_bpf_insn():
    """u8 code, u8 dst_reg:4 src_reg:4, s16 off, s32 imm; the registers' nibbles follow
    the machine's bit-field order."""
    packed = devices.assemble((Insn(JNE_X, 6, 3, off=2), Insn(JNE_K, 5, off=-1, imm=200)))
    assert len(packed) == 16 and packed[0] == 0x5d
    assert packed[1] == (0x36 if sys.byteorder == "little" else 0x63)
    assert packed[10:] == (-1).to_bytes(2, sys.byteorder, signed=True) + (200).to_bytes(
        4, sys.byteorder)
    program = devices.program(DOCKER_DEFAULT)
    assert len(devices.assemble(program)) == 8 * len(program)
    assert len(program) == 110  # ten a rule, less where a number is *, and "return 0"


def run_program(program, kind: int, major: int, minor: int, access: int) -> int:
    """A tiny interpreter of the instructions the program uses, for the table below."""
    regs, ctx, pc = [0] * 11, [access << 16 | kind, major, minor], 0
    while True:
        i = program[pc]
        pc += 1
        if i.code == LDX_W:
            regs[i.dst] = ctx[i.off // 4]
        elif i.code & 0x07 == BPF_ALU:
            value = regs[i.src] if i.code & BPF_X else i.imm
            op = i.code & 0xf0
            regs[i.dst] = (value if op == BPF_MOV else regs[i.dst] & value if op == BPF_AND
                           else regs[i.dst] >> value) & 0xFFFFFFFF
        elif i.code == EXIT:
            return regs[0]
        elif regs[i.dst] != (regs[i.src] if i.code & BPF_X else i.imm):
            pc += i.off


@pytest.mark.parametrize("kind, major, minor, access, allowed", [
    (CHAR, 1, 3, READ | WRITE, 1),     # /dev/null
    (CHAR, 1, 9, READ, 1),             # /dev/urandom
    (CHAR, 136, 7, READ | WRITE, 1),   # /dev/pts/7
    (CHAR, 10, 200, READ | WRITE, 1),  # /dev/net/tun
    (BLOCK, 8, 0, MKNOD, 1),           # mknod /tmp/sda b 8 0: allowed ...
    (BLOCK, 8, 0, READ, 0),            # ... opening it is not
    (BLOCK, 7, 0, READ | WRITE, 0),    # loop0
    (CHAR, 1, 1, READ, 0),             # /dev/mem
    (CHAR, 10, 229, READ | WRITE, 0),  # /dev/fuse
    (CHAR, 4, 1, MKNOD | READ, 0),     # a tty: mknod alone is fine, read is asked for too
])
def test_what_the_default_program_decides(kind, major, minor, access, allowed):
    assert run_program(devices.program(DOCKER_DEFAULT), kind, major, minor, access) == allowed
    assert run_program(devices.program(ALLOW_ALL), kind, major, minor, access) == 1


def test_describe_rules_for_the_course():
    v1 = devices.describe_rules(1)
    assert v1.splitlines()[0].startswith("devices.deny  <- a")
    assert "devices.allow <- c 1:3 rwm    # /dev/null" in v1
    v2 = devices.describe_rules(2).splitlines()
    assert v2[:2] == ["    ; c *:* m  mknod of any character device",
                      "   0: r2 = *(u32 *)(r1 + 0)    ; access_type"]
    assert v2[-1] == " 109: exit"
    start = v2.index("    ; c 1:3 rwm  /dev/null")
    assert v2[start + 3] == "  22: if r2 != 2 goto 29"  # failing, on to the next rule
    assert v2[v2.index("    ; c 1:5 rwm  /dev/zero") + 1].startswith("  29: ")
    assert devices.describe_rules(2, privileged=True) == "   0: w0 = 1\n   1: exit"


# --- the kernel enforcing them (root) --------------------------------------------------
_serial = itertools.count()


def cgroup_dir(mount: str) -> Path:
    return Path(mount, f"t-devices-{os.getpid()}-{next(_serial)}")


def v1_devices_mount() -> str | None:
    return next((m.path for m in cgroups.mounts() if m.version == 1
                 and "devices" in m.controllers), None)


def v2_mount() -> str | None:
    return next((m.path for m in cgroups.mounts() if m.version == 2), None)


def probe(procs: Path, scratch: Path, nodes: dict) -> dict:
    """In a child (namespaces.in_child) with a private mount namespace that joins the
    cgroup (its ``cgroup.procs``): mknod each node on a fresh tmpfs (not nodev), then
    open it for reading.  Returns {name: [mknod errno, open errno]}, 0 for success."""
    def child():
        procs.write_text("0")
        sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
        sc.mount("tmpfs", scratch, "tmpfs", 0, "size=1m")
        results = {}
        for name, (kind, major, minor) in nodes.items():
            path = scratch / name
            results[name] = [errno_of(os.mknod, path, 0o600 | kind, os.makedev(major, minor)),
                             errno_of(lambda p: os.close(os.open(p, os.O_RDONLY)), path)]
        results["/dev/null"] = [0, errno_of(lambda p: os.close(os.open(p, os.O_RDWR)),
                                            "/dev/null")]
        return results
    return in_child(child, sc.CLONE_NEWNS)


NODES = {"loop0": (stat.S_IFBLK, 7, 0), "sda": (stat.S_IFBLK, 8, 0),
         "fuse": (stat.S_IFCHR, 10, 229), "zero": (stat.S_IFCHR, 1, 5)}


def remove(directory: Path) -> None:
    cgroups._rmdir_nested(str(directory))  # waits for the child to have left
    assert not directory.exists()


def assert_the_default_rules_held(results: dict) -> None:
    for name in ("loop0", "sda", "fuse"):
        assert results[name] == [0, errno.EPERM], (name, results)  # made, not opened
    assert results["zero"] == [0, 0] and results["/dev/null"] == [0, 0], results


def assert_nothing_was_refused(results: dict) -> None:
    for name, (made, opened) in results.items():
        assert made == 0 and opened != errno.EPERM, (name, results)  # ENXIO: no such device


def attached_programs(directory: str) -> int:
    """How many device programs are attached to a cgroup (bpf(BPF_PROG_QUERY))."""
    class bpf_attr_prog_query(ctypes.Structure):
        # Every field up to revision: 6.17+ kernels write it whatever size is given
        # (runc's findAttachedCgroupDeviceFilters works around the same).
        _fields_ = [("target_fd", ctypes.c_uint32), ("attach_type", ctypes.c_uint32),
                    ("query_flags", ctypes.c_uint32), ("attach_flags", ctypes.c_uint32),
                    ("prog_ids", ctypes.c_uint64), ("prog_cnt", ctypes.c_uint32),
                    ("pad", ctypes.c_uint32), ("prog_attach_flags", ctypes.c_uint64),
                    ("link_ids", ctypes.c_uint64), ("link_attach_flags", ctypes.c_uint64),
                    ("revision", ctypes.c_uint64)]
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        query = bpf_attr_prog_query(target_fd=fd, attach_type=sc.BPF_CGROUP_DEVICE)
        sc.bpf(sc.BPF_PROG_QUERY, query)  # no buffer for the ids: just the count
        return query.prog_cnt
    finally:
        os.close(fd)


@root_only
@pytest.mark.skipif(v1_devices_mount() is None, reason="no v1 devices hierarchy")
@pytest.mark.parametrize("privileged", [False, True])
def test_v1_rules_in_a_real_cgroup(tmp_path, privileged):
    root_list = Path(v1_devices_mount(), "devices.list").read_text()
    directory = cgroup_dir(v1_devices_mount())
    try:
        cgroups.V1Cgroup({"devices": str(directory)}).create(cgroups.Limits(),
                                                            devices.rules(privileged))
        listed = Path(directory, "devices.list").read_text().splitlines()
        assert listed == ([str(r) for r in devices.rules(privileged)])
        results = probe(directory / "cgroup.procs", tmp_path, NODES)
    finally:
        remove(directory)
    (assert_nothing_was_refused if privileged else assert_the_default_rules_held)(results)
    assert Path(v1_devices_mount(), "devices.list").read_text() == root_list


@root_only
@pytest.mark.skipif(v2_mount() is None, reason="no cgroup2 hierarchy")
@pytest.mark.parametrize("privileged", [False, True])
def test_v2_program_in_a_real_cgroup(tmp_path, privileged):
    before = attached_programs(v2_mount())
    directory = cgroup_dir(v2_mount())
    directory.mkdir()
    try:
        devices.attach_v2(str(directory), devices.rules(privileged))
        assert attached_programs(str(directory)) == 1
        results = probe(directory / "cgroup.procs", tmp_path, NODES)
    finally:
        remove(directory)
    (assert_nothing_was_refused if privileged else assert_the_default_rules_held)(results)
    assert attached_programs(v2_mount()) == before  # the host's root is as it was


@root_only
def test_a_program_the_verifier_refuses_says_why():
    with pytest.raises(sc.KernelCallError) as err:
        devices.load((Insn(EXIT),))  # returns without setting r0
    assert err.value.errno == errno.EACCES
    assert "R0 !read_ok" in str(err.value) and "\n" not in str(err.value)


@root_only
@pytest.mark.skipif(v2_mount() is None, reason="no cgroup2 hierarchy")
def test_attaching_to_a_directory_that_is_no_cgroup_is_one_sentence(tmp_path):
    with pytest.raises(MissingFeature) as err:
        devices.attach_v2(str(tmp_path), DOCKER_DEFAULT)
    message = str(err.value)
    assert "could open the host's disks" in message and "BPF_PROG_ATTACH" in message
    assert "\n" not in message


# --- wired into cgroups.prepare (root) ---------------------------------------------------
@root_only
@pytest.mark.skipif(cgroups.layout() not in ("v1", "hybrid"), reason="v1 devices hierarchy")
@pytest.mark.parametrize("privileged", [False, True])
def test_prepare_writes_the_rules_on_v1(privileged):
    cgroup = cgroups.prepare(f"t-devices-{os.getpid()}-prepare", cgroups.Limits(),
                             privileged=privileged)
    try:
        listed = Path(cgroup.dirs["devices"], "devices.list").read_text().splitlines()
        assert listed == [str(r) for r in devices.rules(privileged)]
    finally:
        cgroup.remove()
    assert not any(os.path.exists(d) for d in cgroup.dirs.values())


@root_only
@pytest.mark.skipif(v2_mount() is None, reason="no cgroup2 hierarchy")
def test_the_v2_driver_attaches_the_program(tmp_path):
    """V2Cgroup.create for real, in this host's cgroup2 hierarchy (hybrid hosts have one)."""
    cgroup = cgroups.V2Cgroup(str(cgroup_dir(v2_mount()) / f"t-devices-{os.getpid()}-v2"))
    cgroup.create(cgroups.Limits(), DOCKER_DEFAULT)
    try:
        assert attached_programs(cgroup.dir) == 1
        results = probe(Path(cgroup.dir, "cgroup.procs"), tmp_path, NODES)
    finally:
        cgroup.remove()
    assert not os.path.exists(os.path.dirname(cgroup.dir))  # its parent went too
    assert_the_default_rules_held(results)


@root_only
@pytest.mark.skipif(cgroups.layout() not in ("v1", "hybrid"), reason="v1 devices hierarchy")
def test_prepare_refuses_a_root_container_on_v1_without_the_devices_controller(monkeypatch):
    """One sentence naming what is missing, and the directories made so far removed."""
    real = cgroups.mounts()
    monkeypatch.setattr(cgroups, "mounts", lambda mountinfo=None: [
        m for m in real if "devices" not in m.controllers])
    cid = f"t-devices-{os.getpid()}-nodevices"
    with pytest.raises(MissingFeature) as err:
        cgroups.prepare(cid, cgroups.Limits())
    message = str(err.value)
    assert "devices cgroup controller is not mounted" in message and "\n" not in message
    assert [d for m in real for d in Path(m.path).rglob(cid)] == []


# --- a container ---------------------------------------------------------------------------
def openable_block_device() -> tuple[int, int] | None:
    """A block device this test, on the host, may open (so that only the container's
    rules can be what refuses it): disks first, then loop devices and the like."""
    names = sorted(os.listdir("/sys/block"),
                   key=lambda n: (not os.path.exists(f"/sys/block/{n}/device"), n))
    for name in names:
        try:
            os.close(os.open(f"/dev/{name}", os.O_RDONLY))
        except OSError:
            continue
        major, minor = Path(f"/sys/block/{name}/dev").read_text().split(":")
        return int(major), int(minor)
    return None


@root_only
def test_a_container_cannot_open_a_disk_it_made():
    r = sandbox("run", "--rm", "busybox", "sh", "-c", "mknod /tmp/sda b 8 0 && head -c1 /tmp/sda")
    assert r.returncode != 0 and "Operation not permitted" in r.stderr, r.stderr
    assert "mknod" not in r.stderr  # mknod itself succeeded: Docker allows "m"
    device = openable_block_device()  # 8:0 may not exist here: then one that does
    if device is not None:
        r = sandbox("run", "--rm", "busybox", "sh", "-c",
                    f"mknod /tmp/disk b {device[0]} {device[1]} && head -c1 /tmp/disk")
        assert "/tmp/disk: Operation not permitted" in r.stderr, (device, r.stderr)


@root_only
def test_a_privileged_container_opens_what_it_made():
    device = openable_block_device()
    if device is None:
        pytest.skip("no block device this host may open")
    r = sandbox("run", "--rm", "--privileged", "busybox", "sh", "-c",
                f"mknod /tmp/disk b {device[0]} {device[1]} && head -c1 /tmp/disk >/dev/null")
    assert (r.returncode, r.stderr) == (0, ""), (device, r.stderr)


@root_only
def test_a_container_uses_its_standard_devices():
    r = sandbox("run", "--rm", "busybox", "sh", "-c",
                "echo x > /dev/null && head -c4 /dev/zero | wc -c && head -c4 /dev/urandom | wc -c")
    assert (r.returncode, r.stdout.split(), r.stderr) == (0, ["4", "4"], "")


@root_only
def test_nothing_is_left_behind():
    found = [str(p) for mount in cgroups.mounts()
             for p in Path(mount.path).rglob("t-devices-*")]
    assert found == []
