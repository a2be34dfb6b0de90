"""The chapters' stored outputs: what is committed, what nbval may ignore, what a cell shows
where it cannot run.

- the chapters are committed with the outputs of the reference run (tests/store_outputs.py),
  small and without what only described that run; the exercises without any (they are
  handed in and graded);
- tests/nbval_sanitize.cfg hides what differs from run to run (ids, pids, times, ports) and
  nothing else: two outputs that differ in what they say still differ;
- a cell that cannot run on some machine names its stored output with a key, and
  ``show_stored`` shows exactly that output, after one sentence saying why.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest

from conftest import REPO

sys.path.insert(0, str(REPO / "tests"))
import store_outputs  # noqa: E402  (tests/ is not a package)

from sandbox import humanize  # noqa: E402
from sandbox.course import cells  # noqa: E402

CHAPTERS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
EXERCISES = sorted((REPO / "exercises").rglob("*.ipynb"))
SANITIZE = REPO / "tests" / "nbval_sanitize.cfg"


def code_cells(path: Path) -> list[dict]:
    return [c for c in json.loads(path.read_text())["cells"] if c["cell_type"] == "code"]


def text(cell: dict) -> str:
    return "".join(cell["source"])


# --- what is committed ----------------------------------------------------------------------


@pytest.mark.parametrize("chapter", CHAPTERS, ids=lambda p: p.stem)
def test_a_chapter_is_committed_with_the_outputs_of_a_run(chapter):
    nb = json.loads(chapter.read_text())
    cells = code_cells(chapter)
    assert all(isinstance(c["execution_count"], int) for c in cells), \
        f"{chapter.name}: a cell was never run (nbval compares only the cells that ran): " \
        "run tests/store_outputs.py"
    assert sum(bool(c["outputs"]) for c in cells) >= len(cells) // 2, f"{chapter.name}: few outputs"
    assert "widgets" not in nb["metadata"], f"{chapter.name} stores the widgets' state"
    for cell in cells:
        assert "execution" not in cell["metadata"], f"{chapter.name} stores cell timings"
        for output in cell["outputs"]:
            assert output["output_type"] != "error", f"{chapter.name}: {text(cell)[:60]!r} failed"
            data = output.get("data", {})
            assert store_outputs.WIDGET_VIEW not in data, f"{chapter.name} stores a widget's id"
            for mime, value in data.items():
                if mime.startswith("image/"):
                    assert len("".join(value)) <= store_outputs.LARGEST_PICTURE, chapter.name


def test_the_chapters_stay_small():
    total = sum(p.stat().st_size for p in CHAPTERS)
    assert total < 3 * 2**20, f"the chapters weigh {total:,} bytes with their outputs"


@pytest.mark.parametrize("exercise", EXERCISES, ids=lambda p: str(p.relative_to(REPO)))
def test_an_exercise_is_committed_without_outputs(exercise):
    for cell in code_cells(exercise):
        assert cell.get("outputs", []) == [] and cell.get("execution_count") is None, \
            f"{exercise.relative_to(REPO)}: {text(cell)[:60]!r} has outputs (learners hand it in)"


# --- the sanitize rules ---------------------------------------------------------------------


def sanitize(value: str) -> str:
    """What nbval compares of an output: the rules of nbval_sanitize.cfg, read as nbval reads
    them, applied in order."""
    from nbval.plugin import get_sanitize_patterns
    for regex, replace in get_sanitize_patterns(SANITIZE.read_text()):
        value = re.sub(regex, replace, value)
    return value


def test_nbval_reads_every_rule():
    """A "regex:" line without its "replace:" right after it is skipped by nbval, silently."""
    from nbval.plugin import get_sanitize_patterns
    config = SANITIZE.read_text()
    assert len(get_sanitize_patterns(config)) == len(re.findall(r"^regex: ", config, re.M)) > 20
    assert not [line for line in config.splitlines() if line.endswith(" ")], \
        "a rule ends in a space, which an editor may take away: write (?= ) or ( )"


# Two runs of the same cell: each pair must look the same to nbval.
SAME = [
    ("<Container 3f2a9c1b7e55 'elegant_turing' running> - its process 1 is host process 21225",
     "<Container e23974b0c33c 'adoring_fermat' running> - its process 1 is host process 5582"),
    ("deleted sha256:b51bfdf642fa6667f45192fec19dfa27a996d2b1e475e3010851994fa073a56e",
     "deleted sha256:82c6e49207173b2b019906f8e623a26436ffe7640a4e147ad6d391db740373fd"),
    ("mnt:[4026531832]   mnt:[4026532336]   NEW", "mnt:[4026531832]   mnt:[4026532322]   NEW"),
    ("state root: /tmp/sandbox-test.Ab12Cd/root (from $SANDBOX_ROOT)",
     "state root: /work/st/root (from $SANDBOX_ROOT)"),
    ("/tmp/ch02-2ra13m3a/busybox-root", "/tmp/ch02-vfjc91kp/busybox-root"),
    ("drwxr-xr-x 2 0 0 4096 Dec  2 01:47 bin", "drwxr-xr-x 2 0 0 4096 Nov 30 23:05 bin"),
    ("stop took 10.2 s; the exit code is 137", "stop took 10.1 s; the exit code is 137"),
    ("registry: pid 23220, listening on 127.0.0.1:56555",
     "registry: pid 6527, listening on 127.0.0.1:35563"),
    ("vf_base   latest   4681bacd1a5a   4 seconds ago            1.057MB",
     "vf_base   latest   f21d88bf7f7f   Less than a second ago   1.057MB"),
    ("nameserver 172.18.0.1", "nameserver 172.19.0.1"),
    ("$ ip netns add nb09-red-6189", "$ ip netns add nb09-red-1c0f"),
    ("0.0.0.0:8080->80/tcp   compose-app-frontend-1", "0.0.0.0:18081->80/tcp   compose-app-frontend-1"),
    ("PID   PPID  STAT COMMAND\n    7     1 Z    sleep\n", "PID   PPID  STAT COMMAND\n    8     1 Z    sleep\n"),
]
# ...and pairs that say something else: nbval must still tell them apart.
DIFFERENT = [
    ("exit code 0", "exit code 1"),
    ("hello from myapp", "hello, world"),
    ("pids.max: 20", "pids.max: 21"),
    ("[production] welcome from 9c98a1bd1eb9: visit 5",
     "[production] welcome from 9c98a1bd1eb9: visit 6"),
    ("<Container 3f2a9c1b7e55 'elegant_turing' running>",
     "<Container 3f2a9c1b7e55 'elegant_turing' exited>"),
    ("its process 1 is host process 21225", "its process 2 is host process 21225"),
    ("10,240 bytes", "10,241 bytes"),
    ("uid 0 inside is uid 0 outside", "uid 0 inside is uid 1000 outside"),
    ("172.17.0.2", "172.17.0.3"),
    ("    7     1 Z    sleep\n", "    7     1 S    sleep\n"),
]


@pytest.mark.parametrize("first, second", SAME)
def test_what_differs_from_run_to_run_is_hidden(first, second):
    assert sanitize(first) == sanitize(second)


@pytest.mark.parametrize("first, second", DIFFERENT)
def test_what_a_cell_says_is_still_compared(first, second):
    assert sanitize(first) != sanitize(second)


def test_the_names_rule_knows_every_scientist():
    """A container named by the sandbox (adjective_scientist) is hidden by name: the rule
    lists sandbox.humanize's scientists, and no more."""
    rule = next(line for line in SANITIZE.read_text().splitlines()
                if line.startswith("regex:") and "albattani" in line)
    listed = set(re.search(r"_\(([a-z|]+)\)", rule).group(1).split("|"))
    assert listed == set(humanize._SURNAMES)


# --- a cell that cannot run here ------------------------------------------------------------


def joined(outputs: list[dict]) -> list[dict]:
    """Outputs with each text in one piece (a notebook file stores it as a list of lines)."""
    def one(value):
        return "".join(value) if isinstance(value, list) else value
    return [{key: {mime: one(v) for mime, v in value.items()} if key == "data" else one(value)
             for key, value in output.items()} for output in outputs]


def keys_in_chapters() -> dict[str, list]:
    """{key: the stored outputs of the cell that names it}, from the chapters themselves."""
    found = {}
    for chapter in CHAPTERS:
        for cell in code_cells(chapter):
            key = store_outputs.stored_key(chapter.stem, text(cell))
            if key:
                assert key not in found, f"{key} names two cells"
                found[key] = cell["outputs"]
    return found


def test_every_stored_output_is_the_one_in_its_chapter():
    stored = cells.stored_outputs()
    in_chapters = keys_in_chapters()
    assert len(in_chapters) >= 20
    assert set(stored["outputs"]) == set(in_chapters), \
        "sandbox/course/stored_outputs.json is out of date: run tests/store_outputs.py"
    for key, outputs in in_chapters.items():
        assert joined(stored["outputs"][key]) == joined(outputs), key
    assert set(stored["machine"]) == {"os", "kernel", "cgroups", "busybox", "python", "user"}
    assert stored["machine"]["user"] == "root"


def run_cell(source: str, tmp_path: Path) -> list[dict]:
    """The outputs of one cell, run in a kernel of its own."""
    import nbformat
    from nbclient import NotebookClient
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    NotebookClient(nb, timeout=60, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    return nb.cells[0].outputs


def test_a_cell_that_cannot_run_says_why_then_shows_what_it_showed(tmp_path):
    key = "04_cgroups/cpu-plot"                       # text, and a picture
    outputs = run_cell("from sandbox.course.cells import show_stored\n"
                       f"show_stored({key!r}, 'this user may not set cpu limits here')", tmp_path)
    note, *shown = outputs
    machine = cells.stored_outputs()["machine"]
    assert note["output_type"] == "stream" and note["text"].startswith(
        "This machine cannot run this cell: this user may not set cpu limits here. What it "
        f"showed on the course's reference machine ({machine['os']}, Linux {machine['kernel']}, "
        "as root):\n")
    stored = cells.stored_outputs()["outputs"][key]
    assert [o["data"] for o in shown if "data" in o] == [o["data"] for o in stored if "data" in o]
    assert any("image/png" in o.get("data", {}) for o in shown)


def test_a_cell_with_no_stored_output_says_so(tmp_path):
    outputs = run_cell("from sandbox.course.cells import show_stored\n"
                       "show_stored('99_nowhere/cell', 'no such program')", tmp_path)
    assert [o["output_type"] for o in outputs] == ["stream"]
    assert outputs[0]["text"] == ("This machine cannot run this cell: no such program; and no "
                                  "output of it was stored ('99_nowhere/cell' is not in "
                                  "stored_outputs.json, which tests/store_outputs.py writes).\n")


def test_the_machine_is_compared_field_by_field():
    stored = {"os": "Debian GNU/Linux 12 (bookworm)", "kernel": "6.1.0", "user": "root"}
    assert store_outputs.differences(stored, dict(stored)) == []
    assert store_outputs.differences(stored, {**stored, "kernel": "6.8.0"}) == \
        ["kernel '6.8.0' instead of '6.1.0'"]


# --- the rootless reference -----------------------------------------------------------------


def test_the_rootless_reference_fits_the_chapters(tmp_path):
    """tests/rootless_outputs.json holds, for every chapter, the outputs a rootless run showed
    where they differ from the root run's: it must name the chapters' code cells as they are
    now (tests/run-chapters writes the chapters with them in place, for nbval)."""
    store_outputs.write_rootless_chapters(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [c.name for c in CHAPTERS]
    stored = json.loads(store_outputs.ROOTLESS.read_text())
    assert stored["machine"]["user"] != "root"
    for chapter in CHAPTERS:
        rootless = code_cells(tmp_path / chapter.name)
        assert [text(c) for c in rootless] == [text(c) for c in code_cells(chapter)]
        assert all(isinstance(c["execution_count"], int) for c in rootless), chapter.name


def test_a_changed_cell_makes_the_rootless_reference_out_of_date(tmp_path, monkeypatch):
    """A cell whose rootless output was stored, changed since: re-store, says the error."""
    stored = json.loads(store_outputs.ROOTLESS.read_text())["chapters"]
    chapter = next(c for c in CHAPTERS if stored[c.stem]["differ"])
    copy = tmp_path / "notebooks"
    copy.mkdir()
    nb = json.loads(chapter.read_text())
    changed = [c for c in nb["cells"] if c["cell_type"] == "code"][stored[chapter.stem]["differ"][0]["cell"]]
    changed["source"] = "".join(changed["source"]) + "\nprint('changed')"
    (copy / chapter.name).write_text(json.dumps(nb))
    monkeypatch.setattr(store_outputs, "NOTEBOOKS", copy)
    with pytest.raises(SystemExit, match=f"out of date for {chapter.name}.*--rootless"):
        store_outputs.write_rootless_chapters(tmp_path / "out")
