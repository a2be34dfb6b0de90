"""``sandbox course grade``: every submission in a container of its own, several at once.

    grader (root, on the host)
    ├── sandbox run  grade-…-0   no network, memory/pids/CPU limits, read-only but for /tmp
    │   └── runner (root of the container)          reads the job from stdin; runs the cells
    │       │                                       (nbclient), then judges every check itself
    │       └── kernel (uid 65534, no capabilities) the learner's code; answers the checks' calls
    ├── sandbox run  grade-…-1
    …

Submissions come from people who may want the points without the work, and
the grader runs as root, so each one is read as hostile:

1. **It stands alone.**  Only a regular file is read, never through a link
   (``alice.ipynb -> /home/bob/hw.ipynb`` or ``-> release/solution/…`` is
   refused), and at most :data:`SUBMISSION_CAP` bytes of it.  It must be
   UTF-8 JSON, nbformat 4, valid against nbformat's schema; anything else is
   refused with a status saying why, and zero points.  Whatever else goes
   wrong with one submission, a bug of ours included, becomes its status
   (``grader error: …``); the others are graded all the same.
2. **It is bounded.**  The runner's reply (the executed notebook) is read up
   to :data:`OUTPUT_CAP` bytes, and only the last :data:`STDERR_TAIL` bytes
   of its stderr are kept; a container over the cap is killed.
3. **It writes nowhere that lasts.**  The container's root is read-only
   (``--read-only``), ``/var/tmp`` too; ``/tmp`` is a 512 MiB tmpfs.  Also
   writable by the learner's code, and also in memory, counted against the
   container's memory limit: ``/dev/shm`` (a 64 MiB tmpfs) and
   ``/dev/mqueue`` (POSIX message queues, 800 KiB per user by
   RLIMIT_MSGQUEUE); ``/dev`` itself is a 64 MiB tmpfs only the runner may
   write.  ``--security-opt no-new-privileges``: no execve(2) gains a
   privilege (the kernel's drop to ``nobody`` is setuid(2) by a root process,
   which no_new_privs allows; see :mod:`sandbox.course.dropuser`).
4. **It cannot reach the others.**  Each container has its own namespaces,
   its own range of host uids (:func:`id_ranges`), and the seccomp profile
   (:func:`grading_seccomp_profile`, Docker's with a few calls opened) still
   denies add_key, keyctl and request_key: the kernel's keyrings cannot
   carry a message between two submissions graded at once.

For each submission the grader assembles the notebook to run: the learner's
cells, with every locked cell put back as the autograder has it (a learner
may have edited a check), and then, **after all of the learner's cells**,
one cell per question with its hidden tests.  Those cells go to the runner
only: it takes them out before the kernel starts, runs the learner's cells,
freezes the feedback, and then runs each check in its own process
(:mod:`sandbox.course.runner`).  The kernel never holds a hidden test or an
expected value; it receives only the calls a check makes.

A submission that crashes, times out or runs out of memory gets that status
and zero for the questions whose checks did not run; the others go on.
Scoring and the files written are in :mod:`sandbox.course.results`.
"""

from __future__ import annotations

import copy
import errno
import json
import os
import selectors
import stat
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple

from ..engine import lifecycle
from ..isolation.cgroups import check, parse_limits
from ..errors import SandboxError
from ..paths import is_root, state_root
from ..engine.records import Container, lookup
from . import nbgrader, shards
from .results import HIDDEN_KEY, Outputs, feedback, output_names, score, summary

IMAGE = "sandbox-grader:latest"
KERNEL_UID = 65534  # nobody
# A notebook with every plot in it is rarely over a few MiB; 16 MiB leaves room and
# bounds what one submission costs to parse before its container even starts.
SUBMISSION_CAP = 16 * 2**20
# The executed notebook comes back as one JSON document.  Parsed, JSON can take twenty
# times its size (64 MiB of "[]," is 1.5 GB of lists), so replies are parsed one at a
# time (Batch.one_reply_at_a_time) and none may be larger than this.
OUTPUT_CAP = 64 * 2**20
STDERR_TAIL = 64 * 2**10  # the runner's last words, enough for a traceback
_CHUNK = 2**16


class Refused(Exception):
    """A submission that is not graded at all; its message is the status, in one sentence."""


# --- reading a submission ----------------------------------------------------------------
_NOT_REGULAR = ((stat.S_ISLNK, "a symbolic link"), (stat.S_ISDIR, "a directory"),
                (stat.S_ISFIFO, "a named pipe"), (stat.S_ISSOCK, "a socket"),
                (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"))


def read_submission(path: Path, cap: int = SUBMISSION_CAP) -> dict:
    """The notebook in the file ``path``, or :class:`Refused` saying why it is not one."""
    return parse_notebook(read_regular_file(path, cap))


def read_regular_file(path: Path, cap: int) -> bytes:
    """The content of ``path`` if it is a regular file itself (not a link to one), up to ``cap``.

    lstat(2) first, so that a device or a fifo is refused without being opened
    (opening a device can act: a tape rewinds, a watchdog starts).  Then
    open(2) with O_NOFOLLOW, so that a symbolic link swapped in since fails
    with ELOOP, and O_NONBLOCK, so that a fifo swapped in cannot hang the
    grader; fstat(2) of what was opened has the last word.  Only the last
    component is checked: the folders above it are the instructor's.
    """
    try:
        _refuse_unless_regular(os.lstat(path).st_mode)
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise Refused("not a regular file: a symbolic link") from None
        raise Refused(f"not readable: {err.strerror}") from None
    try:
        _refuse_unless_regular(os.fstat(fd).st_mode)
        data = _read_at_most(fd, cap + 1)
    finally:
        os.close(fd)
    if len(data) > cap:
        raise Refused(f"too large: the file is over {_size(cap)}")
    return data


def _refuse_unless_regular(mode: int) -> None:
    for is_kind, kind in _NOT_REGULAR:
        if is_kind(mode):
            raise Refused(f"not a regular file: {kind}")


def _read_at_most(fd: int, limit: int) -> bytes:
    chunks, size = [], 0
    while size < limit:
        chunk = os.read(fd, min(limit - size, 2**20))
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def parse_notebook(data: bytes) -> dict:
    """A notebook from a file's bytes: UTF-8 JSON, nbformat 4, valid against nbformat's schema.

    Any JSON at all ends here as a notebook or as :class:`Refused`, so nothing
    after this meets a shape it did not expect.
    """
    try:
        nb = json.loads(data.decode("utf-8-sig"))  # -sig: a byte-order mark some editors add
    except UnicodeDecodeError as err:
        raise Refused(f"not a notebook: not UTF-8 text (at byte {err.start})") from None
    except json.JSONDecodeError as err:
        raise Refused(f"not a notebook: not JSON ({err.msg} at line {err.lineno}, "
                      f"column {err.colno})") from None
    except (ValueError, RecursionError) as err:  # an integer of 5000 digits, lists 5000 deep
        raise Refused(_one_line(f"not a notebook: JSON that cannot be read ({err})", 160)) \
            from None
    if not isinstance(nb, dict):
        raise Refused("not a valid notebook: the JSON is not an object")
    major = nb.get("nbformat")
    if type(major) is int and major != 4:
        raise Refused(f"not a notebook: nbformat {major}, and grading reads nbformat 4 "
                      "(JupyterLab converts a notebook when it saves it)")
    problem = schema_problem(nb)
    if problem:
        raise Refused(_one_line(f"not a valid notebook: {problem}"))
    return nb


def schema_problem(nb: dict) -> str:
    """The first thing nbformat's v4 schema finds wrong with ``nb``, or "" if nothing."""
    # As in runner.execute: jsonschema imports rfc3987_syntax if it is there, 1.5 s for nothing.
    sys.modules.setdefault("rfc3987_syntax", None)
    from nbformat.validator import iter_validate

    minor = nb.get("nbformat_minor")
    # iter_validate, not nbformat.validate(): validate() first "normalizes" the notebook in
    # place (new cell ids, with warnings) and meets a cell that is not an object with a
    # TypeError.  nbformat.reads() would convert nbformat 3 silently and only log problems.
    try:
        error = next(iter_validate(nb, version=4,
                                   version_minor=minor if type(minor) is int else 0), None)
    except Exception as err:  # noqa: BLE001 - the validator's own bugs (cell_type 5: TypeError)
        return f"nbformat's validator failed on it ({type(err).__name__}: {err})"
    if error is None:
        return ""
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in error.absolute_path)
    return f"{where.lstrip('.')}: {error.message}" if where else error.message


def _one_line(text: str, limit: int = 300) -> str:
    """A status fit for one cell of final_grades.csv: one line, at most ``limit`` characters."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[:limit - 1] + "…"


def _size(n: int) -> str:
    for unit, scale in (("MiB", 2**20), ("KiB", 2**10)):
        if n >= scale and n % scale == 0:
            return f"{n // scale} {unit}"
    return f"{n} bytes"


# --- the notebook to run -----------------------------------------------------------------
def assemble(autograder: dict, submission) -> dict:
    """The learner's cells (locked ones restored), then one hidden-test cell per question.

    ``submission`` may be any JSON: what is not a cell is left out, and a
    cell's metadata or source of the wrong type becomes empty.
    """
    locked = {nbgrader.nbgrader_meta(c)["grade_id"]: c for c in autograder["cells"]
              if nbgrader.nbgrader_meta(c).get("locked")}
    cells = []
    for cell in nbgrader.cells_of(submission):
        grade_id = nbgrader.nbgrader_meta(cell).get("grade_id")
        if isinstance(grade_id, str) and grade_id in locked:
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


def clean_cell(cell: dict, cell_id: str) -> dict:
    """A copy-ready cell: our id, no outputs, and no grader marks a submission may have forged."""
    cell["id"] = cell_id
    cell["metadata"] = nbgrader.metadata_of(cell)  # a submission's may be a list, or missing
    cell["metadata"].pop(HIDDEN_KEY, None)  # only the grader marks hidden cells
    cell["source"] = nbgrader.source_text(cell.get("source"))
    if cell.get("cell_type") == "code":
        cell["outputs"], cell["execution_count"] = [], None
    else:
        cell.pop("outputs", None)
        cell.pop("execution_count", None)
    return cell


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


class Limits:
    def __init__(self, timeout=300.0, cell_timeout=60.0, memory="1g", pids_limit="256",
                 cpus="1", output_cap=OUTPUT_CAP):
        self.timeout, self.cell_timeout = float(timeout), float(cell_timeout)
        self.memory, self.pids_limit, self.cpus = memory, str(pids_limit), str(cpus)
        self.output_cap = int(output_cap)
        self.ranges = None  # the host uid ranges free for the next container: see id_ranges


def run_argv(name: str, limits: Limits, uidmap: str) -> list[str]:
    """``sandbox run`` for one grading container: the runner reads its job from stdin."""
    argv = [sys.executable, "-m", "sandbox", "run", "-i", "--name", name, "--network", "none",
            "--uidmap", uidmap, "--gidmap", uidmap,  # see id_ranges
            "--cap-add", "SYS_PTRACE",  # the runner's: it reads the kernel's /proc/PID files
            "--memory", limits.memory, "--memory-swap", limits.memory,
            "--pids-limit", limits.pids_limit, "--cpus", limits.cpus,
            "--read-only", "--security-opt", "no-new-privileges",
            # exec: the exercises build root filesystems in /tmp and run their programs.
            "--tmpfs", "/tmp:size=512m,mode=1777,exec", "-w", "/tmp",
            "--security-opt", f"seccomp={grading_seccomp_profile()}",
            # A new proc may be mounted in a user namespace only where the kernel's proc is
            # fully visible (no mount hides part of it), and the exercises mount one.  Safe
            # only because of --uidmap: the container's root is an ordinary host uid, so the
            # files left unmasked (/proc/kcore, /proc/sysrq-trigger, /proc/sys, /sys/firmware)
            # are as closed to it as to any user; without --uidmap, it would be the host's root.
            "--security-opt", "systempaths=unconfined"]
    for volume in course_mounts():
        argv += ["-v", volume]
    return argv + [IMAGE, sys.executable, "-I", "-m", "sandbox.course.runner"]


def grading_seccomp_profile() -> Path:
    """Docker's default seccomp profile as if the container held CAP_SYS_ADMIN, plus pivot_root.

    The exercises ask learners to create namespaces and containers
    (chapters 02, 03, 12).  Docker's profile opens the calls for that only
    to a container that holds CAP_SYS_ADMIN, and as one group;
    :func:`sandbox.isolation.seccomp.as_if_held` opens the whole group, without the
    capability, and pivot_root(2), which the default refuses every
    container, is added:

        namespaces   clone and clone3 with any flags, unshare, setns
        mounts       mount, umount, umount2, pivot_root, and the mount API: fsopen,
                     fsconfig, fsmount, fspick, open_tree, move_mount, mount_setattr
        names        sethostname, setdomainname
        the rest     bpf, perf_event_open, syslog, fanotify_init, quotactl, quotactl_fd,
                     lookup_dcookie, lsm_get_self_attr, lsm_set_self_attr, lsm_list_modules

    The exercises need the first three rows; the rest come with them.  Still
    refused, as by the default: the keyrings (add_key, keyctl,
    request_key), loading modules (init_module, finit_module,
    delete_module), and all else the default refuses.

    Why this is acceptable: seccomp only lets a call reach Linux, which still
    checks privilege.  The learner's kernel runs as ``nobody`` with no
    capabilities, in a container whose root is an ordinary host uid
    (``--uidmap``), so it holds no capability in the initial user namespace:
    mounts, host names and setns work only inside user namespaces it makes
    itself, on what those own; bpf and perf_event_open without privilege are
    refused or limited by Linux's own sysctls (kernel.unprivileged_bpf_disabled,
    kernel.perf_event_paranoid), syslog by kernel.dmesg_restrict, and the
    others need privilege it lacks or do only what any user may.
    """
    from ..isolation import seccomp
    from ..paths import ensure, write_atomic
    path = state_root() / "cache" / "grading-seccomp.json"
    profile = seccomp.as_if_held(seccomp.default_profile(), {"SYS_ADMIN"})
    profile["syscalls"].append({"names": ["pivot_root"], "action": "SCMP_ACT_ALLOW"})
    profile = json.dumps(profile, sort_keys=True)
    if not path.exists() or path.read_text() != profile:
        ensure(path.parent)
        write_atomic(path, profile)
    return path


GRADER_USER = "sandbox-grader"  # its /etc/subuid and /etc/subgid ranges hold the graded
_GRADER_IDS = "1000000000-1001048575"  # 16 ranges of 65536, as ./course creates them


def id_ranges(workers: int | None = None) -> "queue.Queue[str]":
    """One ``0:START:65536`` map per concurrent submission, from sandbox-grader's ranges.

    Each submission's container runs in a user namespace whose root is an
    ordinary host uid (see :mod:`sandbox.isolation.userns`), and no two submissions
    graded at the same time share one: their kernels cannot signal, trace
    or share a keyring with each other.  So there are never more workers
    than ranges: ``workers`` None means one per CPU, but no more than the
    ranges found (``./course`` creates 16); more asked than found is refused.
    """
    import queue
    from ..isolation.userns import SIZE, subid_range
    uids, gids = subid_range(GRADER_USER, "uid"), subid_range(GRADER_USER, "gid")
    found = min(uids[1], gids[1]) // SIZE if uids and gids and uids[0] == gids[0] else 0
    if not found:
        raise SandboxError(
            f"grading runs each submission as its own range of {SIZE} host uids, from the "
            f"{GRADER_USER} user's entries in /etc/subuid and /etc/subgid, and found none: "
            f"run ./course test or ./course lab as root once (it creates them), or: "
            f"sudo useradd --system {GRADER_USER}; sudo usermod --add-subuids {_GRADER_IDS} "
            f"--add-subgids {_GRADER_IDS} {GRADER_USER}")
    if workers is None:
        workers = min(os.cpu_count() or 1, found)
    elif workers > found:
        start, end = uids[0], uids[0] + workers * SIZE - 1
        raise SandboxError(
            f"each submission graded at once needs its own range of {SIZE} host uids from the "
            f"{GRADER_USER} user's first entry in /etc/subuid and /etc/subgid: found {found} "
            f"ranges, {workers} workers asked; use --workers {found} or fewer, or make the "
            f"entry larger: sudo usermod --del-subuids {start}-{start + uids[1] - 1} "
            f"--del-subgids {start}-{start + gids[1] - 1} --add-subuids {start}-{end} "
            f"--add-subgids {start}-{end} {GRADER_USER}")
    ranges: queue.Queue[str] = queue.Queue()
    for slot in range(workers):
        ranges.put(f"0:{uids[0] + slot * SIZE}:{SIZE}")
    return ranges


class Ran(NamedTuple):
    """How a grading container ended, and what it wrote."""
    stopped: str        # "" if it ran to the end; "timeout" or "too large" if it was killed
    exit_code: int
    out: bytearray      # the runner's reply, whole (empty if it was too large)
    err_tail: bytearray  # the last STDERR_TAIL bytes of the runner's stderr
    oom: bool           # the memory cgroup killed something in it


def run_in_container(name: str, job: dict, limits: Limits) -> Ran:
    """Run one job in a new grading container, and remove the container."""
    uidmap = limits.ranges.get()  # a range of host uids of its own, for this submission alone
    try:
        return _run_as(name, job, limits, uidmap)
    finally:
        limits.ranges.put(uidmap)  # its processes are gone with the container: free again


def _run_as(name: str, job: dict, limits: Limits, uidmap: str) -> Ran:
    process = subprocess.Popen(run_argv(name, limits, uidmap), stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    feeder = threading.Thread(target=_feed, args=(process.stdin, json.dumps(job).encode()),
                              daemon=True)
    feeder.start()
    streams = None
    try:
        streams = read_bounded(process, time.monotonic() + limits.timeout, limits.output_cap)
    finally:
        if streams is None or streams.stopped:  # the deadline, the cap, or Ctrl-C
            _kill(name)
        _end(process, name)
        feeder.join()
    record = _container(name)
    oom = bool(record and record.state.get("OOMKilled"))
    _remove(name)
    return Ran(streams.stopped, process.returncode, streams.out, streams.err_tail, oom)


def _feed(stdin, data: bytes) -> None:
    """Write the job, from a thread of its own: a container that never reads must not block us."""
    try:
        stdin.write(data)
        stdin.close()
    except OSError:
        pass  # it ended, or was killed, before reading it all


def _end(process: subprocess.Popen, name: str) -> None:
    """Close our ends of its pipes and wait for ``sandbox run``; one that lingers is killed."""
    process.stdout.close()
    process.stderr.close()
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        _kill(name)
        process.kill()
        process.wait()


class Streams:
    """What a process wrote: stdout whole, up to a cap, and the tail of stderr."""

    def __init__(self):
        self.out = bytearray()
        self.err_tail = bytearray()
        self.stopped = ""  # why reading ended before both pipes closed: "timeout", "too large"


def read_bounded(process: subprocess.Popen, deadline: float, out_cap: int,
                 tail: int = STDERR_TAIL) -> Streams:
    """Read ``process``'s stdout (up to ``out_cap`` bytes) and stderr (its last ``tail``
    bytes) until both close, the deadline passes, or stdout goes over its cap.

    communicate() would hold all of both in memory; a submission can make the
    runner write hundreds of MB (nbclient logs every message of a type it does
    not know, and the kernel sends what the learner's code asks it to).
    """
    streams = Streams()
    with selectors.DefaultSelector() as selector:
        selector.register(process.stdout, selectors.EVENT_READ)
        selector.register(process.stderr, selectors.EVENT_READ)
        while selector.get_map() and not streams.stopped:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                streams.stopped = "timeout"
                break
            for key, _ in selector.select(remaining):
                chunk = os.read(key.fd, _CHUNK)
                if not chunk:
                    selector.unregister(key.fileobj)
                elif key.fileobj is process.stderr:
                    keep_tail(streams.err_tail, chunk, tail)
                elif len(streams.out) + len(chunk) > out_cap:
                    streams.out.clear()
                    streams.stopped = "too large"
                    break
                else:
                    streams.out += chunk
    return streams


def keep_tail(tail: bytearray, chunk: bytes, size: int) -> None:
    """Append ``chunk`` to ``tail``, then keep only the last ``size`` bytes."""
    tail += chunk
    del tail[:max(len(tail) - size, 0)]


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


# --- what came back ----------------------------------------------------------------
def interpret(ran: Ran, output_cap: int) -> tuple[str, dict | None]:
    """The status, and the executed notebook if one came back."""
    if ran.stopped == "too large":
        return f"output too large: the container sent back over {_size(output_cap)}", None
    reply = _parse(ran.out)
    notebook = reply.get("notebook") if isinstance(reply.get("notebook"), dict) else None
    if ran.stopped == "timeout":
        return "timeout", notebook
    if ran.oom:
        return "out of memory", notebook
    if not reply:
        last = ran.err_tail.decode(errors="replace").strip().splitlines()[-1:] or [""]
        return _one_line(f"crashed (exit code {ran.exit_code}): {last[0]}", 200), None
    status = reply.get("status")
    return _one_line(status if isinstance(status, str) and status else "crashed"), notebook


def _parse(out: bytes) -> dict:
    try:
        reply = json.loads(out)
    except (ValueError, RecursionError):
        return {}
    return reply if isinstance(reply, dict) else {}


# --- one submission, then all of them ----------------------------------------------
class Batch:
    """What every submission of one ``grade`` shares: the autograder, limits, parameters, --out."""

    # One reply parsed, scored and written at a time, however many containers run: see
    # OUTPUT_CAP.  A class attribute: two batches in one process share the memory too.
    one_reply_at_a_time = threading.Lock()

    def __init__(self, autograder: dict, limits: Limits, parameters: dict, outputs: Outputs):
        self.autograder, self.points = autograder, nbgrader.max_points(autograder)
        self.limits, self.parameters, self.outputs = limits, parameters, outputs

    def grade(self, path: Path, name: str, container: str) -> dict:
        """Grade one submission, write its results/NAME.json and feedback/NAME.ipynb, and
        return its row of final_grades.csv.  Nothing that goes wrong here stops the batch."""
        row = {"file": str(path), "name": name, "started": time.monotonic()}
        try:
            self._grade(path, container, row)
        except Exception as err:  # noqa: BLE001 - a bug of ours, or a shape nobody foresaw
            status = _one_line(f"grader error: {type(err).__name__}: {err}")
            try:
                self._record(row, status, None, None)
            except Exception:  # noqa: BLE001 - its files cannot be written: the row says why
                row.update(status=status, results=score(None, self.points, status))
        return row

    def _grade(self, path: Path, container: str, row: dict) -> None:
        try:
            notebook = assemble(self.autograder, read_submission(path))
        except Refused as refusal:
            self._record(row, str(refusal), None, None)
            return
        job = {"notebook": notebook, "uid": KERNEL_UID, "parameters": self.parameters,
               "cell_timeout": self.limits.cell_timeout,
               "timeout": self.limits.timeout}  # the runner ends itself then, should we die
        ran = run_in_container(container, job, self.limits)
        with self.one_reply_at_a_time:
            status, executed = interpret(ran, self.limits.output_cap)
            del ran  # up to OUTPUT_CAP bytes, parsed now
            # If nothing came back, the feedback shows the notebook as it was assembled.
            self._record(row, status, executed, executed or notebook)

    def _record(self, row: dict, status: str, executed: dict | None, shown: dict | None) -> None:
        """Score ``executed``, complete ``row``, and write the submission's two files."""
        results = score(executed, self.points, status)
        row.update(status=status, results=results, seconds=time.monotonic() - row["started"])
        self.outputs.write_submission(row["name"], row, feedback(shown, results, status))


def grade_files(assignment: Path, submissions: list[Path], out: Path, workers: int | None = None,
                timeout=300.0, cell_timeout=60.0, memory="1g", pids_limit="256", cpus="1",
                parameters: dict | None = None, progress: bool = False,
                output_cap: int = OUTPUT_CAP, shard: tuple[int, int] | None = None) -> str:
    """``sandbox course grade``: grade every submission, write the results, return a summary.

    ``shard`` (K, N) grades only shard K of N (:mod:`sandbox.course.shards`)
    and leaves its shard.json for ``--merge``.
    """
    if not is_root():
        raise SandboxError("grading needs root: each submission runs as another user in a "
                           "container with memory and process limits; run it with sudo")
    autograder = nbgrader.load(assignment)
    if not nbgrader.graded_cells(autograder):
        raise SandboxError(f"{assignment}: no graded cells (is this the autograder version?)")
    limits = Limits(timeout, cell_timeout, memory, pids_limit, cpus, output_cap)
    # Refused here, before any work, if there are too few ranges for the workers asked.
    limits.ranges = id_ranges(workers or None)
    workers = limits.ranges.qsize()  # one per range: when none was asked, as many as fit
    check(parse_limits(memory, memory, cpus, None, pids_limit))  # refuse before any work
    grading_image()
    parameters = {"grading": True, **(parameters or {})}
    named = list(zip(submissions, output_names(submissions)))  # NAMEs from the whole batch
    mine = shards.select(named, *shard) if shard else named
    with Outputs(out) as outputs:  # a link planted in --out is refused before any work, too
        batch = Batch(autograder, limits, parameters, outputs)
        started = time.monotonic()
        rows = _grade_all(batch, mine, workers, progress)
        elapsed = time.monotonic() - started
        outputs.write_grades(rows, batch.points)
        if shard:  # last: a shard that stopped half-way has none, and cannot be merged
            record = shards.manifest(assignment, *shard, named, mine)
            outputs.write_text("", shards.MANIFEST, json.dumps(record, indent=1))
    report = summary(rows, elapsed, out)
    if shard:
        report = f"shard {shard[0]}/{shard[1]}: {len(mine)} of {len(named)} submissions\n" + report
    return report


def _grade_all(batch: Batch, named: list[tuple[Path, str]], workers: int,
               progress: bool) -> list[dict]:
    prefix = f"grade-{os.getpid()}-{int(time.time())}"
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(named), unit="submission", file=sys.stderr)

    def one(item):
        index, (path, name) = item
        row = batch.grade(path, name, f"{prefix}-{index}")
        if bar is not None:
            bar.update(1)
        return row

    try:
        with ThreadPoolExecutor(max_workers=workers) as pool:
            return list(pool.map(one, enumerate(named)))
    finally:
        if bar is not None:
            bar.close()
        for index in range(len(named)):  # after Ctrl-C, too: no container is left
            _remove(f"{prefix}-{index}")
