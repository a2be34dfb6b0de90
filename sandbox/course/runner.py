"""Inside a grading container: run one submission with papermill, then report.

The grader starts this as the container's process 1, as root *of the
container*, and writes the job to its stdin: the notebook to run (the
learner's cells, then the graded cells with their hidden tests appended at
the end), the parameters, and the time a cell may take.  The job never
touches the container's disk, so the hidden tests are nowhere the
learner's code could read them while it runs: not in a file, not in the
runner's memory (another uid, see :mod:`sandbox.course.dropuser`), not yet
in the kernel.

What comes back, on stdout, is one JSON document: the executed notebook and
a status.  Nothing else writes to this stdout: the kernel's own stdout is
/dev/null.

    /tmp                 tmpfs, the only writable place; it counts against the memory limit
    /tmp/grader          root only (0700): kernelspec, connection file, executed notebook
    /tmp/home            the learner's HOME, owned by ``nobody``
    /tmp/work            the kernel's working directory, owned by ``nobody``
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
import time

GRADER_DIR = "/tmp/grader"
HOME = "/tmp/home"
WORK = "/tmp/work"
KERNEL_NAME = "graded"


def prepare(uid: int) -> str:
    """Make the directories, and a kernelspec whose kernel drops to ``uid``; return the output path."""
    os.makedirs(GRADER_DIR, mode=0o700, exist_ok=True)
    spec_dir = os.path.join(GRADER_DIR, "jupyter", "kernels", KERNEL_NAME)
    os.makedirs(spec_dir, exist_ok=True)
    argv = [sys.executable, "-I", "-m", "sandbox.course.dropuser", str(uid), "-f",
            "{connection_file}"]
    with open(os.path.join(spec_dir, "kernel.json"), "w") as f:
        json.dump({"argv": argv, "display_name": "graded", "language": "python"}, f)
    for path in (HOME, WORK):
        os.makedirs(path, exist_ok=True)
        os.chown(path, uid, uid)
    os.environ.update({
        "JUPYTER_PATH": os.path.join(GRADER_DIR, "jupyter"),
        "JUPYTER_RUNTIME_DIR": os.path.join(GRADER_DIR, "runtime"),
        "JUPYTER_CONFIG_DIR": os.path.join(GRADER_DIR, "config"),
        "JUPYTER_DATA_DIR": os.path.join(GRADER_DIR, "data"),
        "JUPYTER_PLATFORM_DIRS": "1",
        "HOME": HOME,  # inherited by the kernel
        "IPYTHONDIR": os.path.join(HOME, ".ipython"),
        "MPLBACKEND": "Agg",
    })
    return os.path.join(GRADER_DIR, "executed.ipynb")


def execute(job: dict, output: str) -> str:
    """Run the notebook with papermill; return the status.  The executed notebook is at ``output``."""
    # jsonschema (under nbformat) imports rfc3987_syntax when it is installed, which
    # compiles a grammar for 1.5 s; the runner validates no IRIs, so it is left out.
    sys.modules.setdefault("rfc3987_syntax", None)
    import nbformat
    import papermill
    from nbclient.exceptions import CellTimeoutError, DeadKernelError

    nb = nbformat.from_dict(job["notebook"])
    limit = job.get("cell_timeout", 60)
    watchdog = Watchdog(limit, job.get("uid", 65534))
    watchdog.start()
    try:
        papermill.execute_notebook(
            nb, output, parameters=job.get("parameters", {}), kernel_name=KERNEL_NAME,
            progress_bar=False, log_output=False, cwd=WORK,
            execution_timeout=limit, start_timeout=60,
            # A learner's error must not stop the run: later questions still count.
            allow_errors=True, interrupt_on_timeout=True,
            on_cell_execute=watchdog.cell_started, on_cell_executed=watchdog.cell_finished)
    except DeadKernelError:
        if watchdog.stopped_kernel:
            return (f"timeout: a cell still ran at twice its {watchdog.limit:g} s limit, "
                    "so its kernel was stopped")
        return "kernel died"
    except CellTimeoutError:
        return "timeout"
    except papermill.PapermillExecutionError:
        pass  # errors in the learner's cells: expected, recorded in the notebook
    return "graded"


class Watchdog(threading.Thread):
    """Kills what a cell left running once the cell has overrun its time.

    On a timeout nbclient interrupts the kernel (SIGINT), which stops a loop in
    the kernel itself but not the processes it started: a fork bomb's copies
    would go on filling the pids limit and eating the CPU quota, and the
    kernel could not answer.  So, while a cell is over its time, every process
    of the learner's uid except the kernel (a child of this runner) is
    killed, every 0.2 s, until the cell ends.  kill(2) from root inside the
    container; /proc shows only this container's PID namespace.

    The killed processes stay zombies until the kernel, their parent, waits
    for them, and zombies still count against the pids limit.  A kernel that
    cannot even start a thread then cannot answer the interrupt: if the cell
    is still running at twice its limit, the kernel itself is killed.
    """

    def __init__(self, limit: float, uid: int):
        super().__init__(daemon=True)
        self.limit, self.uid = limit, uid
        self.cell_start: float | None = None
        self.stopped_kernel = False

    def cell_started(self, **_cell) -> None:
        self.cell_start = time.monotonic()

    def cell_finished(self, **_cell) -> None:
        self.cell_start = None

    def run(self) -> None:
        while True:
            time.sleep(0.2)
            start = self.cell_start
            overdue = time.monotonic() - start if start is not None else 0
            if overdue > self.limit:
                self.stopped_kernel |= self.kill_strays(kernel_too=overdue > 2 * self.limit)

    def kill_strays(self, kernel_too: bool) -> bool:
        """Kill the learner's processes (and the kernel too); return whether the kernel was."""
        me, killed_kernel = os.getpid(), False
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/status") as f:
                    fields = dict(line.split(":", 1) for line in f if ":" in line)
                if int(fields["Uid"].split()[0]) != self.uid:
                    continue
                is_kernel = int(fields["PPid"]) == me
                if kernel_too or not is_kernel:
                    os.kill(int(entry), signal.SIGKILL)
                    killed_kernel |= is_kernel
            except (OSError, ValueError, KeyError):
                continue  # gone already
        return killed_kernel


def _timeouts(executed: dict, limit: float) -> str:
    """", cell 4 timed out after 5 s" for cells that papermill ran for the whole limit."""
    slow = [c.get("id", "?").removeprefix("cell-") for c in executed.get("cells", [])
            if (c.get("metadata", {}).get("papermill", {}).get("duration") or 0) >= limit * 0.98]
    if not slow:
        return ""
    numbers = ", ".join(str(int(n) + 1) if n.isdigit() else n for n in slow)
    return f", cell {numbers} timed out after {limit:g} s"


def main() -> int:
    job = json.loads(sys.stdin.buffer.read())
    sys.stdin.close()
    output = prepare(job.get("uid", 65534))
    from .dropuser import limit_runner
    limit_runner()
    try:
        status = execute(job, output)
    except Exception as err:  # noqa: BLE001 - reported to the grader, which decides
        status = f"runner error: {type(err).__name__}: {err}"
    try:
        with open(output) as f:
            executed = json.load(f)
        # papermill keeps its input, hidden tests and all, in the metadata: not for feedback.
        executed.get("metadata", {}).pop("papermill", None)
    except (OSError, ValueError, AttributeError):
        executed = None
    if status == "graded" and executed is not None:
        status += _timeouts(executed, job.get("cell_timeout", 60))
    sys.stdout.write(json.dumps({"status": status, "notebook": executed}))
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
