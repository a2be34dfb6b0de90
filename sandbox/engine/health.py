"""Healthchecks: Docker's HEALTHCHECK and ``--health-*``, run by the container's monitor.

A healthcheck is a command run *inside* the container every so often, as
``docker exec`` would run it; its exit code says whether the service is
well (0) or not (anything else).  The container's monitor (:mod:`sandbox.engine.monitor`)
already lives as long as the container and waits in poll(2), so it keeps the timer too:

    monitor: poll(2) on the container's streams, its exit, and the timer
    │   every Interval (StartInterval while starting, during the StartPeriod)
    └── probe runner (forked)           waits for the probe, at most Timeout, then kills it
        └── exec helper ── probe        sandbox.engine.runtime.exec_into: joins the container's
                                        namespaces; CMD → argv, CMD-SHELL → /bin/sh -c
    runner ──one JSON line: exit code, output──▶ monitor ──▶ health.json (atomically)

Why a runner between them: starting an exec blocks until the probe has
started, and a probe may hang; the monitor must go on relaying the
container's output meanwhile.  The runner is also in the PID namespace whose
numbers ``exec_into`` reports, so it is the one that can kill a probe that
takes too long (its whole process group: a ``sh -c`` and what it started).

The state follows Docker's daemon/health.go: ``starting`` until the first
success (``healthy``); ``unhealthy`` after Retries failures in a row; a
failure while still starting within the StartPeriod does not count.  The
last five results are kept, each with at most 4096 bytes of output.  Only
the monitor writes ``health.json`` (:meth:`sandbox.engine.records.Container.write_health`),
so no other writer of the state can be overwritten by it; ``inspect`` shows
it as ``State.Health``.

Sources: moby ``daemon/health.go``, ``daemon/commit.go`` (merging the
image's check with the flags), ``daemon/container.go`` (validateHealthCheck);
docker/cli ``cli/command/container/opts.go`` (the flags); the Dockerfile
reference, HEALTHCHECK.
"""

from __future__ import annotations

import json
import os
import select
import signal
import time

from ..errors import UsageError
from ..humanize import go_duration, now_iso
from ..humanize import go_duration_text as duration_text

SECOND = 1_000_000_000  # Docker keeps durations in nanoseconds
DEFAULT_INTERVAL = 30 * SECOND
DEFAULT_TIMEOUT = 30 * SECOND
DEFAULT_START_PERIOD = 0
DEFAULT_START_INTERVAL = 5 * SECOND
DEFAULT_RETRIES = 3
MINIMUM = 1_000_000  # 1ms: the daemon refuses shorter (non-zero) durations
MAX_OUTPUT = 4096    # bytes of a probe's output kept
MAX_LOG = 5          # results kept
START_ALLOWANCE = 10.0  # seconds a probe may take to start before its runner is given up

STARTING, HEALTHY, UNHEALTHY = "starting", "healthy", "unhealthy"
DURATION_FIELDS = ("Interval", "Timeout", "StartPeriod", "StartInterval")


# --- what is asked for: the flags, the image's HEALTHCHECK, and the two merged -----------------
def parse_duration(text: str, flag: str) -> int:
    """Go's time.ParseDuration, in nanoseconds: ``30s``, ``1m30s``, ``500ms``, ``1.5h``."""
    try:
        return go_duration(text)
    except ValueError:
        raise UsageError(f'invalid argument "{text}" for "{flag}" flag: write a duration '
                         "with its unit, such as 30s, 1m30s or 500ms") from None


def from_flags(cmd: str | None = None, interval: str | None = None, timeout: str | None = None,
               retries: int | None = None, start_period: str | None = None,
               start_interval: str | None = None, disabled: bool = False) -> dict | None:
    """``--health-*`` and ``--no-healthcheck`` as Docker's HealthConfig; None: none given.

    Fields left at zero are the image's (see :func:`merged`), as docker/cli builds it.
    """
    durations = {"Interval": (interval, "--health-interval"),
                 "Timeout": (timeout, "--health-timeout"),
                 "StartPeriod": (start_period, "--health-start-period"),
                 "StartInterval": (start_interval, "--health-start-interval")}
    check = {field: parse_duration(text, flag) if text else 0
             for field, (text, flag) in durations.items()}
    check["Retries"] = retries or 0
    given = bool(cmd) or any(check.values())
    if disabled:
        if given:
            raise UsageError("--no-healthcheck conflicts with --health-* options")
        return {"Test": ["NONE"]}
    if not given:
        return None
    for field, (_, flag) in durations.items():
        if check[field] < 0:
            raise UsageError(f"{flag} cannot be negative")
    if check["Retries"] < 0:
        raise UsageError("--health-retries cannot be negative")
    return {"Test": ["CMD-SHELL", cmd] if cmd else [], **check}


def merged(asked: dict | None, image: dict | None) -> dict | None:
    """The container's healthcheck: the image's, with each field the user gave put over it
    (moby's daemon/commit.go merge: a zero or empty field is the image's); checked as
    the daemon checks it."""
    if not image:
        check = dict(asked) if asked else None
    elif not asked:
        check = dict(image)
    else:
        check = dict(image)
        check.update({field: value for field, value in asked.items() if value})
    if check is not None:
        _validate(check)
    return check


def _validate(check: dict) -> None:
    """moby's validateHealthCheck, with the flag to fix named."""
    flags = {"Interval": "--health-interval", "Timeout": "--health-timeout",
             "StartPeriod": "--health-start-period", "StartInterval": "--health-start-interval"}
    for field, flag in flags.items():
        value = check.get(field) or 0
        if value < 0 or 0 < value < MINIMUM:
            raise UsageError(f"{field} in Healthcheck cannot be less than 1ms ({flag})")
    if (check.get("Retries") or 0) < 0:
        raise UsageError("Retries in Healthcheck cannot be negative (--health-retries)")
    test = check.get("Test") or []
    if test and test[0] not in ("NONE", "CMD", "CMD-SHELL"):
        raise UsageError(f'unknown healthcheck type "{test[0]}": the test must start with '
                         '"CMD", "CMD-SHELL" or "NONE"')
    if test and test[0] != "NONE" and len(test) < 2:
        raise UsageError(f"the healthcheck's {test[0]} has no command")


def active(check: dict | None) -> bool:
    """Whether this healthcheck runs anything (moby's getProbe): CMD or CMD-SHELL."""
    test = (check or {}).get("Test") or []
    return len(test) > 1 and test[0] in ("CMD", "CMD-SHELL")


def probe_argv(test: list[str]) -> list[str]:
    """The probe's command: CMD's argv as given; CMD-SHELL's string run by ``/bin/sh -c``."""
    return ["/bin/sh", "-c", *test[1:]] if test[0] == "CMD-SHELL" else list(test[1:])


def setting(check: dict, field: str) -> float:
    """A duration of the check in seconds, Docker's default when it is zero or absent."""
    defaults = {"Interval": DEFAULT_INTERVAL, "Timeout": DEFAULT_TIMEOUT,
                "StartPeriod": DEFAULT_START_PERIOD, "StartInterval": DEFAULT_START_INTERVAL}
    return (check.get(field) or defaults[field]) / SECOND


# --- the state: Docker's handleProbeResult ---------------------------------------------------
def fresh(previous: dict | None = None) -> dict:
    """The state at each start: ``starting``, no failures; the log of earlier runs is
    kept, as Docker keeps it (initHealthMonitor)."""
    return {"Status": STARTING, "FailingStreak": 0, "Log": list((previous or {}).get("Log") or [])}


def record(health: dict, result: dict, retries: int, in_start_period: bool) -> dict:
    """The state after one probe's ``result`` ({"Start", "End", "ExitCode", "Output"}).

    ``in_start_period``: the probe started within the StartPeriod; a failure then,
    while still ``starting``, does not count towards ``retries``.
    """
    log = (list(health.get("Log") or []) + [result])[-MAX_LOG:]
    status, streak = health.get("Status", STARTING), health.get("FailingStreak", 0)
    if result["ExitCode"] == 0:
        status, streak = HEALTHY, 0
    elif not (status == STARTING and in_start_period):
        streak += 1
        if streak >= (retries if retries > 0 else DEFAULT_RETRIES):
            status = UNHEALTHY
    return {"Status": status, "FailingStreak": streak, "Log": log}


def next_interval(check: dict, since_start: float, status: str) -> float:
    """Seconds until the next probe (moby's getInterval): StartInterval while the
    container is still starting within its StartPeriod, Interval otherwise."""
    if since_start >= setting(check, "StartPeriod") or status != STARTING:
        return setting(check, "Interval")
    return setting(check, "StartInterval")


def output_text(data: bytes, truncated: bool) -> str:
    """The kept output as text, with "..." if some was dropped (moby's limitedBuffer)."""
    return data.decode(errors="replace") + ("..." if truncated else "")


# --- running it: the monitor's side ----------------------------------------------------------
class Checker:
    """The healthcheck of one run of a container, driven by the monitor's poll loop.

    The monitor asks :meth:`wait_ms` how long it may sleep, hands over the
    events on :meth:`owns`'s descriptor, calls :meth:`tick` after each wake-up,
    and :meth:`stop` when the container has exited.
    """

    def __init__(self, container, poller):
        self.container = container
        self.check = container.spec.healthcheck
        self.argv = probe_argv(self.check["Test"])
        self.poller = poller
        self.started = time.monotonic()  # the run's StartedAt, for the StartPeriod
        self.health = container.health or fresh()  # "starting": written by runtime at start
        self.runner = None  # the probe in flight: see _launch
        self.next_at = self.started + next_interval(self.check, 0, STARTING)

    def wait_ms(self) -> int:
        """Milliseconds until the next thing to do: start a probe, or give one up."""
        target = self.runner["deadline"] if self.runner else self.next_at
        return max(0, int((target - time.monotonic()) * 1000) + 1)

    def owns(self, fd: int) -> bool:
        return self.runner is not None and fd == self.runner["fd"]

    def tick(self) -> None:
        now = time.monotonic()
        if self.runner is None and now >= self.next_at:
            if self._paused():  # Docker does not probe a paused container
                self.next_at = now + setting(self.check, "Interval")
            else:
                self._launch()
        elif self.runner is not None and now >= self.runner["deadline"]:
            timeout = self.check.get("Timeout") or DEFAULT_TIMEOUT
            runner = self._end_runner()  # stuck starting its exec (a container paused meanwhile)
            self._finish(runner, {"ExitCode": -1, "Output": "Health check exceeded timeout "
                                                            f"({duration_text(timeout)})"})

    def on_ready(self, fd: int) -> None:
        """The runner wrote its result, or ended: read it; at end-of-file, record it."""
        try:
            data = os.read(fd, 65536)
        except OSError:
            data = b""
        if data:
            self.runner["answer"] += data
            return
        runner = self._end_runner()
        try:
            result = json.loads(runner["answer"])
        except ValueError:  # the runner died without a word
            result = {"ExitCode": -1, "Output": "the healthcheck's runner process failed"}
        self._finish(runner, result)

    def stop(self) -> None:
        """The container has exited: no more probes (one in flight died with its PID namespace)."""
        if self.runner is not None:
            self._end_runner()

    # --- the steps ---------------------------------------------------------------
    def _launch(self) -> None:
        read, write = os.pipe2(os.O_CLOEXEC)
        try:
            pid = os.fork()
        except OSError:  # the container's PID namespace is ending (fork: ENOMEM): it has exited
            os.close(read)
            os.close(write)
            self.next_at = time.monotonic() + setting(self.check, "Interval")
            return
        if pid == 0:
            _runner(self.container, self.argv, self.check, write)
        os.close(write)
        timeout = setting(self.check, "Timeout")
        self.runner = {"pid": pid, "fd": read, "answer": b"", "start": now_iso(),
                       "begun": time.monotonic(),
                       "deadline": time.monotonic() + timeout + START_ALLOWANCE}
        self.poller.register(read, select.POLLIN)

    def _end_runner(self) -> dict:
        """Stop watching the runner, make sure it has ended, collect it; what was known of it."""
        runner, self.runner = self.runner, None
        self.poller.unregister(runner["fd"])
        os.close(runner["fd"])
        try:
            os.kill(runner["pid"], signal.SIGKILL)  # it has usually ended: then this does nothing
        except ProcessLookupError:
            pass
        try:
            os.waitpid(runner["pid"], 0)
        except ChildProcessError:
            pass
        return runner

    def _finish(self, runner: dict, result: dict) -> None:
        """Record one probe's result (as Docker's log entry) and plan the next probe."""
        entry = {"Start": runner["start"], "End": now_iso(), "ExitCode": result["ExitCode"],
                 "Output": result["Output"]}
        in_start_period = runner["begun"] - self.started < setting(self.check, "StartPeriod")
        self.health = record(self.health, entry, self.check.get("Retries") or 0,
                             in_start_period)
        self.container.write_health(self.health)
        self.next_at = time.monotonic() + next_interval(
            self.check, time.monotonic() - self.started, self.health["Status"])

    def _paused(self) -> bool:
        from ..isolation import freezer
        from ..isolation.cgroups import from_paths
        try:
            return freezer.is_frozen(from_paths(self.container.state.get("Cgroup")))
        except Exception:  # noqa: BLE001 - no cgroup to ask (rootless v1): never paused
            return False


# --- running it: the runner's side (a forked child of the monitor) ----------------------------
def _runner(container, argv: list[str], check: dict, answer: int) -> None:
    """Run one probe and write its result to ``answer`` as JSON; never return."""
    try:
        _close_all_but(answer)  # the monitor's streams and sockets are not ours to hold
        result = probe(container, argv, setting(check, "Timeout"),
                       check.get("Timeout") or DEFAULT_TIMEOUT)
        os.write(answer, json.dumps(result).encode())
    except BaseException as err:  # noqa: BLE001 - a forked child must never unwind into the monitor
        try:
            os.write(answer, json.dumps({"ExitCode": -1, "Output": str(err)}).encode())
        except OSError:
            pass
    finally:
        os._exit(0)


def _close_all_but(fd: int) -> None:
    os.closerange(3, fd)
    os.closerange(fd + 1, os.sysconf("SC_OPEN_MAX"))


def probe(container, argv: list[str], timeout: float, timeout_ns: int) -> dict:
    """Run ``argv`` in the container as ``exec`` does, its stdout and stderr in one pipe;
    {"ExitCode", "Output"}.  After ``timeout`` seconds its process group is killed and
    the result is Docker's: exit code -1, "Health check exceeded timeout (...)"."""
    from .runtime import Stdio, exec_into
    out_r, out_w = os.pipe2(os.O_CLOEXEC)
    null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    try:
        started = exec_into(container, argv, Stdio(null, out_w, out_w), [], None, None)
    finally:
        os.close(out_w)
        os.close(null)
    if started.error:  # it never ran (no such program, say): Docker's exec error, code -1
        os.close(out_r)
        if started.child_pid:
            os.waitpid(started.child_pid, 0)
        return {"ExitCode": -1, "Output": started.error}
    output = _Output()
    code = _wait(started, out_r, output, time.monotonic() + timeout)
    os.close(out_r)
    if code is None:
        text = f"Health check exceeded timeout ({duration_text(timeout_ns)})"
        shown = output.text()
        return {"ExitCode": -1, "Output": f"{text}: {shown}" if shown else text}
    return {"ExitCode": code, "Output": output.text()}


class _Output:
    """The first MAX_OUTPUT bytes of what the probe printed, and whether there was more."""

    def __init__(self):
        self.data, self.truncated = b"", False

    def add(self, chunk: bytes) -> None:
        room = MAX_OUTPUT - len(self.data)
        self.data += chunk[:max(room, 0)]
        self.truncated = self.truncated or len(chunk) > room

    def text(self) -> str:
        return output_text(self.data, self.truncated)


def _wait(started, out_r: int, output: _Output, deadline: float) -> int | None:
    """Collect the probe's output until its exec helper reports its exit; its exit code,
    or None if the deadline came first (then the probe's process group is killed)."""
    from .monitor import exit_code
    helper = os.pidfd_open(started.child_pid)
    poller = select.poll()
    poller.register(out_r, select.POLLIN)
    poller.register(helper, select.POLLIN)
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                _kill_group(started.init_pid)
                _reap_within(started.child_pid, helper, 2.0)
                return None
            for fd, _ in poller.poll(int(left * 1000) + 1):
                if fd == helper:
                    status = os.waitpid(started.child_pid, 0)[1]
                    _drain(out_r, output)  # what it printed just before it ended
                    return exit_code(status)
                chunk = os.read(out_r, 65536)
                if chunk:
                    output.add(chunk)
                else:
                    poller.unregister(out_r)  # closed by every writer: wait for the exit alone
    finally:
        os.close(helper)


def _drain(fd: int, output: _Output) -> None:
    """Read what is in the pipe now, without waiting for writers that may live on
    (a probe's ``sleep 100 &`` holds the pipe; Docker does not wait for it either)."""
    os.set_blocking(fd, False)
    try:
        while chunk := os.read(fd, 65536):
            output.add(chunk)
    except BlockingIOError:
        pass


def _kill_group(pid: int) -> None:
    """SIGKILL the probe and everything it started: it leads a process group of its own
    (exec_into's child calls setsid(2)), and the runner is in the PID namespace whose
    number ``exec_into`` reported."""
    try:
        os.killpg(pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _reap_within(pid: int, pidfd: int, seconds: float) -> None:
    """Collect the exec helper once the killed probe has let it go; a frozen one is left
    (a paused container on cgroup v1 delivers SIGKILL only when thawed)."""
    if select.select([pidfd], [], [], seconds)[0]:
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
