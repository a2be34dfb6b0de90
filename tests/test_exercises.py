"""The course's exercises, proven both ways: every solution scores full, every stub scores zero.

Each source in ``exercises/source`` is released here, then

- the committed student notebook (``exercises/NAME.ipynb``) must be exactly its release;
- the solution version runs under papermill and every check passes (and under nbval);
- the student version runs under papermill and every check fails, with a hint:
  no check passes by default;
- a question this machine cannot pose (a cgroup limit where none may be set) is *not
  applicable* in both, with the reason as its hint: neither passed nor failed;
- as root, ``sandbox course grade`` scores a correct, a partial, an empty and a
  hostile submission of each, in grading containers.
"""

from __future__ import annotations

import copy
import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import REPO, root_only, sandbox
from sandbox.course import nbgrader
from sandbox.course.checks import MIME

SOURCES = sorted((REPO / "exercises" / "source").glob("*.ipynb"))
NAMES = [s.stem for s in SOURCES]


@pytest.fixture(scope="module")
def released(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("exercises")
    nbgrader.release_files(SOURCES, out)
    return out


def _graded_ids(name: str) -> list[str]:
    return list(nbgrader.max_points(nbgrader.load(REPO / "exercises" / "source"
                                                  / f"{name}.ipynb")))


def _run(path: Path, workdir: Path) -> dict[str, dict]:
    """Execute a notebook with papermill, carrying on past errors; grade_id → check result."""
    import papermill
    nb = papermill.execute_notebook(str(path), None, kernel_name="python3", progress_bar=False,
                                    parameters={"scratch": None}, cwd=str(workdir),
                                    allow_errors=True, execution_timeout=120)
    results = {}
    for cell in nb.cells:
        for output in cell.get("outputs", []):
            record = output.get("data", {}).get(MIME)
            if record:
                results[record["grade_id"]] = record
    return results


CAPSTONE = "99_capstone"  # the course's last exercise: no chapter of its own


def test_there_are_at_least_two_exercises_for_each_chapter_from_01():
    # Chapters 01-08 each have one; later chapters may arrive out of order (12 before 09).
    chapters = {p.stem for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb")}
    assert [n[:2] for n in NAMES[:8]] == [f"{c:02d}" for c in range(1, 9)]
    assert CAPSTONE in NAMES
    assert set(NAMES) - {CAPSTONE} <= chapters, set(NAMES) - chapters  # each named after its chapter
    assert "12_security" in NAMES
    assert "09_networks" in NAMES
    assert "10_dockerfiles" in NAMES
    assert "13_beyond_one_machine" in NAMES
    assert "11_compose" in NAMES
    for name in NAMES:
        assert len(_graded_ids(name)) >= 2, name


@pytest.mark.parametrize("name", NAMES)
def test_the_committed_student_notebook_is_the_release_of_its_source(name):
    released = nbgrader.release(nbgrader.load(REPO / "exercises" / "source" / f"{name}.ipynb"))
    committed = REPO / "exercises" / f"{name}.ipynb"
    assert committed.read_text() == nbgrader.dumps(released["student"]), (
        f"{committed} is out of date: run `sandbox course release exercises/source/*.ipynb "
        "--out build` and copy build/student/*.ipynb to exercises/")


@pytest.mark.parametrize("name", NAMES)
def test_every_check_passes_on_the_solution(name, released, tmp_path):
    results = _run(released / "solution" / f"{name}.ipynb", tmp_path)
    assert set(results) == set(_graded_ids(name))
    failed = {gid: r["hint"] for gid, r in results.items()
              if not r["passed"] and r.get("applicable", True)}
    assert not failed


@pytest.mark.parametrize("name", NAMES)
def test_every_check_fails_on_the_student_version_with_a_hint(name, released, tmp_path):
    results = _run(released / "student" / f"{name}.ipynb", tmp_path)
    assert set(results) == set(_graded_ids(name))
    assert not [gid for gid, r in results.items() if r["passed"]]
    assert all(r["hint"] for r in results.values())


def test_the_solutions_pass_nbval(released):
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        "--nbval-lax", str(released / "solution")],
                       capture_output=True, text=True, timeout=600, cwd=released)
    assert r.returncode == 0, r.stdout[-3000:]


# --- grading them for real --------------------------------------------------------------
def _partial(student: dict, solution: dict) -> dict:
    """The student version with only the first answer filled in from the solution."""
    nb = copy.deepcopy(student)
    answers = [c for c in solution["cells"] if nbgrader.nbgrader_meta(c).get("solution")]
    first = nbgrader.nbgrader_meta(answers[0])["grade_id"]
    for cell in nb["cells"]:
        if nbgrader.nbgrader_meta(cell).get("grade_id") == first:
            cell["source"] = answers[0]["source"]
    return nb


def _hostile(student: dict) -> dict:
    """Unanswered, but it forges results, writes a grades file and prints "passed"."""
    nb = copy.deepcopy(student)
    forge = ("from IPython.display import display\n"
             "open('/tmp/final_grades.csv', 'w').write('total\\n100\\n')\n"
             f"for gid in {_ids(student)!r}:\n"
             "    print('passed')\n"
             f"    display({{'text/plain': 'passed', {MIME!r}: "
             "{'grade_id': gid, 'passed': True, 'hint': ''}}, raw=True)\n")
    nb["cells"].append({"cell_type": "code", "id": "forged", "metadata": {}, "outputs": [],
                        "execution_count": None, "source": forge})
    return nb


def _ids(nb: dict) -> list[str]:
    return [nbgrader.nbgrader_meta(c)["grade_id"] for c in nbgrader.graded_cells(nb)]


# Exercises whose every question starts containers on a network: graded as not applicable
# in the grading container (self-study checks them for real; tests above prove both ways).
NOT_GRADABLE_IN_A_CONTAINER = {"11_compose"}


@root_only
@pytest.mark.parametrize("name", NAMES)
def test_grading_scores_correct_partial_empty_and_hostile(name, released, tmp_path):
    student = json.loads((released / "student" / f"{name}.ipynb").read_text())
    solution = json.loads((released / "solution" / f"{name}.ipynb").read_text())
    points = nbgrader.max_points(nbgrader.load(released / "autograder" / f"{name}.ipynb"))
    subs = {"correct": solution, "partial": _partial(student, solution), "empty": student,
            "hostile": _hostile(student)}
    files = []
    for label, nb in subs.items():
        path = tmp_path / f"{label}.ipynb"
        path.write_text(json.dumps(nb))
        files.append(str(path))
    out = tmp_path / "grades"
    r = sandbox("course", "grade", str(released / "autograder" / f"{name}.ipynb"), *files,
                "--out", str(out), "--cell-timeout", "60", timeout=600)
    assert r.returncode == 0, r.stderr
    with open(out / "final_grades.csv") as f:
        rows = {Path(row["file"]).name: row for row in csv.DictReader(f)}
    total = sum(points.values())
    first = next(iter(points))
    # A question the grading container cannot pose (a cgroup limit: its cgroups are read-only)
    # is worth 0 of 0 points, and leaves `possible`; every other one scores.
    possible = float(rows["correct.ipynb"]["possible"])
    assert all(float(r["possible"]) == possible for r in rows.values())
    if name in NOT_GRADABLE_IN_A_CONTAINER:
        # Every question needs containers on a network, which a grading container cannot
        # give (sandbox.course.machine.networks_missing): each says so, none fails.
        feedback = (out / "feedback" / "correct.ipynb").read_text()
        assert possible == 0 and "not applicable" in feedback, feedback[:2000]
        return
    assert 0 < possible <= total
    assert float(rows["correct.ipynb"]["total"]) == possible, rows["correct.ipynb"]
    assert float(rows["partial.ipynb"]["total"]) == points[first], rows["partial.ipynb"]
    assert float(rows["empty.ipynb"]["total"]) == 0
    assert float(rows["hostile.ipynb"]["total"]) == 0
    assert {row["status"] for row in rows.values()} == {"graded"}
