"""Grading a hostile batch: submissions that are not what they claim, outputs that must not collide.

The grader runs as root over files written by people who may want the points
without the work.  The pieces that need no container (reading a file,
parsing it, naming the outputs, writing them, reading a process's output
within bounds) are tested on their own first, without root.  Then one real
batch holds a correct submission among links, a fifo, a device, broken JSON,
files of one name, a reply over the cap, a stderr flood, a write to /var/tmp
and two submissions that try to talk through the kernel's keyrings: each gets
its exact status and score, the correct one keeps its points, and nothing is
left behind.
"""

from __future__ import annotations

import csv
import json
import os
import re
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import root_only, sandbox
from course_notebooks import CORRECT, _printed, submission, write
from sandbox.course import grader
from sandbox.course import results as grading_results
from sandbox.errors import SandboxError
from test_course import _load, released, secret  # noqa: F401 - fixtures: the released demo

POINTS = {"q1_double": 2.0, "q2_triple": 1.0}


def _refusal(path: Path, **kwargs) -> str:
    with pytest.raises(grader.Refused) as caught:
        grader.read_submission(path, **kwargs)
    return str(caught.value)


# --- reading one submission (no root) ----------------------------------------------
def test_only_a_regular_file_is_read_never_through_a_link(tmp_path):
    target = write(tmp_path / "solution.ipynb", {"cells": []})
    (tmp_path / "link.ipynb").symlink_to(target)
    (tmp_path / "dangling.ipynb").symlink_to(tmp_path / "nowhere")
    (tmp_path / "dir.ipynb").mkdir()
    os.mkfifo(tmp_path / "fifo.ipynb")
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(tmp_path / "socket.ipynb"))
    assert _refusal(tmp_path / "link.ipynb") == "not a regular file: a symbolic link"
    assert _refusal(tmp_path / "dangling.ipynb") == "not a regular file: a symbolic link"
    assert _refusal(tmp_path / "dir.ipynb") == "not a regular file: a directory"
    assert _refusal(tmp_path / "fifo.ipynb") == "not a regular file: a named pipe"
    assert _refusal(tmp_path / "socket.ipynb") == "not a regular file: a socket"
    assert _refusal(Path("/dev/null")) == "not a regular file: a character device"
    assert _refusal(tmp_path / "missing.ipynb") == "not readable: No such file or directory"


def test_a_link_or_fifo_swapped_in_after_lstat_is_still_refused_without_a_hang(tmp_path,
                                                                                monkeypatch):
    """lstat(2) said "a regular file"; by open(2) it is a link or a fifo.  O_NOFOLLOW and
    O_NONBLOCK, then fstat(2), still refuse it, and the fifo (no writer) does not block."""
    regular = write(tmp_path / "regular.ipynb", {"cells": []})
    (tmp_path / "link.ipynb").symlink_to(regular)
    os.mkfifo(tmp_path / "fifo.ipynb")
    real_lstat = os.lstat
    monkeypatch.setattr(os, "lstat", lambda path, **kw: real_lstat(regular))
    answers = {}

    def read(name):
        answers[name] = _refusal(tmp_path / name)

    for name in ("link.ipynb", "fifo.ipynb"):
        reader = threading.Thread(target=read, args=(name,), daemon=True)
        reader.start()
        reader.join(timeout=10)
        assert not reader.is_alive(), f"reading {name} hangs"
    assert answers == {"link.ipynb": "not a regular file: a symbolic link",
                       "fifo.ipynb": "not a regular file: a named pipe"}


def test_a_file_over_the_cap_is_refused_after_reading_one_byte_more(tmp_path, monkeypatch):
    path = tmp_path / "big.ipynb"
    path.write_bytes(b" " * 101)
    reads = []
    real_read = os.read
    monkeypatch.setattr(os, "read", lambda fd, n: reads.append(n) or real_read(fd, n))
    assert _refusal(path, cap=100) == "too large: the file is over 100 bytes"
    assert sum(reads) <= 101
    path.write_bytes(b" " * 100)
    assert grader.read_regular_file(path, cap=100) == b" " * 100
    assert grader.SUBMISSION_CAP == 16 * 2**20


ENVELOPE = {"metadata": {}, "nbformat": 4, "nbformat_minor": 4}


def test_a_notebook_with_a_byte_order_mark_is_read():
    nb = {**ENVELOPE, "cells": []}
    assert grader.parse_notebook(b"\xef\xbb\xbf" + json.dumps(nb).encode()) == nb


@pytest.mark.parametrize("content, status", [
    (b"\x89PNG\r\n\x1a\n", "not a notebook: not UTF-8 text (at byte 0)"),
    (b"print('hello')", "not a notebook: not JSON (Expecting value at line 1, column 1)"),
    (b"", "not a notebook: not JSON (Expecting value at line 1, column 1)"),
    (b"[" * 100_000, "not a notebook: JSON that cannot be read (maximum recursion depth "
                     "exceeded while decoding a JSON array from a unicode string)"),
    (b"1" * 5000, "not a notebook: JSON that cannot be read (Exceeds the limit (4300 digits) "
                  "for integer string conversion: value has 5000 digits; use "
                  "sys.set_int_max_str_digits(…"),
    (b"[5]", "not a valid notebook: the JSON is not an object"),
    (b"null", "not a valid notebook: the JSON is not an object"),
    ({"nbformat": 3, "nbformat_minor": 0, "metadata": {}, "worksheets": []},
     "not a notebook: nbformat 3, and grading reads nbformat 4 (JupyterLab converts a notebook "
     "when it saves it)"),
    ({"cells": [5]}, "not a valid notebook: 'metadata' is a required property"),
    ({"cells": [{"cell_type": "code", "source": 5, "metadata": []}]},
     "not a valid notebook: 'metadata' is a required property"),
    ({**ENVELOPE, "cells": [5]}, "not a valid notebook: cells[0]: 5 is not of type 'object'"),
    ({**ENVELOPE, "cells": [{"cell_type": "code", "source": 5, "metadata": [], "outputs": [],
                             "execution_count": None}]},
     "not a valid notebook: cells[0].metadata: [] is not of type 'object'"),
    ({**ENVELOPE, "cells": "x" * 1000},  # cut at 300 characters
     "not a valid notebook: cells: '" + "x" * 269 + "…"),
    # nbformat's own validator raises TypeError on this one; it is still just "not valid".
    ({**ENVELOPE, "nbformat_minor": 5, "cells": [{"cell_type": 5, "id": "a", "metadata": {},
                                                 "source": ""}]},
     "not a valid notebook: nbformat's validator failed on it (TypeError: unsupported operand "
     "type(s) for +: 'int' and 'str')"),
])
def test_what_is_not_a_valid_notebook_is_refused_in_one_line(content, status):
    data = content if isinstance(content, bytes) else json.dumps(content).encode()
    with pytest.raises(grader.Refused) as caught:
        grader.parse_notebook(data)
    assert str(caught.value) == status
    assert "\n" not in status and len(status) <= 300


SHAPES = [5, "x", None, [], {}, {"cells": 5}, {"cells": {"a": 1}}, {"cells": "abc"},
          {"cells": [5, "x", None, [], {}]},
          {"cells": [{"cell_type": "code", "source": 5, "metadata": []}]},
          {"cells": [{"cell_type": ["code"], "source": ["a", 5, None], "metadata": "m"}]},
          {"cells": [{"metadata": {"nbgrader": [1], "sandbox_grader": {"grade_id": "q1_double"}},
                      "source": {"a": 1}}]},
          {"cells": [{"metadata": {"nbgrader": {"grade_id": ["q1_double"], "grade": [1]}}}]},
          {"cells": [{"metadata": {"nbgrader": {"grade_id": "q1_double", "grade": True},
                                   "tags": 5}, "cell_type": "code", "source": "x"}],
           "metadata": [1]}]


@pytest.mark.parametrize("shape", SHAPES, ids=[json.dumps(s)[:40] for s in SHAPES])
def test_assemble_and_feedback_take_any_shape_of_json(released, shape):
    autograder = _load(released / "autograder" / "demo.ipynb")
    nb = grader.assemble(autograder, shape)
    hidden = [c for c in nb["cells"] if grading_results.HIDDEN_KEY in c["metadata"]]
    assert [c["id"] for c in hidden] == ["hidden-0", "hidden-1"]
    assert nb["cells"][-2:] == hidden  # a forged mark makes no cell hidden, nor moves one
    assert all(isinstance(c["source"], str) for c in nb["cells"])
    results = grading_results.score(None, POINTS, "s")
    for shown in (nb, shape if isinstance(shape, dict) else None, None):
        fb = grading_results.feedback(shown, results, "s")
        assert fb["cells"][0]["id"] == "fb-summary"
        assert not any(grading_results.HIDDEN_KEY in grading_results.nbgrader.metadata_of(c)
                       for c in fb["cells"])


# --- naming and writing the outputs (no root) --------------------------------------------
@pytest.mark.parametrize("paths, names", [
    (["alice.ipynb", "bob.ipynb"], ["alice", "bob"]),
    (["a/bob.ipynb", "b/bob.ipynb"], ["a-bob", "b-bob"]),
    (["bob.ipynb", "bob.json"], ["bob", "bob.json"]),
    (["x/a/bob.ipynb", "y/a/bob.ipynb", "z/bob.ipynb"], ["x-a-bob", "y-a-bob", "z-bob"]),
    (["/srv/a/bob.ipynb", "bob.ipynb"], ["a-bob", "bob"]),
    (["alice.ipynb", "alice.ipynb"], ["alice", "alice-2"]),
    (["bob", "bob.ipynb", "bob-2.ipynb"], ["bob", "bob-3", "bob-2"]),
    (["a/bob.ipynb", "b/bob.ipynb", "a-bob.ipynb"], ["a-bob", "b-bob", "a-bob-2"]),
    ([".ipynb"], ["submission"]),
])
def test_every_submission_gets_an_output_name_of_its_own(paths, names):
    assert grading_results.output_names([Path(p) for p in paths]) == names


def _row(status="graded") -> dict:
    return {"file": "subs/alice.ipynb", "name": "alice", "status": status, "seconds": 1.0,
            "results": grading_results.score(None, POINTS, status)}


def test_results_replace_a_planted_link_and_never_write_through_it(tmp_path):
    out = tmp_path / "out"
    (out / "results").mkdir(parents=True)
    (out / "feedback").mkdir()
    victims = [tmp_path / f"victim{n}" for n in range(3)]
    for victim in victims:
        victim.write_text("precious\n")
    (out / "results" / "alice.json").symlink_to(victims[0])
    os.link(victims[1], out / "feedback" / "alice.ipynb")
    (out / "final_grades.csv").symlink_to(victims[2])
    with grading_results.Outputs(out) as outputs:
        row = _row()
        outputs.write_submission("alice", row, grading_results.feedback(None, row["results"],
                                                                        "graded"))
        outputs.write_grades([row], POINTS)
    assert [v.read_text() for v in victims] == ["precious\n"] * 3
    written = [out / "results" / "alice.json", out / "feedback" / "alice.ipynb",
               out / "final_grades.csv"]
    assert all(stat.S_ISREG(os.lstat(p).st_mode) for p in written)
    assert json.loads(written[0].read_text())["output"] == "status: graded"
    assert written[2].read_text().splitlines() == [
        "file,name,q1_double,q2_triple,total,possible,status",
        "subs/alice.ipynb,alice,0,0,0,3,graded"]
    assert not [p for p in out.rglob(".tmp-*")]


@pytest.mark.parametrize("plant", ["symlink", "file"])
def test_a_results_folder_that_is_not_its_own_is_refused_in_one_sentence(tmp_path, plant):
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    if plant == "symlink":
        (out / "feedback").symlink_to(elsewhere)
    else:
        (out / "feedback").write_text("")
    with pytest.raises(SandboxError) as caught:
        grading_results.Outputs(out)
    message = str(caught.value)
    assert message.startswith(f"{out / 'feedback'} is not a folder of its own (")
    assert message.endswith("): remove it or choose another --out") and "\n" not in message
    assert list(elsewhere.iterdir()) == []


def test_an_unexpected_error_becomes_that_submissions_status(tmp_path, released, monkeypatch):
    def boom(path, cap=grader.SUBMISSION_CAP):
        raise RuntimeError("boom\nwith a second line")

    monkeypatch.setattr(grader, "read_submission", boom)
    autograder = _load(released / "autograder" / "demo.ipynb")
    with grading_results.Outputs(tmp_path / "out") as outputs:
        batch = grader.Batch(autograder, grader.Limits(), {}, outputs)
        row = batch.grade(Path("subs/alice.ipynb"), "alice", "never-started")
    assert row["status"] == "grader error: RuntimeError: boom with a second line"
    assert [r["score"] for r in row["results"].values()] == [0.0, 0.0]
    feedback = json.loads((tmp_path / "out" / "feedback" / "alice.ipynb").read_text())
    assert "Status: grader error: RuntimeError: boom" in feedback["cells"][0]["source"]


# --- reading what the runner writes, within bounds (no root) ------------------------------
def _spawn(code: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def test_only_the_tail_of_a_flood_on_stderr_is_kept():
    process = _spawn("import sys\n"
                     "for n in range(200_000):\n"
                     "    sys.stderr.write(f'line {n:06d} ' + 'x' * 90 + '\\n')\n"
                     "sys.stdout.write('{\"status\": \"graded\"}')\n")
    streams = grader.read_bounded(process, time.monotonic() + 60, out_cap=2**20)
    process.wait()
    assert streams.stopped == "" and bytes(streams.out) == b'{"status": "graded"}'
    assert len(streams.err_tail) == grader.STDERR_TAIL == 64 * 2**10  # of ~20 MB written
    assert streams.err_tail.endswith(b"line 199999 " + b"x" * 90 + b"\n")


def test_reading_stops_at_the_cap_and_at_the_deadline():
    writer = _spawn("import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n")
    started = time.monotonic()
    streams = grader.read_bounded(writer, time.monotonic() + 60, out_cap=2**20)
    writer.kill()
    writer.wait()
    assert streams.stopped == "too large" and streams.out == b""
    assert time.monotonic() - started < 30
    sleeper = _spawn("import time\ntime.sleep(60)\n")
    streams = grader.read_bounded(sleeper, time.monotonic() + 0.5, out_cap=2**20)
    sleeper.kill()
    sleeper.wait()
    assert streams.stopped == "timeout"


def test_keep_tail():
    tail = bytearray()
    for chunk in (b"abc", b"defgh", b"ij"):
        grader.keep_tail(tail, chunk, 4)
    assert tail == b"ghij"
    grader.keep_tail(tail, b"0123456789", 4)
    assert tail == b"6789"


@pytest.mark.parametrize("ran, status", [
    (grader.Ran("too large", -9, bytearray(), bytearray(), False),
     "output too large: the container sent back over 256 KiB"),
    (grader.Ran("", 1, bytearray(b"not json"), bytearray(b"Traceback\n  ...\nValueError: x\n"),
                False), "crashed (exit code 1): ValueError: x"),
    (grader.Ran("timeout", -9, bytearray(), bytearray(), False), "timeout"),
    (grader.Ran("", 137, bytearray(), bytearray(), True), "out of memory"),
    (grader.Ran("", 0, bytearray(b'{"status": "runner error: a\\nb", "notebook": 5}'),
                bytearray(), False), "runner error: a b"),
])
def test_what_came_back_becomes_one_status_line(ran, status):
    assert grader.interpret(ran, 256 * 2**10) == (status, None)


# --- one hostile batch, for real (root) -------------------------------------------------
# Keyrings are not namespaced for containers of one user namespace: without a seccomp
# filter, two submissions graded at once could pass a message through the user keyring.
KEYRING = """
import ctypes, platform, time
ADD_KEY, REQUEST_KEY, KEYCTL = {"x86_64": (248, 249, 250), "aarch64": (217, 218, 219)}[
    platform.machine()]
KEY_SPEC_USER_KEYRING, KEYCTL_SEARCH = -4, 10
libc = ctypes.CDLL(None, use_errno=True)

def errno_of(*args):
    return ctypes.get_errno() if libc.syscall(*args) == -1 else 0

errnos, start = set(), time.time()
while time.time() - start < 6:  # long enough to overlap the other, however they start
    if ROLE == "writer":
        errnos.add(errno_of(ADD_KEY, b"user", b"grader-note", b"hello", ctypes.c_size_t(5),
                            ctypes.c_long(KEY_SPEC_USER_KEYRING)))
    else:
        errnos.add(errno_of(REQUEST_KEY, b"user", b"grader-note", None, ctypes.c_long(0)))
        errnos.add(errno_of(KEYCTL, ctypes.c_long(KEYCTL_SEARCH),
                            ctypes.c_long(KEY_SPEC_USER_KEYRING), b"user", b"grader-note",
                            ctypes.c_long(0)))
    time.sleep(0.05)
print(ROLE, start, time.time(), sorted(errnos))
"""
# nbclient logs each iopub message of a type it does not know, on the runner's stderr,
# and the kernel sends whatever the learner's code asks it to: 40 × 500 KB = 20 MB.
# Few large messages, and a pause: nbclient waits only 4 s for output after a cell's
# reply, and a loaded machine needs time to log them all.
STDERR_FLOOD = """
import time
kernel = get_ipython().kernel
parent = kernel.get_parent()
for n in range(40):
    kernel.session.send(kernel.iopub_socket, "x" * 500_000 + f"-flood-{n:02d}", {},
                        parent=parent)
time.sleep(3)
"""
READ_ONLY = """
import os, sys
try:
    open('/var/tmp/x', 'w')
except OSError as err:
    print('/var/tmp', err.errno)
print('writable', [p for p in ['/', '/var/tmp', '/etc', '/root', '/home', '/usr', '/dev',
                               '/dev/shm', '/dev/mqueue', '/tmp', sys.prefix]
                   if os.access(p, os.W_OK)])
"""
HUGE_OUTPUT = "print('x' * 600_000)\n"
EXPECTED = {  # name: (q1, q2, status)
    "keyring_writer": ("2", "1", "graded"),
    "keyring_reader": ("2", "1", "graded"),
    "correct": ("2", "1", "graded"),
    "alice": ("0", "0", "not a regular file: a symbolic link"),
    "fifo": ("0", "0", "not a regular file: a named pipe"),
    "x": ("0", "0", "not a regular file: a directory"),
    "device": ("0", "0", "not a regular file: a character device"),
    "cells5": ("0", "0", "not a valid notebook: 'metadata' is a required property"),
    "source5": ("0", "0", "not a valid notebook: 'metadata' is a required property"),
    "picture": ("0", "0", "not a notebook: not UTF-8 text (at byte 0)"),
    "v3": ("0", "0", "not a notebook: nbformat 3, and grading reads nbformat 4 (JupyterLab "
                     "converts a notebook when it saves it)"),
    "a-bob": ("2", "1", "graded"),
    "b-bob": ("2", "0", "graded"),
    "c-bob": ("2", "1", "graded"),
    "bob.json": ("0", "0", "graded"),
    "huge_output": ("0", "0", "output too large: the container sent back over 256 KiB"),
    "stderr_flood": ("2", "1", "graded"),
    "read_only": ("2", "1", "graded"),
}


def _hostile_batch(subs: Path, released: Path) -> list[Path]:
    student = _load(released / "student" / "demo.ipynb")

    def answered(name: str, extra: str = "", answer2: str | None = CORRECT[1]) -> Path:
        path = subs / name
        path.parent.mkdir(parents=True, exist_ok=True)
        return write(path, submission(student, CORRECT[0], answer2 + extra))

    files = [answered("keyring_writer.ipynb", "ROLE = 'writer'\n" + KEYRING),
             answered("keyring_reader.ipynb", "ROLE = 'reader'\n" + KEYRING),
             answered("correct.ipynb")]
    special = {"alice.ipynb": lambda p: p.symlink_to(released / "solution" / "demo.ipynb"),
               "fifo.ipynb": os.mkfifo, "x.ipynb": os.mkdir,
               "device.ipynb": lambda p: os.mknod(p, stat.S_IFCHR | 0o600, os.makedev(1, 3)),
               "cells5.ipynb": lambda p: write(p, {"cells": [5]}),
               "source5.ipynb": lambda p: write(p, {"cells": [{"cell_type": "code", "source": 5,
                                                               "metadata": []}]}),
               "picture.ipynb": lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n"),
               "v3.ipynb": lambda p: write(p, {"nbformat": 3, "nbformat_minor": 0,
                                               "metadata": {}, "worksheets": [{"cells": []}]})}
    for name, make in special.items():
        make(subs / name)
        files.append(subs / name)
    files += [answered("a/bob.ipynb"), answered("b/bob.ipynb", answer2="def triple(x):\n"
                                                                        "    return 0\n"),
              answered("c/bob.ipynb"), write(subs / "c" / "bob.json", student),
              answered("huge_output.ipynb", HUGE_OUTPUT),
              answered("stderr_flood.ipynb", STDERR_FLOOD),
              answered("read_only.ipynb", READ_ONLY)]
    return files


def _tree(top: Path, leave_out: Path) -> dict[str, int]:
    return {str(p): os.lstat(p).st_mode for p in top.rglob("*")
            if p != leave_out and leave_out not in p.parents}


@root_only
def test_one_hostile_batch_each_gets_its_exact_status_and_nothing_is_left(released, tmp_path):
    subs, out = tmp_path / "subs", tmp_path / "out"
    files = _hostile_batch(subs, released)
    victim = tmp_path / "victim"
    victim.write_text("precious\n")
    (out / "results").mkdir(parents=True)
    (out / "results" / "correct.json").symlink_to(victim)
    (out / "final_grades.csv").symlink_to(victim)
    before = _tree(tmp_path, out)

    report = grader.grade_files(released / "autograder" / "demo.ipynb", files, out, workers=2,
                                timeout=120, cell_timeout=20, memory="512m",
                                output_cap=256 * 2**10)

    assert report.startswith(f"graded {len(files)} submission(s) in ")
    with open(out / "final_grades.csv") as f:
        rows = list(csv.DictReader(f))
    assert {r["name"]: (r["q1_double"], r["q2_triple"], r["status"]) for r in rows} == EXPECTED
    assert [r["file"] for r in rows] == [str(f) for f in files]  # the paths as given, in order
    assert sorted(os.listdir(out / "results")) == sorted(f"{n}.json" for n in EXPECTED)
    assert sorted(os.listdir(out / "feedback")) == sorted(f"{n}.ipynb" for n in EXPECTED)
    assert json.loads((out / "results" / "b-bob.json").read_text())["score"] == 2.0
    assert "Status: not a regular file: a symbolic link" in \
        (out / "feedback" / "alice.ipynb").read_text()
    # The container's root is read-only: only memory-backed places can be written.
    assert "/var/tmp 30\n" in _printed(out, "read_only")  # EROFS
    assert "writable ['/dev/shm', '/dev/mqueue', '/tmp']" in _printed(out, "read_only")
    # Both keyring submissions ran at the same time, and every attempt got EPERM.
    spans = {}
    for role in ("writer", "reader"):
        line = re.search(rf"^{role} (\S+) (\S+) (\[.*\])$", _printed(out, f"keyring_{role}"), re.M)
        assert line and line.group(3) == "[1]", (role, _printed(out, f"keyring_{role}"))
        spans[role] = float(line.group(1)), float(line.group(2))
    assert max(s for s, _ in spans.values()) < min(e for _, e in spans.values())
    # A planted link was replaced, not written through; nothing is left anywhere else.
    assert victim.read_text() == "precious\n"
    assert not (out / "results" / "correct.json").is_symlink()
    assert not (out / "final_grades.csv").is_symlink()
    assert not list(out.rglob(".tmp-*"))
    assert _tree(tmp_path, out) == before
    assert sandbox("ps", "-a", "-q").stdout == ""


@root_only
def test_the_runners_stderr_is_kept_as_a_bounded_tail(released, name):
    autograder = _load(released / "autograder" / "demo.ipynb")
    student = _load(released / "student" / "demo.ipynb")
    flood = submission(student, CORRECT[0], CORRECT[1] + STDERR_FLOOD)
    job = {"notebook": grader.assemble(autograder, flood), "uid": grader.KERNEL_UID,
           "cell_timeout": 30, "parameters": {"grading": True}}
    grader.grading_image()
    limits = grader.Limits(timeout=120)
    limits.ranges = grader.id_ranges(1)
    ran = grader.run_in_container(name, job, limits)
    assert grader.interpret(ran, grader.OUTPUT_CAP)[0] == "graded"
    # The kernel's 20 MB of messages reach neither the reply nor the runner's stderr (the
    # runner reads the kernel's messages and drops what it does not use); what the runner
    # writes there is kept to its last STDERR_TAIL bytes (see the unit tests above).
    assert len(ran.err_tail) <= grader.STDERR_TAIL and b"-flood-" not in ran.err_tail
    assert len(ran.out) < 5_000_000
    assert sandbox("ps", "-a", "-q").stdout == ""
