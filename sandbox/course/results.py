"""What grading produces: scores from an executed notebook, feedback, and the result files.

A question scores when the runner's verdict for it says it passed: the runner
ran the question's check in its own process, outside the learner's kernel
(see :mod:`sandbox.course.runner`).  Nothing a submission prints or displays
is read; points come from the autograder's metadata.  A question the machine
could not pose (the verdict says ``applicable: False``: a cgroup limit where
none may be set) is worth 0 of 0 points: it leaves the submission's
``possible`` too, so it is neither failed nor given away.

Outputs, in ``--out``, as otter-grader writes them:

    final_grades.csv        one row per submission: file (the path as given), name, a column
                            per question, total, possible, status
    results/NAME.json       Gradescope's results.json shape
    feedback/NAME.ipynb     the learner's notebook, run, with each question's score and hint
                            under its check; the hidden tests are not in it.  A submission
                            that was refused gets the summary alone, saying why

NAME is unique in a batch (:func:`output_names`): the file's name without
``.ipynb`` (``alice.ipynb`` → ``alice``; ``bob.json`` keeps its extension);
where two share one, the parent folders that tell them apart go in front,
joined by ``-`` (``a/bob.ipynb`` → ``a-bob``, ``b/bob.ipynb`` → ``b-bob``).

``--out`` may already hold files someone else planted, a symbolic link at
``results/alice.json`` pointing to ``/etc/shadow`` say, and grading runs as
root.  So nothing below ``--out`` is written through (:class:`Outputs`):
``results/`` and ``feedback/`` are opened with O_NOFOLLOW, and every file is
written under a fresh name, then renamed over its own (rename(2) replaces a
link, it never follows it).
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import secrets
from collections import Counter
from pathlib import Path

from ..errors import SandboxError
from . import nbgrader

HIDDEN_KEY = "sandbox_grader"  # metadata key of the cells the grader appends
VERDICTS_KEY = "sandbox_verdicts"  # the runner's verdicts, in the returned notebook's metadata


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
        if verdict.get("applicable") is False:
            results[grade_id] = {"score": 0.0, "points": 0.0, "applicable": False,
                                 "hint": NOT_APPLICABLE + str(verdict.get("hint", ""))[:500]}
            continue
        passed = verdict.get("passed") is True
        results[grade_id] = {"score": points[grade_id] if passed else 0.0,
                             "points": points[grade_id],
                             "hint": "" if passed else str(verdict.get("hint", ""))[:500]}
    return results


NOT_APPLICABLE = "not applicable on the grading machine: "


def feedback(notebook: dict | None, results: dict[str, dict], status: str) -> dict:
    """The notebook as it ran (or as it was assembled, if nothing came back; or nothing, if
    the submission was refused), with a summary on top and a score line under each check.

    The grader's appended cells, which hold the hidden tests, are left out.
    """
    nb = dict(notebook or {"metadata": {}, "nbformat": 4, "nbformat_minor": 5})
    cells = []
    for cell in nbgrader.cells_of(nb):
        if HIDDEN_KEY in nbgrader.metadata_of(cell):
            continue
        cells.append(cell)
        grade_id = nbgrader.nbgrader_meta(cell).get("grade_id")
        if isinstance(grade_id, str) and grade_id in results \
                and nbgrader.nbgrader_meta(cell).get("grade"):
            cells.append(_markdown(f"fb-{grade_id}", _score_line(grade_id, results[grade_id])))
    total = sum(r["score"] for r in results.values())
    possible = sum(r["points"] for r in results.values())
    summary = [f"# Feedback: {total:g} / {possible:g} points", "", f"Status: {status}", "",
               "| question | score | hint |", "|---|---:|---|"]
    summary += [f"| {gid} | {r['score']:g} / {r['points']:g} | {_md_cell(r['hint'])} |"
                for gid, r in results.items()]
    nb["cells"] = [_markdown("fb-summary", "\n".join(summary))] + cells
    return nb


def _score_line(grade_id: str, result: dict) -> str:
    if result.get("applicable") is False:
        return f"**– {grade_id}: 0 / 0 points**  \n{result['hint']}"
    mark = "✔" if result["score"] == result["points"] else "✘"
    line = f"**{mark} {grade_id}: {result['score']:g} / {result['points']:g} points**"
    return line + (f"  \nHint: {result['hint']}" if result["hint"] else "")


def _md_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def _markdown(cell_id: str, text: str) -> dict:
    return {"cell_type": "markdown", "id": cell_id, "metadata": {}, "source": text}


# --- names ---------------------------------------------------------------------------
def output_names(paths: list[Path]) -> list[str]:
    """Each submission's NAME for results/NAME.json and feedback/NAME.ipynb, unique in the batch.

    The file's name without ``.ipynb``; where several share one, their parent
    folders go in front, one more at a time, until they differ (``a-bob``,
    ``b-bob``).  What still collides (one path given twice, ``bob`` next to
    ``bob.ipynb``) is numbered: ``bob``, ``bob-2``.
    """
    names = [_base_name(p) for p in paths]
    deepest = max((len(_folders(p)) for p in paths), default=0)
    for depth in range(1, deepest + 1):
        counts = Counter(names)
        if all(n == 1 for n in counts.values()):
            break
        names = [_with_folders(p, depth) if counts[name] > 1 else name
                 for p, name in zip(paths, names)]
    return _numbered(names)


def _base_name(path: Path) -> str:
    name = path.name.removesuffix(".ipynb")
    return name or "submission"  # a file named just ".ipynb"


def _folders(path: Path) -> list[str]:
    return [part for part in path.parent.parts if part not in ("/", ".")]


def _with_folders(path: Path, depth: int) -> str:
    return "-".join([*_folders(path)[-depth:], _base_name(path)])


def _numbered(names: list[str]) -> list[str]:
    taken, result = set(), []
    for name in names:
        unique, n = name, 1
        while unique in taken or (unique != name and unique in names):
            n += 1
            unique = f"{name}-{n}"
        taken.add(unique)
        result.append(unique)
    return result


# --- files ---------------------------------------------------------------------------
class Outputs:
    """``--out``: final_grades.csv, results/NAME.json and feedback/NAME.ipynb, written safely.

    ``--out`` itself is the instructor's choice, followed if it is a link; inside
    it nothing is: the two folders are opened once, here, with O_NOFOLLOW (so a
    planted link is refused before any grading), and each file is written by
    :func:`_write_file`.  Use it as a context manager.
    """

    def __init__(self, out: Path):
        self.out = Path(out)
        try:
            self.out.mkdir(parents=True, exist_ok=True)
            self._top = os.open(self.out, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError as err:
            raise SandboxError(f"cannot write the results into {self.out}: "
                               f"{err.strerror}") from None
        self._folders: dict[str, int] = {}
        try:
            for folder in ("results", "feedback"):
                self._folders[folder] = _open_folder(self._top, folder, self.out)
        except BaseException:
            self.close()
            raise

    def write_submission(self, name: str, row: dict, notebook: dict) -> None:
        """results/NAME.json from ``row`` (status, results, seconds) and feedback/NAME.ipynb."""
        _write_file(self._folders["results"], f"{name}.json", json.dumps(gradescope(row), indent=1))
        _write_file(self._folders["feedback"], f"{name}.ipynb", nbgrader.dumps(notebook))

    def write_grades(self, rows: list[dict], points: dict[str, float]) -> None:
        """final_grades.csv: one row per submission, in the order they were given."""
        text = io.StringIO(newline="")
        writer = csv.writer(text)
        writer.writerow(["file", "name", *points, "total", "possible", "status"])
        for row in rows:
            scores = [row["results"][gid]["score"] for gid in points]
            # Without the questions this machine could not pose (0 of 0 points each).
            possible = sum(row["results"][gid]["points"] for gid in points)
            writer.writerow([row["file"], row["name"], *(f"{s:g}" for s in scores),
                             f"{sum(scores):g}", f"{possible:g}", row["status"]])
        _write_file(self._top, "final_grades.csv", text.getvalue())

    def write_text(self, folder: str, name: str, text: str) -> None:
        """Any file: ``name`` in ``folder`` ("results", "feedback", or "" for --out itself)."""
        _write_file(self._folders[folder] if folder else self._top, name, text)

    def close(self) -> None:
        for fd in [*self._folders.values(), self._top]:
            os.close(fd)
        self._folders = {}

    def __enter__(self) -> "Outputs":
        return self

    def __exit__(self, *_exc) -> None:
        self.close()


def _open_folder(top: int, name: str, out: Path) -> int:
    """The folder ``name`` in ``top``, made if missing; a link or a file there is refused."""
    with contextlib.suppress(FileExistsError):
        os.mkdir(name, 0o755, dir_fd=top)
    try:
        return os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                       dir_fd=top)
    except OSError as err:  # ELOOP: a symbolic link; ENOTDIR: a file
        raise SandboxError(f"{out / name} is not a folder of its own ({err.strerror}): remove "
                           "it or choose another --out") from None


def _write_file(folder: int, name: str, text: str) -> None:
    """Write ``name`` in ``folder``: a new file under a random name (O_EXCL: nothing can be
    waiting there), then rename(2) over ``name``, which replaces whatever was there, a link
    included, and never writes through it.  Readers see the old file or the new, never half."""
    temporary = f".tmp-{secrets.token_hex(8)}"
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                 0o666, dir_fd=folder)
    try:
        # A lone surrogate (JSON allows "\ud800") cannot be UTF-8; backslashreplace writes it
        # back as the same JSON escape, so even that notebook is written, and valid.
        with open(fd, "w", encoding="utf-8", errors="backslashreplace") as f:
            f.write(text)
        os.rename(temporary, name, src_dir_fd=folder, dst_dir_fd=folder)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary, dir_fd=folder)
        raise


def gradescope(row: dict) -> dict:
    """Gradescope's autograder results.json: score, execution_time, output, tests."""
    tests = [{"name": gid, "number": str(n), "score": r["score"], "max_score": r["points"],
              # Gradescope knows passed and failed: one not applicable here is 0 of 0, passed.
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
