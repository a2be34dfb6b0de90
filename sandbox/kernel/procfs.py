"""Reading processes from /proc, proc(5).

A pid alone is a weak name for a process: after it exits, the kernel may
give the same number to another one.  The pair (pid, start time) is unique,
where the start time is field 22 of /proc/PID/stat, in clock ticks since boot.
"""

from __future__ import annotations

import os
import select


def start_time(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat, or None if there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may contain spaces and parentheses: split after the last ')'.
    fields = stat[stat.rindex(b")") + 2:].split()
    if fields[0] == b"Z":  # a zombie has finished; only its parent has not collected it yet
        return None
    return int(fields[19])


def is_alive(pid: int | None, started: int | None) -> bool:
    """True if process ``pid`` is running and is the one that started at ``started``."""
    return bool(pid) and started is not None and start_time(pid) == started


def wait_gone(pid: int, started: int | None, timeout: float | None) -> bool:
    """Wait until the process exits (or the timeout passes); True if it is gone.

    A pidfd (pidfd_open(2)) becomes readable when its process exits, so this
    waits without polling and works for processes that are not our children.
    """
    try:
        fd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        if not is_alive(pid, started):  # the pid was reused: ours is already gone
            return True
        poller = select.poll()
        poller.register(fd, select.POLLIN)
        return bool(poller.poll(None if timeout is None else int(timeout * 1000)))
    finally:
        os.close(fd)


def pid_namespace_members(pid: int) -> list[int]:
    """Every process in the same PID namespace as ``pid``.

    Two processes share a namespace when their /proc/PID/ns/pid links name the
    same inode (namespaces(7)).  Processes this user may not inspect are skipped.
    """
    try:
        target = os.readlink(f"/proc/{pid}/ns/pid")
    except OSError:
        return []
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/pid") == target:
                    found.append(int(entry))
            except OSError:
                continue
    return found
