"""What grading produces: scores from an executed notebook, feedback, and the result files.

A question scores when the runner's verdict for it says it passed: the runner
ran the question's check in its own process, outside the learner's kernel
(see :mod:`sandbox.course.runner`).  Nothing a submission prints or displays
is read; points come from the autograder's metadata.

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
from pathlib import Path

from . import nbgrader

HIDDEN_KEY = "sandbox_grader"  # metadata key of the cells the grader appends
VERDICTS_KEY = "sandbox_verdicts"  # the runner's verdicts, in the returned notebook's metadata


def clean_cell(cell: dict, cell_id: str) -> dict:
    """A copy-ready cell: our id, no outputs, and no grader marks a submission may have forged."""
    cell["id"] = cell_id
    cell.setdefault("metadata", {}).pop(HIDDEN_KEY, None)  # only the grader marks hidden cells
    cell["source"] = "".join(cell.get("source", ""))
    if cell.get("cell_type") == "code":
        cell["outputs"], cell["execution_count"] = [], None
    else:
        cell.pop("outputs", None)
        cell.pop("execution_count", None)
    return cell


def score(executed: dict | None, points: dict[str, float], status: str) -> dict[str, dict]:
    """grade_id → {score, points, hint}, from the verdicts the runner decided.

    The runner judged each question in its own process and put the verdicts
    in the returned notebook's metadata (``sandbox_verdicts``), which only it
    writes: nothing the learner's cells print or display is read.  They are
    taken out here, so the feedback notebook does not carry them.
    """
    results = {gid: {"score": 0.0, "points": p, "hint": f"not graded: {status}"}
               for gid, p in points.items()}
    metadata = (executed or {}).get("metadata")
    verdicts = metadata.pop(VERDICTS_KEY, {}) if isinstance(metadata, dict) else {}
    for grade_id, verdict in (verdicts if isinstance(verdicts, dict) else {}).items():
        if grade_id not in results or not isinstance(verdict, dict):
            continue
        passed = verdict.get("passed") is True
        results[grade_id] = {"score": points[grade_id] if passed else 0.0,
                             "points": points[grade_id],
                             "hint": "" if passed else str(verdict.get("hint", ""))[:500]}
    return results


def feedback(executed: dict | None, submission: dict, results: dict[str, dict],
             status: str) -> dict:
    """The learner's notebook, run, with a score line under each check; no hidden test in it."""
    nb = copy.deepcopy(executed or {"cells": [], "metadata": {}, "nbformat": 4,
                                     "nbformat_minor": 5})
    if executed is None:  # nothing ran: show the submission as it came
        nb["cells"] = [clean_cell(copy.deepcopy(c), f"cell-{i}")
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


# --- files ---------------------------------------------------------------------------
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
              "status": "passed" if r["score"] == r["points"] else "failed",
              "output": r["hint"], "visibility": "visible"}
             for n, (gid, r) in enumerate(row["results"].items(), 1)]
    return {"score": sum(t["score"] for t in tests), "execution_time": round(row["seconds"], 1),
            "output": f"status: {row['status']}", "tests": tests}


def summary(rows: list[dict], elapsed: float, out: Path) -> str:
    counts: dict[str, int] = {}
    for row in rows:
        key = row["status"].split(":")[0].split(",")[0]
        counts[key] = counts.get(key, 0) + 1
    per_minute = len(rows) / elapsed * 60 if elapsed else 0.0
    statuses = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
    return (f"graded {len(rows)} submission(s) in {elapsed:.1f} s ({per_minute:.1f} per minute): "
            f"{statuses}\nresults: {out / 'final_grades.csv'}")
