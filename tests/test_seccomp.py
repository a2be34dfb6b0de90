"""The seccomp filter: compiled by hand from Docker's profile format, then tried on the kernel.

Unit tests run the compiled program through a small BPF interpreter (below),
which answers "what verdict does this filter give to mount(2) with these
arguments?" without a kernel.  Real tests fork a child, set no_new_privs
(so no CAP_SYS_ADMIN is needed: they pass as root and rootless), install the
filter and make the calls.
"""

from __future__ import annotations

import ctypes
import errno
import json
import os
import struct
import threading
from pathlib import Path

import pytest

from sandbox.isolation import seccomp
from sandbox.isolation import seccomp_bpf as bpf
from sandbox.kernel import syscalls as sc
from sandbox.errors import KernelCallError, MissingFeature, UsageError
from sandbox.isolation.namespaces import in_child
from sandbox.kernel.syscall_table import TABLES

from conftest import errno_of
from make_syscall_table import GENERIC_HEADER, X86_64_HEADER, headers_version, render, tables

# What `docker run` gives a container: Docker's default capability set.
DOCKER_CAPS = {"CHOWN", "DAC_OVERRIDE", "FSETID", "FOWNER", "MKNOD", "NET_RAW", "SETGID",
               "SETUID", "SETFCAP", "SETPCAP", "NET_BIND_SERVICE", "SYS_CHROOT", "KILL",
               "AUDIT_WRITE"}
MACHINE = os.uname().machine
ARCHES = ["x86_64", "aarch64"]
ALLOW, KILL_PROCESS = bpf.SECCOMP_RET_ALLOW, bpf.SECCOMP_RET_KILL_PROCESS


def ERRNO(n: int) -> int:
    return bpf.SECCOMP_RET_ERRNO | n


EPERM, ENOSYS = ERRNO(errno.EPERM), ERRNO(errno.ENOSYS)


def verdict(program: bytes, call, *args: int, machine: str = "x86_64", arch=None) -> int:
    """Run the filter as the kernel would, on struct seccomp_data for one call."""
    nr = TABLES[machine][call] if isinstance(call, str) else call
    args = (list(args) + [0] * 6)[:6]
    data = struct.pack("=iIQ6Q", nr, arch or bpf.AUDIT_ARCH[machine], 0, *args)
    insns = [struct.unpack_from("=HBBI", program, i) for i in range(0, len(program), 8)]
    pc = a = 0
    while True:
        code, jt, jf, k = insns[pc]
        if code == bpf.RET:
            return k
        if code == bpf.LD_ABS:
            a, pc = struct.unpack_from("=I", data, k)[0], pc + 1
        elif code == bpf.AND:
            a, pc = a & k, pc + 1
        elif code == bpf.JA:
            pc += 1 + k
        else:
            taken = {bpf.JEQ: a == k, bpf.JGT: a > k, bpf.JGE: a >= k}[code]
            pc += 1 + (jt if taken else jf)


def docker(caps=DOCKER_CAPS, machine="x86_64", **kw) -> bytes:
    return seccomp.compile(seccomp.default_profile(), caps, machine, **kw)


def profile(*rules, default="SCMP_ACT_ERRNO", **more) -> dict:
    return {"defaultAction": default, "syscalls": list(rules), **more}


def rule(names: str, action="SCMP_ACT_ALLOW", **more) -> dict:
    return {"names": names.split(), "action": action, **more}


def arg(index: int, value: int, op="SCMP_CMP_EQ", **more) -> dict:
    return {"index": index, "value": value, "op": op, **more}


# --- the program's shape ---------------------------------------------------------

@pytest.mark.parametrize("machine", ARCHES)
def test_default_program_is_short(machine):
    default, admin = docker(machine=machine), docker(DOCKER_CAPS | {"SYS_ADMIN"}, machine)
    # ~300 allowed calls become ~30 ranges: two instructions each, not one per call.
    assert len(default) // 8 < 130 and len(admin) // 8 < 130, (len(default) // 8, len(admin) // 8)


def test_consecutive_numbers_become_ranges():
    assert bpf.ranges([8, 0, 1, 2, 5, 7]) == [(0, 2), (5, 5), (7, 8)]
    assert bpf.ranges([]) == []
    program = seccomp.compile(profile(rule("read write open close mmap")), set(), "x86_64")
    # ld arch, jne arch, ld nr, x32, ENOSYS stub; 0..3 and 9 (one jump each); four rets.
    assert len(program) // 8 == 11, seccomp.describe(program, "x86_64")
    assert [verdict(program, n) for n in range(11)] == [ALLOW] * 4 + [EPERM] * 5 + [ALLOW, ENOSYS]


def far_jumps_profile() -> dict:
    """ioctl(2) denied for 60 values of its request argument: a block of ~300 instructions,
    so the jump over it (for every other call) is farther than a u8 offset reaches."""
    return profile(*(rule("ioctl", "SCMP_ACT_ERRNO", args=[arg(1, n)]) for n in range(60)),
                   default="SCMP_ACT_ALLOW")


def test_far_jumps_go_through_ja():
    program = seccomp.compile(far_jumps_profile(), set(), "x86_64")
    assert "ja " in seccomp.describe(program, "x86_64")
    assert verdict(program, "ioctl", 0, 0) == verdict(program, "ioctl", 0, 59) == EPERM
    assert verdict(program, "ioctl", 0, 60) == verdict(program, "read") == ALLOW


def test_more_than_4096_instructions_is_refused():
    rules = [rule("ioctl", args=[arg(1, n)]) for n in range(1100)]
    with pytest.raises(UsageError, match="4096"):
        seccomp.compile(profile(*rules), set(), "x86_64")


def test_other_architectures_and_x32_and_new_calls():
    program = docker()
    assert verdict(program, "getpid", arch=0x40000003) == KILL_PROCESS  # AUDIT_ARCH_I386
    assert verdict(program, 0x40000000 | 39) == EPERM                  # x32 getpid
    assert verdict(program, 1000) == ENOSYS                            # newer than the table
    assert verdict(docker(machine="aarch64"), "getpid", machine="aarch64") == ALLOW


def test_an_unknown_architecture_is_a_missing_feature():
    with pytest.raises(MissingFeature) as caught:
        docker(machine="riscv64")
    assert str(caught.value) == ("seccomp: no syscall table for architecture riscv64; run with "
                                 "--security-opt seccomp=unconfined to start without a filter")


def test_describe_shows_the_filter():
    text = seccomp.describe(docker(), "x86_64")
    lines = text.splitlines()
    assert lines[0].split() == ["ld", "[4]", ";", "arch"]
    assert "jne #0xc000003e, KILL_PROCESS" in lines[1] and "ld [0]" in lines[2]
    assert "jeq #435, ERRNO(38)" in text and "; clone3" in text
    assert lines[-1].strip() == "ret ALLOW" and "ret ERRNO(1)" in text


# --- Docker's default profile, call by call -------------------------------------

DENIED = """mount umount2 unshare setns keyctl add_key request_key bpf perf_event_open
    kexec_load kexec_file_load init_module finit_module delete_module open_by_handle_at
    userfaultfd reboot swapon swapoff acct settimeofday clock_settime pivot_root syslog
    quotactl lookup_dcookie nfsservctl iopl ioperm sethostname
    setdomainname fanotify_init io_uring_setup vhangup mbind move_pages kcmp
    process_madvise fsopen fsmount open_tree""".split()


@pytest.mark.parametrize("machine", ARCHES)
def test_default_denies_what_docker_denies(machine):
    program = docker(machine=machine)
    for name in DENIED:
        if name in TABLES[machine]:
            assert verdict(program, name, machine=machine) == EPERM, name
    assert verdict(program, "clone3", machine=machine) == ENOSYS  # so glibc falls back to clone


@pytest.mark.parametrize("machine", ARCHES)
def test_default_allows_exactly_dockers_allowlist(machine):
    program, table, profile = docker(machine=machine), TABLES[machine], seccomp.default_profile()
    allowlist = set(profile["syscalls"][0]["names"])
    # runc's stub: numbers above the largest call the applicable rules name get ENOSYS.
    caps, kernel = bpf.normalize_caps(DOCKER_CAPS), (6, 1)
    largest = max(table[name] for rule in profile["syscalls"]
                  if bpf.applies(rule, caps, bpf.GO_ARCH[machine], kernel)
                  for name in rule["names"] if name in table)
    special = {"socket", "personality", "clone", "clone3", "ptrace", "process_vm_readv",
               "process_vm_writev", "chroot", "arch_prctl", "modify_ldt"}
    for name, nr in table.items():
        if name not in special:
            expected = ALLOW if name in allowlist else EPERM if nr <= largest else ENOSYS
            assert verdict(program, nr, machine=machine) == expected, name
    # What runc needs between loading the filter and the program: Docker's list has them.
    for name in ("capset", "setuid", "setgid", "setgroups", "prctl", "execve", "exit_group"):
        assert verdict(program, name, machine=machine) == ALLOW, name
    if machine == "x86_64":
        assert verdict(program, "arch_prctl") == verdict(program, "modify_ldt") == ALLOW


def test_arguments_are_compared_as_64_bit_values():
    program = docker()
    for persona in (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF):
        assert verdict(program, "personality", persona) == ALLOW, hex(persona)
    for persona in (0x0040000, 0x1_0000_0000, 0xFFFFFFFF_FFFFFFFF):  # ADDR_NO_RANDOMIZE, high word
        assert verdict(program, "personality", persona) == EPERM, hex(persona)
    for family, expected in ((1, ALLOW), (2, ALLOW), (37, ALLOW), (38, EPERM), (39, ALLOW),
                             (40, EPERM), (41, ALLOW), (1 << 32 | 38, ALLOW)):
        assert verdict(program, "socket", family) == expected, family  # AF_ALG 38, AF_VSOCK 40
    assert verdict(program, "clone", 17) == ALLOW  # SIGCHLD: what fork() passes
    assert verdict(program, "clone", 0x3D0F00) == ALLOW  # glibc's pthread_create flags
    for flag in (sc.CLONE_NEWNS, sc.CLONE_NEWUSER, sc.CLONE_NEWPID, sc.CLONE_NEWNET,
                 sc.CLONE_NEWUTS, sc.CLONE_NEWIPC, sc.CLONE_NEWCGROUP):
        assert verdict(program, "clone", flag | 17) == EPERM, hex(flag)


@pytest.mark.parametrize("cap, calls", [
    ("SYS_ADMIN", "mount umount2 unshare setns sethostname bpf perf_event_open syslog "
                  "quotactl fsopen lookup_dcookie"),
    ("SYS_MODULE", "init_module finit_module delete_module"),
    ("SYS_TIME", "settimeofday clock_settime"),
    ("SYS_BOOT", "reboot"),
    ("SYS_PACCT", "acct"),
    ("SYS_PTRACE", "kcmp pidfd_getfd process_madvise"),
    ("SYS_RAWIO", "iopl ioperm"),
    ("DAC_READ_SEARCH", "open_by_handle_at"),
    ("SYS_NICE", "mbind set_mempolicy get_mempolicy"),
    ("SYSLOG", "syslog"),
    ("BPF", "bpf"),
    ("PERFMON", "perf_event_open"),
    ("SYS_TTY_CONFIG", "vhangup"),
])
def test_capabilities_open_their_calls(cap, calls):
    without, with_cap = docker(), docker(DOCKER_CAPS | {cap})
    for name in calls.split():
        assert verdict(without, name) == EPERM, name
        assert verdict(with_cap, name) == ALLOW, name


def test_sys_admin_lifts_the_clone_checks():
    program = docker({"CAP_SYS_ADMIN"} | DOCKER_CAPS)  # both spellings are accepted
    assert verdict(program, "clone", sc.CLONE_NEWUSER | 17) == ALLOW
    assert verdict(program, "clone3") == ALLOW  # excludes: the ENOSYS rule is dropped


def test_chroot_follows_sys_chroot():
    assert verdict(docker(), "chroot") == ALLOW
    assert verdict(docker(DOCKER_CAPS - {"SYS_CHROOT"}), "chroot") == EPERM


def test_min_kernel_follows_the_kernel_release():
    assert verdict(docker(kernel="6.1.0-13-amd64"), "ptrace") == ALLOW
    assert verdict(docker(kernel="4.4.0"), "ptrace") == EPERM
    assert verdict(docker(DOCKER_CAPS | {"SYS_PTRACE"}, kernel="4.4.0"), "ptrace") == ALLOW


def test_includes_need_every_cap_excludes_any_and_arches_match():
    conditional = profile(
        rule("uname", includes={"caps": ["CAP_A", "CAP_B"]}),
        rule("getcwd", excludes={"caps": ["CAP_A", "CAP_C"]}),
        rule("getpid", includes={"arches": ["arm64"]}),
        rule("gettid", excludes={"arches": ["amd64"]}),
        # Names a high number, so the ENOSYS stub stays out of the way (and is not a rule).
        rule("futex_waitv", "SCMP_ACT_ERRNO"))
    a, ab, none = (seccomp.compile(conditional, caps, "x86_64")
                   for caps in ({"A"}, {"A", "B"}, set()))
    assert verdict(a, "uname") == EPERM and verdict(ab, "uname") == ALLOW
    assert verdict(a, "getcwd") == EPERM and verdict(none, "getcwd") == ALLOW
    assert verdict(none, "getpid") == EPERM and verdict(none, "gettid") == EPERM
    arm = seccomp.compile(conditional, set(), "aarch64")
    assert verdict(arm, "getpid", machine="aarch64") == ALLOW
    assert verdict(arm, "gettid", machine="aarch64") == ALLOW


def test_every_comparison_operator():
    ops = {"SCMP_CMP_EQ": lambda x, v: x == v, "SCMP_CMP_NE": lambda x, v: x != v,
           "SCMP_CMP_LT": lambda x, v: x < v, "SCMP_CMP_LE": lambda x, v: x <= v,
           "SCMP_CMP_GT": lambda x, v: x > v, "SCMP_CMP_GE": lambda x, v: x >= v}
    value = 0x5_0000_0007
    samples = [0, 7, 8, 0x5_0000_0006, value, 0x5_0000_0008, 0x4_FFFF_FFFF, 0x6_0000_0000,
               2**64 - 1]
    for op, holds in ops.items():
        program = seccomp.compile(profile(rule("ioctl", args=[arg(2, value, op)])), set(), "x86_64")
        for x in samples:
            assert verdict(program, "ioctl", 0, 0, x) == (ALLOW if holds(x, value) else EPERM), \
                (op, hex(x))
    masked = rule("ioctl", "SCMP_ACT_LOG", args=[
        arg(1, 0xF0_0000_00F0, "SCMP_CMP_MASKED_EQ", valueTwo=0x10_0000_0020)])
    program = seccomp.compile(profile(masked), set(), "x86_64")
    assert verdict(program, "ioctl", 0, 0x1F_0000_002F) == bpf.SECCOMP_RET_LOG
    assert verdict(program, "ioctl", 0, 0x2F_0000_002F) == EPERM
    assert verdict(program, "ioctl", 0, 0x1F_0000_003F) == EPERM


def test_rules_combine_as_runc_and_libseccomp_do():
    combined = profile(
        rule("ioctl", args=[arg(0, 1), arg(1, 2)]),  # two arguments: both must hold
        # The same argument twice: either will do (runc splits them into two rules).
        rule("fcntl", args=[arg(1, 1), arg(1, 2)]),
        # A rule without arguments wins over one with them, whatever the order.
        rule("uname", "SCMP_ACT_TRAP", args=[arg(0, 0)]),
        rule("uname", "SCMP_ACT_ERRNO", errnoRet=22),
        rule("no_such_call getpid", "SCMP_ACT_KILL"),
        defaultErrnoRet=13)
    program = seccomp.compile(combined, set(), "x86_64")
    assert verdict(program, "ioctl", 1, 2) == ALLOW and verdict(program, "ioctl", 1, 3) == ERRNO(13)
    assert verdict(program, "fcntl", 0, 1) == ALLOW and verdict(program, "fcntl", 0, 2) == ALLOW
    assert verdict(program, "fcntl", 0, 3) == ERRNO(13)
    assert verdict(program, "uname", 0) == ERRNO(22)
    assert verdict(program, "getpid") == bpf.SECCOMP_RET_KILL_THREAD  # runc: KILL is the thread


# --- profiles from files -----------------------------------------------------------

def write(tmp_path: Path, content) -> Path:
    path = tmp_path / "profile.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    return path


@pytest.mark.parametrize("bad, needle", [
    ("{not json", "is not valid JSON"),
    ([], "must be a JSON object"),
    ({"syscalls": []}, "defaultAction None is not one of SCMP_ACT_ALLOW"),
    (profile(architectures=["SCMP_ARCH_X86_64"], archMap=[{"architecture": "SCMP_ARCH_X86_64"}]),
     "both 'architectures' and 'archMap'"),
    (profile(rule("read"), rule("mount umount2", "SCMP_ACT_NOPE")),
     "syscalls[1] (mount, umount2): action 'SCMP_ACT_NOPE' is not one of"),
    (profile(rule("socket", args=[arg(0, 40, "SCMP_CMP_ABOUT")])),
     "syscalls[0] (socket): args[0] has op 'SCMP_CMP_ABOUT', not one of SCMP_CMP_EQ"),
    (profile(rule("socket", args=[arg(6, 40)])), "index must be 0 to 5"),
    (profile({"action": "SCMP_ACT_ALLOW"}), "syscalls[0] needs 'names'"),
    (profile(rule("read", "SCMP_ACT_ERRNO", errnoRet=-1)), "errnoRet must be an errno number"),
    (profile(rule("read", includes={"minKernel": "latest"})),
     "minKernel 'latest' is not a version"),
])
def test_a_bad_profile_is_one_sentence_naming_file_and_entry(tmp_path, bad, needle):
    path = write(tmp_path, bad)
    with pytest.raises(UsageError) as caught:
        seccomp.load_profile(path)
    message = str(caught.value)
    assert message.startswith(f"seccomp profile {path}") and needle in message, message
    assert "\n" not in message


def test_a_missing_profile_says_so(tmp_path):
    with pytest.raises(UsageError, match="No such file"):
        seccomp.load_profile(tmp_path / "nope.json")


def test_unknown_call_names_are_skipped_as_docker_does(tmp_path):
    loaded = seccomp.load_profile(write(tmp_path, profile(rule("read frobnicate write"))))
    assert seccomp.compile(loaded, set(), "x86_64") == \
        seccomp.compile(profile(rule("read write")), set(), "x86_64")


# --- the cache -----------------------------------------------------------------------

def test_program_is_compiled_once_and_kept_on_disk(tmp_path):
    cache = tmp_path / "seccomp"
    first = seccomp.program(DOCKER_CAPS, cache_dir=cache)
    assert first == seccomp.compile(seccomp.default_profile(), DOCKER_CAPS)
    [kept] = cache.iterdir()
    assert kept.read_bytes() == first
    assert (cache.stat().st_mode & 0o777, kept.stat().st_mode & 0o777) == (0o700, 0o600)
    # A new process (here: the in-memory cache cleared) reads the file instead of compiling.
    seccomp._program.cache_clear()
    kept.write_bytes(b"\x06\x00\x00\x00\x00\x00\xff\x7f")  # a planted `ret ALLOW`
    assert seccomp.program(DOCKER_CAPS, cache_dir=cache) == kept.read_bytes()
    # Another set of capabilities is another program and another file.
    assert seccomp.program(DOCKER_CAPS | {"SYS_ADMIN"}, cache_dir=cache) != first
    assert len(list(cache.iterdir())) == 2
    # A damaged file is compiled again.
    seccomp._program.cache_clear()
    kept.write_bytes(b"\x06\x00")
    assert seccomp.program(DOCKER_CAPS, cache_dir=cache) == first
    seccomp._program.cache_clear()


def test_program_with_a_custom_profile():
    custom = profile(rule("uname", "SCMP_ACT_ERRNO", errnoRet=38), default="SCMP_ACT_ALLOW")
    assert seccomp.program(set(), custom) == seccomp.compile(custom, set())


# --- the syscall table ------------------------------------------------------------------

@pytest.mark.skipif(not (X86_64_HEADER.exists() and GENERIC_HEADER.exists()),
                    reason="needs the kernel headers (Debian: apt-get install linux-libc-dev)")
def test_the_committed_table_matches_the_installed_headers():
    """Syscall numbers are ABI: a newer kernel adds calls but never renumbers one.  So every
    committed number must be the installed headers' too; from the same headers, the file
    must be exactly what tests/make_syscall_table.py writes."""
    from sandbox.kernel import syscall_table

    installed = tables()
    for machine, table in syscall_table.TABLES.items():
        wrong = {name: (nr, installed[machine].get(name)) for name, nr in table.items()
                 if installed[machine].get(name) != nr}
        assert not wrong, f"{machine}: numbers that differ from the headers: {wrong}"
    if syscall_table.HEADERS == headers_version():
        committed = Path(syscall_table.__file__).read_text()
        assert committed == render(installed, headers_version()), \
            "sandbox/kernel/syscall_table.py differs from the headers: run tests/make_syscall_table.py"


def test_table_spot_checks():
    x86, arm = TABLES["x86_64"], TABLES["aarch64"]
    assert (x86["read"], x86["mount"], x86["clone3"], x86["seccomp"]) == (0, 165, 435, 317)
    assert (arm["read"], arm["mount"], arm["clone"], arm["seccomp"]) == (63, 40, 220, 277)
    assert "open" not in arm and arm["fstat"] == 80 and arm["newfstatat"] == 79


# --- on the real kernel ---------------------------------------------------------------------

libc = ctypes.CDLL(None, use_errno=True)
NR = TABLES.get(MACHINE, {})
real_kernel = pytest.mark.skipif(MACHINE not in TABLES, reason=f"no syscall table for {MACHINE}")


def raw(name_or_nr, *args) -> int:
    """syscall(2) by number: 0 (or the result) on success, else minus the errno."""
    nr = NR[name_or_nr] if isinstance(name_or_nr, str) else name_or_nr
    result = libc.syscall(ctypes.c_long(nr), *(ctypes.c_long(a) for a in args))
    return -ctypes.get_errno() if result == -1 else result


def filtered(program: bytes, body):
    """In a forked child: no_new_privs, the filter, then ``body()``; its result comes back."""
    def child():
        sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
        seccomp.install(program)
        return body()
    return in_child(child)


@real_kernel
def test_default_filter_on_the_kernel(tmp_path):
    def body():
        forked = os.fork()
        if forked == 0:
            os._exit(7)  # plain clone(SIGCHLD): no namespace flag, allowed
        thread = threading.Thread(target=lambda: None)
        thread.start()  # glibc tries clone3, gets ENOSYS, falls back to clone
        thread.join()
        newuser = raw("clone", sc.CLONE_NEWUSER | 17, 0, 0, 0, 0)
        if newuser == 0:
            os._exit(0)  # the filter let a child through: it must not run the test on
        return {
            "getpid": os.getpid() > 0, "uname": os.uname().sysname,
            "status": Path("/proc/self/status").read_text().split("Seccomp:")[1].split()[0],
            # Without the filter: ENOENT (no such mount point), so EPERM is the filter's.
            "mount": errno_of(sc.mount, "none", str(tmp_path / "missing"), "tmpfs"),
            "unshare": errno_of(sc.unshare, sc.CLONE_NEWNS),
            # Without the filter: EINVAL (bit 0 is no unshare flag), as root or not.
            "unshare_bad": errno_of(sc.unshare, sc.CLONE_NEWNS | 1),
            "fork": os.waitpid(forked, 0)[1] >> 8,
            "clone_newuser": newuser, "clone3": raw("clone3", 0, 0),
            "keyctl": raw("keyctl", 0, -3, 0),          # KEYCTL_GET_KEYRING_ID, session
            "bpf": raw("bpf", 0, 0, 0),                 # BPF_MAP_CREATE
            "personality_query": raw("personality", 0xFFFFFFFF) >= 0,
            "personality_aslr_off": raw("personality", 0x0040000),
            "vsock": raw("socket", 40, 1, 0),           # AF_VSOCK
            "unix": raw("socket", 1, 1, 0) >= 0,        # AF_UNIX, SOCK_STREAM
            "newer_than_the_table": raw(max(NR.values()) + 1),
            "x32": raw(0x40000000 | NR["getpid"]) if MACHINE == "x86_64" else -errno.EPERM,
        }

    r = filtered(seccomp.program(DOCKER_CAPS), body)
    assert r["getpid"] and r["uname"] == "Linux" and r["status"] == "2"
    assert r["mount"] == r["unshare"] == r["unshare_bad"] == errno.EPERM
    assert r["fork"] == 7
    assert r["clone_newuser"] == r["keyctl"] == r["bpf"] == -errno.EPERM
    assert r["clone3"] == r["newer_than_the_table"] == -errno.ENOSYS
    assert r["personality_query"] and r["personality_aslr_off"] == -errno.EPERM
    assert r["vsock"] == -errno.EPERM and r["unix"]
    assert r["x32"] == -errno.EPERM


@real_kernel
def test_execve_works_under_the_filter():
    program = seccomp.program(DOCKER_CAPS)
    pid = os.fork()
    if pid == 0:
        try:
            sc.prctl(sc.PR_SET_NO_NEW_PRIVS, 1)
            seccomp.install(program)
            os.execv("/bin/true", ["true"])
        finally:
            os._exit(99)
    assert os.waitpid(pid, 0)[1] == 0


@real_kernel
def test_sys_admin_lets_unshare_through():
    def body():
        result = {"bad_flags": errno_of(sc.unshare, sc.CLONE_NEWNS | 1)}
        if os.geteuid() == 0:
            result["unshare"] = errno_of(sc.unshare, sc.CLONE_NEWNS)
        return result

    r = filtered(seccomp.program(DOCKER_CAPS | {"SYS_ADMIN"}), body)
    assert r["bad_flags"] == errno.EINVAL  # the kernel's answer: the filter let it by
    assert r.get("unshare", 0) == 0        # as root it succeeds


@real_kernel
def test_a_custom_profile_on_the_kernel(tmp_path):
    custom = seccomp.load_profile(write(tmp_path, profile(
        rule("uname", "SCMP_ACT_ERRNO", errnoRet=errno.ENOSYS), rule("getcwd", "SCMP_ACT_ERRNO"),
        default="SCMP_ACT_ALLOW")))
    r = filtered(seccomp.program(set(), custom),
                 lambda: (errno_of(os.uname), errno_of(os.getcwd), os.getpid() > 0))
    assert r == (errno.ENOSYS, errno.EPERM, True)


@real_kernel
def test_the_far_jump_program_is_accepted_by_the_kernel():
    program = seccomp.compile(far_jumps_profile(), set())
    assert "ja " in seccomp.describe(program)
    r = filtered(program, lambda: (raw("ioctl", -1, 59), raw("ioctl", -1, 60)))
    assert r == (-errno.EPERM, -errno.EBADF)  # the second got past the filter to the kernel


@real_kernel
def test_install_errors_name_the_call():
    def without_privilege():
        sc.capset(0, 0, 0)  # no CAP_SYS_ADMIN, and no no_new_privs
        seccomp.install(seccomp.program(DOCKER_CAPS))

    with pytest.raises(KernelCallError) as caught:
        in_child(without_privilege)
    assert caught.value.errno == errno.EACCES
    assert str(caught.value).startswith("seccomp(SECCOMP_SET_MODE_FILTER, 0, sock_fprog(len=")
    assert "needs no_new_privs" in str(caught.value)

    with pytest.raises(KernelCallError) as caught:
        filtered(b"\xff\xff\x00\x00\x00\x00\x00\x00", lambda: None)  # no such BPF instruction
    assert caught.value.errno == errno.EINVAL and "4096 instructions" in str(caught.value)
