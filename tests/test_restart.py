"""--restart: the monitor starts a container again, with Docker's back-off."""

import time

import pytest

from conftest import sandbox, fails_with_one_sentence

from sandbox.engine.restart import next_delay, parse, should_restart
from sandbox.errors import UsageError


# --- pure --------------------------------------------------------------------------------
def test_policies_parse_as_docker():
    assert parse("no") == {"Name": "no", "MaximumRetryCount": 0}
    assert parse("on-failure:3") == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert parse("unless-stopped")["Name"] == "unless-stopped"
    for bad in ("sometimes", "always:3", "on-failure:-1", "on-failure:x"):
        with pytest.raises(UsageError):
            parse(bad)
    with pytest.raises(UsageError, match="--restart and --rm"):
        parse("always", auto_remove=True)


def test_should_restart():
    on_failure = {"Name": "on-failure", "MaximumRetryCount": 2}
    assert should_restart(on_failure, 1, 0, False) and should_restart(on_failure, 1, 1, False)
    assert not should_restart(on_failure, 1, 2, False)   # its retries used up
    assert not should_restart(on_failure, 0, 0, False)   # success is not a failure
    always = {"Name": "always", "MaximumRetryCount": 0}
    assert should_restart(always, 0, 99, False)
    assert not should_restart(always, 0, 0, True)        # stop wins


def test_backoff_doubles_and_resets_after_ten_seconds():
    delays = [0.0]
    for _ in range(5):
        delays.append(next_delay(delays[-1], ran_for=0.1))
    assert delays[1:] == [0.1, 0.2, 0.4, 0.8, 1.6]
    assert next_delay(1.6, ran_for=10) == 0.1
    assert next_delay(50, ran_for=1) == 60  # at most a minute


# --- real containers ---------------------------------------------------------------------
def _inspect(name, template):
    return sandbox("inspect", "-f", template, name).stdout.strip()


def _wait_for(name, status, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if _inspect(name, "{{.State.Status}}") == status:
            return
        time.sleep(0.05)
    raise AssertionError(f"{name} never became {status}")


def test_on_failure_restarts_n_times_with_backoff(name):
    sandbox("run", "-d", "--name", name, "--restart", "on-failure:2", "busybox", "sh", "-c",
            "echo started; exit 3", check=True)
    time.sleep(0.5)  # two restarts: after 0.1 s and 0.2 s
    _wait_for(name, "exited")
    assert _inspect(name, "{{.RestartCount}} {{.State.ExitCode}} {{json .HostConfig.RestartPolicy}}") \
        == '2 3 {"Name": "on-failure", "MaximumRetryCount": 2}'
    stamps = sandbox("logs", "-t", name).stdout.split()[0::2]
    assert len(stamps) == 3
    from sandbox.engine.jsonlog import parse_time
    gaps = [(parse_time(b, 0) - parse_time(a, 0)) / 1e9 for a, b in zip(stamps, stamps[1:])]
    assert gaps[0] >= 0.1 and gaps[1] >= 0.2, gaps  # 100 ms, then twice as long
    sandbox("rm", name, check=True)


def test_always_until_stop(name):
    sandbox("run", "-d", "--name", name, "--restart", "always", "busybox", "true", check=True)
    time.sleep(0.6)
    assert int(_inspect(name, "{{.RestartCount}}")) >= 1
    sandbox("stop", name, check=True)
    count = _inspect(name, "{{.RestartCount}}")
    time.sleep(0.5)
    assert _inspect(name, "{{.State.Status}} {{.RestartCount}}") == f"exited {count}"
    sandbox("rm", name, check=True)


def test_a_restarting_container_is_removed_with_rm_f(name):
    sandbox("run", "-d", "--name", name, "--restart", "always", "busybox", "sh", "-c",
            "sleep 0.1", check=True)
    time.sleep(0.4)
    sandbox("rm", "-f", name, check=True)
    time.sleep(0.5)  # and nothing starts it again
    assert sandbox("ps", "-aq").stdout == ""


def test_restart_with_rm_and_a_bad_policy_are_one_sentence():
    fails_with_one_sentence(sandbox("run", "--rm", "--restart", "always", "busybox", "true"),
                            "--restart and --rm")
    fails_with_one_sentence(sandbox("run", "--restart", "sometimes", "busybox", "true"),
                            "sometimes")


def test_a_foreground_run_returns_at_the_first_exit_and_the_monitor_goes_on(name):
    r = sandbox("run", "--name", name, "--restart", "on-failure:1", "busybox", "sh", "-c",
                "echo hi; exit 3")
    assert (r.returncode, r.stdout) == (3, "hi\n")
    time.sleep(0.3)
    _wait_for(name, "exited")
    assert _inspect(name, "{{.RestartCount}}") == "1"
    assert sandbox("logs", name).stdout == "hi\nhi\n"
    sandbox("rm", name, check=True)
