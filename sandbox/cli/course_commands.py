"""``sandbox course release`` and ``sandbox course grade``: the instructor's verbs."""

from __future__ import annotations

import sys
from pathlib import Path


def cmd_release(args, out) -> int:
    from ..course.nbgrader import release_files
    from ..errors import UsageError
    if not out:
        raise UsageError("sandbox course release needs --out DIR")
    written = release_files([Path(a) for a in args], Path(out))
    for path in written:
        print(path)
    return 0


def cmd_grade(args, out, workers, timeout, cell_timeout, memory, pids_limit, cpus) -> int:
    from ..course.grader import grade_files
    from ..errors import UsageError
    if not out:
        raise UsageError("sandbox course grade needs --out DIR")
    report = grade_files(Path(args[0]), [Path(a) for a in args[1:]], Path(out),
                         workers=workers, timeout=timeout, cell_timeout=cell_timeout,
                         memory=memory, pids_limit=pids_limit, cpus=cpus,
                         progress=sys.stderr.isatty())
    print(report)
    return 0
