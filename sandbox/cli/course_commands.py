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


def cmd_grade(args, out, workers, timeout, cell_timeout, memory, pids_limit, cpus, shard,
              merge, emit_job, image, claim) -> int:
    from ..errors import UsageError
    if not out:
        raise UsageError("sandbox course grade needs --out DIR")
    if merge:
        if shard or emit_job is not None:
            raise UsageError("--merge takes the folders of shards graded already: give it "
                             "without --shard and --emit-job")
        from ..course.shards import merge as merge_shards
        print(merge_shards([Path(a) for a in args], Path(out)))
        return 0
    if len(args) < 2:
        error = UsageError('"sandbox course grade" requires an ASSIGNMENT and at least one '
                           "SUBMISSION (or --merge SHARD_DIR...)")
        error.exit_code = 1  # as any verb given too few arguments
        raise error
    if emit_job is not None:
        return _emit_job(args, out, emit_job, image, claim, workers)
    from ..course.grader import grade_files
    from ..course.shards import parse_shard
    report = grade_files(Path(args[0]), [Path(a) for a in args[1:]], Path(out),
                         workers=workers, timeout=timeout, cell_timeout=cell_timeout,
                         memory=memory, pids_limit=pids_limit, cpus=cpus,
                         progress=sys.stderr.isatty(),
                         shard=parse_shard(shard) if shard is not None else None)
    print(report)
    return 0


def _emit_job(args, out, shards, image, claim, workers) -> int:
    """Print the Kubernetes Jobs that grade ``shards`` shards (nothing is graded here)."""
    import shlex
    from ..course.gradingjob import HEADER, grading_jobs, render
    from ..errors import UsageError
    if shards < 1:
        raise UsageError(f"invalid --emit-job {shards}: the number of shards is at least 1")
    if not image:
        raise UsageError("--emit-job needs --image IMAGE: the course image every pod runs")
    jobs = grading_jobs(shards, image, args[0], args[1:], out, claim=claim or "grading",
                        cpus=workers or 2)
    given = " ".join(shlex.quote(a) for a in [*args, "--out", out])
    print(render(jobs, HEADER.format(shards=shards, image=image, args=given)), end="")
    return 0
