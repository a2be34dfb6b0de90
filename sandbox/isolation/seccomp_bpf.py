"""Docker's seccomp profiles, compiled by hand into the classic BPF program the kernel runs.

A profile (moby's profiles/seccomp/default.json format) names system calls
and a verdict for each; the kernel wants a program.  For Docker's default
profile and a container with Docker's 14 default capabilities, on x86_64:

    ld [4]                          arch: 32-bit x86 or another ABI → KILL_PROCESS
    jne #0xc000003e, KILL_PROCESS
    ld [0]                          nr, the system call's number
    jge #0x40000000, ERRNO(1)       the x32 ABI: the default verdict
    jgt #449, ERRNO(38)             newer than anything the profile names → ENOSYS
    jne #41, L24                    socket: look at args[0] (the address family) ...
    ...                             clone: no namespace flag; personality: five values
    jeq #435, ERRNO(38)             clone3 → ENOSYS, so glibc falls back to clone
    jle #40, ALLOW                  the allowlist, as ranges of consecutive numbers:
    jgt #55, L61                    0..40, 42..55, 57..102, ...: two instructions a range,
    jge #42, ALLOW, ERRNO(1)        about 30 ranges for some 300 calls
    ...
    ret ERRNO(1)                    everything else: Docker's default, EPERM

``describe(program)`` prints a program this way.  Each instruction is a
struct sock_filter of 8 bytes (u16 code, u8 jt, u8 jf, u32 k); the
register A holds what ``ld`` loaded from struct seccomp_data (nr at 0, arch
at 4, args[i] at 16 + 8*i, each 64-bit argument as two 32-bit halves, the
low one first on these little-endian machines).  Jumps go forward only, at
most 255 instructions for a conditional one, and a program has at most 4096.

Decisions that depend on the container are made here, before the program
exists, as Docker does in dockerd: a rule with ``includes: {caps: [...]}``
is kept only if the container has all those capabilities, one with
``excludes`` is dropped if it has any (moby profiles/seccomp/seccomp_linux.go,
setupSeccomp).  So a container with CAP_SYS_ADMIN gets a program that allows
mount(2), and one without gets a program in which mount is simply not there.

Sources: the kernel's Documentation/networking/filter.rst (classic BPF) and
Documentation/userspace-api/seccomp_filter.rst; moby's profiles/seccomp;
runc's libcontainer/seccomp; seccomp(2).
"""

from __future__ import annotations

import errno
import os
import struct

from ..errors import MissingFeature, UsageError


# --- classic BPF, from <linux/bpf_common.h> ---------------------------------
BPF_LD, BPF_ALU, BPF_JMP, BPF_RET = 0x00, 0x04, 0x05, 0x06   # instruction classes
BPF_W, BPF_ABS = 0x00, 0x20                                  # 32-bit load, at a fixed offset
BPF_AND = 0x50
BPF_JA, BPF_JEQ, BPF_JGT, BPF_JGE = 0x00, 0x10, 0x20, 0x30
BPF_K = 0x00                                                 # the operand is the constant k
BPF_MAXINSNS = 4096                                          # the kernel refuses longer filters

LD_ABS = BPF_LD | BPF_W | BPF_ABS
JEQ, JGT, JGE = BPF_JMP | BPF_JEQ | BPF_K, BPF_JMP | BPF_JGT | BPF_K, BPF_JMP | BPF_JGE | BPF_K
JA, AND, RET = BPF_JMP | BPF_JA, BPF_ALU | BPF_AND | BPF_K, BPF_RET | BPF_K

# --- verdicts, from <linux/seccomp.h>: the action in the high 16 bits, data in the low
SECCOMP_RET_KILL_PROCESS = 0x80000000
SECCOMP_RET_KILL_THREAD = 0x00000000
SECCOMP_RET_TRAP = 0x00030000
SECCOMP_RET_ERRNO = 0x00050000
SECCOMP_RET_TRACE = 0x7FF00000
SECCOMP_RET_LOG = 0x7FFC0000
SECCOMP_RET_ALLOW = 0x7FFF0000

# struct seccomp_data, <linux/seccomp.h>: nr at 0, arch at 4, args[i] at 16 + 8*i (see _arg)
NR, ARCH = 0, 4

# AUDIT_ARCH_*, <linux/audit.h>: the ELF machine with the 64-bit and little-endian bits
AUDIT_ARCH = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}
X32_SYSCALL_BIT = 0x40000000   # x86_64's x32 ABI: same arch value, numbers with this bit
GO_ARCH = {"x86_64": "amd64", "aarch64": "arm64"}   # how Docker's profiles name them

# Docker's names → verdict (errno or trace data added later); runc makes KILL the thread's.
ACTIONS = {
    "SCMP_ACT_ALLOW": SECCOMP_RET_ALLOW, "SCMP_ACT_ERRNO": SECCOMP_RET_ERRNO,
    "SCMP_ACT_KILL": SECCOMP_RET_KILL_THREAD, "SCMP_ACT_KILL_THREAD": SECCOMP_RET_KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": SECCOMP_RET_KILL_PROCESS, "SCMP_ACT_TRAP": SECCOMP_RET_TRAP,
    "SCMP_ACT_TRACE": SECCOMP_RET_TRACE, "SCMP_ACT_LOG": SECCOMP_RET_LOG,
}
OPS = ("SCMP_CMP_EQ", "SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_GT",
       "SCMP_CMP_GE", "SCMP_CMP_MASKED_EQ")


# --- reading a profile --------------------------------------------------------

def load_profile(path) -> dict:
    """A Docker-format JSON seccomp profile, checked (``--security-opt seccomp=PATH``)."""
    import json  # only a custom profile needs it

    try:
        with open(path, encoding="utf-8") as f:
            profile = json.load(f)
    except OSError as err:
        raise UsageError(f"seccomp profile {path}: {err.strerror}") from None
    except (ValueError, UnicodeDecodeError) as err:
        raise UsageError(f"seccomp profile {path} is not valid JSON ({err})") from None
    check_profile(profile, f"seccomp profile {path}")
    return profile


def check_profile(profile, where: str = "seccomp profile") -> None:
    """Raise a one-sentence UsageError naming the entry at fault, if any."""
    if not isinstance(profile, dict):
        raise UsageError(f"{where} must be a JSON object")
    # Docker takes a profile with neither as "no filter"; here that is said out loud instead.
    if profile.get("defaultAction") not in ACTIONS:
        raise UsageError(f"{where}: defaultAction {profile.get('defaultAction')!r} is not one "
                         f"of {', '.join(ACTIONS)}")
    if not _is_errno(profile.get("defaultErrnoRet")):
        raise UsageError(f"{where}: defaultErrnoRet must be an errno number from 0 to 4095, "
                         f"not {profile['defaultErrnoRet']!r}")
    if profile.get("architectures") and profile.get("archMap"):
        raise UsageError(f"{where} has both 'architectures' and 'archMap'; use one of them")
    syscalls = profile.get("syscalls") or []
    if not isinstance(syscalls, list):
        raise UsageError(f"{where}: 'syscalls' must be a list")
    for i, entry in enumerate(syscalls):
        problem = _problem(entry)
        if problem:
            names = _names(entry) if isinstance(entry, dict) else None
            shown = f" ({', '.join(names[:3])}{', ...' if len(names) > 3 else ''})" \
                if _valid_names(names) else ""
            raise UsageError(f"{where}: syscalls[{i}]{shown}{problem}")


def _problem(entry) -> str | None:
    """What is wrong with one entry of ``syscalls`` (the end of a sentence), or None."""
    if not isinstance(entry, dict):
        return " must be an object"
    if entry.get("name") and entry.get("names"):
        return " has both 'name' and 'names'; use one of them"
    if not _valid_names(_names(entry)):
        return " needs 'names', a list of system call names"
    if entry.get("action") not in ACTIONS:
        return f": action {entry.get('action')!r} is not one of {', '.join(ACTIONS)}"
    if not _is_errno(entry.get("errnoRet")):
        return f": errnoRet must be an errno number from 0 to 4095, not {entry['errnoRet']!r}"
    for j, arg in enumerate(entry.get("args") or ()):
        if not isinstance(arg, dict) or arg.get("op") not in OPS:
            op = arg.get("op") if isinstance(arg, dict) else arg
            return f": args[{j}] has op {op!r}, not one of {', '.join(OPS)}"
        if not _is_int(arg.get("index"), 0, 5):
            return f": args[{j}] index must be 0 to 5 (a call has six arguments)"
        for key in ("value", "valueTwo"):
            if not _is_int(arg.get(key, 0), 0, 2**64 - 1):
                return f": args[{j}] {key} must be an integer from 0 to 2**64-1"
    for key in ("includes", "excludes"):
        cond = entry.get(key)
        if cond is None:
            continue
        if not isinstance(cond, dict) or not all(
                isinstance(cond.get(k) or [], list) for k in ("caps", "arches")):
            return f": {key} must be an object with lists 'caps' and 'arches'"
        if cond.get("minKernel") and _kernel_version(cond["minKernel"]) is None:
            return f": {key}.minKernel {cond['minKernel']!r} is not a version like '4.8'"
    return None


def _is_errno(value) -> bool:
    return value is None or _is_int(value, 0, 4095)


def _is_int(value, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _names(entry: dict) -> list:
    name = entry.get("name")
    return [name] if name else entry.get("names") or []


def _valid_names(names) -> bool:
    """A non-empty list of strings."""
    return isinstance(names, list) and set(map(type, names)) == {str}


def _kernel_version(text: str) -> tuple[int, int] | None:
    """'6.18.44-fc' → (6, 18): Docker compares only the first two numbers (kernel_linux.go)."""
    major, _, rest = str(text).partition(".")
    minor = "".join(c for c in rest.split(".")[0] if c.isdigit()) if rest else ""
    return (int(major), int(minor)) if major.isdigit() and minor else None


# --- which rules apply to this container --------------------------------------

def applies(entry: dict, caps: frozenset, arch: str, kernel: tuple[int, int]) -> bool:
    """Docker's includes/excludes, as setupSeccomp in moby's profiles/seccomp/seccomp_linux.go.

    ``excludes`` drops the rule if *any* listed capability or architecture
    matches; ``includes`` keeps it only if *all* listed capabilities are
    there, the architecture is listed, and the kernel is at least minKernel.
    Capabilities are the container's bounding set.
    """
    ex, inc = entry.get("excludes") or {}, entry.get("includes") or {}
    if arch in (ex.get("arches") or ()) or not caps.isdisjoint(ex.get("caps") or ()):
        return False
    if ex.get("minKernel") and kernel >= _kernel_version(ex["minKernel"]):
        return False
    if inc.get("arches") and arch not in inc["arches"]:
        return False
    if not caps.issuperset(inc.get("caps") or ()):
        return False
    return not inc.get("minKernel") or kernel >= _kernel_version(inc["minKernel"])


def normalize_caps(caps) -> frozenset:
    """``{"SYS_ADMIN", "cap_chown"}`` → ``{"CAP_SYS_ADMIN", "CAP_CHOWN"}`` (Docker's spelling)."""
    return frozenset(c.upper() if c.upper().startswith("CAP_") else "CAP_" + c.upper()
                     for c in caps)


def _verdict(action: str, errno_ret, default_errno: int = errno.EPERM) -> int:
    """The 32-bit ``ret`` value: action, and for ERRNO and TRACE the errno/data in the low bits."""
    base = ACTIONS[action]
    if base in (SECCOMP_RET_ERRNO, SECCOMP_RET_TRACE):
        return base | (default_errno if errno_ret is None else errno_ret)
    return base


def _decide(profile: dict, caps: frozenset, machine: str, kernel: tuple[int, int]):
    """Per syscall number: one verdict, or a list of (conditions, verdict) argument rules.

    As runc and libseccomp do: unknown names are skipped (runc's matchCall
    logs them at debug level); a rule whose verdict is the default is dropped
    (redundant); a rule without arguments wins over rules with them for the
    same call; rules with arguments are tried in the profile's order.
    """
    from ..kernel.syscall_table import TABLES  # only a compile needs the numbers (see seccomp.program)

    table, arch = TABLES[machine], GO_ARCH[machine]
    default = _verdict(profile["defaultAction"], profile.get("defaultErrnoRet"))
    plain: dict[int, int] = {}
    with_args: dict[int, list] = {}
    largest = 0
    for entry in profile.get("syscalls") or ():
        if not applies(entry, caps, arch, kernel):
            continue
        numbers = [table[name] for name in _names(entry) if name in table]
        largest = max(largest, *numbers) if numbers else largest
        verdict = _verdict(entry["action"], entry.get("errnoRet"))
        if verdict == default:
            continue
        args = entry.get("args")
        for nr in numbers:
            if not args:
                plain.setdefault(nr, verdict)
            else:
                with_args.setdefault(nr, []).extend((c, verdict) for c in _alternatives(args))
    for nr in plain:
        with_args.pop(nr, None)
    return default, plain, with_args, largest


def _alternatives(args: list) -> list[list]:
    """Conditions on different arguments must all hold; runc treats several conditions on
    the *same* argument as alternatives, one rule each (libcontainer/seccomp, matchCall)."""
    indexes = [a["index"] for a in args]
    return [[a] for a in args] if len(set(indexes)) < len(indexes) else [args]


# --- the program --------------------------------------------------------------

def compile(profile: dict, caps, machine: str | None = None, *,
            kernel: str | None = None) -> bytes:
    """The classic BPF filter (struct sock_filter[]) for ``profile`` and a container with ``caps``.

    ``caps`` are capability names (``CAP_SYS_ADMIN`` or ``SYS_ADMIN``); ``kernel``
    is the release that ``minKernel`` is compared with (default: this one).
    """
    machine = machine or os.uname().machine
    if machine not in AUDIT_ARCH:
        raise MissingFeature(f"seccomp: no syscall table for architecture {machine}; run with "
                             f"--security-opt seccomp=unconfined to start without a filter")
    check_profile(profile)
    release = _kernel_version(kernel or os.uname().release) or (0, 0)
    default, plain, with_args, largest = _decide(profile, normalize_caps(caps), machine, release)
    code = _Program()
    code.op(LD_ABS, k=ARCH)
    code.op(JEQ, AUDIT_ARCH[machine], jf=code.ret_label(SECCOMP_RET_KILL_PROCESS))
    code.op(LD_ABS, k=NR)
    if machine == "x86_64":
        # x32 calls carry x86_64's arch value; a table for them would be another filter.
        # A deny-by-default profile gives them its default; an allow-by-default one can
        # name nothing for x32, so they are killed like any foreign ABI.
        allows = default in (SECCOMP_RET_ALLOW, SECCOMP_RET_LOG)
        code.op(JGE, X32_SYSCALL_BIT,
                jt=code.ret_label(SECCOMP_RET_KILL_PROCESS if allows else default))
    if _wants_enosys_stub(default) and largest:
        # runc's stub (libcontainer/seccomp/patchbpf, commit 7a8d716): a call newer than
        # anything the profile names gets ENOSYS, so libc falls back to an older call
        # instead of failing with EPERM.
        code.op(JGT, largest, jt=code.ret_label(SECCOMP_RET_ERRNO | errno.ENOSYS))
    for nr, rules in sorted(with_args.items()):
        _emit_arg_rules(code, nr, rules, default)
    by_verdict: dict[int, list[int]] = {}
    for nr, verdict in plain.items():
        by_verdict.setdefault(verdict, []).append(nr)
    # Other verdicts first, the allowlist last: its misses fall straight to the default.
    for verdict in sorted(by_verdict, key=lambda v: v == SECCOMP_RET_ALLOW):
        _emit_ranges(code, ranges(by_verdict[verdict]), verdict)
    code.place(code.ret_label(default))
    code.op(RET, default)
    return code.assemble()


def _wants_enosys_stub(default: int) -> bool:
    # runc skips it when the default lets calls through, or already is ENOSYS.
    lets_through = (SECCOMP_RET_ALLOW, SECCOMP_RET_LOG, SECCOMP_RET_ERRNO | errno.ENOSYS)
    return default not in lets_through and default & 0xFFFF0000 != SECCOMP_RET_TRACE


def ranges(numbers) -> list[tuple[int, int]]:
    """Sorted numbers as runs of consecutive ones: [0, 1, 2, 5, 7, 8] → [(0, 2), (5, 5), (7, 8)]."""
    runs: list[list[int]] = []
    for n in sorted(numbers):
        if runs and n == runs[-1][1] + 1:
            runs[-1][1] = n
        else:
            runs.append([n, n])
    return [(lo, hi) for lo, hi in runs]


def _emit_ranges(code: _Program, runs: list[tuple[int, int]], verdict: int) -> None:
    """``lo <= nr <= hi`` for each run, smallest first; a miss goes on to what follows.

    ``jgt #hi`` skips to the next run; ``jge #lo`` then decides: inside the run,
    or in the gap below it (which later runs cannot cover, as they are higher).
    """
    hit, miss = code.ret_label(verdict), code.label()
    for i, (lo, hi) in enumerate(runs):
        last = i == len(runs) - 1
        next_run = miss if last else code.label()
        if lo == hi:
            code.op(JEQ, lo, jt=hit, jf=miss if last else None)
        elif lo == 0:  # nothing is below 0: one comparison does
            code.op(JGT, hi, jt=next_run, jf=hit)
        else:
            code.op(JGT, hi, jt=next_run)
            code.op(JGE, lo, jt=hit, jf=miss)
        if not last and lo != hi:
            code.place(next_run)
    code.place(miss)


def _emit_arg_rules(code: _Program, nr: int, rules: list, default: int) -> None:
    """``if nr == N``: each rule's conditions in turn, the first that all hold gives its verdict.

    Arguments are 64 bits and BPF compares 32: each condition looks at the
    high half, then the low half, as libseccomp does.
    """
    after = code.label()
    code.op(JEQ, nr, jf=after)
    for conds, verdict in rules:
        next_rule = code.label()
        for cond in conds:
            _emit_condition(code, cond, next_rule)
        code.op(RET, verdict)
        code.place(next_rule)
    code.op(RET, default)  # no rule matched; A no longer holds nr, so this block must end here
    code.place(after)


def _arg(i: int) -> tuple[int, int]:
    """Offsets of the (high, low) 32-bit halves of args[i]: little-endian, low word first."""
    return 16 + 8 * i + 4, 16 + 8 * i


def _emit_condition(code: _Program, cond: dict, fail) -> None:
    """Fall through when ``args[index] <op> value`` holds, jump to ``fail`` when it does not."""
    op, value = cond["op"], cond["value"]
    hi_off, lo_off = _arg(cond["index"])
    hi, lo = value >> 32, value & 0xFFFFFFFF
    ok = code.label()
    if op == "SCMP_CMP_MASKED_EQ":  # (arg & value) == valueTwo
        two = cond.get("valueTwo", 0)
        for off, mask, want in ((hi_off, hi, two >> 32), (lo_off, lo, two & 0xFFFFFFFF)):
            if mask == 0 and want == 0:
                continue  # this half can only match: (x & 0) == 0
            code.op(LD_ABS, k=off)
            code.op(AND, mask)
            code.op(JEQ, want, jf=fail)
    elif op in ("SCMP_CMP_EQ", "SCMP_CMP_NE"):
        differ, same = (fail, ok) if op == "SCMP_CMP_EQ" else (ok, fail)
        code.op(LD_ABS, k=hi_off)
        code.op(JEQ, hi, jf=differ)
        code.op(LD_ABS, k=lo_off)
        code.op(JEQ, lo, jt=same, jf=differ)
    else:  # GT, GE, LT, LE: the high halves decide unless they are equal
        above, below = (ok, fail) if op in ("SCMP_CMP_GT", "SCMP_CMP_GE") else (fail, ok)
        code.op(LD_ABS, k=hi_off)
        code.op(JGT, hi, jt=above)
        code.op(JEQ, hi, jf=below)
        code.op(LD_ABS, k=lo_off)
        low_op = JGE if op in ("SCMP_CMP_GE", "SCMP_CMP_LT") else JGT  # LT is not-GE, LE not-GT
        code.op(low_op, lo, jt=above, jf=below)
    code.place(ok)


class _Program:
    """Instructions with symbolic jump targets, assembled into struct sock_filter[].

    A conditional jump reaches at most 255 instructions ahead (jt and jf are
    u8); when a target is farther, ``assemble`` aims the jump at an added
    ``ja`` (whose offset is 32 bits) right after it, and assembles again.
    """

    def __init__(self):
        self.items: list = []  # [code, jt, jf, k]: jt/jf a label or None (the next one)
        self.rets: dict[int, tuple] = {}
        self._labels = 0

    def label(self) -> tuple:
        self._labels += 1
        return ("label", self._labels)

    def place(self, label: tuple) -> None:
        self.items.append(label)

    def op(self, code: int, k: int = 0, jt=None, jf=None) -> None:
        self.items.append([code, jt, jf, k])

    def ret_label(self, verdict: int) -> tuple:
        """A label for ``ret verdict``; each distinct verdict is emitted once, at the end."""
        if verdict not in self.rets:
            self.rets[verdict] = self.label()
        return self.rets[verdict]

    def assemble(self) -> bytes:
        items = list(self.items)
        for verdict, label in self.rets.items():
            if label not in items:  # compile places the default's own at the very end
                items += [label, [RET, None, None, verdict]]
        while True:
            where, pc = {}, 0
            for item in items:
                if item[0] == "label":
                    where[item] = pc
                else:
                    pc += 1
            if pc > BPF_MAXINSNS:
                raise UsageError(f"seccomp profile too large: its filter has {pc} instructions, "
                                 f"the kernel accepts at most {BPF_MAXINSNS}")
            out = []
            for at, item in enumerate(items):
                if item[0] == "label":
                    continue
                code, jt, jf, k = item
                pc = len(out)
                if code == JA:
                    out.append(_PACK(code, 0, 0, where[jt] - pc - 1))
                    continue
                jt, jf = (0 if t is None else where[t] - pc - 1 for t in (jt, jf))
                if jt > 255 or jf > 255:
                    self._hop(items, at)
                    break
                out.append(_PACK(code, jt, jf, k))
            else:
                return b"".join(out)

    def _hop(self, items: list, at: int) -> None:
        """``jeq #k, FAR, NEAR`` → ``jeq #k, h1, h2; h1: ja FAR; h2: ja NEAR; next:``"""
        item, hops, after = items[at], [], self.label()
        for slot in (1, 2):
            if item[slot] is None:  # fall-through must still reach the instruction it meant
                item[slot] = after
            else:
                hop = self.label()
                hops += [hop, [JA, item[slot], None, 0]]
                item[slot] = hop
        items[at + 1:at + 1] = hops + [after]


_PACK = struct.Struct("=HBBI").pack  # struct sock_filter: u16 code, u8 jt, u8 jf, u32 k


# --- reading it back -------------------------------------------------------------

_FIELDS = {NR: "nr", ARCH: "arch", 8: "instruction_pointer (low)",
           12: "instruction_pointer (high)"}
_FIELDS.update({16 + 8 * i + 4 * h: f"args[{i}] ({'high' if h else 'low'})"
                for i in range(6) for h in (0, 1)})


def describe(program: bytes, machine: str | None = None) -> str:
    """The filter as readable lines: ``ld [0]``, ``jeq #165, ALLOW``, ``ret ERRNO(1)``.

    A jump to a ``ret`` shows the verdict; other targets are labels ``L<n>``
    (n is the instruction's index).  Comparisons with ``nr`` name the call,
    from ``machine``'s table (default: this machine's).
    """
    insns = [struct.unpack_from("=HBBI", program, i) for i in range(0, len(program), 8)]
    from ..kernel.syscall_table import TABLES

    names = {nr: name for name, nr in TABLES.get(machine or os.uname().machine, {}).items()}
    holds = _what_a_holds(insns)
    targets = {i + 1 + off for i, (code, jt, jf, k) in enumerate(insns) if code & 0x07 == BPF_JMP
               for off in ((k,) if code == JA else (jt, jf)) if off}
    lines = []
    for i, (code, jt, jf, k) in enumerate(insns):
        def to(off, i=i):
            code_t, _, _, k_t = insns[i + 1 + off]
            return _verdict_name(k_t) if code_t == RET else f"L{i + 1 + off}"
        if code == LD_ABS:
            text = f"ld [{k}]".ljust(28) + f"; {_FIELDS.get(k, '?')}"
        elif code == AND:
            text = f"and #{k:#x}"
        elif code == RET:
            text = f"ret {_verdict_name(k)}"
        elif code == JA:
            text = f"ja {to(k)}"
        elif code in (JEQ, JGT, JGE):
            # bpf_asm's spelling: when only the false branch jumps, say jne / jle / jlt.
            op = {JEQ: ("jeq", "jne"), JGT: ("jgt", "jle"), JGE: ("jge", "jlt")}[code]
            shown = f"#{k:#x}" if k > 0xFFFF else f"#{k}"
            if jt == 0:
                text = f"{op[1]} {shown}, {to(jf)}"
            else:
                text = f"{op[0]} {shown}, {to(jt)}" + (f", {to(jf)}" if jf else "")
            if holds[i] == NR and k in names:
                text = text.ljust(28) + f"; {names[k]}"
        else:
            text = f"??? code={code:#x} jt={jt} jf={jf} k={k:#x}"
        lines.append(f"{'L%d:' % i if i in targets and code != RET else '':<6}{text}")
    return "\n".join(lines)


def _what_a_holds(insns) -> list:
    """For each instruction, the seccomp_data offset last loaded into A on every path to it."""
    holds: list = [None] * len(insns)
    for i, (code, jt, jf, k) in enumerate(insns):
        now = k if code == LD_ABS else "computed" if code == AND else holds[i]
        nexts = () if code == RET else (i + 1 + k,) if code == JA else \
            (i + 1,) if code == LD_ABS or code == AND else (i + 1 + jt, i + 1 + jf)
        for j in nexts:
            if j < len(insns):
                holds[j] = now if holds[j] in (None, now) else "mixed"
    return holds


def _verdict_name(k: int) -> str:
    action, data = k & 0xFFFF0000, k & 0xFFFF
    if action == SECCOMP_RET_ERRNO:
        return f"ERRNO({data})"
    if action == SECCOMP_RET_TRACE:
        return f"TRACE({data})"
    names = {SECCOMP_RET_ALLOW: "ALLOW", SECCOMP_RET_KILL_PROCESS: "KILL_PROCESS",
             SECCOMP_RET_KILL_THREAD: "KILL_THREAD", SECCOMP_RET_TRAP: "TRAP",
             SECCOMP_RET_LOG: "LOG"}
    return names.get(action, f"{k:#x}")


# --- Docker's default profile -------------------------------------------------------

def default_profile() -> dict:
    """Docker's default seccomp profile, in its JSON shape (a new copy each time)."""
    return {"defaultAction": "SCMP_ACT_ERRNO", "defaultErrnoRet": errno.EPERM,
            "syscalls": [dict(rule, names=rule["names"].split()) for rule in _DOCKER_RULES]}


# The rules of moby's profiles/seccomp/default.json at seccomp/v0.2.3 (the version that
# moby vendors in 2026), in its order, written as Python.  Left out: its archMap, which
# adds the 32-bit sub-architectures (x86 and x32 on x86_64, arm on aarch64); this module
# filters only the native 64-bit ABI and kills the others (see compile).  Docker's
# comments, from default_linux.go, are kept as Python comments.
_DOCKER_RULES = [
    {"names": """
        accept accept4 access adjtimex alarm bind brk cachestat capget capset chdir chmod
        chown chown32 clock_adjtime clock_adjtime64 clock_getres clock_getres_time64
        clock_gettime clock_gettime64 clock_nanosleep clock_nanosleep_time64 close
        close_range connect copy_file_range creat dup dup2 dup3 epoll_create epoll_create1
        epoll_ctl epoll_ctl_old epoll_pwait epoll_pwait2 epoll_wait epoll_wait_old eventfd
        eventfd2 execve execveat exit exit_group faccessat faccessat2 fadvise64 fadvise64_64
        fallocate fanotify_mark fchdir fchmod fchmodat fchmodat2 fchown fchown32 fchownat
        fcntl fcntl64 fdatasync fgetxattr flistxattr flock fork fremovexattr fsetxattr fstat
        fstat64 fstatat64 fstatfs fstatfs64 fsync ftruncate ftruncate64 futex futex_requeue
        futex_time64 futex_wait futex_waitv futex_wake futimesat getcpu getcwd getdents
        getdents64 getegid getegid32 geteuid geteuid32 getgid getgid32 getgroups getgroups32
        getitimer getpeername getpgid getpgrp getpid getppid getpriority getrandom getresgid
        getresgid32 getresuid getresuid32 getrlimit get_robust_list getrusage getsid
        getsockname getsockopt get_thread_area gettid gettimeofday getuid getuid32 getxattr
        getxattrat inotify_add_watch inotify_init inotify_init1 inotify_rm_watch io_cancel
        ioctl io_destroy io_getevents io_pgetevents io_pgetevents_time64 ioprio_get
        ioprio_set io_setup io_submit ipc kill landlock_add_rule landlock_create_ruleset
        landlock_restrict_self lchown lchown32 lgetxattr link linkat listen listmount
        listxattr listxattrat llistxattr _llseek lremovexattr lseek lsetxattr lstat lstat64
        madvise map_shadow_stack membarrier memfd_create memfd_secret mincore mkdir mkdirat
        mknod mknodat mlock mlock2 mlockall mmap mmap2 mprotect mq_getsetattr mq_notify
        mq_open mq_timedreceive mq_timedreceive_time64 mq_timedsend mq_timedsend_time64
        mq_unlink mremap mseal msgctl msgget msgrcv msgsnd msync munlock munlockall munmap
        name_to_handle_at nanosleep newfstatat _newselect open openat openat2 pause
        pidfd_open pidfd_send_signal pipe pipe2 pkey_alloc pkey_free pkey_mprotect poll
        ppoll ppoll_time64 prctl pread64 preadv preadv2 prlimit64 process_mrelease pselect6
        pselect6_time64 pwrite64 pwritev pwritev2 read readahead readlink readlinkat readv
        recv recvfrom recvmmsg recvmmsg_time64 recvmsg remap_file_pages removexattr
        removexattrat rename renameat renameat2 restart_syscall riscv_hwprobe rmdir rseq
        rt_sigaction rt_sigpending rt_sigprocmask rt_sigqueueinfo rt_sigreturn rt_sigsuspend
        rt_sigtimedwait rt_sigtimedwait_time64 rt_tgsigqueueinfo sched_getaffinity
        sched_getattr sched_getparam sched_get_priority_max sched_get_priority_min
        sched_getscheduler sched_rr_get_interval sched_rr_get_interval_time64
        sched_setaffinity sched_setattr sched_setparam sched_setscheduler sched_yield
        seccomp select semctl semget semop semtimedop semtimedop_time64 send sendfile
        sendfile64 sendmmsg sendmsg sendto setfsgid setfsgid32 setfsuid setfsuid32 setgid
        setgid32 setgroups setgroups32 setitimer setpgid setpriority setregid setregid32
        setresgid setresgid32 setresuid setresuid32 setreuid setreuid32 setrlimit
        set_robust_list setsid setsockopt set_thread_area set_tid_address setuid setuid32
        setxattr setxattrat shmat shmctl shmdt shmget shutdown sigaltstack signalfd
        signalfd4 sigprocmask sigreturn socketcall socketpair splice stat stat64 statfs
        statfs64 statmount statx symlink symlinkat sync sync_file_range syncfs sysinfo tee
        tgkill time timer_create timer_delete timer_getoverrun timer_gettime timer_gettime64
        timer_settime timer_settime64 timerfd_create timerfd_gettime timerfd_gettime64
        timerfd_settime timerfd_settime64 times tkill truncate truncate64 ugetrlimit umask
        uname unlink unlinkat uretprobe utime utimensat utimensat_time64 utimes vfork
        vmsplice wait4 waitid waitpid write writev""",
     "action": "SCMP_ACT_ALLOW"},
    {"names": "process_vm_readv process_vm_writev ptrace", "action": "SCMP_ACT_ALLOW",
     "includes": {"minKernel": "4.8"}},
    # Allow socket(2) for all address families except AF_VSOCK (40) and AF_ALG (38).
    {"names": "socket", "action": "SCMP_ACT_ALLOW",
     "args": [{"index": 0, "value": 38, "op": "SCMP_CMP_LT"}]},
    {"names": "socket", "action": "SCMP_ACT_ALLOW",
     "args": [{"index": 0, "value": 39, "op": "SCMP_CMP_EQ"}]},
    {"names": "socket", "action": "SCMP_ACT_ALLOW",
     "args": [{"index": 0, "value": 40, "op": "SCMP_CMP_GT"}]},
    # personality(2): PER_LINUX, PER_LINUX32, UNAME26, UNAME26|PER_LINUX32, and the query.
    *({"names": "personality", "action": "SCMP_ACT_ALLOW",
       "args": [{"index": 0, "value": value, "op": "SCMP_CMP_EQ"}]}
      for value in (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)),
    {"names": "sync_file_range2 swapcontext", "action": "SCMP_ACT_ALLOW",
     "includes": {"arches": ["ppc64le"]}},
    {"names": "arm_fadvise64_64 arm_sync_file_range sync_file_range2 breakpoint cacheflush "
              "set_tls", "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm", "arm64"]}},
    {"names": "arch_prctl", "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["amd64", "x32"]}},
    {"names": "modify_ldt", "action": "SCMP_ACT_ALLOW",
     "includes": {"arches": ["amd64", "x32", "x86"]}},
    {"names": "s390_pci_mmio_read s390_pci_mmio_write s390_runtime_instr",
     "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["s390", "s390x"]}},
    {"names": "riscv_flush_icache", "action": "SCMP_ACT_ALLOW",
     "includes": {"arches": ["riscv64"]}},
    {"names": "open_by_handle_at", "action": "SCMP_ACT_ALLOW",
     "includes": {"caps": ["CAP_DAC_READ_SEARCH"]}},
    {"names": """
        bpf clone clone3 fanotify_init fsconfig fsmount fsopen fspick lookup_dcookie
        lsm_get_self_attr lsm_list_modules lsm_set_self_attr mount mount_setattr move_mount
        open_tree perf_event_open quotactl quotactl_fd setdomainname sethostname setns
        syslog umount umount2 unshare""",
     "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_ADMIN"]}},
    # Without CAP_SYS_ADMIN, clone(2) only without namespace flags: CLONE_NEWNS|NEWUTS|
    # NEWIPC|NEWUSER|NEWPID|NEWNET|NEWCGROUP = 0x7E020000 must all be clear.
    {"names": "clone", "action": "SCMP_ACT_ALLOW",
     "args": [{"index": 0, "value": 0x7E020000, "op": "SCMP_CMP_MASKED_EQ"}],
     "excludes": {"caps": ["CAP_SYS_ADMIN"], "arches": ["s390", "s390x"]}},
    {"names": "clone", "action": "SCMP_ACT_ALLOW",
     "args": [{"index": 1, "value": 0x7E020000, "op": "SCMP_CMP_MASKED_EQ"}],
     "comment": "s390 parameter ordering for clone is different",
     "includes": {"arches": ["s390", "s390x"]}, "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
    # clone3(2) passes its flags in a struct in memory, which seccomp cannot read, so
    # namespace flags cannot be told apart.  ENOSYS, not EPERM: glibc (2.34+) tries clone3
    # first for threads and posix_spawn and falls back to clone(2) only on ENOSYS, where
    # the rule above can check the flags (moby/profiles 4489e67; runc 7a8d716).
    {"names": "clone3", "action": "SCMP_ACT_ERRNO", "errnoRet": errno.ENOSYS,
     "excludes": {"caps": ["CAP_SYS_ADMIN"]}},
    {"names": "reboot", "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_BOOT"]}},
    {"names": "chroot", "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_CHROOT"]}},
    {"names": "delete_module init_module finit_module", "action": "SCMP_ACT_ALLOW",
     "includes": {"caps": ["CAP_SYS_MODULE"]}},
    {"names": "acct", "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_PACCT"]}},
    {"names": "kcmp pidfd_getfd process_madvise process_vm_readv process_vm_writev ptrace",
     "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_PTRACE"]}},
    {"names": "iopl ioperm", "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_RAWIO"]}},
    {"names": "settimeofday stime clock_settime clock_settime64", "action": "SCMP_ACT_ALLOW",
     "includes": {"caps": ["CAP_SYS_TIME"]}},
    {"names": "vhangup", "action": "SCMP_ACT_ALLOW",
     "includes": {"caps": ["CAP_SYS_TTY_CONFIG"]}},
    {"names": "get_mempolicy mbind set_mempolicy set_mempolicy_home_node",
     "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYS_NICE"]}},
    {"names": "syslog", "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_SYSLOG"]}},
    {"names": "bpf", "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_BPF"]}},
    {"names": "perf_event_open", "action": "SCMP_ACT_ALLOW", "includes": {"caps": ["CAP_PERFMON"]}},
]
