"""``sandbox course grade``: every submission in a container of its own, several at once.

    grader (root, on the host)
    ├── sandbox run  grade-…-0   no network, memory/pids/CPU limits, course files read-only
    │   └── runner (root of the container)          papermill; reads the job from stdin
    │       └── kernel (uid 65534, no capabilities) the learner's code, then the hidden tests
    ├── sandbox run  grade-…-1
    …

For each submission the grader assembles the notebook to run: the learner's
cells, with every locked cell put back as the autograder has it (a learner
may have edited a check), and then, **after all of the learner's cells**,
one cell per question with its hidden tests.  The learner's code has run to
the end before those cells exist anywhere in the container.

A question scores when its appended cell published exactly one result, for
that question, saying it passed (see :mod:`sandbox.course.checks`).  Text a
submission prints is never read; points come from the autograder's metadata.
A submission that crashes, times out or runs out of memory gets that status
and zero for the questions whose checks did not run; the others go on.

Outputs, in ``--out``, as otter-grader writes them:

    final_grades.csv        one row per submission: a column per question, total, status
    results/NAME.json       Gradescope's results.json shape
    feedback/NAME.ipynb     the learner's notebook, run, with each question's score and hint
                            under its check; the hidden tests are not in it
"""

from __future__ import annotations

import copy
import csv
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..errors import SandboxError
from . import nbgrader
from .checks import MIME

IMAGE = "sandbox-grader:latest"
KERNEL_UID = 65534  # nobody
HIDDEN_KEY = "sandbox_grader"  # metadata key of the appended cells


# --- the notebook to run -----------------------------------------------------------------
def assemble(autograder: dict, submission: dict) -> dict:
    """The learner's cells (locked ones restored), then one hidden-test cell per question."""
    locked = {nbgrader.nbgrader_meta(c)["grade_id"]: c for c in autograder["cells"]
              if nbgrader.nbgrader_meta(c).get("locked")}
    cells = []
    for cell in submission.get("cells", []):
        grade_id = nbgrader.nbgrader_meta(cell).get("grade_id")
        if grade_id in locked:
            cell = copy.deepcopy(locked[grade_id])
            if nbgrader.nbgrader_meta(cell).get("grade"):
                cell["source"] = nbgrader.visible_source(cell)
        else:
            cell = copy.deepcopy(cell)
        cells.append(_clean(cell, f"cell-{len(cells)}"))
    for n, graded in enumerate(nbgrader.graded_cells(autograder)):
        grade_id = nbgrader.nbgrader_meta(graded)["grade_id"]
        source = "from sandbox.course.checks import question\n" + nbgrader.full_source(graded)
        cells.append({"cell_type": "code", "id": f"hidden-{n}", "source": source,
                      "metadata": {HIDDEN_KEY: {"grade_id": grade_id}}, "outputs": [],
                      "execution_count": None})
    return {"cells": cells, "metadata": autograder.get("metadata", {}), "nbformat": 4,
            "nbformat_minor": 5}


def _clean(cell: dict, cell_id: str) -> dict:
    cell["id"] = cell_id
    cell.setdefault("metadata", {}).pop(HIDDEN_KEY, None)  # only the grader marks hidden cells
    cell["source"] = "".join(cell.get("source", ""))
    if cell.get("cell_type") == "code":
        cell["outputs"], cell["execution_count"] = [], None
    else:
        cell.pop("outputs", None)
        cell.pop("execution_count", None)
    return cell


# --- scoring ---------------------------------------------------------------------
def score(executed: dict | None, points: dict[str, float], status: str) -> dict[str, dict]:
    """grade_id → {score, points, hint} from the appended cells of an executed notebook."""
    results = {gid: {"score": 0.0, "points": p, "hint": f"not graded: {status}"}
               for gid, p in points.items()}
    for cell in (executed or {}).get("cells", []):
        grade_id = cell.get("metadata", {}).get(HIDDEN_KEY, {}).get("grade_id")
        if grade_id not in results:
            continue
        records = [o["data"][MIME] for o in cell.get("outputs", [])
                   if o.get("output_type") in ("display_data", "execute_result")
                   and MIME in o.get("data", {})]
        if not records:
            if cell.get("outputs") or cell.get("execution_count"):
                results[grade_id]["hint"] = _unfinished(cell)
            continue  # the check never published a result: no points
        record = records[0]
        passed = (len(records) == 1 and isinstance(record, dict)
                  and record.get("grade_id") == grade_id and record.get("passed") is True)
        hint = str(record.get("hint", ""))[:500] if isinstance(record, dict) else ""
        if len(records) > 1:
            hint = "the check published more than one result"
        results[grade_id] = {"score": points[grade_id] if passed else 0.0,
                             "points": points[grade_id], "hint": "" if passed else hint}
    return results


def _unfinished(cell: dict) -> str:
    """Why a check cell that ran published nothing."""
    errors = [o.get("ename") for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    if "KeyboardInterrupt" in errors:
        return "the check was stopped at the cell time limit"
    return "the check did not run to the end" + (f" ({errors[0]})" if errors else "")


def feedback(executed: dict | None, submission: dict, results: dict[str, dict],
             status: str) -> dict:
    """The learner's notebook, run, with a score line under each check; no hidden test in it."""
    nb = copy.deepcopy(executed or {"cells": [], "metadata": {}, "nbformat": 4,
                                     "nbformat_minor": 5})
    if executed is None:  # nothing ran: show the submission as it came
        nb["cells"] = [_clean(copy.deepcopy(c), f"cell-{i}")
                       for i, c in enumerate(submission.get("cells", []))]
    cells = []
    for cell in nb["cells"]:
        if HIDDEN_KEY in cell.get("metadata", {}) or _is_papermill_banner(cell):
            continue
        cells.append(cell)
        grade_id = nbgrader.nbgrader_meta(cell).get("grade_id")
        if grade_id in results and nbgrader.nbgrader_meta(cell).get("grade"):
            cells.append(_markdown(f"fb-{grade_id}", _score_line(grade_id, results[grade_id])))
    total = sum(r["score"] for r in results.values())
    possible = sum(r["points"] for r in results.values())
    summary = [f"# Feedback: {total:g} / {possible:g} points", "", f"Status: {status}", "",
               "| question | score | hint |", "|---|---:|---|"]
    summary += [f"| {gid} | {r['score']:g} / {r['points']:g} | {_md_cell(r['hint'])} |"
                for gid, r in results.items()]
    nb["cells"] = [_markdown("fb-summary", "\n".join(summary))] + cells
    nb.setdefault("metadata", {}).pop("papermill", None)  # holds the input, hidden tests too
    return nb


def _score_line(grade_id: str, result: dict) -> str:
    mark = "✔" if result["score"] == result["points"] else "✘"
    line = f"**{mark} {grade_id}: {result['score']:g} / {result['points']:g} points**"
    return line + (f"  \nHint: {result['hint']}" if result["hint"] else "")


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _markdown(cell_id: str, text: str) -> dict:
    return {"cell_type": "markdown", "id": cell_id, "metadata": {}, "source": text}


def _is_papermill_banner(cell: dict) -> bool:
    """papermill puts a red "An Exception was encountered" cell on top of a notebook with errors."""
    return "papermill-error-cell-tag" in cell.get("metadata", {}).get("tags", [])


# --- the container ---------------------------------------------------------------
def grading_image() -> str:
    """The grading image, built once: an empty root whose /usr is the host's (bound read-only)."""
    from ..lifecycle import store_for
    from ..paths import state_root
    store = store_for(state_root())
    try:
        store.get(IMAGE)
    except SandboxError:
        from .image import build
        build(store, IMAGE)
    return IMAGE


def course_mounts() -> list[str]:
    """Read-only bind mounts of what the runner and kernel need: /usr, this Python, this package."""
    import sandbox
    paths = ["/usr", sys.prefix, sys.base_prefix, str(Path(sandbox.__file__).parent)]
    chosen: list[str] = []
    for path in sorted({os.path.realpath(p) for p in paths}, key=len):
        if not any(path == c or path.startswith(c + "/") for c in chosen):
            chosen.append(path)
    return [f"{p}:{p}:ro" for p in chosen]


class Limits:
    def __init__(self, timeout=300.0, cell_timeout=60.0, memory="1g", pids_limit="256",
                 cpus="1"):
        self.timeout, self.cell_timeout = float(timeout), float(cell_timeout)
        self.memory, self.pids_limit, self.cpus = memory, str(pids_limit), str(cpus)


def run_in_container(name: str, job: dict, limits: Limits) -> tuple[str, dict | None]:
    """Run one job in a new grading container; return (status, executed notebook or None)."""
    from ..records import lookup
    from ..paths import state_root
    argv = [sys.executable, "-m", "sandbox", "run", "-i", "--name", name, "--network", "none",
            "--memory", limits.memory, "--memory-swap", limits.memory,
            "--pids-limit", limits.pids_limit, "--cpus", limits.cpus,
            "--tmpfs", "/tmp:size=512m,mode=1777", "-w", "/tmp"]
    for volume in course_mounts():
        argv += ["-v", volume]
    argv += [IMAGE, sys.executable, "-I", "-m", "sandbox.course.runner"]
    process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)
    timed_out = False
    try:
        out, err = process.communicate(json.dumps(job).encode(), timeout=limits.timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
        _kill(name)
        out, err = process.communicate()
    oom = False
    try:
        record = lookup(state_root(), name)
        oom = bool(record.state.get("OOMKilled"))
    except SandboxError:
        record = None
    _remove(name)
    reply = _parse(out)
    if timed_out:
        return "timeout", reply.get("notebook")
    if oom:
        return "out of memory", reply.get("notebook")
    if not reply:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or [""]
        return f"crashed (exit code {process.returncode}): {tail[0][:200]}", None
    return reply.get("status", "crashed"), reply.get("notebook")


def _parse(out: bytes) -> dict:
    try:
        reply = json.loads(out)
    except ValueError:
        return {}
    return reply if isinstance(reply, dict) else {}


def _kill(name: str) -> None:
    from .. import lifecycle
    from ..records import lookup
    from ..paths import state_root
    try:
        lifecycle.kill(lookup(state_root(), name))
    except SandboxError:
        pass


def _remove(name: str) -> None:
    from .. import lifecycle
    from ..records import lookup
    from ..paths import state_root
    try:
        lifecycle.remove(lookup(state_root(), name), force=True)
    except SandboxError:
        pass


# --- one submission, then all of them ----------------------------------------------
def grade_one(autograder: dict, path: Path, name: str, limits: Limits,
              parameters: dict) -> dict:
    """Grade one submission file; return its row: results, status, feedback, seconds."""
    started = time.monotonic()
    points = nbgrader.max_points(autograder)
    try:
        submission = json.loads(path.read_text())
        if not isinstance(submission, dict) or not isinstance(submission.get("cells"), list):
            raise ValueError("no cells")
    except (OSError, ValueError) as err:
        status = f"not a notebook: {err}"[:200]
        return {"file": path.name, "status": status, "results": score(None, points, status),
                "feedback": None, "seconds": 0.0}
    job = {"notebook": assemble(autograder, submission), "uid": KERNEL_UID,
           "cell_timeout": limits.cell_timeout, "parameters": parameters}
    status, executed = run_in_container(name, job, limits)
    results = score(executed, points, status)
    return {"file": path.name, "status": status, "results": results,
            "feedback": feedback(executed, submission, results, status),
            "seconds": time.monotonic() - started}


def grade_files(assignment: Path, submissions: list[Path], out: Path, workers: int | None = None,
                timeout=300.0, cell_timeout=60.0, memory="1g", pids_limit="256", cpus="1",
                parameters: dict | None = None, progress: bool = False) -> str:
    """``sandbox course grade``: grade every submission, write the results, return a summary."""
    from ..paths import is_root
    if not is_root():
        raise SandboxError("grading needs root: each submission runs as another user in a "
                           "container with memory and process limits; run it with sudo")
    autograder = nbgrader.load(assignment)
    if not nbgrader.graded_cells(autograder):
        raise SandboxError(f"{assignment}: no graded cells (is this the autograder version?)")
    limits = Limits(timeout, cell_timeout, memory, pids_limit, cpus)
    from ..cgroups import check, parse_limits
    check(parse_limits(memory, memory, cpus, None, pids_limit))  # refuse before any work
    grading_image()
    parameters = {"grading": True, **(parameters or {})}
    started = time.monotonic()
    rows = _grade_all(autograder, submissions, limits, parameters, workers or os.cpu_count() or 1,
                      progress)
    elapsed = time.monotonic() - started
    write_results(out, rows, nbgrader.max_points(autograder))
    return _summary(rows, elapsed, out)


def _grade_all(autograder, submissions, limits, parameters, workers, progress) -> list[dict]:
    prefix = f"grade-{os.getpid()}-{int(time.time())}"
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(submissions), unit="submission", file=sys.stderr)

    def one(item):
        index, path = item
        row = grade_one(autograder, path, f"{prefix}-{index}", limits, parameters)
        if bar is not None:
            bar.update(1)
        return row

    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(one, enumerate(submissions)))
    finally:
        if bar is not None:
            bar.close()
        for index in range(len(submissions)):  # after Ctrl-C, too: no container is left
            _remove(f"{prefix}-{index}")


def write_results(out: Path, rows: list[dict], points: dict[str, float]) -> None:
    """final_grades.csv, results/NAME.json (Gradescope) and feedback/NAME.ipynb."""
    (out / "results").mkdir(parents=True, exist_ok=True)
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    possible = sum(points.values())
    with open(out / "final_grades.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["file", *points, "total", "possible", "status"])
        for row in rows:
            scores = [row["results"][gid]["score"] for gid in points]
            writer.writerow([row["file"], *(f"{s:g}" for s in scores), f"{sum(scores):g}",
                             f"{possible:g}", row["status"]])
    for row in rows:
        stem = Path(row["file"]).stem
        (out / "results" / f"{stem}.json").write_text(json.dumps(gradescope(row), indent=1))
        if row["feedback"] is not None:
            (out / "feedback" / f"{stem}.ipynb").write_text(nbgrader.dumps(row["feedback"]))


def gradescope(row: dict) -> dict:
    """Gradescope's autograder results.json: score, execution_time, output, tests."""
    tests = [{"name": gid, "number": str(n), "score": r["score"], "max_score": r["points"],
              "output": r["hint"], "visibility": "visible"}
             for n, (gid, r) in enumerate(row["results"].items(), 1)]
    return {"score": sum(t["score"] for t in tests), "execution_time": round(row["seconds"], 1),
            "output": f"status: {row['status']}", "tests": tests}


def _summary(rows: list[dict], elapsed: float, out: Path) -> str:
    counts: dict[str, int] = {}
    for row in rows:
        key = row["status"].split(":")[0].split(",")[0]
        counts[key] = counts.get(key, 0) + 1
    per_minute = len(rows) / elapsed * 60 if elapsed else 0.0
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    return (f"graded {len(rows)} submission(s) in {elapsed:.1f} s ({per_minute:.1f} per minute): "
            f"{statuses}\nresults: {out / 'final_grades.csv'}")
