"""A learner's working copy of the course: their own notebooks and exercises beside a shared checkout.

    /opt/course/                 the shared checkout: the instructor's, read-only to learners
    ├── notebooks/  ─┐
    ├── exercises/  ─┼─ copied once ──▶  ~/course/notebooks/   the learner's own:
    │                │                   ~/course/exercises/   edited, saved, handed in
    ├── sandbox/     │
    └── .venv/       └─ stay shared: the package and its Python are used from the checkout

On a workshop server the course is cloned once into a folder the learners can
read but not write.  They can run every notebook there, but JupyterLab cannot
save one, so an exercise's answers would be lost.  Each learner therefore gets
a copy of ``notebooks/`` and ``exercises/`` of their own on first start
(JupyterHub's spawner, or ``./course lab`` run by a user who cannot write the
checkout, call :func:`make_working_copy` as that learner).

The copy is made again at every start, and is idempotent: a file that is
already there is never overwritten, so a learner's edits survive; only what is
missing is copied (a notebook the instructor added since, or one the learner
deleted to get the original back).  The instructor's sources with their
answers (``exercises/source/``) are not copied.  Each file is written under a
temporary name and renamed (sandbox.paths.write_atomic), so an interrupted
start never leaves half a notebook that the next start would then keep.

The copy is private (directories 0700, files 0600): classmates share a server,
and a learner's answers are theirs.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..errors import SandboxError
from ..paths import PRIVATE_DIR, PRIVATE_FILE, ensure, write_atomic

COPIED = ("notebooks", "exercises")
# Never copied: the instructor's answers, and what JupyterLab or Python leave behind.
LEFT_OUT = {"exercises/source", ".ipynb_checkpoints", "__pycache__"}


def make_working_copy(course: Path, into: Path) -> list[Path]:
    """Copy into ``into`` whatever of the course's notebooks and exercises it lacks;
    return the files copied (none when the copy is complete).  Never overwrites a file."""
    course, into = Path(course).resolve(), Path(into).absolute()
    if into.resolve() == course or course in into.resolve().parents:
        raise SandboxError(f"the working copy {into} would be inside the course's own folder "
                           f"{course}; choose a folder outside it (COURSE_WORKDIR)")
    for name in COPIED:
        if not (course / name).is_dir():
            raise SandboxError(f"{course} has no {name}/ folder: give the path of a clone of "
                               "the course")
    ensure(into, PRIVATE_DIR)
    copied = []
    for name in COPIED:
        copied += _copy_missing(course, into, Path(name))
    return copied


def _copy_missing(course: Path, into: Path, relative: Path) -> list[Path]:
    """Copy the files below ``course/relative`` that ``into/relative`` lacks, recursively."""
    ensure(into / relative, PRIVATE_DIR)
    copied = []
    for entry in sorted(os.scandir(course / relative), key=lambda e: e.name):
        here = relative / entry.name
        if str(here) in LEFT_OUT or entry.name in LEFT_OUT:
            continue
        target = into / here
        if entry.is_dir(follow_symlinks=False):
            copied += _copy_missing(course, into, here)
        elif entry.is_file(follow_symlinks=False) and not os.path.lexists(target):
            write_atomic(target, Path(entry.path).read_bytes(), PRIVATE_FILE)
            copied.append(target)
        # Anything else (a link, a socket) is left out: the course ships plain files.
    return copied


def main(argv: list[str]) -> int:
    """``python -m sandbox.course.workcopy COURSE INTO``: make or complete the copy, say where."""
    if len(argv) != 2:
        print("usage: python -m sandbox.course.workcopy COURSE_CHECKOUT WORKING_COPY",
              file=sys.stderr)
        return 2
    try:
        copied = make_working_copy(Path(argv[0]), Path(argv[1]))
    except (SandboxError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    what = f"{len(copied)} file(s) copied" if copied else "complete, nothing to copy"
    print(f"your working copy of the course's notebooks and exercises: {argv[1]} ({what})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
