#!/usr/bin/env python3
"""Grading throughput: N submissions of one exercise through `sandbox course grade`.

Prints one markdown table.  Needs root (grading does):

    sudo .venv/bin/python bench/bench_grading.py [--submissions 60] [--exercise 03_namespaces]
    sudo .venv/bin/python bench/bench_grading.py --submissions 200 --shards 2

With ``--shards N`` the same batch is graded again as N shards, one after
the other (``--shard K/N``), then merged (``--merge``): the table compares
the two, and says whether the merged final_grades.csv is the one run's.
Grading containers mount a tmpfs on /tmp, over the course files they bind
from the host: run this from a clone (and a venv) outside /tmp.

The submissions are a realistic mix made from the exercise's own release: a
third correct (the solution), a third partial (the first answer only), a
third empty (the student version).  The target (issue 6) is at least 30
submissions per minute on a 2-core machine.  otter-grader's Docker grading,
the comparison the issue names, cannot run here (no Docker engine), so it is
not in the table.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--submissions", type=int, default=60)
    parser.add_argument("--exercise", default="03_namespaces")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--shards", type=int, default=0,
                        help="also grade the batch as this many shards, one after the other, "
                             "then --merge them (and check the CSV is the unsharded one)")
    args = parser.parse_args()
    if os.geteuid() != 0:
        raise SystemExit("grading needs root: run this with sudo")

    from sandbox.course import nbgrader
    from test_exercises import _partial

    work = Path(tempfile.mkdtemp(prefix="bench-grading-"))
    os.environ.setdefault("SANDBOX_ROOT", str(work / "state"))
    source = REPO / "exercises" / "source" / f"{args.exercise}.ipynb"
    nbgrader.release_files([source], work / "rel")
    student = json.loads((work / "rel" / "student" / source.name).read_text())
    solution = json.loads((work / "rel" / "solution" / source.name).read_text())
    kinds = [("correct", solution), ("partial", _partial(student, solution)),
             ("empty", student)]
    subs = work / "subs"
    subs.mkdir()
    files = []
    for i in range(args.submissions):
        label, nb = kinds[i % 3]
        path = subs / f"{i:03d}-{label}.ipynb"
        path.write_text(json.dumps(nb))
        files.append(str(path))
    workers = args.workers or os.cpu_count() or 1
    assignment = str(work / "rel" / "autograder" / source.name)
    # One warm-up grading, so the image is built and the page cache is warm.
    _grade([assignment, files[0], "--out", str(work / "warm")])
    wall, seconds, statuses = _timed(work / "grades", [assignment, *files, "--workers",
                                                      str(workers)])
    rows = [("one run", wall, seconds)]
    if args.shards:
        walls, seconds = [], []
        for k in range(1, args.shards + 1):
            shard_wall, shard_seconds, _ = _timed(
                work / f"shard-{k}", [assignment, *files, "--workers", str(workers),
                                      "--shard", f"{k}/{args.shards}"])
            walls.append(shard_wall)
            seconds += shard_seconds
        started = time.monotonic()
        _grade(["--merge", *(str(work / f"shard-{k}") for k in range(1, args.shards + 1)),
                "--out", str(work / "merged")])
        merge_wall = time.monotonic() - started
        same = ((work / "merged" / "final_grades.csv").read_bytes()
                == (work / "grades" / "final_grades.csv").read_bytes())
        rows.append((f"{args.shards} shards one after the other, then --merge "
                     f"({merge_wall:.1f} s; CSV {'identical' if same else 'DIFFERENT'})",
                     sum(walls) + merge_wall, seconds))
    print(f"{args.exercise}, {args.submissions} submissions, {workers} workers, "
          f"{os.cpu_count()} CPUs; statuses: {', '.join(sorted(statuses))}\n")
    print("| how | median per submission | total | submissions per minute |")
    print("|---|---:|---:|---:|")
    for how, total, per in rows:
        print(f"| {how} | {statistics.median(per):.1f} s | {total:.1f} s | "
              f"{len(per) / total * 60:.1f} |")
    subprocess.run(["rm", "-rf", str(work)])


def _grade(arguments: list[str]) -> None:
    r = subprocess.run([sys.executable, "-m", "sandbox", "course", "grade", *arguments],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise SystemExit(r.stderr)


def _timed(out: Path, arguments: list[str]) -> tuple[float, list[float], set[str]]:
    """Grade into ``out``: the wall time, each submission's own time, and the statuses."""
    started = time.monotonic()
    _grade([*arguments, "--out", str(out)])
    wall = time.monotonic() - started
    with open(out / "final_grades.csv") as f:
        rows = list(csv.DictReader(f))
    seconds = [json.loads((out / "results" / f"{row['name']}.json").read_text())
               ["execution_time"] for row in rows]
    return wall, seconds, {row["status"] for row in rows}


if __name__ == "__main__":
    main()
