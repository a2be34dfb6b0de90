"""seccomp: a small program the kernel runs on every system call a container makes.

    inside the container                  the kernel, before the call runs
    ────────────────────                  ─────────────────────────────────────────
    mount("none", "/mnt", "tmpfs", ...)   the filter reads struct seccomp_data:
         │                                    offset 0   nr     165 (mount, x86_64)
         └─── syscall ──────────────────►     offset 4   arch   0xc000003e (x86_64)
                                              offset 8   instruction_pointer
                                              offset 16  args[0..5], 8 bytes each
                                          and returns a verdict: ALLOW, ERRNO(n), KILL...
         ◄── -1, errno = EPERM ──────────  ERRNO(1): mount never runs

The filter is a classic BPF program (the packet-filter language of tcpdump).
Once installed it cannot be removed, is inherited by children and survives
execve(2).  Why one, when capabilities already stop mount(2)?  It shrinks the
kernel's attack surface: keyctl, bpf, userfaultfd, perf_event_open... are
where kernel exploits live, and most programs never call them.

How a container gets its filter, as Docker and runc do it:

    sandbox create     program(caps, profile)    Docker's default profile (or a JSON file),
                                                 compiled for the container's capabilities
    container init     install(program)          while it still has CAP_SYS_ADMIN, right
                                                 before capabilities drop and execve(2)

How a profile becomes a program is :mod:`sandbox.isolation.seccomp_bpf`, a module of
its own because a container start should not pay for importing it: the
program is compiled once and kept (``program``).

Man pages: seccomp(2), prctl(2) (PR_SET_NO_NEW_PRIVS), syscall(2).
"""

from __future__ import annotations

import functools
import os
from pathlib import Path


# --- compiling once ------------------------------------------------------------

def program(caps, profile: dict | None = None, *, machine: str | None = None,
            cache_dir=None) -> bytes:
    """The filter for a container with ``caps``: ``profile`` (default: Docker's) compiled once.

    Compiling takes a few tenths of a millisecond, importing the compiler and
    the syscall table as much again; a container start should not pay that
    each time.  Programs are kept in this process (lru_cache) and, given
    ``cache_dir``, on disk, in a file named by a hash of all a program depends
    on: the profile (or "default"), the capabilities, the machine, the kernel
    release (for ``minKernel``) and the compiler's own files, so an edited
    compiler or table never meets a program it did not make.
    """
    text = None
    if profile is not None:
        import json

        text = json.dumps(profile, sort_keys=True)
    return _program(text, frozenset(caps), machine or os.uname().machine, os.uname().release,
                    None if cache_dir is None else os.fspath(cache_dir))


@functools.lru_cache(maxsize=32)
def _program(text: str | None, caps: frozenset, machine: str, kernel: str,
             cache_dir: str | None) -> bytes:
    path = None
    if cache_dir is not None:
        try:  # CPython's small sha256: hashlib's import costs ~2 ms (as sandbox.content.store)
            from _sha256 import sha256
        except ImportError:
            from hashlib import sha256

        key = repr((text or "default", sorted(caps), machine, kernel, _compiler_id()))
        path = os.path.join(cache_dir, sha256(key.encode()).hexdigest()[:32] + ".bpf")
        try:
            with open(path, "rb") as f:
                cached = f.read()
            if cached and len(cached) % 8 == 0 and len(cached) <= 8 * 4096:  # BPF_MAXINSNS
                return cached
        except OSError:
            pass
    from . import seccomp_bpf

    if text is None:
        profile = seccomp_bpf.default_profile()
    else:
        import json

        profile = json.loads(text)
    compiled = seccomp_bpf.compile(profile, caps, machine, kernel=kernel)
    if path:
        _write_new(path, compiled)
    return compiled


def _compiler_id() -> tuple:
    """The size and mtime of the compiler's files: they change when one is edited."""
    here = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    return tuple((st.st_size, st.st_mtime_ns) for st in (
        os.stat(os.path.join(here, name))
        for name in ("isolation/seccomp.py", "isolation/seccomp_bpf.py", "kernel/syscall_table.py")))


def _write_new(path: str, data: bytes) -> None:
    """Keep a compiled program: 0700 directories, a 0600 file written whole or not at all
    (sandbox.paths).  A cache that cannot be written only costs the next compile."""
    from ..errors import SandboxError
    from ..paths import ensure, write_atomic

    try:
        ensure(os.path.dirname(path))
        write_atomic(Path(path), data)
    except (OSError, SandboxError):
        pass


# --- installing it --------------------------------------------------------------

def install(program: bytes) -> None:
    """Attach ``program`` to the calling thread; from here on every system call runs it.

    The kernel accepts a filter only from a process that has set
    no_new_privs (prctl(2) PR_SET_NO_NEW_PRIVS) or holds CAP_SYS_ADMIN, so a
    filter cannot trick a set-user-ID program.  A container's init calls this
    while it still has CAP_SYS_ADMIN, right before dropping capabilities and
    execve(2), as runc does when no_new_privs is off; the filter must
    therefore allow capset, prctl, setuid, setgid, setgroups and execve
    (Docker's profile does).
    """
    from ..kernel import syscalls as sc  # imported long before: this runs after pivot_root(2)

    sc.seccomp(sc.SECCOMP_SET_MODE_FILTER, 0, sc.sock_fprog(len(program) // 8, program))


# --- the profile and the program (sandbox.isolation.seccomp_bpf, imported when needed) -----

def as_if_held(profile: dict, caps) -> dict:
    """``profile`` with its capability conditions settled as if ``caps`` were held.

    Docker's profile opens some calls only to a container that holds a
    capability (``"includes": {"caps": ["CAP_SYS_ADMIN"]}``: mount, unshare,
    setns, clone with namespace flags).  A container whose programs must make
    user namespaces *without* that capability, such as the grading container,
    where the learner's code starts containers of its own, needs the calls
    but not the capability: the kernel then allows them only inside a user
    namespace the program made itself.
    """
    from .seccomp_bpf import normalize_caps  # the grader, the one caller, has it loaded

    held = normalize_caps(caps)
    settled = dict(profile, syscalls=[])
    for rule in profile.get("syscalls", []):
        rule = dict(rule)
        includes = dict(rule.get("includes") or {})
        excludes = dict(rule.get("excludes") or {})
        if not held.isdisjoint(excludes.get("caps") or ()):
            continue  # the rule is for containers *without* one of these capabilities
        if includes.get("caps") and held.issuperset(includes["caps"]):
            includes.pop("caps")
        rule["includes"], rule["excludes"] = includes, excludes
        settled["syscalls"].append(rule)
    return settled


def default_profile() -> dict:
    """Docker's default seccomp profile, in its JSON shape (moby/profiles seccomp/v0.2.3)."""
    from . import seccomp_bpf
    return seccomp_bpf.default_profile()


def load_profile(path) -> dict:
    """A Docker-format JSON profile (``--security-opt seccomp=PATH``), checked: a mistake
    is a one-sentence UsageError naming the file and the entry."""
    from . import seccomp_bpf
    return seccomp_bpf.load_profile(path)


def compile(profile: dict, caps, machine: str | None = None, *,
            kernel: str | None = None) -> bytes:
    """The BPF program for ``profile`` and a container with ``caps`` (``CAP_SYS_ADMIN`` or
    ``SYS_ADMIN``), compiled now; ``program`` keeps what it compiles."""
    from . import seccomp_bpf
    return seccomp_bpf.compile(profile, caps, machine, kernel=kernel)


def describe(program: bytes, machine: str | None = None) -> str:
    """The program as readable lines: ``ld [0]``, ``jeq #165, ALLOW``, ``ret ERRNO(1)``."""
    from . import seccomp_bpf
    return seccomp_bpf.describe(program, machine)
