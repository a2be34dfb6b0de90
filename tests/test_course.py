"""sandbox course release / grade: nbgrader's markers, and grading untrusted submissions."""

from __future__ import annotations

import csv
import json
import secrets
from pathlib import Path

import pytest

from conftest import IS_ROOT, REPO, fails_with_one_sentence, root_only, sandbox
from course_notebooks import CORRECT, HOSTILE, _printed, demo_source, submission, write
from sandbox.course import grader, nbgrader
from sandbox.course import results as grading_results
from sandbox.course.checks import MIME


@pytest.fixture(scope="module")
def secret() -> str:
    return "SECRET-" + secrets.token_hex(8)


@pytest.fixture(scope="module")
def released(tmp_path_factory, secret) -> Path:
    """``sandbox course release`` of the demo source, through the command line."""
    base = tmp_path_factory.mktemp("release")
    source = write(base / "demo.ipynb", demo_source(secret))
    r = sandbox("course", "release", str(source), "--out", str(base / "rel"), check=True)
    assert len(r.stdout.split()) == 3
    return base / "rel"


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def _sources(nb: dict) -> str:
    return "\n".join(c["source"] for c in nb["cells"])


# --- release -------------------------------------------------------------------
def test_the_student_version_has_stubs_and_no_hidden_tests(released, secret):
    student = _sources(_load(released / "student" / "demo.ipynb"))
    assert "    # YOUR CODE HERE\n    raise NotImplementedError()" in student
    assert "return 2 * x" not in student
    assert secret not in student and "HIDDEN" not in student
    assert 'q.expect(q.call("double", 2) == 4, "double(2) should be 4")' in student


def test_the_solution_version_keeps_answers_and_tests_without_markers(released, secret):
    solution = _sources(_load(released / "solution" / "demo.ipynb"))
    assert "return 2 * x" in solution and secret in solution
    assert "### " not in solution


def test_the_autograder_version_keeps_hidden_tests_marked_but_no_answers(released, secret):
    autograder = _load(released / "autograder" / "demo.ipynb")
    text = _sources(autograder)
    assert secret in text and nbgrader.BEGIN_HIDDEN in text
    assert "return 2 * x" not in text
    assert nbgrader.max_points(autograder) == {"q1_double": 2.0, "q2_triple": 1.0}


def test_released_metadata_is_nbgraders_schema_3(released):
    for version in nbgrader.VERSIONS:
        nb = _load(released / version / "demo.ipynb")
        metas = [c["metadata"]["nbgrader"] for c in nb["cells"] if "nbgrader" in c["metadata"]]
        assert metas and all(m["schema_version"] == 3 for m in metas)
        assert all(c.get("outputs", []) == [] for c in nb["cells"])


@pytest.mark.parametrize("break_it, needle", [
    (lambda nb: nb["cells"][2].__setitem__("source", "### BEGIN SOLUTION\nx = 1"),
     "cell 3: ### BEGIN SOLUTION is never closed"),
    (lambda nb: nb["cells"][3]["metadata"]["nbgrader"].__setitem__("points", 5),
     "cell 4: question('q1_double', points=2) does not match its metadata"),
    (lambda nb: nb["cells"][5]["metadata"]["nbgrader"].__setitem__("grade_id", "q1_double"),
     "cell 6: grade_id 'q1_double' is used twice"),
    (lambda nb: nb["cells"][3]["metadata"]["nbgrader"].__setitem__("locked", False),
     "cell 4: a graded test cell must be locked"),
    (lambda nb: nb["cells"][1]["metadata"].__setitem__("nbgrader", {"grade_id": "x"}),
     "cell 2: nbgrader schema_version must be 3"),
])
def test_a_bad_source_is_refused_naming_file_and_cell(tmp_path, secret, break_it, needle):
    nb = demo_source(secret)
    break_it(nb)
    source = write(tmp_path / "broken.ipynb", nb)
    r = sandbox("course", "release", str(source), "--out", str(tmp_path / "out"))
    fails_with_one_sentence(r, f"{source}, {needle}")
    assert not (tmp_path / "out").exists()  # nothing half-written


# --- assembling and scoring (no container) -------------------------------------------
def test_hidden_tests_come_after_every_cell_of_the_learner(released, secret):
    autograder = _load(released / "autograder" / "demo.ipynb")
    student = _load(released / "student" / "demo.ipynb")
    tampered = submission(student, *CORRECT)
    tampered["cells"][3]["source"] = "pass  # the learner deleted the check"
    nb = grader.assemble(autograder, tampered)
    hidden = [i for i, c in enumerate(nb["cells"]) if grading_results.HIDDEN_KEY in c["metadata"]]
    assert hidden == [len(nb["cells"]) - 2, len(nb["cells"]) - 1]
    assert all(secret not in c["source"] for c in nb["cells"][:hidden[0]])
    assert 'q.expect(q.call("double", 2) == 4' in nb["cells"][3]["source"]  # the locked cell is back


def _executed(verdicts) -> dict:
    return {"cells": [], "metadata": {grading_results.VERDICTS_KEY: verdicts}}


def test_a_question_scores_only_from_the_runners_verdict_of_its_own():
    points = {"q1": 2.0, "q2": 1.0, "q3": 1.0, "q4": 1.0}
    executed = _executed({"q1": {"passed": True, "hint": ""},
                          "q2": {"passed": "yes", "hint": ""},       # only True counts
                          "q3": {"passed": False, "hint": "try again"},
                          "q9": {"passed": True, "hint": ""}})       # not a question here
    results = grading_results.score(executed, points, "graded")
    assert [results[q]["score"] for q in points] == [2.0, 0.0, 0.0, 0.0]
    assert results["q3"]["hint"] == "try again"
    assert results["q4"]["hint"] == "not graded: graded"
    assert grading_results.VERDICTS_KEY not in executed["metadata"]  # not in the feedback


def test_a_question_this_machine_cannot_pose_is_worth_nothing_and_leaves_possible(tmp_path):
    from sandbox.course.checks import RESULTS, question
    with question("q_na", points=3) as q:
        q.not_applicable("no memory controller here")
    assert RESULTS["q_na"]["applicable"] is False and RESULTS["q_na"]["hint"] == \
        "no memory controller here"
    points = {"q1": 2.0, "q2": 3.0}
    executed = _executed({"q1": {"passed": True, "hint": ""},
                          "q2": {"passed": False, "applicable": False, "hint": "no memory here"}})
    results = grading_results.score(executed, points, "graded")
    assert results["q2"] == {"score": 0.0, "points": 0.0, "applicable": False,
                             "hint": grading_results.NOT_APPLICABLE + "no memory here"}
    with grading_results.Outputs(tmp_path) as outputs:
        outputs.write_grades([{"file": "a.ipynb", "name": "a", "results": results,
                               "status": "graded"}], points)
    rows = (tmp_path / "final_grades.csv").read_text().splitlines()
    assert rows[1] == "a.ipynb,a,2,0,2,2,graded"  # possible: 2, not 5


def test_displays_in_the_learners_cells_never_score():
    forged = {"output_type": "display_data", "metadata": {},
              "data": {MIME: {"grade_id": "q1", "passed": True, "hint": ""}}}
    executed = {"cells": [{"cell_type": "code", "metadata": {}, "source": "",
                           "outputs": [forged]}], "metadata": {}}
    assert grading_results.score(executed, {"q1": 1.0}, "graded")["q1"]["score"] == 0.0


# --- the exercise checks themselves --------------------------------------------------
def test_a_check_never_raises_and_explains_the_learners_error(capsys):
    from sandbox.course import question
    from sandbox.course.checks import RESULTS
    with question("qx", points=1) as q:
        raise NotImplementedError()
    with question("qy", points=1) as q:
        q.expect(undefined_name == 1, "never reached")  # noqa: F821
    with question("qz", points=3) as q:
        q.expect(True, "fine")
    out = capsys.readouterr().out
    assert "✘ qx: 0 / 1 points" in out and "not answered yet" in out
    assert "name 'undefined_name' is not defined: run the cell that defines it" in out
    assert "✔ qz: 3 / 3 points" in out
    assert RESULTS["qz"]["score"] == 3


# --- grading (root: each submission runs as another user, under cgroup limits) --------
def _grades(out: Path) -> dict[str, dict]:
    with open(out / "final_grades.csv") as f:
        return {Path(row["file"]).name: row for row in csv.DictReader(f)}


@root_only
def test_grading_scores_correct_partial_empty_and_hostile_submissions(released, tmp_path,
                                                                     secret):
    student = _load(released / "student" / "demo.ipynb")
    subs = tmp_path / "subs"
    subs.mkdir()
    files = [write(subs / "correct.ipynb", submission(student, *CORRECT)),
             write(subs / "partial.ipynb", submission(student, CORRECT[0], None)),
             write(subs / "empty.ipynb", student),
             write(subs / "not_a_notebook.ipynb", {"hello": 1})]
    files += [write(subs / f"{name}.ipynb", submission(student, a1, a2))
              for name, (a1, a2, *_) in HOSTILE.items()]
    # Each stands alone: a link to the solution, a malformed notebook, two of one name.
    (subs / "link_to_correct.ipynb").symlink_to(subs / "correct.ipynb")
    files += [subs / "link_to_correct.ipynb",
              write(subs / "cells_of_numbers.ipynb", {"cells": [5], "metadata": [],
                                                      "nbformat": 4, "nbformat_minor": 5})]
    (subs / "other").mkdir()
    files.append(write(subs / "other" / "correct.ipynb", submission(student, *CORRECT)))
    out = tmp_path / "grades"
    r = sandbox("course", "grade", str(released / "autograder" / "demo.ipynb"),
                *map(str, files), "--out", str(out), "--cell-timeout", "4", "--timeout", "90",
                "--memory", "400m", "--pids-limit", "64", timeout=600)
    assert r.returncode == 0, r.stderr
    assert f"graded {len(files)} submission(s)" in r.stdout
    grades = _grades(out)
    assert list(grades["correct.ipynb"].values())[2:] == ["2", "1", "3", "3", "graded"]
    assert [grades["partial.ipynb"][k] for k in ("q1_double", "q2_triple", "total")] == \
        ["2", "0", "2"]
    assert grades["empty.ipynb"]["total"] == "0" and grades["empty.ipynb"]["status"] == "graded"
    assert grades["link_to_correct.ipynb"]["status"] == "not a regular file: a symbolic link"
    assert grades["link_to_correct.ipynb"]["total"] == "0"
    assert grades["cells_of_numbers.ipynb"]["status"].startswith("not a valid notebook")
    with open(out / "final_grades.csv") as f:  # two correct.ipynb: both graded, apart
        both = [row for row in csv.DictReader(f) if row["file"].endswith("correct.ipynb")
                and "link" not in row["file"]]
    assert [row["total"] for row in both] == ["3", "3"]
    assert len({row["name"] for row in both}) == 2
    assert grades["not_a_notebook.ipynb"]["status"].startswith("not a valid notebook")
    for name, (_, _, q1, q2, status) in HOSTILE.items():
        row = grades[f"{name}.ipynb"]
        statuses = status if isinstance(status, tuple) else (status,)
        assert any(s in row["status"] for s in statuses), (name, row)
        assert (row["q1_double"], row["q2_triple"]) == (f"{q1}", f"{q2}"), (name, row)
    # Nothing any submission could reach shows the hidden tests...
    for path in out.rglob("*"):
        if path.is_file():
            assert secret not in path.read_text(), path
    for path in out.rglob("*"):  # not even the hidden call, which the display spy could see
        if path.is_file():
            assert '"double", 21' not in path.read_text() and "double(21)" not in \
                path.read_text(), path
    printed = _printed(out, "reads_hidden_tests")
    assert "found: []" in printed
    # The runner (PID 1) keeps six capabilities; the learner's kernel runs as nobody with none.
    printed = _printed(out, "looks_at_privileges")
    assert "1 ['0', '00000000000801e1', '00000000000801e1', '1']" in printed
    assert "self ['65534', '0000000000000000', '0000000000000000', '1']" in printed
    # ...and the container's root is an ordinary host uid, from sandbox-grader's range.
    from sandbox.isolation.userns import subid_range
    start, count = subid_range(grader.GRADER_USER)
    base = int(printed.split("uid_map ['0', '")[1].split("'")[0])
    assert start <= base < start + count and (base - start) % 65536 == 0
    # The session keyring could carry a message to a submission graded at the same time.
    printed = _printed(out, "keyring_message")
    assert "add_key -1 Operation not permitted" in printed
    # ...the course files are intact, and every container is gone.
    assert (REPO / "sandbox" / "course" / "grader.py").exists()
    assert sandbox("ps", "-a", "-q").stdout == ""


@root_only
def test_results_have_gradescopes_shape_and_feedback_shows_hints(released, tmp_path):
    student = _load(released / "student" / "demo.ipynb")
    sub = write(tmp_path / "alice.ipynb", submission(student, CORRECT[0], "def triple(x):\n"
                                                     "    return 3 * abs(x)\n"))
    out = tmp_path / "grades"
    sandbox("course", "grade", str(released / "autograder" / "demo.ipynb"), str(sub),
            "--out", str(out), check=True, timeout=300)
    result = json.loads((out / "results" / "alice.json").read_text())
    assert result["score"] == 2.0
    assert [(t["name"], t["score"], t["max_score"]) for t in result["tests"]] == \
        [("q1_double", 2.0, 2.0), ("q2_triple", 0.0, 1.0)]
    assert result["tests"][1]["output"] == "negative numbers too"
    assert [t["status"] for t in result["tests"]] == ["passed", "failed"]
    feedback = (out / "feedback" / "alice.ipynb").read_text()
    assert "✘ q2_triple: 0 / 1 points" in feedback and "negative numbers too" in feedback
    assert "triple(-5)" not in feedback  # the hint, never the hidden test


@pytest.mark.skipif(IS_ROOT, reason="rootless behaviour (runs in the rootless pass)")
def test_grading_without_root_says_why_in_one_sentence(released, tmp_path):
    r = sandbox("course", "grade", str(released / "autograder" / "demo.ipynb"),
                str(released / "student" / "demo.ipynb"), "--out", str(tmp_path / "g"))
    fails_with_one_sentence(r, "grading needs root", "sudo")


def test_grading_refuses_a_notebook_without_graded_cells(released, tmp_path):
    plain = write(tmp_path / "plain.ipynb", {"cells": [], "metadata": {}, "nbformat": 4,
                                              "nbformat_minor": 5})
    r = sandbox("course", "grade", str(plain),
                str(released / "student" / "demo.ipynb"), "--out", str(tmp_path / "g"))
    needle = "no graded cells" if IS_ROOT else "grading needs root"
    fails_with_one_sentence(r, needle)


def test_a_check_that_hangs_fails_with_a_hint_after_its_timeout(capsys):
    import os
    import time
    from sandbox.course import question
    r, w = os.pipe()
    started = time.monotonic()
    with question("q_slow", points=1, timeout=0.5):
        os.read(r, 1)  # the writer never writes: this would block forever
    os.close(r)
    os.close(w)
    assert time.monotonic() - started < 5
    out = capsys.readouterr().out
    assert "✘ q_slow: 0 / 1 points" in out and "did not finish within 0.5 s" in out
    import signal
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)  # nothing left armed


def test_a_check_sees_the_learners_values_as_plain_data(capsys):
    """Self-study runs the same round trip as grading: tuples arrive as lists, errors as data."""
    from sandbox.course import question
    from sandbox.course.checks import LearnerError
    namespace = __import__("__main__").__dict__
    namespace["_pair"] = lambda: (1, {2, 3})
    namespace["_boom"] = lambda: 1 / 0
    try:
        with question("q_data", points=1) as q:
            q.expect(q.call("_pair") == [1, [2, 3]], "a pair")
            err = q.call("_boom", errors=True)
            q.expect(isinstance(err, LearnerError) and err.type == "ZeroDivisionError", "error")
        with question("q_raises", points=1) as q:
            q.call("_boom")
    finally:
        del namespace["_pair"], namespace["_boom"]
    out = capsys.readouterr().out
    assert "✔ q_data: 1 / 1 points" in out
    assert "✘ q_raises" in out and "your code raised ZeroDivisionError" in out


@root_only
def test_the_deadline_holds_when_the_grader_dies(released, tmp_path, state_root):
    """The container keeps the per-submission deadline itself: kill the grader, and the
    runner (process 1) still ends the run, taking the learner's kernel with it."""
    import os
    import signal
    import subprocess
    import sys
    import time
    student = _load(released / "student" / "demo.ipynb")
    sub = write(tmp_path / "loops.ipynb", submission(student, CORRECT[0], CORRECT[1] +
                                                     "while True:\n    pass\n"))
    grader_process = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "course", "grade",
         str(released / "autograder" / "demo.ipynb"), str(sub), "--out", str(tmp_path / "g"),
         "--timeout", "5", "--cell-timeout", "600"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 60
        while not sandbox("ps", "-q").stdout.strip():
            assert time.monotonic() < deadline, "the grading container never started"
            time.sleep(0.2)
        os.killpg(grader_process.pid, signal.SIGKILL)  # the grader and its `sandbox run`
        grader_process.wait()
        started = time.monotonic()
        while sandbox("ps", "-q").stdout.strip():
            assert time.monotonic() - started < 40, "the container outlived its deadline"
            time.sleep(0.5)
    finally:
        for cid in sandbox("ps", "-a", "-q").stdout.split():
            sandbox("rm", "-f", cid)
