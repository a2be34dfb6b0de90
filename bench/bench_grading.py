#!/usr/bin/env python3
"""Grading throughput: N submissions of one exercise through `sandbox course grade`.

Prints one markdown table.  Needs root (grading does):

    sudo .venv/bin/python bench/bench_grading.py [--submissions 60] [--exercise 03_namespaces]

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
    # One warm-up grading, so the image is built and the page cache is warm.
    subprocess.run([sys.executable, "-m", "sandbox", "course", "grade",
                    str(work / "rel" / "autograder" / source.name), files[0],
                    "--out", str(work / "warm")], check=True, capture_output=True)
    started = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "sandbox", "course", "grade",
                        str(work / "rel" / "autograder" / source.name), *files,
                        "--out", str(work / "grades"), "--workers", str(workers)],
                       capture_output=True, text=True)
    wall = time.monotonic() - started
    if r.returncode != 0:
        raise SystemExit(r.stderr)
    with open(work / "grades" / "final_grades.csv") as f:
        rows = list(csv.DictReader(f))
    seconds = [json.loads((work / "grades" / "results" / f"{Path(row['file']).stem}.json")
                          .read_text())["execution_time"] for row in rows]
    statuses = {row["status"] for row in rows}
    per_minute = len(rows) / wall * 60
    print(f"| what ({args.exercise}, {len(rows)} submissions, {workers} workers, "
          f"{os.cpu_count()} CPUs) | value |")
    print("|---|---:|")
    print(f"| wall time of `sandbox course grade` | {wall:.1f} s |")
    print(f"| submissions per minute | {per_minute:.1f} (target ≥ 30: "
          f"{'met' if per_minute >= 30 else 'not met'}) |")
    print(f"| one submission, start to end (median / min / max) | "
          f"{statistics.median(seconds):.1f} / {min(seconds):.1f} / {max(seconds):.1f} s |")
    print(f"| statuses | {', '.join(sorted(statuses))} |")
    subprocess.run(["rm", "-rf", str(work)])


if __name__ == "__main__":
    main()
