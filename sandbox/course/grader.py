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

A submission that crashes, times out or runs out of memory gets that status
and zero for the questions whose checks did not run; the others go on.
Scoring and the files written are in :mod:`sandbox.course.results`.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .. import lifecycle
from ..cgroups import check, parse_limits
from ..errors import SandboxError
from ..paths import is_root, state_root
from ..records import Container, lookup
from . import nbgrader
from .results import HIDDEN_KEY, clean_cell, feedback, score, summary, write_results

IMAGE = "sandbox-grader:latest"
KERNEL_UID = 65534  # nobody


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
        cells.append(clean_cell(cell, f"cell-{len(cells)}"))
    for n, graded in enumerate(nbgrader.graded_cells(autograder)):
        grade_id = nbgrader.nbgrader_meta(graded)["grade_id"]
        source = "from sandbox.course.checks import question\n" + nbgrader.full_source(graded)
        cells.append({"cell_type": "code", "id": f"hidden-{n}", "source": source,
                      "metadata": {HIDDEN_KEY: {"grade_id": grade_id}}, "outputs": [],
                      "execution_count": None})
    return {"cells": cells, "metadata": autograder.get("metadata", {}), "nbformat": 4,
            "nbformat_minor": 5}


# --- the container ---------------------------------------------------------------
def grading_image() -> str:
    """The grading image, built once: an empty root whose /usr is the host's (bound read-only)."""
    store = lifecycle.store_for(state_root())
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


def grading_seccomp_profile() -> Path:
    """Docker's default seccomp profile, with the calls that make namespaces opened.

    The exercises ask learners to create namespaces and containers
    (chapters 02, 03, 12), which the default profile refuses a container
    without CAP_SYS_ADMIN.  The kernel runs as ``nobody`` with no capability,
    so these calls only ever work inside a user namespace it made itself;
    everything else the default refuses (keyctl, bpf, modules, ...) stays refused.
    """
    from .. import seccomp
    path = state_root() / "cache" / "grading-seccomp.json"
    profile = json.dumps(seccomp.as_if_held(seccomp.default_profile(), {"SYS_ADMIN"}),
                         sort_keys=True)
    if not path.exists() or path.read_text() != profile:
        from ..paths import ensure, write_atomic
        ensure(path.parent)
        write_atomic(path, profile)
    return path


GRADER_USER = "sandbox-grader"  # its /etc/subuid and /etc/subgid ranges hold the graded


def id_ranges(workers: int) -> "queue.Queue[str]":
    """One ``0:START:65536`` map per concurrent submission, from sandbox-grader's ranges.

    Each submission's container runs in a user namespace whose root is an
    ordinary host uid (see :mod:`sandbox.userns`), and no two submissions
    graded at the same time share one: their kernels cannot signal, trace
    or share a keyring with each other.
    """
    import queue
    from ..userns import SIZE, subid_range
    uids, gids = subid_range(GRADER_USER, "uid"), subid_range(GRADER_USER, "gid")
    if not uids or not gids or uids[0] != gids[0] or min(uids[1], gids[1]) < SIZE * workers:
        raise SandboxError(
            f"grading runs each submission as its own range of {SIZE} host uids, from the "
            f"{GRADER_USER} user's entries in /etc/subuid and /etc/subgid, and found none for "
            f"{workers} worker(s): run ./course test or ./course lab as root once (it creates "
            f"them), or: sudo useradd --system {GRADER_USER}; sudo usermod --add-subuids "
            f"1000000000-{1000000000 + 16 * SIZE - 1} --add-subgids "
            f"1000000000-{1000000000 + 16 * SIZE - 1} {GRADER_USER}")
    ranges: queue.Queue[str] = queue.Queue()
    for slot in range(workers):
        ranges.put(f"0:{uids[0] + slot * SIZE}:{SIZE}")
    return ranges


class Limits:
    def __init__(self, timeout=300.0, cell_timeout=60.0, memory="1g", pids_limit="256",
                 cpus="1"):
        self.timeout, self.cell_timeout = float(timeout), float(cell_timeout)
        self.memory, self.pids_limit, self.cpus = memory, str(pids_limit), str(cpus)


def run_in_container(name: str, job: dict, limits: Limits) -> tuple[str, dict | None]:
    """Run one job in a new grading container; return (status, executed notebook or None)."""
    uidmap = limits.ranges.get()  # a range of host uids of its own, for this submission alone
    try:
        return _run_with_ids(name, job, limits, uidmap)
    finally:
        limits.ranges.put(uidmap)  # its processes are gone with the container: free again


def _run_with_ids(name: str, job: dict, limits: Limits, uidmap: str) -> tuple[str, dict | None]:
    argv = [sys.executable, "-m", "sandbox", "run", "-i", "--name", name, "--network", "none",
            "--memory", limits.memory, "--memory-swap", limits.memory,
            "--pids-limit", limits.pids_limit, "--cpus", limits.cpus,
            "--tmpfs", "/tmp:size=512m,mode=1777", "-w", "/tmp",
            "--uidmap", uidmap, "--gidmap", uidmap,
            "--security-opt", f"seccomp={grading_seccomp_profile()}",
            # A new proc may be mounted in a user namespace only where the kernel's proc is
            # fully visible (no mount hides part of it), and the exercises mount one.
            "--security-opt", "systempaths=unconfined",
            "--cap-add", "SYS_PTRACE"]  # the runner's, to read the kernel's /proc/PID from outside
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
    record = _container(name)
    oom = bool(record and record.state.get("OOMKilled"))
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


def _container(name: str) -> Container | None:
    try:
        return lookup(state_root(), name)
    except SandboxError:
        return None


def _kill(name: str) -> None:
    record = _container(name)
    if record is not None:
        try:
            lifecycle.kill(record)
        except SandboxError:
            pass  # it ended meanwhile


def _remove(name: str) -> None:
    record = _container(name)
    if record is not None:
        try:
            lifecycle.remove(record, force=True)
        except SandboxError:
            pass  # removed meanwhile


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
           "timeout": limits.timeout,  # the runner ends itself then, should the grader die
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
    if not is_root():
        raise SandboxError("grading needs root: each submission runs as another user in a "
                           "container with memory and process limits; run it with sudo")
    _check_unique_names(submissions)
    autograder = nbgrader.load(assignment)
    if not nbgrader.graded_cells(autograder):
        raise SandboxError(f"{assignment}: no graded cells (is this the autograder version?)")
    workers = workers or os.cpu_count() or 1
    limits = Limits(timeout, cell_timeout, memory, pids_limit, cpus)
    limits.ranges = id_ranges(workers)
    check(parse_limits(memory, memory, cpus, None, pids_limit))  # refuse before any work
    grading_image()
    parameters = {"grading": True, **(parameters or {})}
    started = time.monotonic()
    rows = _grade_all(autograder, submissions, limits, parameters, workers, progress)
    elapsed = time.monotonic() - started
    write_results(out, rows, nbgrader.max_points(autograder))
    return summary(rows, elapsed, out)


def _check_unique_names(submissions: list[Path]) -> None:
    """Results and feedback are named after the submission's file: two of a name would collide."""
    seen: dict[str, Path] = {}
    for path in submissions:
        if path.name in seen:
            raise SandboxError(f"two submissions are named {path.name} ({seen[path.name]} and "
                               f"{path}): results are named after the file, so rename one")
        seen[path.name] = path


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
