"""One instructor source, three notebooks: nbgrader's markers and metadata, read and applied.

An exercise is written once, with the answers and the hidden tests in it,
marked the way nbgrader marks them (https://nbgrader.readthedocs.io,
"Developing assignments"):

- a cell's ``metadata.nbgrader`` (schema version 3) says what the cell is:
  ``solution`` (the learner writes here), ``grade`` with ``points`` (a check
  that scores), ``locked`` (the learner may not change it), and a unique
  ``grade_id``;
- in a solution cell, the lines between ``### BEGIN SOLUTION`` and
  ``### END SOLUTION`` are the answer;
- in a graded cell, the lines between ``### BEGIN HIDDEN TESTS`` and
  ``### END HIDDEN TESTS`` are checks the learner never sees.

:func:`release` makes from it

    student     answers replaced by ``# YOUR CODE HERE`` / ``raise NotImplementedError()``,
                hidden tests removed, outputs cleared: what learners open
    solution    the answers kept, every test in place, markers removed: it must score full
    autograder  answers removed, hidden tests kept *with* their markers, so the grader
                knows which lines the learner must never see
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path

from ..errors import SandboxError

BEGIN_SOLUTION, END_SOLUTION = "### BEGIN SOLUTION", "### END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "### BEGIN HIDDEN TESTS", "### END HIDDEN TESTS"
CODE_STUB = ["# YOUR CODE HERE", "raise NotImplementedError()"]
TEXT_STUB = ["YOUR ANSWER HERE"]
VERSIONS = ("student", "solution", "autograder")
_QUESTION_CALL = re.compile(r"""question\(\s*["']([^"']+)["']\s*(?:,\s*points\s*=\s*([\d.]+))?""")


class ReleaseError(SandboxError):
    """A source notebook whose markers or metadata are wrong; the message names file and cell."""


def cells_of(nb) -> list[dict]:
    """A notebook's cells that are JSON objects; a submission's "notebook" may be any JSON."""
    cells = nb.get("cells") if isinstance(nb, dict) else None
    return [c for c in cells if isinstance(c, dict)] if isinstance(cells, list) else []


def metadata_of(cell: dict) -> dict:
    metadata = cell.get("metadata")
    return metadata if isinstance(metadata, dict) else {}


def nbgrader_meta(cell: dict) -> dict:
    meta = metadata_of(cell).get("nbgrader")
    return meta if isinstance(meta, dict) else {}


def source_text(source) -> str:
    """A cell's source as one string: nbformat allows a string or a list of lines."""
    if isinstance(source, str):
        return source
    if isinstance(source, list):
        return "".join(line for line in source if isinstance(line, str))
    return ""


def graded_cells(nb: dict) -> list[dict]:
    """The cells that score, in order."""
    return [c for c in nb["cells"] if nbgrader_meta(c).get("grade")]


def max_points(nb: dict) -> dict[str, float]:
    """grade_id → the points it is worth, from the (trusted) metadata."""
    return {nbgrader_meta(c)["grade_id"]: float(nbgrader_meta(c)["points"])
            for c in graded_cells(nb)}


# --- reading ---------------------------------------------------------------------
def load(path: Path) -> dict:
    """Read a notebook and check its markers and metadata; errors name the file and cell."""
    try:
        nb = json.loads(Path(path).read_text())
    except (OSError, ValueError) as err:
        raise ReleaseError(f"{path}: not a readable notebook: {err}") from None
    validate(nb, str(path))
    return nb


def validate(nb: dict, name: str) -> None:
    seen: set[str] = set()
    for number, cell in enumerate(nb.get("cells", []), 1):
        where = f"{name}, cell {number}"
        meta = nbgrader_meta(cell)
        lines = _lines(cell)
        _check_markers(lines, BEGIN_SOLUTION, END_SOLUTION, where)
        _check_markers(lines, BEGIN_HIDDEN, END_HIDDEN, where)
        if not meta:
            if any(BEGIN_SOLUTION in l or BEGIN_HIDDEN in l for l in lines):
                raise ReleaseError(f"{where}: has markers but no nbgrader metadata")
            continue
        if meta.get("schema_version") != 3:
            raise ReleaseError(f"{where}: nbgrader schema_version must be 3")
        grade_id = meta.get("grade_id")
        if not grade_id:
            raise ReleaseError(f"{where}: nbgrader metadata without a grade_id")
        if grade_id in seen:
            raise ReleaseError(f"{where}: grade_id {grade_id!r} is used twice")
        seen.add(grade_id)
        if any(BEGIN_SOLUTION in l for l in lines) and not meta.get("solution"):
            raise ReleaseError(f"{where}: solution markers in a cell not marked solution")
        if any(BEGIN_HIDDEN in l for l in lines) and not meta.get("grade"):
            raise ReleaseError(f"{where}: hidden tests in a cell that is not graded")
        if meta.get("grade"):
            _check_graded(cell, meta, lines, where)


def _check_graded(cell: dict, meta: dict, lines: list[str], where: str) -> None:
    if not isinstance(meta.get("points"), (int, float)) or meta["points"] <= 0:
        raise ReleaseError(f"{where}: a graded cell needs points > 0")
    if cell["cell_type"] != "code":
        raise ReleaseError(f"{where}: only code cells can be graded automatically")
    if not meta.get("solution") and not meta.get("locked"):
        raise ReleaseError(f"{where}: a graded test cell must be locked")
    calls = _QUESTION_CALL.findall("\n".join(lines))
    if len(calls) != 1:
        raise ReleaseError(f"{where}: a graded cell needs exactly one "
                           f"`with question({meta['grade_id']!r}, points=...)` block")
    qid, points = calls[0]
    if qid != meta["grade_id"] or (points and float(points) != float(meta["points"])):
        raise ReleaseError(f"{where}: question({qid!r}, points={points or '?'}) does not match "
                           f"its metadata (grade_id {meta['grade_id']!r}, "
                           f"points {meta['points']})")


def _check_markers(lines: list[str], begin: str, end: str, where: str) -> None:
    depth = 0
    for number, line in enumerate(lines, 1):
        if begin in line:
            if depth:
                raise ReleaseError(f"{where}, line {number}: {begin} inside another")
            depth = 1
        elif end in line:
            if not depth:
                raise ReleaseError(f"{where}, line {number}: {end} without {begin}")
            depth = 0
    if depth:
        raise ReleaseError(f"{where}: {begin} is never closed by {end}")


def _lines(cell: dict) -> list[str]:
    return source_text(cell.get("source")).split("\n")


# --- making the versions -----------------------------------------------------------
def release(nb: dict) -> dict[str, dict]:
    """The student, solution and autograder versions of a validated source notebook."""
    return {version: _version(nb, version) for version in VERSIONS}


def _version(nb: dict, version: str) -> dict:
    out = copy.deepcopy(nb)
    for cell in out["cells"]:
        lines = _lines(cell)
        if version == "solution":
            lines = _drop_marker_lines(lines, (BEGIN_SOLUTION, END_SOLUTION,
                                               BEGIN_HIDDEN, END_HIDDEN))
        else:
            lines = _stub_solutions(lines, cell["cell_type"], nbgrader_meta(cell))
            if version == "student":
                lines = _drop_regions(lines, BEGIN_HIDDEN, END_HIDDEN)
        cell["source"] = "\n".join(lines)
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    return out


def _stub_solutions(lines: list[str], cell_type: str, meta: dict) -> list[str]:
    """Replace each solution region (or a whole solution cell without markers) by the stub."""
    if not meta.get("solution"):
        return lines
    stub = CODE_STUB if cell_type == "code" else TEXT_STUB
    if not any(BEGIN_SOLUTION in l for l in lines):
        return list(stub)
    return _replace_regions(lines, BEGIN_SOLUTION, END_SOLUTION, stub)


def _drop_regions(lines: list[str], begin: str, end: str) -> list[str]:
    return _replace_regions(lines, begin, end, [])


def _replace_regions(lines: list[str], begin: str, end: str, stub: list[str]) -> list[str]:
    """Each region from a ``begin`` line to its ``end`` line, markers included, becomes
    ``stub``, indented as the ``begin`` line was."""
    result, inside = [], False
    for line in lines:
        if begin in line:
            indent = line[:len(line) - len(line.lstrip())]
            result += [indent + s for s in stub]
            inside = True
        elif end in line:
            inside = False
        elif not inside:
            result.append(line)
    return result


def _drop_marker_lines(lines: list[str], markers: tuple[str, ...]) -> list[str]:
    return [l for l in lines if not any(m in l for m in markers)]


def visible_source(cell: dict) -> str:
    """A graded cell as the learner sees it: its hidden tests removed."""
    return "\n".join(_drop_regions(_lines(cell), BEGIN_HIDDEN, END_HIDDEN))


def full_source(cell: dict) -> str:
    """A graded cell as the grader runs it: every test, the markers removed."""
    return "\n".join(_drop_marker_lines(_lines(cell), (BEGIN_HIDDEN, END_HIDDEN)))


def dumps(nb: dict) -> str:
    """Notebook JSON as Jupyter writes it (one-space indent, sorted keys), for stable diffs."""
    return json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def release_files(sources: list[Path], out: Path) -> list[Path]:
    """``sandbox course release``: write ``out/{student,solution,autograder}/NAME.ipynb``."""
    notebooks = [(Path(s), load(Path(s))) for s in sources]  # all checked before any is written
    written = []
    for source, nb in notebooks:
        for version, released in release(nb).items():
            target = out / version / source.name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(dumps(released))
            written.append(target)
    return written
