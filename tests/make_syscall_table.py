"""Write sandbox/kernel/syscall_table.py from the kernel's own headers (Debian's linux-libc-dev).

    .venv/bin/python tests/make_syscall_table.py          # rewrites sandbox/kernel/syscall_table.py

A seccomp filter sees a system call only as a number, and the numbers differ
per architecture, so the filter needs a table from name to number:

- x86_64: ``asm/unistd_64.h`` is a flat list, ``#define __NR_read 0`` and so on.
- aarch64: uses the kernel's generic numbering, ``asm-generic/unistd.h``, whose
  entries depend on ``#if`` conditions.  The architecture's own ``asm/unistd.h``
  (arch/arm64/include/uapi/asm/unistd.h) sets them before including it: it is a
  64-bit ABI and wants the ``__ARCH_WANT_*`` entries listed in ``AARCH64_WANTS``.

Only this script reads headers; the package imports the table it wrote.
tests/test_seccomp.py checks that the committed table matches the installed headers.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

X86_64_HEADER = Path("/usr/include/x86_64-linux-gnu/asm/unistd_64.h")
GENERIC_HEADER = Path("/usr/include/asm-generic/unistd.h")
VERSION_HEADER = Path("/usr/include/linux/version.h")
TABLE = Path(__file__).resolve().parent.parent / "sandbox" / "kernel" / "syscall_table.py"

# What arch/arm64/include/uapi/asm/unistd.h defines before including asm-generic/unistd.h.
AARCH64_WANTS = {"__ARCH_WANT_RENAMEAT", "__ARCH_WANT_NEW_STAT", "__ARCH_WANT_SET_GET_RLIMIT",
                 "__ARCH_WANT_TIME32_SYSCALLS", "__ARCH_WANT_SYS_CLONE3",
                 "__ARCH_WANT_MEMFD_SECRET"}

# Numbers the header defines that are not system calls: the table's size, and the
# first number an architecture may use for calls of its own.
_NOT_CALLS = {"__NR_syscalls", "__NR_arch_specific_syscall"}
_DEFINE = re.compile(r"#define\s+(__NR(?:3264)?_\w+)\s+(\w+)\s*$")


def flat_table(text: str) -> dict[str, int]:
    """``#define __NR_name number`` lines, as x86's unistd_64.h has them."""
    return {m[1][len("__NR_"):]: int(m[2]) for m in map(_DEFINE.match, text.splitlines())
            if m and m[2].isdigit() and m[1].startswith("__NR_")}


def generic_table(text: str, defined: set[str], bits: int = 64) -> dict[str, int]:
    """asm-generic/unistd.h with its ``#if`` lines decided for one architecture.

    The conditions in that file are only ``defined(X)``, ``__BITS_PER_LONG == N``
    (or ``!=``), joined by ``||``, ``&&`` and ``!``: too little to need a C
    preprocessor, so they are rewritten as Python and evaluated.
    """
    macros: dict[str, str] = {}
    stack: list[tuple[bool, bool]] = []  # (this branch is live, the enclosing one is)
    live = True
    for line in text.splitlines():
        word, _, rest = line.strip().partition(" ")
        if word in ("#if", "#ifdef", "#ifndef"):
            cond = {"#if": rest, "#ifdef": f"defined({rest})", "#ifndef": f"!defined({rest})"}[word]
            stack.append((live, _holds(cond, defined | set(macros), bits)))
            live = live and stack[-1][1]
        elif word == "#elif":  # not needed so far: say so rather than misread the header
            raise ValueError(f"unexpected #elif in the header: {line.strip()}")
        elif word == "#else":
            outer, taken = stack[-1]
            stack[-1] = (outer, not taken)
            live = outer and not taken
        elif word == "#endif":
            live = stack.pop()[0]
        elif live and (m := _DEFINE.match(line.strip())):
            macros[m[1]] = m[2]
        elif live and word == "#undef":
            macros.pop(rest.strip(), None)
    table = {}
    for name, value in macros.items():
        while value in macros:  # __NR_fcntl -> __NR3264_fcntl -> 25
            value = macros[value]
        if name.startswith("__NR_") and value.isdigit() and name not in _NOT_CALLS:
            table[name[len("__NR_"):]] = int(value)
    return table


def _holds(cond: str, defined: set[str], bits: int) -> bool:
    py = re.sub(r"defined\s*\(\s*(\w+)\s*\)", lambda m: str(m[1] in defined), cond)
    py = py.replace("__BITS_PER_LONG", str(bits)).replace("||", " or ").replace("&&", " and ")
    py = re.sub(r"!(?!=)", " not ", py)
    if not re.fullmatch(r"[\sA-Za-z0-9=!()]*", py):
        raise ValueError(f"unexpected #if condition in the header: {cond}")
    return bool(eval(py, {"__builtins__": {}}))  # only True/False/numbers/operators remain


def tables() -> dict[str, dict[str, int]]:
    return {"x86_64": flat_table(X86_64_HEADER.read_text()),
            "aarch64": generic_table(GENERIC_HEADER.read_text(), AARCH64_WANTS)}


def headers_version() -> str:
    m = re.search(r"LINUX_VERSION_MAJOR (\d+)\s+#define LINUX_VERSION_PATCHLEVEL (\d+)\s+"
                  r"#define LINUX_VERSION_SUBLEVEL (\d+)", VERSION_HEADER.read_text())
    return ".".join(m.groups()) if m else "unknown"


def render(all_tables: dict[str, dict[str, int]], version: str) -> str:
    out = [f'"""System call numbers by architecture, from the Linux {version} uapi headers.\n',
           "Generated by tests/make_syscall_table.py (do not edit): x86_64 from",
           "asm/unistd_64.h, aarch64 from asm-generic/unistd.h as arm64 configures it.",
           "A seccomp filter compares these numbers; ``seccomp_data.nr`` carries one.",
           '"""\n', f"HEADERS = {version!r}\n", "TABLES = {"]
    for arch, table in all_tables.items():
        out.append(f"    {arch!r}: {{")
        line = "       "
        for name, nr in sorted(table.items(), key=lambda item: (item[1], item[0])):
            entry = f" {name!r}: {nr},"
            if len(line) + len(entry) > 95:
                out.append(line)
                line = "       "
            line += entry
        out += [line, "    },"]
    out.append("}\n")
    return "\n".join(out)


if __name__ == "__main__":
    TABLE.write_text(render(tables(), headers_version()))
    print(f"wrote {TABLE}", file=sys.stderr)
