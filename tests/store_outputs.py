"""Run the chapters as root and store their outputs in them: the reference run that
``pytest --nbval`` compares every later run with (tests/run-all).

    sudo .venv/bin/python tests/store_outputs.py                   # every chapter, in order
    sudo .venv/bin/python tests/store_outputs.py notebooks/04_cgroups.ipynb
    .venv/bin/python tests/store_outputs.py --same-machine         # may nbval compare here?
    sudo .venv/bin/python tests/store_outputs.py --rootless        # the rootless reference run

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

Rootless, a chapter shows other things in places (a user namespace's maps, a cell that cannot
run without root showing its stored output): ``--rootless`` runs the chapters once more as the
unprivileged user CI uses (sandbox-ci, made by tests/run-all) and keeps, in
tests/rootless_outputs.json, only the cells whose outputs differ from the root run's, with
that user's machine. tests/run-all's rootless pass writes the chapters with those outputs in
place (``--rootless-chapters DIR``) and runs nbval over them, as the root pass does over the
chapters themselves.

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
ROOTLESS = REPO / "tests" / "rootless_outputs.json"
ROOTLESS_USER = "sandbox-ci"  # the unprivileged user of tests/run-all's rootless pass
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"
LARGEST_PICTURE = 100_000   # characters of base64: a plot stored bigger than this is a mistake
CELL_TIMEOUT = 600          # seconds


def chapters() -> list[Path]:
    """Every chapter, in order."""
    return sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


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
            "user": "root" if os.geteuid() == 0 else _ordinary_user()}


def _ordinary_user() -> str:
    """An unprivileged user as its outputs show it: its uid and its subordinate ids."""
    import pwd
    from sandbox.isolation.userns import subid_range
    ids = subid_range(pwd.getpwuid(os.getuid()).pw_name)
    return f"uid {os.getuid()}, subordinate uids " + (f"{ids[0]}+{ids[1]}" if ids else "none")


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
    everything = paths == chapters()
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


# --- the rootless reference ---------------------------------------------------------------
def code_cells(nb) -> list:
    return [cell for cell in nb.cells if cell.cell_type == "code"]


def source_hash(cell) -> str:
    return hashlib.sha256(cell.source.encode()).hexdigest()[:16]


def rootless_differences(committed, ran) -> dict:
    """The code cells of ``ran`` (a rootless run) whose outputs differ from ``committed``'s."""
    cells = list(zip(code_cells(committed), code_cells(ran)))
    differ = [{"cell": index, "source": source_hash(mine), "execution_count": mine.execution_count,
               "outputs": mine.outputs}
              for index, (theirs, mine) in enumerate(cells)
              if (theirs.execution_count, theirs.outputs) != (mine.execution_count, mine.outputs)]
    return {"cells": len(cells), "differ": differ}


def run_rootless(out: Path) -> None:
    """As the unprivileged user: run every chapter, write what differs from the root run."""
    import nbformat
    chapters = {}
    for path in chapters():
        started = time.monotonic()
        chapters[path.stem] = rootless_differences(nbformat.read(path, as_version=4),
                                                   run_chapter(path))
        print(f"{path.name}: {time.monotonic() - started:.0f} s, "
              f"{len(chapters[path.stem]['differ'])} cells differ from the root run")
    out.write_text(json.dumps({"machine": this_machine(), "chapters": chapters}, indent=1,
                              ensure_ascii=False) + "\n")


def store_rootless() -> None:
    """As root: run_rootless as ROOTLESS_USER, in a state root and home of its own."""
    import shutil
    import subprocess
    from sandbox.paths import rmtree
    place = Path(tempfile.mkdtemp(prefix="sandbox-rootless-reference-"))
    try:
        place.chmod(0o755)
        for sub in ("home", "run", "root"):   # root: the state root (…/root, as nbval_sanitize.cfg
            (place / sub).mkdir(mode=0o700)   # expects one, and as tests/run-all makes one)
        subprocess.run(["chown", "-R", ROOTLESS_USER, str(place)], check=True)
        out = place / "home" / "rootless_outputs.json"
        subprocess.run(["runuser", "-u", ROOTLESS_USER, "--", "env", f"HOME={place}/home",
                        f"SANDBOX_ROOT={place}/root", f"XDG_RUNTIME_DIR={place}/run",
                        sys.executable, __file__, "--rootless-run", str(out)],
                       check=True, cwd=REPO)
        shutil.copyfile(out, ROOTLESS)
    finally:
        rmtree(place)


def write_rootless_chapters(target: Path) -> None:
    """The chapters with the rootless outputs in place of the root run's, into ``target``."""
    import nbformat
    stored = json.loads(ROOTLESS.read_text())["chapters"]
    target.mkdir(parents=True, exist_ok=True)
    for path in chapters():
        nb = nbformat.read(path, as_version=4)
        cells = code_cells(nb)
        mine = stored.get(path.stem)
        if mine is None or mine["cells"] != len(cells) or any(
                source_hash(cells[d["cell"]]) != d["source"] for d in mine["differ"]):
            raise SystemExit(f"{ROOTLESS.name} is out of date for {path.name}: "
                             "sudo .venv/bin/python tests/store_outputs.py --rootless")
        for d in mine["differ"]:
            cells[d["cell"]].execution_count = d["execution_count"]
            cells[d["cell"]].outputs = [nbformat.from_dict(o) for o in d["outputs"]]
        nbformat.write(nb, target / path.name)


def main(args: list[str]) -> int:
    if args[:1] == ["--rootless-run"] and len(args) == 2:
        run_rootless(Path(args[1]))
        return 0
    if args[:1] == ["--rootless-chapters"] and len(args) == 2:
        write_rootless_chapters(Path(args[1]))
        return 0
    if args == ["--same-machine"]:
        reference = read_stored() if os.geteuid() == 0 else json.loads(ROOTLESS.read_text())
        other = differences(reference["machine"], this_machine())
        if other:
            print("The chapters would not run here as they ran when their outputs were stored "
                  f"({'; '.join(other)}).")
        return 1 if other else 0
    if os.geteuid() != 0:
        print("the reference run is made as root, where every cell can run: "
              "sudo .venv/bin/python tests/store_outputs.py", file=sys.stderr)
        return 1
    if args == ["--rootless"]:
        store_rootless()
        return 0
    store([Path(a).resolve() for a in args] or chapters())
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
