"""``docker top``: a container's processes, as the host sees them.  ps(1), proc(5)

    container's pids ──▶ ps -ef -q 4242,4250 ──▶ keep the lines whose PID column is one of them
    (its cgroup.procs,     (the host's ps, with       (ps may ignore -q with some options:
     or its PID namespace)  the user's ps options)     the filter makes sure)

A container is only processes of the host, so the host's own ``ps`` can show
them, with host pids and host user names: nothing runs inside the container.
This is Docker's way (moby's daemon/top_unix.go): run ``ps`` with the user's
options (``-ef`` when there are none) plus ``-q`` and the pids, retry without
``-q`` if ``ps`` refuses the combination, then keep the lines whose PID is the
container's.  A ``ps`` option that prints no PID column cannot be filtered, and
is refused.
"""

from __future__ import annotations

import subprocess

from ..errors import SandboxError

DEFAULT_OPTIONS = ["-ef"]  # UID PID PPID C STIME TTY TIME CMD


def top(pids: list[int], options: list[str]) -> tuple[list[str], list[list[str]]]:
    """(column titles, one row per process) of ``ps OPTIONS`` for these pids."""
    options = list(options) or DEFAULT_OPTIONS
    quick = "-q" + ",".join(str(p) for p in pids)  # procps: select these pids, quickly
    try:
        result = _ps(options + [quick])
        if result.returncode != 0:  # some options (f) refuse -q: Docker retries without it
            result = _ps(options)
    except FileNotFoundError:
        raise SandboxError("top needs the host's ps command, which is not installed "
                           "(install procps)") from None
    if result.returncode != 0:
        why = (result.stderr.splitlines() or [f"exit status {result.returncode}"])[0]
        raise SandboxError(f"ps {' '.join(options)}: {why}")
    return parse(result.stdout, set(pids), options)


def _ps(argv: list[str]) -> subprocess.CompletedProcess:
    return subprocess.run(["ps", *argv], capture_output=True, text=True,
                          env={"LC_ALL": "C", "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"})


def parse(output: str, pids: set[int], options: list[str]) -> tuple[list[str], list[list[str]]]:
    """Keep the container's lines of ``ps`` output; the last column takes the rest of the line.

    A line whose PID is ``-`` is a thread of the process above it (``ps -m``):
    it is kept when that process is.
    """
    lines = output.splitlines()
    titles = lines[0].split() if lines else []
    if "PID" not in titles:
        raise SandboxError(f"ps {' '.join(options)} prints no PID column, so the container's "
                           "processes cannot be told apart: add -o pid or use other options")
    column = titles.index("PID")
    rows, keep_threads = [], False
    for line in lines[1:]:
        fields = line.split()
        if len(fields) <= column:
            continue
        if fields[column] == "-":
            if keep_threads:
                rows.append(_fit(fields, len(titles)))
            continue
        keep_threads = fields[column].isdigit() and int(fields[column]) in pids
        if keep_threads:
            rows.append(_fit(fields, len(titles)))
    return titles, rows


def _fit(fields: list[str], width: int) -> list[str]:
    """As many cells as titles: the command and its arguments are one cell."""
    return fields[:width - 1] + [" ".join(fields[width - 1:])]
