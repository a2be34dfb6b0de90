"""A learner's working copy of the notebooks and exercises (sandbox.course.workcopy): made
once, completed at each start, never overwriting an edit, private, without the answers."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from sandbox.course.workcopy import make_working_copy
from sandbox.errors import SandboxError

REPO = Path(__file__).resolve().parent.parent


def _files(folder: Path) -> set[str]:
    return {str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file()}


def test_the_copy_holds_every_notebook_and_exercise_but_not_the_answers(tmp_path):
    copy = tmp_path / "course"
    copied = make_working_copy(REPO, copy)
    wanted = {f"notebooks/{p.name}" for p in (REPO / "notebooks").glob("*.ipynb")}
    wanted |= {f"exercises/{p.name}" for p in (REPO / "exercises").glob("*.ipynb")}
    assert wanted <= _files(copy)
    assert (copy / "notebooks/examples/seed-app/Dockerfile").is_file()  # chapter 10's app
    assert not (copy / "exercises" / "source").exists()
    assert {str(p.relative_to(copy)) for p in copied} == _files(copy)
    assert (copy / "notebooks/03_namespaces.ipynb").read_bytes() == \
        (REPO / "notebooks/03_namespaces.ipynb").read_bytes()


def test_the_copy_is_private(tmp_path):
    copy = tmp_path / "course"
    make_working_copy(REPO, copy)
    for path in [copy, *copy.rglob("*")]:
        mode = stat.S_IMODE(path.stat().st_mode)
        assert mode == (0o700 if path.is_dir() else 0o600), f"{path}: {oct(mode)}"


def test_a_second_start_keeps_edits_and_brings_back_what_is_missing(tmp_path):
    copy = tmp_path / "course"
    make_working_copy(REPO, copy)
    answer = copy / "exercises" / "03_namespaces.ipynb"
    answer.write_text("my answers")
    (copy / "notebooks" / "05_layers.ipynb").unlink()   # to get the instructor's back
    copied = make_working_copy(REPO, copy)
    assert copied == [copy / "notebooks" / "05_layers.ipynb"]
    assert answer.read_text() == "my answers"
    assert make_working_copy(REPO, copy) == []           # complete: nothing to do


def test_a_copy_inside_the_checkout_is_refused():
    with pytest.raises(SandboxError, match="inside the course's own folder"):
        make_working_copy(REPO, REPO / "mine")


def test_the_command_says_where_the_copy_is(tmp_path):
    copy = tmp_path / "course"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-m", "sandbox.course.workcopy", str(REPO), str(copy)],
                          capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    assert str(copy) in done.stdout and "copied" in done.stdout
    again = subprocess.run([sys.executable, "-m", "sandbox.course.workcopy", str(REPO), str(copy)],
                           capture_output=True, text=True, env=env)
    assert "nothing to copy" in again.stdout
    (tmp_path / "empty").mkdir()
    bad = subprocess.run([sys.executable, "-m", "sandbox.course.workcopy", str(tmp_path / "empty"),
                          str(copy)],
                         capture_output=True, text=True, env=env)
    assert bad.returncode == 1 and "has no notebooks/ folder" in bad.stderr
