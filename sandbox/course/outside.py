"""A container seen from outside: the process that runs it, its namespaces, mounts and root.

The capstone's checks (``exercises/source/99_capstone.ipynb``) start the
learner's ``my_run`` with a program that sleeps, and then look at that
program's process only from here, through the files the kernel keeps for
every process, as chapter 01 looked at a container:

    /proc/PID/cmdline      which process it is: the program the check asked for
    /proc/PID/ns/*         its namespaces: the same inode as the notebook's means the same one
    /proc/PID/status       NSpid: its number in each PID namespace, the last one its own
    /proc/PID/uid_map      how its user namespace maps ids (rootless: 0 → the learner's uid)
    /proc/PID/mountinfo    its mounts, with paths as it sees them: "/" and "/proc"
    /proc/PID/root         its root directory; root/.. is root itself only after pivot_root
    /proc/PID/cgroup       its cgroup in each hierarchy

Nothing here asks the learner's process anything, so nothing here can be
talked into an answer.  Reading another user's ``ns``, ``mountinfo`` and
``root`` takes ptrace's read access (ptrace(2), "Ptrace access mode
checking"): the learner's own uid has it, and so has the grading runner
(CAP_SYS_PTRACE).
"""

from __future__ import annotations

import os
import time

KINDS = ("mnt", "uts", "ipc", "net", "pid", "user")


def arguments(pid: int) -> list[str] | None:
    """The arguments of process ``pid`` (/proc/PID/cmdline split at NUL); None if it is gone."""
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return [os.fsdecode(a) for a in f.read().split(b"\0")[:-1]]
    except (FileNotFoundError, ProcessLookupError):
        return None


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it, parents first (PPid of every /proc/PID/status)."""
    parents: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            ppid = status(int(entry)).get("PPid")
            if ppid is not None:
                parents.setdefault(int(ppid), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop(0)
        found.append(current)
        todo += sorted(parents.get(current, []))
    return found


def running(pid: int, argv: list[str], seconds: float = 10.0) -> int | None:
    """The process at or below ``pid`` that runs ``argv`` (once it has exec'd it); None if
    none does within ``seconds``."""
    deadline = time.monotonic() + seconds
    while True:
        for candidate in descendants(pid):
            if arguments(candidate) == list(argv):
                return candidate
        if time.monotonic() > deadline or not os.path.exists(f"/proc/{pid}"):
            return None
        time.sleep(0.02)


def status(pid: int) -> dict[str, str]:
    """/proc/PID/status as {key: value}; {} if the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            return {k: v.strip() for k, _, v in (line.partition(":") for line in f)}
    except (FileNotFoundError, ProcessLookupError):
        return {}


def namespace(pid: int, kind: str) -> int:
    """The inode that names ``pid``'s namespace of this kind."""
    return os.stat(f"/proc/{pid}/ns/{kind}").st_ino


def new_namespaces(pid: int, than: int) -> set[str]:
    """The kinds of namespace in which ``pid`` differs from process ``than``."""
    return {kind for kind in KINDS if namespace(pid, kind) != namespace(than, kind)}


def id_map(pid: int, kind: str = "uid") -> list[list[int]]:
    """/proc/PID/uid_map (or gid_map): one [inside, outside, count] per line."""
    with open(f"/proc/{pid}/{kind}_map") as f:
        return [[int(n) for n in line.split()] for line in f if line.strip()]


def mounts(pid: int) -> list[dict]:
    """/proc/PID/mountinfo: per mount its point (as the process sees it), type, source, root
    (the directory of its filesystem that appears there) and the superblock's options."""
    found = []
    with open(f"/proc/{pid}/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fields, after = left.split(), (right.split() + ["", "", ""])[:3]
            found.append({"point": _unescape(fields[4]), "root": _unescape(fields[3]),
                          "type": after[0], "source": after[1], "options": after[2]})
    return found


def _unescape(text: str) -> str:
    """mountinfo writes a space as \\040, a tab as \\011, a newline as \\012, \\ as \\134."""
    for code, char in (("\\040", " "), ("\\011", "\t"), ("\\012", "\n"), ("\\134", "\\")):
        text = text.replace(code, char)
    return text


def overlay_option(options: str, name: str) -> str | None:
    """One option of an overlay's superblock options: ``lowerdir``, ``upperdir``, ``workdir``."""
    for option in options.split(","):
        key, _, value = option.partition("=")
        if key == name:
            return value
    return None


def root_is(pid: int, directory: str) -> bool:
    """Is ``directory`` (a path here) the root directory of process ``pid``?"""
    return os.path.samestat(os.stat(f"/proc/{pid}/root"), os.stat(directory))


def pivoted(pid: int) -> bool:
    """Is the root of ``pid`` the top of its mount tree, as after pivot_root(2)?

    Through /proc/PID/root the path walk starts at the process's root; ``..``
    from there climbs to the mount below it, if there is one.  After chroot(2)
    the host's root is still mounted below: ``root/..`` is another directory.
    After pivot_root(2) and unmounting the old root, nothing is: ``root/..``
    is ``root`` itself.
    """
    return os.path.samestat(os.stat(f"/proc/{pid}/root"), os.stat(f"/proc/{pid}/root/.."))
