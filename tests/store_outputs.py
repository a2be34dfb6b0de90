"""Run the chapters as root and store their outputs in them: the reference run that
``pytest --nbval`` compares every later run with (tests/run-all).

    sudo .venv/bin/python tests/store_outputs.py                   # every chapter, in order
    sudo .venv/bin/python tests/store_outputs.py notebooks/04_cgroups.ipynb
    .venv/bin/python tests/store_outputs.py --same-machine         # may nbval compare here?

Each chapter runs as nbval runs it: in a kernel of its own started in notebooks/, the
chapters one after the other against one fresh state root ($SANDBOX_ROOT if set, else one
made in $TMPDIR and removed at the end), and an Output widget's prints stay in their cell's
outputs (a browser would draw them inside the widget). Then what only describes the run is
dropped: each cell's timing, the widgets' state, and a widget's view
(``application/vnd.jupyter.widget-view+json``, the id of a model that lives only in a
running kernel; its text form stays, which nbval compares and the book shows). Execution
counts stay: nbval compares only the cells that have one. The notebook's own metadata stays
as it was committed.

What differs from run to run (ids, pids, times, ports) stays as it was: tests/nbval_sanitize.cfg
says what nbval may ignore. What differs from machine to machine is more than that (the
kernel, the cgroup layout, the busybox binary that every image digest comes from), so the
outputs are compared only on a machine like the one they were stored on: this script
records it, and ``--same-machine`` tells tests/run-all whether this is one.

The outputs of the cells that cannot run everywhere (a key such as ``"07_registries/push"``
in their code: :func:`sandbox.course.cells.show_stored`) are copied, with the machine, to
``sandbox/course/stored_outputs.json``, from which such a cell shows them where it cannot run.

A maintainer's script, like make_syscall_table.py: run it after changing a chapter, then read
the diff of the outputs before committing them.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import platform
import re
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
STORED = REPO / "sandbox" / "course" / "stored_outputs.json"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
LARGEST_PICTURE = 100_000   # characters of base64: a plot stored bigger than this is a mistake
CELL_TIMEOUT = 600          # seconds


def this_machine() -> dict[str, str]:
    """What the chapters' outputs depend on, beyond what nbval_sanitize.cfg hides."""
    from sandbox.content.busybox import find_busybox
    from sandbox.isolation import cgroups

    release = dict(line.split("=", 1) for line in Path("/etc/os-release").read_text().splitlines()
                   if "=" in line)
    return {"os": release.get("PRETTY_NAME", "Linux").strip('"'),
            "kernel": platform.release(),
            "cgroups": cgroups.describe()[1],
            "busybox": "sha256:" + hashlib.sha256(find_busybox().read_bytes()).hexdigest(),
            "python": platform.python_version(),
            "user": "root" if os.geteuid() == 0 else "an ordinary user"}


def differences(stored: dict[str, str], here: dict[str, str]) -> list[str]:
    """How this machine differs from the one the outputs were stored on, one phrase each."""
    return [f"{key} {here.get(key)!r} instead of {value!r}" for key, value in stored.items()
            if here.get(key) != value]


def stored_key(chapter: str, source: str) -> str | None:
    """The key of a cell that can show its stored output (``"NN_name/what"``), or None."""
    keys = set(re.findall(rf"""["']({re.escape(chapter)}/[a-z0-9-]+)["']""", source))
    if len(keys) > 1:
        raise SystemExit(f"{chapter}: one cell names two stored outputs: {sorted(keys)}")
    return keys.pop() if keys else None


def clean_outputs(outputs: list) -> list:
    """The outputs without the id of a live widget; every picture small."""
    kept = []
    for output in copy.deepcopy(outputs):
        data = output.get("data", {})
        data.pop(WIDGET_VIEW, None)
        for mime, value in data.items():
            if mime.startswith("image/") and len(value) > LARGEST_PICTURE:
                raise SystemExit(f"a {mime} output of {len(value):,} characters: make it "
                                 f"smaller (at most {LARGEST_PICTURE:,})")
        kept.append(output)
    return kept


def run_chapter(path: Path):
    """Execute one chapter as nbval would, and return the notebook with its outputs."""
    import nbformat
    from nbclient import NotebookClient

    class ReferenceRun(NotebookClient):
        """Outputs as nbval collects them: an Output widget's prints stay in their cell (no
        widget is mimicked), and a clear_output message clears nothing."""

        def on_comm_open_jupyter_widget(self, msg):
            return None

        def clear_output(self, outs, msg, cell_index):
            pass

    nb = nbformat.read(path, as_version=4)
    metadata = copy.deepcopy(nb.metadata)
    ReferenceRun(nb, timeout=CELL_TIMEOUT, kernel_name="python3", record_timing=False,
                 store_widget_state=False,
                 resources={"metadata": {"path": str(path.parent)}}).execute()
    nb.metadata = metadata
    for cell in nb.cells:
        cell.metadata.pop("execution", None)
        if cell.cell_type == "code":
            cell.outputs = [nbformat.from_dict(o) for o in clean_outputs(cell.outputs)]
    return nb


def read_stored() -> dict:
    return json.loads(STORED.read_text()) if STORED.exists() else {"machine": {}, "outputs": {}}


def write_stored(machine: dict, found: dict[str, list], chapters: list[str]) -> None:
    """Replace the stored outputs of ``chapters`` by ``found``; record the machine."""
    outputs = {key: value for key, value in read_stored()["outputs"].items()
               if key.split("/")[0] not in chapters}
    outputs.update(found)
    STORED.write_text(json.dumps({"machine": machine, "outputs": dict(sorted(outputs.items()))},
                                 indent=1, ensure_ascii=False) + "\n")


def store(paths: list[Path]) -> None:
    """Run the chapters, write their outputs into them and into STORED."""
    import nbformat
    from sandbox.paths import rmtree

    machine = this_machine()
    everything = paths == sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    other = differences(read_stored()["machine"], machine)
    if other and not everything:
        raise SystemExit("the other chapters' outputs come from another machine "
                         f"({'; '.join(other)}): store every chapter here, or none")
    # A fresh state root of our own, unless the caller gave one ($SANDBOX_ROOT, theirs to remove).
    state = None if os.environ.get("SANDBOX_ROOT") else Path(tempfile.mkdtemp(prefix="sandbox-reference-"))
    if state:
        state.chmod(0o755)
        os.environ["SANDBOX_ROOT"] = str(state / "root")
    found = {}
    try:
        for path in paths:
            started = time.monotonic()
            nb = run_chapter(path)
            for cell in nb.cells:
                key = stored_key(path.stem, cell.source) if cell.cell_type == "code" else None
                if key in found:
                    raise SystemExit(f"{key} names two cells")
                if key:
                    found[key] = cell.outputs
            nbformat.write(nb, path)
            print(f"{path.name}: {time.monotonic() - started:.0f} s")
    finally:
        if state:
            rmtree(state)
    write_stored(machine, found, [p.stem for p in paths])


def main(args: list[str]) -> int:
    if args == ["--same-machine"]:
        other = differences(read_stored()["machine"], this_machine())
        if other:
            print("The chapters would not run here as they ran when their outputs were stored "
                  f"({'; '.join(other)}).")
        return 1 if other else 0
    if os.geteuid() != 0:
        print("the reference run is made as root, where every cell can run: "
              "sudo .venv/bin/python tests/store_outputs.py", file=sys.stderr)
        return 1
    store([Path(a).resolve() for a in args] or sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb")))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
