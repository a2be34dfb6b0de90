"""Capabilities: root's power cut into pieces, and the pieces a container keeps.  capabilities(7)

Since Linux 2.2, "root" is not one privilege but about forty.  Each process
carries five sets of them, shown as hex masks in /proc/PID/status:

    CapBnd  bounding     the most this process and its children can ever gain
    CapPrm  permitted    what it may switch on
    CapEff  effective    what the kernel checks right now
    CapInh  inheritable  what may pass through execve(2) to a program with file capabilities
    CapAmb  ambient      what passes through execve(2) to any program

A process that is root *without* CAP_SYS_ADMIN cannot mount; without
CAP_SYS_MODULE it cannot load a kernel module, however root it is.  Docker
gives a container's root 14 of them (the :data:`DEFAULT` set below), which
reads ``CapEff: 00000000a80425fb``, and takes the rest out of the bounding
set, so no setuid program inside can ever get them back.

    >>> names(0xa80425fb)[:3]
    ['CHOWN', 'DAC_OVERRIDE', 'FOWNER']

Flags, as ``docker run`` reads them: ``--cap-add NET_ADMIN``, ``--cap-drop
CHOWN`` (with or without ``CAP_``, any case, ``ALL`` for every one),
``--privileged`` (every capability this process has).

The numbers come from <linux/capability.h>.
"""

from __future__ import annotations

import functools
import os

from ..errors import UsageError

NUMBERS = {
    "CHOWN": 0, "DAC_OVERRIDE": 1, "DAC_READ_SEARCH": 2, "FOWNER": 3, "FSETID": 4,
    "KILL": 5, "SETGID": 6, "SETUID": 7, "SETPCAP": 8, "LINUX_IMMUTABLE": 9,
    "NET_BIND_SERVICE": 10, "NET_BROADCAST": 11, "NET_ADMIN": 12, "NET_RAW": 13,
    "IPC_LOCK": 14, "IPC_OWNER": 15, "SYS_MODULE": 16, "SYS_RAWIO": 17, "SYS_CHROOT": 18,
    "SYS_PTRACE": 19, "SYS_PACCT": 20, "SYS_ADMIN": 21, "SYS_BOOT": 22, "SYS_NICE": 23,
    "SYS_RESOURCE": 24, "SYS_TIME": 25, "SYS_TTY_CONFIG": 26, "MKNOD": 27, "LEASE": 28,
    "AUDIT_WRITE": 29, "AUDIT_CONTROL": 30, "SETFCAP": 31, "MAC_OVERRIDE": 32,
    "MAC_ADMIN": 33, "SYSLOG": 34, "WAKE_ALARM": 35, "BLOCK_SUSPEND": 36, "AUDIT_READ": 37,
    "PERFMON": 38, "BPF": 39, "CHECKPOINT_RESTORE": 40,
}
BY_NUMBER = {number: name for name, number in NUMBERS.items()}

# Docker's default set (moby oci/caps/defaults.go), in the kernel's order.
DEFAULT = ("CHOWN", "DAC_OVERRIDE", "FOWNER", "FSETID", "KILL", "SETGID", "SETUID", "SETPCAP",
           "NET_BIND_SERVICE", "NET_RAW", "SYS_CHROOT", "MKNOD", "AUDIT_WRITE", "SETFCAP")


def mask(caps) -> int:
    """Capability names → the bit mask /proc/PID/status shows (bit N is capability N)."""
    return sum(1 << NUMBERS[c] for c in set(caps))


def names(bits: int) -> list[str]:
    """A bit mask (``int("a80425fb", 16)``) → capability names, lowest bit first."""
    return [BY_NUMBER.get(n, f"CAP_{n}") for n in range(64) if bits >> n & 1]


def bounding_set() -> set[str]:
    """The capabilities a container started by this process can hold.

    As root: this process's CapBnd, read from /proc/self/status (a virtual
    machine or an outer container may already lack some, CAP_SYS_RESOURCE
    say).  Rootless, the container is in a user namespace of its own, whose
    first process starts with every capability in its bounding set
    (user_namespaces(7)), over that namespace only: all of them.
    """
    if os.geteuid() != 0:
        return {name for name, number in NUMBERS.items() if number <= last_cap()}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("CapBnd:"):
                return {n for n in names(int(line.split()[1], 16)) if n in NUMBERS}
    return set(NUMBERS)


def normalize(name: str, flag: str) -> str:
    """``cap_net_admin``, ``NET_ADMIN`` and ``CAP_NET_ADMIN`` are one capability; ``ALL`` is all."""
    upper = name.strip().upper()
    bare = upper.removeprefix("CAP_")
    if bare == "ALL" or bare in NUMBERS:
        return bare
    raise UsageError(f"invalid {flag} value {name!r}: unknown capability; "
                     "see capabilities(7) for the names (e.g. NET_ADMIN)")


def resolve(cap_add=(), cap_drop=(), privileged: bool = False) -> list[str]:
    """The container's capabilities: Docker's default set, plus ``--cap-add``, minus ``--cap-drop``.

    As in Docker, ``--cap-drop ALL --cap-add X`` leaves exactly X, and
    ``--cap-add ALL`` (or ``--privileged``) gives every capability this process has.
    """
    available = bounding_set()
    added = {normalize(c, "--cap-add") for c in cap_add}
    dropped = {normalize(c, "--cap-drop") for c in cap_drop}
    named = added - {"ALL"}
    missing = named - available
    if missing:
        raise UsageError(f"--cap-add {', '.join(sorted(missing))}: this process does not have "
                         "that capability itself (its bounding set lacks it), so no container "
                         "it starts can have it; leave it out, or run sandbox from a process "
                         "that has it")
    chosen = set(available) if privileged or "ALL" in added else set(DEFAULT) & available
    if "ALL" in dropped:
        chosen = set()
    return sorted((chosen - dropped) | named, key=NUMBERS.get)


def drop_bounding(keep: list[str]) -> None:
    """Take every capability not in ``keep`` out of the bounding set: for good.

    One prctl(PR_CAPBSET_DROP) per capability, which needs CAP_SETPCAP, so this
    comes before the process lowers its own sets (and before it changes user).
    Afterwards no execve(2), not even of a setuid-root program, can give the
    dropped capabilities back.
    """
    from ..kernel import syscalls as sc
    wanted = mask(keep)
    for number in range(last_cap() + 1):
        if not wanted >> number & 1:
            sc.prctl(sc.PR_CAPBSET_DROP, number)


def set_final(keep: list[str], user_is_root: bool) -> None:
    """capset(2): the effective and permitted sets the program starts with; none inheritable.

    A root user keeps ``keep``.  Any other user keeps nothing, as in Docker:
    setuid(2) to a non-zero uid has already cleared them, and a program only
    regains capabilities through file capabilities, within the bounding set.
    """
    from ..kernel import syscalls as sc
    bits = mask(keep) if user_is_root else 0
    sc.capset(bits, bits, 0)


@functools.lru_cache(maxsize=None)
def last_cap() -> int:
    """The highest capability number this kernel knows (/proc/sys/kernel/cap_last_cap)."""
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return max(BY_NUMBER)
