"""Device rules: which device nodes a container may make and open.  cgroups(7), bpf(2)

A device node is only a name for three numbers: a type (``c`` character, ``b``
block), a major and a minor number.  Whoever may make a node (mknod(2): root
with CAP_MKNOD, one of Docker's default capabilities) or finds one in an image
can name any device of the host, whatever the file's owner and mode:
``mknod /tmp/sda b 8 0`` is the host's first disk.  So on every mknod(2) of a
device node, and every open(2) of one, the kernel asks the caller's cgroup:

    open("/tmp/sda", O_RDONLY)
     └── devcgroup_check_permission(b, 8, 0, READ)            security/device_cgroup.c
          ├── cgroup v2: each BPF_PROG_TYPE_CGROUP_DEVICE program attached to the
          │   process's cgroup or an ancestor runs; every one must return 1
          └── cgroup v1: the devices controller's list of the process's cgroup
         refused: EPERM, "Operation not permitted"

Docker allows making any node but opening only the devices every program
expects (moby daemon/pkg/oci/defaults.go, plus runc's specconv.AllowedDevices,
which runc appends to every container's rules):

    c *:* m      b *:* m        mknod of anything: opening it is decided separately
    c 1:3 rwm    /dev/null      c 1:5 rwm  /dev/zero     c 1:7 rwm /dev/full
    c 1:8 rwm    /dev/random    c 1:9 rwm  /dev/urandom
    c 5:0 rwm    /dev/tty       c 5:1 rwm  /dev/console  c 5:2 rwm /dev/ptmx
    c 136:* rwm  /dev/pts/*     c 10:200 rwm /dev/net/tun (runc put it back in 1.2,
                                                           runc#3468; FUSE, 10:229, stays out)

``--privileged`` is one rule, ``a *:* rwm``: every device.

cgroup v1 has files for this (Documentation/admin-guide/cgroup-v1/devices.rst):
``a`` written to devices.deny empties the cgroup's list, then each rule is one
write to devices.allow.  cgroup v2 has no files (Documentation/admin-guide/
cgroup-v2.rst, "Device controller"): the rules become a program of about ten
eBPF instructions per rule, which the kernel checks with its verifier, and
runs on each mknod(2) and open(2) of a device node, given (in r1)
``struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }``:

    for each rule:
        r2 = access_type & 0xffff     if r2 != the rule's type: next rule   (1 block, 2 char)
        r3 = access_type >> 16        if r3 asks for more than the rule allows: next rule
                                                                 (1 mknod, 2 read, 4 write)
        r4 = major, r5 = minor        if one differs from a number the rule names: next rule
        return 1                      allowed
    return 0                          no rule allows it: EPERM

That is runc's program (opencontainers/cgroups devices/devicefilter.go, after
crun's ebpf.c), except that each rule reads the context itself (see
:func:`program`).  It is loaded with bpf(BPF_PROG_LOAD) and attached to the
container's cgroup directory with bpf(BPF_PROG_ATTACH); the attachment lives
as long as the cgroup.  :func:`describe_rules` prints either form.

Rootless containers get no rules, and need none: mknod(2) of a device needs
CAP_MKNOD in the initial user namespace; every filesystem mounted inside a
user namespace is nodev (the kernel marks its superblock SB_I_NODEV), so an
image's device nodes cannot be opened; and a host node bind-mounted in is
opened with the user's own permissions.  runc and crun skip the rules in a
user namespace the same way (RunningInUserNS).
"""

from __future__ import annotations

import ctypes
import errno
import functools
import os
import struct
import sys
from operator import itemgetter

from ..kernel import syscalls as sc
from ..errors import KernelCallError, MissingFeature


# Rule and Insn are tuples with named fields: hashable, so program() can cache on a
# tuple of rules, and equal to a plain tuple of the same values.  They are what
# collections.namedtuple would make, written out because namedtuple compiles each
# class's __new__ with eval(): the two made importing this module ~100 µs slower
# (python -X importtime), where these two cost ~15 µs.
class Rule(tuple):
    """One device rule, as devices.allow spells it: ``c 1:3 rwm``.

    ``type`` is ``c``, ``b`` or ``a`` (all devices); a major or minor of None is
    the wildcard ``*``; ``access`` is some of ``r`` (read), ``w`` (write) and
    ``m`` (mknod); ``what`` says what it is for.
    """

    __slots__ = ()
    type, major, minor, access, what = (property(itemgetter(i)) for i in range(5))

    def __new__(cls, type: str, major: int | None, minor: int | None, access: str,
                what: str = ""):
        return tuple.__new__(cls, (type, major, minor, access, what))

    def __str__(self) -> str:
        return f"{self.type} {_number(self.major)}:{_number(self.minor)} {self.access}"

    def __repr__(self) -> str:
        return f"Rule({str(self)!r}, {self.what!r})"


def _number(n: int | None) -> str:
    return "*" if n is None else str(n)


DOCKER_DEFAULT = (
    Rule("c", None, None, "m", "mknod of any character device"),
    Rule("b", None, None, "m", "mknod of any block device"),
    Rule("c", 1, 3, "rwm", "/dev/null"),
    Rule("c", 1, 5, "rwm", "/dev/zero"),
    Rule("c", 1, 7, "rwm", "/dev/full"),
    Rule("c", 1, 8, "rwm", "/dev/random"),
    Rule("c", 1, 9, "rwm", "/dev/urandom"),
    Rule("c", 5, 0, "rwm", "/dev/tty"),
    Rule("c", 5, 1, "rwm", "/dev/console"),
    Rule("c", 5, 2, "rwm", "/dev/ptmx"),
    Rule("c", 136, None, "rwm", "/dev/pts/*"),
    Rule("c", 10, 200, "rwm", "/dev/net/tun"),
)
ALLOW_ALL = (Rule("a", None, None, "rwm", "every device (--privileged)"),)


def rules(privileged: bool = False) -> tuple[Rule, ...]:
    """Docker's rules for a container: the default, or every device with ``--privileged``."""
    return ALLOW_ALL if privileged else DOCKER_DEFAULT


PROC_USER_INIT_INO = 0xEFFFFFFD  # the initial user namespace's inode (include/linux/proc_ns.h)


def needed() -> bool:
    """Whether containers started by this process get device rules: root in the
    initial user namespace (see the module's docstring for why rootless needs none)."""
    if os.geteuid() != 0:
        return False
    try:
        return os.stat("/proc/self/ns/user").st_ino == PROC_USER_INIT_INO
    except OSError:
        return True  # no /proc: assume the host's namespace, and keep the rules


# --- cgroup v1: devices.deny and devices.allow ----------------------------------------
def v1_writes(device_rules) -> list[tuple[str, str, str]]:
    """What to write, in order: [(file, line, what it is for)].

    A new cgroup starts with a copy of its parent's list (the host's root cgroup
    has ``a *:* rwm``), so the default rules first empty it; the kernel takes
    one rule per write(2).  ``cgroups.V1Cgroup.create`` writes them.
    """
    if tuple(device_rules) == ALLOW_ALL:
        return [("devices.allow", "a", ALLOW_ALL[0].what)]
    return [("devices.deny", "a", "deny every device: an empty list")] + [
        ("devices.allow", str(rule), rule.what) for rule in device_rules]


# --- cgroup v2: an eBPF program -------------------------------------------------------
# Opcodes from <linux/bpf.h> and <linux/bpf_common.h>: class | operation | source.
BPF_LDX, BPF_ALU, BPF_JMP = 0x01, 0x04, 0x05   # load into a register; 32-bit arithmetic; jumps
BPF_W, BPF_MEM = 0x00, 0x60                    # a 32-bit word, from memory at src + off
BPF_K, BPF_X = 0x00, 0x08                      # the operand is imm / is the register src
BPF_AND, BPF_RSH, BPF_MOV = 0x50, 0x70, 0xb0
BPF_JNE, BPF_EXIT = 0x50, 0x90
_LOAD_W = BPF_LDX | BPF_MEM | BPF_W
_JNE_K, _JNE_X = BPF_JMP | BPF_JNE | BPF_K, BPF_JMP | BPF_JNE | BPF_X
_CONTEXT = {0: "access_type", 4: "major", 8: "minor"}  # struct bpf_cgroup_dev_ctx, by offset

BPF_DEVCG_DEV_BLOCK, BPF_DEVCG_DEV_CHAR = 1, 2                          # access_type & 0xffff
BPF_DEVCG_ACC_MKNOD, BPF_DEVCG_ACC_READ, BPF_DEVCG_ACC_WRITE = 1, 2, 4  # access_type >> 16
_TYPES = {"b": BPF_DEVCG_DEV_BLOCK, "c": BPF_DEVCG_DEV_CHAR}
_ACCESS = {"m": BPF_DEVCG_ACC_MKNOD, "r": BPF_DEVCG_ACC_READ, "w": BPF_DEVCG_ACC_WRITE}
_OPS = {BPF_AND: "&=", BPF_RSH: ">>=", BPF_MOV: "="}

# The license the kernel is told (it matters only for helpers the kernel reserves
# to GPL programs; this one calls none).  The program's shape is runc's, Apache-2.0.
LICENSE = b"Apache-2.0"
_LITTLE = sys.byteorder == "little"
PROG_NAME = b"sandbox_devices"  # what bpftool prog list shows (at most 15 characters)


class Insn(tuple):
    """One eBPF instruction: ``struct bpf_insn { u8 code; u8 dst_reg:4, src_reg:4;
    s16 off; s32 imm; }``.  A jump's ``off`` counts instructions after the next one."""

    __slots__ = ()
    code, dst, src, off, imm = (property(itemgetter(i)) for i in range(5))

    def __new__(cls, code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0):
        return tuple.__new__(cls, (code, dst, src, off, imm))

    def __repr__(self) -> str:
        return "Insn(code={:#04x}, dst={}, src={}, off={}, imm={})".format(*self)

    def text(self, pc: int) -> str:
        """The instruction as bpftool prints it (jump targets as absolute numbers)."""
        kind, op = self.code & 0x07, self.code & 0xf0
        if self.code == _LOAD_W:
            field = f"    ; {_CONTEXT[self.off]}" if self.src == 1 else ""
            return f"r{self.dst} = *(u32 *)(r{self.src} + {self.off}){field}"
        if kind == BPF_ALU:
            operand = f"w{self.src}" if self.code & BPF_X else (
                hex(self.imm) if op == BPF_AND else str(self.imm))
            return f"w{self.dst} {_OPS[op]} {operand}"
        if self.code == BPF_JMP | BPF_EXIT:
            return "exit"
        operand = f"r{self.src}" if self.code & BPF_X else str(self.imm)
        return f"if r{self.dst} != {operand} goto {pc + 1 + self.off}"


_ALLOW = (Insn(BPF_ALU | BPF_MOV | BPF_K, 0, imm=1), Insn(BPF_JMP | BPF_EXIT))  # return 1
_DENY = (Insn(BPF_ALU | BPF_MOV | BPF_K, 0, imm=0), Insn(BPF_JMP | BPF_EXIT))   # return 0
_PAST = None  # a test's jump offset until the block's length is known: past its end


def _block(rule: Rule) -> list[Insn]:
    """One allow rule: tests that each jump past the block when they fail, then allow.
    Each is (code, dst, src, off, imm); r1 points to the context throughout."""
    tests = [(_LOAD_W, 2, 1, 0, 0),                         # r2 = access_type
             (BPF_ALU | BPF_AND | BPF_K, 2, 0, 0, 0xffff),  # w2 &= 0xffff: the type
             (_JNE_K, 2, 0, _PAST, _TYPES[rule.type])]      # another type
    allowed = sum(_ACCESS[a] for a in set(rule.access))
    if allowed != 7:  # rwm allows any access: nothing to test
        tests += [(_LOAD_W, 3, 1, 0, 0),                    # r3 = access_type
                  (BPF_ALU | BPF_RSH | BPF_K, 3, 0, 0, 16),   # w3 >>= 16: the access asked
                  (BPF_ALU | BPF_MOV | BPF_X, 6, 3, 0, 0),    # w6 = w3
                  (BPF_ALU | BPF_AND | BPF_K, 6, 0, 0, allowed),  # w6 &= what is allowed
                  (_JNE_X, 6, 3, _PAST, 0)]                   # it asked for more
    if rule.major is not None:
        tests += [(_LOAD_W, 4, 1, 4, 0), (_JNE_K, 4, 0, _PAST, rule.major)]  # another major
    if rule.minor is not None:
        tests += [(_LOAD_W, 5, 1, 8, 0), (_JNE_K, 5, 0, _PAST, rule.minor)]  # another minor
    size = len(tests) + len(_ALLOW)
    return [Insn(code, dst, src, size - n - 1 if off is _PAST else off, imm)
            for n, (code, dst, src, off, imm) in enumerate(tests)] + list(_ALLOW)


@functools.lru_cache(maxsize=None)
def program(device_rules: tuple[Rule, ...]) -> tuple[Insn, ...]:
    """The eBPF program for a list of rules: a block per rule, then deny.

    Each rule reads from the context what it compares, where runc reads the four
    values once at the top.  The verifier follows every path through a program: a
    path that leaves a rule halfway knows more of the values (the type matched, say)
    than one that left at the first test, so with values read once, the next rule
    is checked again for each; read afresh, those values are dead, the paths look
    alike and the verifier checks each rule once (Documentation/bpf/verifier.rst,
    "pruning").  For Docker's rules: 134 instructions processed instead of 219,
    BPF_PROG_LOAD 200 µs instead of 290 on the course's test machine.
    """
    if device_rules == ALLOW_ALL:
        return _ALLOW  # no need to read the context at all
    if any(rule.type not in _TYPES for rule in device_rules):
        raise ValueError("an 'a' rule can only stand alone (ALLOW_ALL)")
    insns = []
    for rule in device_rules:
        insns += _block(rule)
    return tuple(insns) + _DENY


@functools.lru_cache(maxsize=None)
def assemble(insns: tuple[Insn, ...]) -> bytes:
    """The program as the kernel reads it: 8 bytes per instruction, in one struct.pack."""
    fields = []
    for code, dst, src, off, imm in insns:
        # The two 4-bit register fields share a byte; C bit-fields fill it from the
        # low bits on little-endian machines and from the high bits on big-endian ones.
        fields += (code, src << 4 | dst if _LITTLE else dst << 4 | src, off, imm)
    return struct.pack("=" + "BBhi" * len(insns), *fields)


def load(insns: tuple[Insn, ...]) -> int:
    """Load a BPF_PROG_TYPE_CGROUP_DEVICE program; returns its file descriptor.  bpf(2)

    Loading asks the verifier to prove the program safe.  The first try carries
    no log buffer (the verifier writes one only when asked, and a log costs);
    if the kernel refuses, a second try with one says why, as runc does.
    """
    code = ctypes.create_string_buffer(assemble(insns))
    licence = ctypes.create_string_buffer(LICENSE)
    attr = sc.bpf_attr_prog_load(prog_type=sc.BPF_PROG_TYPE_CGROUP_DEVICE,
                                 insn_cnt=len(insns), insns=ctypes.addressof(code),
                                 license=ctypes.addressof(licence), prog_name=PROG_NAME)
    try:
        return _prog_load(attr)
    except KernelCallError as err:
        if err.errno in (errno.EPERM, errno.ENOSYS):
            raise  # not the program's fault: the verifier never saw it
    log = ctypes.create_string_buffer(64 * 1024)
    attr.log_level, attr.log_size, attr.log_buf = 1, len(log), ctypes.addressof(log)
    return _prog_load(attr)  # refused again, now with the verifier's words


def _prog_load(attr) -> int:
    for attempt in range(4):
        try:
            return sc.bpf(sc.BPF_PROG_LOAD, attr)
        except KernelCallError as err:
            # A signal can interrupt the verifier (EAGAIN, since about 4.20): runc retries.
            if err.errno != errno.EAGAIN or attempt == 3:
                raise


def attach_v2(directory: str, device_rules) -> None:
    """Load the rules' program and attach it to a v2 cgroup directory.

    BPF_F_ALLOW_MULTI, as runc: a program attached below this cgroup later runs
    as well as this one, so it can only refuse more.  The attachment keeps the
    program alive until the cgroup is removed, so our descriptor is closed at once.
    """
    prog = target = -1
    try:
        prog = load(program(tuple(device_rules)))
        target = os.open(directory, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        sc.bpf(sc.BPF_PROG_ATTACH, sc.bpf_attr_prog_attach(
            target_fd=target, attach_bpf_fd=prog, attach_type=sc.BPF_CGROUP_DEVICE,
            attach_flags=sc.BPF_F_ALLOW_MULTI))
    except KernelCallError as err:
        raise MissingFeature(f"the device rules (an eBPF program, cgroup v2's devices "
                             f"controller) cannot be attached to {directory}, and without "
                             f"them a root container could open the host's disks: {err}; "
                             f"use a kernel with CONFIG_CGROUP_BPF, or run rootless, which "
                             f"needs no device rules") from None
    finally:
        for fd in (target, prog):
            if fd >= 0:
                os.close(fd)


# --- for the course: the rules as each cgroup version gets them -------------------------
def describe_rules(version: int = 2, privileged: bool = False) -> str:
    """The writes (v1) or the program's disassembly (v2) that a container gets."""
    chosen = rules(privileged)
    if version == 1:
        return "\n".join(f"{name:<13} <- {line:<12} # {what}"
                         for name, line, what in v1_writes(chosen))
    insns, lines = program(chosen), []
    starts = {} if chosen == ALLOW_ALL else _block_starts(chosen)
    for pc, insn in enumerate(insns):
        if pc in starts:
            lines.append(f"    ; {starts[pc]}")
        lines.append(f"{pc:4}: {insn.text(pc)}")
    return "\n".join(lines)


def _block_starts(chosen) -> dict[int, str]:
    """Where each rule's block begins in the program: {pc: "c 1:3 rwm  /dev/null"}."""
    starts, pc = {}, 0
    for rule in chosen:
        starts[pc] = f"{rule}  {rule.what}"
        pc += len(_block(rule))
    starts[pc] = "no rule matched: deny"
    return starts
