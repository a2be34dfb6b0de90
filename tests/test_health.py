"""Healthchecks: HEALTHCHECK and ``--health-*``, run by the monitor, shown by inspect, ps and the API.

The decisions (flags, merging with the image's check, the state after each
result, the next interval, Go's durations) are tested without containers;
the rest with real ones, root and rootless, with intervals of a fraction of a second.
"""

from __future__ import annotations

import json
import time

import pytest

import sandbox
from sandbox.engine import health
from sandbox.errors import UsageError
from sandbox.humanize import parse_iso

from conftest import fails_with_one_sentence, sandbox as cli, wait_for


# --- decisions, no containers ------------------------------------------------------------------
@pytest.mark.parametrize("text, ns", [("30s", 30_000_000_000), ("1m30s", 90_000_000_000),
                                      ("200ms", 200_000_000), ("0.2s", 200_000_000),
                                      ("1.5h", 5_400_000_000_000), ("0", 0)])
def test_go_durations(text, ns):
    assert health.parse_duration(text, "--health-interval") == ns


@pytest.mark.parametrize("text", ["10", "1x", "", "s", "1m30"])
def test_a_duration_without_its_unit_names_the_flag(text):
    with pytest.raises(UsageError, match='for "--health-timeout" flag: write a duration'):
        health.parse_duration(text, "--health-timeout")


@pytest.mark.parametrize("ns, text", [(0, "0s"), (200_000_000, "200ms"), (1_500_000, "1.5ms"),
                                      (30_000_000_000, "30s"), (1_500_000_000, "1.5s"),
                                      (90_000_000_000, "1m30s"), (3_600_000_000_000, "1h0m0s"),
                                      (1_500, "1.5µs"), (7, "7ns")])
def test_durations_print_as_go_prints_them(ns, text):
    assert health.duration_text(ns) == text


def test_flags_become_dockers_health_config():
    assert health.from_flags() is None
    assert health.from_flags(cmd="test -f /ready", interval="1s", retries=2) == {
        "Test": ["CMD-SHELL", "test -f /ready"], "Interval": 1_000_000_000, "Timeout": 0,
        "StartPeriod": 0, "StartInterval": 0, "Retries": 2}
    assert health.from_flags(disabled=True) == {"Test": ["NONE"]}


@pytest.mark.parametrize("flags, message", [
    ({"cmd": "true", "disabled": True}, "--no-healthcheck conflicts with --health-* options"),
    ({"interval": "-1s"}, "--health-interval cannot be negative"),
    ({"retries": -1}, "--health-retries cannot be negative"),
    ({"start_period": "-5s"}, "--health-start-period cannot be negative"),
])
def test_flags_docker_refuses(flags, message):
    with pytest.raises(UsageError, match=message.replace("*", r"\*")):
        health.from_flags(**flags)


def test_the_flags_override_the_image_field_by_field():
    image = {"Test": ["CMD-SHELL", "curl -f localhost"], "Interval": 5_000_000_000,
             "Retries": 4}
    asked = health.from_flags(interval="1s")
    assert health.merged(asked, image) == {"Test": ["CMD-SHELL", "curl -f localhost"],
                                           "Interval": 1_000_000_000, "Retries": 4}
    assert health.merged(None, image) == image
    assert health.merged(health.from_flags(disabled=True), image)["Test"] == ["NONE"]
    assert not health.active(health.merged(health.from_flags(disabled=True), image))
    assert not health.active(health.merged(asked, None))  # a timing without a test runs nothing


def test_durations_under_1ms_are_refused_as_the_daemon_does():
    with pytest.raises(UsageError, match="Interval in Healthcheck cannot be less than 1ms"):
        health.merged(health.from_flags(cmd="true", interval="500us"), None)


def test_cmd_is_an_argv_and_cmd_shell_a_shell_string():
    assert health.probe_argv(["CMD", "test", "-f", "/x"]) == ["test", "-f", "/x"]
    assert health.probe_argv(["CMD-SHELL", "test -f /x"]) == ["/bin/sh", "-c", "test -f /x"]


def _result(code: int) -> dict:
    return {"Start": "s", "End": "e", "ExitCode": code, "Output": ""}


def test_retries_failures_in_a_row_make_it_unhealthy_and_one_success_healthy():
    h = health.fresh()
    h = health.record(h, _result(1), retries=2, in_start_period=False)
    assert (h["Status"], h["FailingStreak"]) == ("starting", 1)
    h = health.record(h, _result(1), retries=2, in_start_period=False)
    assert (h["Status"], h["FailingStreak"]) == ("unhealthy", 2)
    h = health.record(h, _result(0), retries=2, in_start_period=False)
    assert (h["Status"], h["FailingStreak"]) == ("healthy", 0)


def test_failures_in_the_start_period_do_not_count_while_starting():
    h = health.record(health.fresh(), _result(1), retries=1, in_start_period=True)
    assert (h["Status"], h["FailingStreak"]) == ("starting", 0)
    h = health.record(health.record(h, _result(0), 1, True), _result(1), 1, True)
    assert (h["Status"], h["FailingStreak"]) == ("unhealthy", 1)  # no longer starting


def test_the_log_keeps_the_last_five_and_a_restart_keeps_it():
    h = health.fresh()
    for code in range(7):
        h = health.record(h, _result(code), retries=100, in_start_period=False)
    assert [r["ExitCode"] for r in h["Log"]] == [2, 3, 4, 5, 6]
    again = health.fresh(h)
    assert (again["Status"], again["FailingStreak"], len(again["Log"])) == ("starting", 0, 5)


def test_start_interval_only_while_starting_within_the_start_period():
    check = {"Interval": 10 * health.SECOND, "StartPeriod": 5 * health.SECOND,
             "StartInterval": health.SECOND}
    assert health.next_interval(check, 1.0, "starting") == 1.0
    assert health.next_interval(check, 1.0, "healthy") == 10.0
    assert health.next_interval(check, 6.0, "starting") == 10.0
    assert health.next_interval({}, 0.0, "starting") == 30.0  # Docker's defaults
    assert health.setting({}, "Timeout") == 30.0


def test_output_keeps_the_first_4096_bytes_as_docker_does():
    out = health._Output()
    out.add(b"a" * 4000)
    out.add(b"b" * 200)
    assert out.text() == "a" * 4000 + "b" * 96 + "..."


# --- real containers ---------------------------------------------------------------------------
def _health(name: str) -> dict | None:
    r = cli("inspect", "-f", "{{json .State.Health}}", name, check=True)
    return json.loads(r.stdout)


def _status(name: str) -> str:
    return (_health(name) or {}).get("Status", "")


def _ps_status(name: str) -> str:
    r = cli("ps", "-a", "--no-trunc", check=True)
    line = next(line for line in r.stdout.splitlines() if line.rstrip().endswith(name))
    return line


def test_a_container_reaches_healthy_once_its_check_passes(name):
    cli("run", "-d", "--name", name, "--health-cmd", "test -f /ready", "--health-interval", "0.2s",
        "busybox", "sh", "-c", "touch /ready; sleep 100", check=True)
    try:
        assert wait_for(lambda: _status(name) == "healthy", timeout=10), _health(name)
        assert "(healthy)" in _ps_status(name)
        assert cli("inspect", "-f", "{{.State.Health.Status}}", name).stdout == "healthy\n"
        h = _health(name)
        assert set(h) == {"Status", "FailingStreak", "Log"}
        assert h["FailingStreak"] == 0
        entry = h["Log"][-1]
        assert set(entry) == {"Start", "End", "ExitCode", "Output"}
        assert entry["ExitCode"] == 0 and entry["Start"] <= entry["End"]
        config = json.loads(cli("inspect", "-f", "{{json .Config.Healthcheck}}", name).stdout)
        assert config == {"Test": ["CMD-SHELL", "test -f /ready"], "Interval": 200_000_000,
                          "Timeout": 0, "StartPeriod": 0, "StartInterval": 0, "Retries": 0}
    finally:
        cli("rm", "-f", name)


def test_retries_failures_make_it_unhealthy_with_the_output_logged(name):
    cli("run", "-d", "--name", name, "--health-cmd", "echo not ready; exit 3",
        "--health-interval", "0.1s", "--health-retries", "2", "busybox", "sleep", "100",
        check=True)
    try:
        assert wait_for(lambda: _status(name) == "unhealthy", timeout=10), _health(name)
        assert "(unhealthy)" in _ps_status(name)
        assert wait_for(lambda: len(_health(name)["Log"]) == 5, timeout=10)  # five kept, no more
        h = _health(name)
        assert h["FailingStreak"] >= 2
        assert all(e["ExitCode"] == 3 and e["Output"] == "not ready\n" for e in h["Log"])
    finally:
        cli("rm", "-f", name)


def test_a_probe_that_takes_too_long_is_killed_and_fails(name):
    cli("run", "-d", "--name", name, "--health-cmd", "echo slow; sleep 987",
        "--health-interval", "0.1s", "--health-timeout", "200ms", "--health-retries", "1",
        "busybox", "sleep", "100", check=True)
    try:
        assert wait_for(lambda: len((_health(name) or {}).get("Log", [])) >= 3, timeout=10)
        h = _health(name)
        assert h["Status"] == "unhealthy"
        for entry in h["Log"]:
            assert entry["ExitCode"] == -1
            assert entry["Output"] == "Health check exceeded timeout (200ms): slow\n"
        # Each killed probe took its `sleep` with it: at most the one in flight is left.
        top = cli("top", name, check=True).stdout
        assert top.count("sleep 987") <= 1, top
    finally:
        cli("rm", "-f", name)


def test_failures_within_the_start_period_do_not_count(name):
    cli("run", "-d", "--name", name, "--health-cmd", "false", "--health-interval", "3s",
        "--health-start-period", "1s", "--health-start-interval", "0.1s",
        "--health-retries", "1", "busybox", "sleep", "100", check=True)
    try:
        assert wait_for(lambda: len((_health(name) or {}).get("Log", [])) >= 2, timeout=10)
        h = _health(name)
        assert (h["Status"], h["FailingStreak"]) == ("starting", 0), h
        # Probed every 0.1s (the start interval), not every 3s (the interval): a wide
        # margin, so that a busy machine cannot make it fail.
        first, second = h["Log"][:2]
        assert parse_iso(second["Start"]) - parse_iso(first["End"]) < 1.5, h
        assert "(health: starting)" in _ps_status(name)
        # The first failure after the start period counts: one retry, unhealthy.
        assert wait_for(lambda: _status(name) == "unhealthy", timeout=10), _health(name)
        assert _health(name)["FailingStreak"] == 1
    finally:
        cli("rm", "-f", name)


DOCKERFILE = """\
FROM busybox
RUN touch /ready
HEALTHCHECK --interval=200ms --timeout=2s --retries=2 CMD test -f /ready
"""


def test_an_images_healthcheck_runs_without_flags_and_no_healthcheck_turns_it_off(name):
    image = f"{name}-img"
    cli("build", "-q", "-t", image, "-", input=DOCKERFILE, timeout=120, check=True)
    try:
        cli("run", "-d", "--name", name, image, "sleep", "100", check=True)
        cli("run", "-d", "--name", f"{name}-off", "--no-healthcheck", image, "sleep", "100",
            check=True)
        assert wait_for(lambda: _status(name) == "healthy", timeout=10), _health(name)
        off = json.loads(cli("inspect", name + "-off").stdout)[0]
        assert "Health" not in off["State"]
        assert off["Config"]["Healthcheck"]["Test"] == ["NONE"]
        assert "(" not in _ps_status(f"{name}-off").split("Up", 1)[1]  # no (healthy) &c.
        assert not (sandbox.get(f"{name}-off").health)
    finally:
        cli("rm", "-f", name, f"{name}-off")
        cli("rmi", image)


def test_the_api_takes_docker_pys_healthcheck_and_shows_health(name):
    c = sandbox.run("busybox", ["sleep", "100"], detach=True, name=name,
                    healthcheck={"test": ["CMD", "test", "-f", "/etc/passwd"],
                                 "interval": 200_000_000, "retries": 2})
    with c:
        assert c.health == "starting"  # before the first probe, 0.2 s after the start
        assert wait_for(lambda: c.health == "healthy", timeout=10), c.inspect()["State"]
        c.restart(timeout=0)
        assert c.health == "starting"  # each start begins again
        assert len(c.inspect()["State"]["Health"]["Log"]) >= 1  # the log is kept, as Docker does
        assert wait_for(lambda: c.health == "healthy", timeout=10)
        c.stop(timeout=0)
        assert c.health == "unhealthy"  # Docker: unhealthy once the checks have stopped


def test_a_container_without_a_healthcheck_has_no_health(name):
    c = sandbox.run("busybox", ["sleep", "100"], detach=True, name=name)
    with c:
        assert c.health is None
        assert "Health" not in c.inspect()["State"]
        assert "Healthcheck" not in c.inspect()["Config"]
        assert "(" not in _ps_status(name).split("Up", 1)[1]


def test_wait_and_the_exit_are_unaffected(name):
    cli("run", "-d", "--name", name, "--health-cmd", "true", "--health-interval", "0.05s",
        "busybox", "sh", "-c", "sleep 0.5; exit 7", check=True)
    try:
        started = time.monotonic()
        r = cli("wait", name, check=True)
        assert r.stdout == "7\n"
        assert time.monotonic() - started < 5
        assert "Exited (7)" in _ps_status(name)
    finally:
        cli("rm", "-f", name)


def test_a_foreground_run_keeps_its_output_while_probed():
    r = cli("run", "--rm", "--health-cmd", "true", "--health-interval", "0.05s", "busybox",
            "sh", "-c", "for i in 1 2 3 4 5; do echo line $i; sleep 0.1; done")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "".join(f"line {i}\n" for i in range(1, 6))


def test_a_missing_probe_program_is_a_failure_with_execs_message(name):
    c = sandbox.run("busybox", ["sleep", "100"], detach=True, name=name,
                    healthcheck={"test": ["CMD", "nosuch"], "interval": 100_000_000,
                                 "retries": 1})
    with c:
        assert wait_for(lambda: c.health == "unhealthy", timeout=10)
        entry = c.inspect()["State"]["Health"]["Log"][-1]
        assert entry["ExitCode"] == -1
        assert 'exec: "nosuch": executable file not found in $PATH' in entry["Output"]


@pytest.mark.parametrize("flags, needle", [
    (["--no-healthcheck", "--health-cmd", "true"], "--no-healthcheck conflicts"),
    (["--health-interval", "10"], '"--health-interval" flag'),
    (["--health-cmd", "true", "--health-timeout", "500us"], "cannot be less than 1ms"),
])
def test_bad_health_flags_are_one_sentence(flags, needle):
    fails_with_one_sentence(cli("run", "--rm", *flags, "busybox", "true"), needle)
