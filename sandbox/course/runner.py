"""Inside a grading container: run one submission's cells in a kernel, then judge it here.

The grader starts this as the container's process 1, as root *of the
container*, and writes the job to its stdin: the notebook to run (the
learner's cells, then one cell per question holding its check, hidden tests
and all), the parameters, and the time a cell may take.  The job never
touches the container's disk.  The checks never enter the learner's kernel:
they run in this process (:func:`judge`), which the kernel, another uid with
no capabilities (:mod:`sandbox.course.dropuser`), cannot signal, trace or
write to.  The kernel only ever sees the calls a check makes.

    runner (root of the container, this file)        kernel (uid 65534, no capabilities)
    ─────────────────────────────────────────        ───────────────────────────────────
    the learner's cells, one by one         ──▶      runs them; what they print is kept
    snapshot: the feedback notebook
    each check: q.call / q.run              ──▶      answers with plain values (probe.py)
                verdict, hint               ◀──
    one JSON reply on stdout: status, the snapshot, the verdicts

Nothing else writes to this stdout: the kernel's own stdout is /dev/null.

    /tmp                 tmpfs, the only writable place; it counts against the memory limit
    /tmp/grader          root only (0700): kernelspec, connection file
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

from ..kernel import procfs
from .results import HIDDEN_KEY, VERDICTS_KEY

GRADER_DIR = "/tmp/grader"
HOME = "/tmp/home"
WORK = "/tmp/work"
KERNEL_NAME = "graded"
INJECTED_ID = "injected-parameters"  # the id of the cell inject_parameters adds


def prepare(uid: int) -> None:
    """Make the directories, and a kernelspec whose kernel drops to ``uid``."""
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


def execute(job: dict) -> tuple[str, dict | None, dict]:
    """Run the learner's cells, then judge each question here; return (status, feedback, verdicts).

    The order is the point:

    1. the learner's cells run in the kernel, one by one; after each, whatever
       processes it left behind are stopped (a fork bomb that ended its cell
       must not push the kernel into the OOM killer during the next one);
    2. the notebook is copied as it is now (the *snapshot*): feedback shows what
       the learner's cells produced, and nothing the kernel sends later (a
       display updated by a hook while the checks run) can reach it;
    3. each question's check runs in *this* process (:mod:`sandbox.course.checks`),
       asking the kernel only for values; its verdict never passes through
       the learner's process.
    """
    # jsonschema (under nbformat) imports rfc3987_syntax when it is installed, which
    # compiles a grammar for 1.5 s; the runner validates no IRIs, so it is left out.
    sys.modules.setdefault("rfc3987_syntax", None)
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    nb = nbformat.from_dict(job["notebook"])
    checks = [c for c in nb.cells if HIDDEN_KEY in c.get("metadata", {})]
    nb.cells = [c for c in nb.cells if HIDDEN_KEY not in c.get("metadata", {})]
    inject_parameters(nb, job.get("parameters", {}))
    limit = job.get("cell_timeout", 60)
    uid = job.get("uid", 65534)
    watchdog = Watchdog(limit, uid)
    watchdog.start()
    client = NotebookClient(nb, timeout=limit, kernel_name=KERNEL_NAME, allow_errors=True,
                            interrupt_on_timeout=True, startup_timeout=60,
                            resources={"metadata": {"path": WORK}})
    notes: list[str] = []
    snapshot, verdicts = None, {}
    try:
        with client.setup_kernel():
            pid = client.km.provisioner.pid
            _run_learner_cells(client, nb, watchdog, limit, notes)
            snapshot = _snapshot(nb)
            verdicts = judge(checks, KernelLink(client.km, pid))
    except DeadKernelError:
        if snapshot is None:
            snapshot = _snapshot(nb)
        if watchdog.stopped_kernel:
            return (f"timeout: a cell still ran at twice its {watchdog.limit:g} s limit, "
                    "so its kernel was stopped"), snapshot, verdicts
        return "kernel died", snapshot, verdicts
    return "graded" + "".join(", " + n for n in notes), snapshot, verdicts


def inject_parameters(nb, parameters: dict) -> None:
    """A cell that sets ``parameters`` right after the cell tagged ``parameters``, as papermill does."""
    import nbformat
    lines = ["# Parameters"] + [f"{name} = {value!r}" for name, value in parameters.items()]
    cell = nbformat.v4.new_code_cell("\n".join(lines), metadata={"tags": ["injected-parameters"]})
    cell.id = INJECTED_ID
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.get("metadata", {}).get("tags", [])]
    nb.cells.insert(tagged[0] + 1 if tagged else 0, cell)


def _run_learner_cells(client, nb, watchdog: "Watchdog", limit: float, notes: list) -> None:
    """Each code cell in turn; note the ones that ran out of time or left processes behind.

    A note numbers a cell as the learner's notebook does, from 1: the injected
    parameters cell is not theirs, so it is not counted (grader.assemble gave
    the learner's cells the ids ``cell-0``, ``cell-1``, ... in the same order).
    """
    number = 0
    for index, cell in enumerate(nb.cells):
        if cell.get("id") != INJECTED_ID:
            number += 1
        if cell.get("cell_type") != "code" or _is_check(cell):
            continue  # a question's check runs in the runner, later, with its hidden tests
        started = time.monotonic()
        watchdog.cell_started()
        try:
            client.execute_cell(cell, index)
        finally:
            watchdog.cell_finished()
        if time.monotonic() - started >= limit * 0.98:
            notes.append(f"cell {number} timed out after {limit:g} s")
        strays = watchdog.kill_strays(kernel_too=False)
        if strays:
            notes.append(f"cell {number} left {strays} process(es) running, which were "
                         "stopped")


def _is_check(cell) -> bool:
    """A question's visible check cell (nbgrader: graded, not an answer)."""
    meta = cell.get("metadata", {}).get("nbgrader", {})
    return bool(meta.get("grade")) and not meta.get("solution")


WIDGET_TYPES = ("application/vnd.jupyter.widget-view+json",
                "application/vnd.jupyter.widget-state+json")


def _snapshot(nb) -> dict:
    """The notebook as the learner's cells left it: a plain copy, without widget state."""
    snapshot = json.loads(json.dumps(nb))  # one deep copy; NotebookNodes become plain dicts
    snapshot.get("metadata", {}).pop("widgets", None)
    for cell in snapshot["cells"]:
        if "outputs" not in cell:
            continue  # a markdown cell
        for out in cell["outputs"]:
            for kind in WIDGET_TYPES:
                out.get("data", {}).pop(kind, None)
        # An output that was only a widget is now empty: it goes.
        cell["outputs"] = [out for out in cell["outputs"] if out.get("data", True)]
    return snapshot


def judge(checks: list, link) -> dict:
    """Run each question's check here, against ``link``; grade_id → {passed, hint}, and
    ``applicable: False`` for a question this machine could not pose."""
    from . import checks as checks_module
    checks_module.use(link)
    verdicts = {}
    for cell in checks:
        grade_id = cell["metadata"][HIDDEN_KEY]["grade_id"]
        checks_module.RESULTS.pop(grade_id, None)
        try:
            exec(compile(cell["source"], f"<check {grade_id}>", "exec"),  # noqa: S102
                 {"__name__": "__check__"})
        except BaseException as err:  # noqa: BLE001 - one broken check costs one question
            # question() stops everything raised in its block: this came from outside it (a
            # syntax error, an import), the check's own fault, not the learner's.
            verdicts[grade_id] = {"passed": False, "hint": checks_module.check_failed(
                f"{type(err).__name__}: {err}")}
            continue
        result = checks_module.RESULTS.get(grade_id)
        if result is None:
            verdicts[grade_id] = {"passed": False, "hint": checks_module.check_failed(
                f"it published no result for {grade_id}")}
        elif result.get("applicable") is False:  # this machine cannot pose the question
            verdicts[grade_id] = {"passed": False, "applicable": False, "hint": result["hint"]}
        else:
            verdicts[grade_id] = {"passed": result["passed"] is True, "hint": result["hint"]}
    return verdicts


class KernelLink:
    """The runner's line to the learner's kernel, for :class:`sandbox.course.checks.question`.

    A question's ``q.run(code)`` becomes one execute request with no code and
    one *user expression* (Jupyter messaging: ``user_expressions``) that calls
    :func:`sandbox.course.probe.answer` on it: silent, not in the history, no
    ``pre_run_cell`` hooks.  The reply carries the JSON of the answer.  While
    waiting, whatever the kernel prints is read and thrown away.
    """

    def __init__(self, km, pid: int):
        from jupyter_client.blocking import BlockingKernelClient
        self.pid = pid
        # (pid, start time) names the kernel even after it exits and its pid is reused.
        self.started = procfs.start_time(pid)
        self.kc = BlockingKernelClient()
        self.kc.load_connection_info(km.get_connection_info())
        self.kc.start_channels()

    def evaluate(self, code: str, deadline: float | None) -> str:
        """The JSON text of ``probe.answer(code)``, computed in the kernel.

        TimeoutError at ``deadline`` (the question turns it into its hint);
        KernelGone if the kernel died.  Text that is not JSON is left to
        :func:`sandbox.course.checks.decode`.
        """
        import ast
        import queue
        from .checks import KernelGone
        expr = f"__import__('sandbox.course.probe', fromlist=['answer']).answer({code!r})"
        msg_id = self.kc.execute("", silent=True, store_history=False,
                                 user_expressions={"a": expr}, allow_stdin=False)
        deadline = deadline or time.monotonic() + 60
        while True:
            self._drain_iopub()
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.interrupt()
                raise TimeoutError(f"the kernel did not answer {code!r} in time")
            try:
                reply = self.kc.get_shell_msg(timeout=min(remaining, 0.5))
            except queue.Empty:
                if not procfs.is_alive(self.pid, self.started):  # a zombie is not alive
                    raise KernelGone("the kernel died before this check could finish "
                                     "(did the code above call os._exit or crash it?)") from None
                continue
            if reply.get("parent_header", {}).get("msg_id") == msg_id:
                break
        result = reply.get("content", {}).get("user_expressions", {}).get("a", {})
        if result.get("status") != "ok":
            return json.dumps({"__raised__": {"type": str(result.get("ename", "Error")),
                                              "message": str(result.get("evalue", ""))}})
        try:  # the expression's value is a str: its repr comes back as text/plain
            text = ast.literal_eval(result.get("data", {}).get("text/plain", ""))
        except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
            text = None
        return text if isinstance(text, str) else ""  # "" is not JSON either: BadAnswer

    def _drain_iopub(self) -> None:
        import queue
        for _ in range(10000):
            try:
                self.kc.get_iopub_msg(timeout=0)
            except queue.Empty:
                return

    def interrupt(self) -> None:
        try:
            os.kill(self.pid, signal.SIGINT)  # the kernel's interrupt_mode is "signal"
        except OSError:
            pass


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

    def cell_started(self) -> None:
        self.cell_start = time.monotonic()

    def cell_finished(self) -> None:
        self.cell_start = None

    def run(self) -> None:
        while True:
            time.sleep(0.2)
            start = self.cell_start
            overdue = time.monotonic() - start if start is not None else 0
            if overdue > self.limit:
                self.kill_strays(kernel_too=overdue > 2 * self.limit)

    def kill_strays(self, kernel_too: bool) -> int:
        """Kill the learner's processes but the kernel (and the kernel too); return how many.

        ``stopped_kernel`` records whether the kernel was among them.
        """
        me, killed = os.getpid(), 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/status") as f:
                    fields = dict(line.split(":", 1) for line in f if ":" in line)
                if int(fields["Uid"].split()[0]) != self.uid:
                    continue
                if fields.get("State", "").split()[:1] == ["Z"]:
                    continue  # already dead: its parent, the kernel, will collect it
                is_kernel = int(fields["PPid"]) == me
                if kernel_too or not is_kernel:
                    os.kill(int(entry), signal.SIGKILL)
                    killed += 1
                    self.stopped_kernel |= is_kernel
            except (OSError, ValueError, KeyError):
                continue  # gone already
        return killed


def main() -> int:
    job = json.loads(sys.stdin.buffer.read())
    sys.stdin.close()
    _exit_at(job.get("timeout"))
    prepare(job.get("uid", 65534))
    from .dropuser import limit_runner
    limit_runner()
    executed, verdicts = None, {}
    try:
        status, executed, verdicts = execute(job)
    except Exception as err:  # noqa: BLE001 - reported to the grader, which decides
        status = f"runner error: {type(err).__name__}: {err}"
    if executed is not None:
        executed.setdefault("metadata", {})[VERDICTS_KEY] = verdicts
    sys.stdout.write(json.dumps({"status": status, "notebook": executed}))
    sys.stdout.flush()
    os._exit(0)  # no waiting for threads: the watchdog and the kernel's sockets


def _exit_at(seconds) -> None:
    """The container keeps its own deadline: should the grader die, this still ends the run.

    The runner is process 1: when it exits, the kernel forks off the
    container's PID namespace with it (pid_namespaces(7)).
    """
    if seconds:
        timer = threading.Timer(float(seconds) + 10, os._exit, args=(124,))
        timer.daemon = True
        timer.start()


if __name__ == "__main__":
    sys.exit(main())
