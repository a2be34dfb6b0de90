"""What the chapters' cells share: the `sandbox` command line run as in a terminal, and what a
cell showed on the course's reference machine, for a machine where it cannot run.

A chapter shows a verb the way a learner would type it, and what it printed::

    sandbox_cli("build -t hello-app:1.0 .", cwd=SEED)
    (seed-app) $ sandbox build -t hello-app:1.0 .
    #1 [internal] load build definition from Dockerfile
    ...

Its stderr is printed too (`build` and `compose` write their progress there, as Docker's
do), into the cell's output, never to the cell's stderr, which graders read as a failure.

A cell that cannot run on every machine (no registry, rootless, no cgroup limits) says why in
one sentence, then shows the output it had on the reference machine::

    if not HAVE_REGISTRY:
        show_stored("07_registries/push", "no registry is running (see section 1)")
    else:
        ...

tests/store_outputs.py runs every chapter as root on that machine, stores each chapter's
outputs in it, and copies those of such cells (found by their key) to stored_outputs.json.
"""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path


def sandbox_cli(command: str, cwd=None, check: bool = True, quiet: bool = False,
                timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``sandbox COMMAND`` (in ``cwd``), print the command and what it printed, and return
    the finished process; a failure raises with its last words when ``check``."""
    done = subprocess.run([sys.executable, "-m", "sandbox", *shlex.split(command)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout)
    if not quiet:
        where = f"({Path(cwd).name}) " if cwd else ""
        print(f"{where}$ sandbox {command}\n{done.stdout}{done.stderr}".rstrip() + "\n")
    if check and done.returncode != 0:
        raise RuntimeError(f"`sandbox {command}` failed with exit code {done.returncode}:\n"
                           + done.stderr[-2000:])
    return done


# {"machine": what the reference machine was, "outputs": {"07_registries/push": [output, ...]}}
STORED_OUTPUTS = Path(__file__).with_name("stored_outputs.json")


def show_stored(key: str, why: str) -> None:
    """Say in one sentence why this cell cannot run here, then show what it showed on the
    reference machine, as it showed it.

    ``key`` names the cell: its chapter's file name and a name, ``"07_registries/push"``.
    ``why`` is the reason, as a clause: ``"no registry is running (see section 1)"``.
    """
    stored = stored_outputs()
    outputs = stored["outputs"].get(key)
    if outputs is None:
        print(f"This machine cannot run this cell: {why}; and no output of it was stored "
              f"({key!r} is not in {STORED_OUTPUTS.name}, which tests/store_outputs.py writes).")
        return
    machine = stored["machine"]
    print(f"This machine cannot run this cell: {why}. What it showed on the course's reference "
          f"machine ({machine['os']}, Linux {machine['kernel']}, as {machine['user']}):\n")
    for output in outputs:
        _show_output(output)


def stored_outputs() -> dict:
    """The reference machine and the stored outputs (none if the file is not there)."""
    import json
    try:
        return json.loads(STORED_OUTPUTS.read_text())
    except FileNotFoundError:
        return {"machine": {}, "outputs": {}}


def _show_output(output: dict) -> None:
    """Show one output as nbformat stores it: printed text, or rich data displayed again."""
    if output["output_type"] == "stream":    # stdout or stderr: both printed, to stdout
        print("".join(output["text"]), end="")
    elif "data" in output:                   # display_data, execute_result
        from IPython.display import display
        data = {mime: "".join(value) if isinstance(value, list) else value
                for mime, value in output["data"].items()}
        display(data, metadata=output.get("metadata") or None, raw=True)
