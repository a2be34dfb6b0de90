"""What the chapters' cells share: the `sandbox` command line, run as in a terminal.

A chapter shows a verb the way a learner would type it, and what it printed::

    sandbox_cli("build -t hello-app:1.0 .", cwd=SEED)
    (seed-app) $ sandbox build -t hello-app:1.0 .
    #1 [internal] load build definition from Dockerfile
    ...

Its stderr is printed too (`build` and `compose` write their progress there, as Docker's
do), into the cell's output, never to the cell's stderr, which graders read as a failure.
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
