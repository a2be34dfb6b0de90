"""Logs for every container, kept as Docker's json-file driver keeps them."""

import json
import re

import pytest

from conftest import sandbox, fails_with_one_sentence, state_root  # noqa: F401

from sandbox.engine.jsonlog import JsonLog, parse_opts, parse_time, read, to_bytes
from sandbox.errors import UsageError

TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z")


def _log_lines(state_root, name):
    cid = sandbox("inspect", "-f", "{{.Id}}", name).stdout.strip()
    path = state_root / "containers" / cid / f"{cid}-json.log"
    return [json.loads(line) for line in path.read_text().splitlines()], path


# --- pure ------------------------------------------------------------------------------
def test_sizes_and_options():
    assert to_bytes("10m") == 10_000_000 and to_bytes("1k") == 1000 and to_bytes("512") == 512
    assert parse_opts([]) == {"max-size": "10m", "max-file": "3"}  # bounded by default
    assert parse_opts(["max-size=1k", "max-file=2"]) == {"max-size": "1k", "max-file": "2"}
    for bad in (["max-size=lots"], ["max-file=0"], ["mode=non-blocking"], ["max-size"]):
        with pytest.raises(UsageError):
            parse_opts(bad)


def test_since_reads_durations_times_and_unix_seconds():
    now = 1_800_000_000 * 10 ** 9
    assert parse_time("10m", now) == now - 600 * 10 ** 9
    assert parse_time("1h30m", now) == now - 5400 * 10 ** 9
    assert parse_time("1700000000.5", now) == 1_700_000_000_500_000_000
    assert parse_time("2026-01-02T03:04:05.25Z", now) == 1767323045_250_000_000
    assert parse_time("2026-01-02T04:04:05+01:00", now) == 1767323045 * 10 ** 9
    with pytest.raises(UsageError):
        parse_time("yesterday", now)


def test_rotation_keeps_max_file_files(tmp_path):
    cdir = tmp_path / "abc"
    cdir.mkdir()
    log = JsonLog(cdir / "abc-json.log", {"max-size": "300", "max-file": "3"})
    for i in range(40):
        log.write("stdout", f"line {i}\n".encode())
    log.write("stderr", b"no newline yet")
    log.close()
    names = sorted(p.name for p in cdir.iterdir())
    assert names == ["abc-json.log", "abc-json.log.1", "abc-json.log.2"]
    assert all(p.stat().st_size <= 300 for p in cdir.iterdir())
    entries = read(cdir)
    assert entries[-1] == {"log": "no newline yet", "stream": "stderr", "time": entries[-1]["time"]}
    numbers = [int(e["log"].split()[1]) for e in entries[:-1]]
    assert numbers == list(range(numbers[0], 40))  # the newest kept, in order, none lost between


# --- real containers -------------------------------------------------------------------
def test_format_of_a_detached_container(name, state_root):
    sandbox("run", "-d", "--name", name, "busybox", "sh", "-c", "echo out; echo err >&2",
            check=True)
    sandbox("stop", name)  # waits for the exit to be recorded (it has exited already)
    entries, path = _log_lines(state_root, name)
    assert sorted((e["stream"], e["log"]) for e in entries) == [("stderr", "err\n"),
                                                               ("stdout", "out\n")]
    assert all(set(e) == {"log", "stream", "time"} and TIME.fullmatch(e["time"])
               for e in entries)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_text().startswith('{"log":')  # compact, as Docker writes it
    r = sandbox("logs", name)
    assert (r.stdout, r.stderr) == ("out\n", "err\n")
    sandbox("rm", name, check=True)


def test_a_foreground_run_is_logged_too(name, state_root):
    r = sandbox("run", "--name", name, "busybox", "sh", "-c", "echo one; echo two >&2")
    assert (r.stdout, r.stderr) == ("one\n", "two\n")
    r = sandbox("logs", name)
    assert (r.stdout, r.stderr) == ("one\n", "two\n")
    sandbox("rm", name, check=True)


def test_a_terminals_output_is_stdout(name, state_root):
    from test_tty import spawn
    import pexpect
    child = spawn("run", "-it", "--name", name, "busybox", "sh", "-c", "echo on-tty >&2")
    child.expect(pexpect.EOF)
    entries, _ = _log_lines(state_root, name)
    assert [(e["stream"], e["log"]) for e in entries] == [("stdout", "on-tty\r\n")]
    sandbox("rm", name, check=True)


def test_tail_timestamps_since_until(name):
    sandbox("run", "--name", name, "busybox", "sh", "-c", "for i in 1 2 3 4; do echo $i; done",
            check=True)
    assert sandbox("logs", "--tail", "2", name).stdout == "3\n4\n"
    assert sandbox("logs", "-n", "0", name).stdout == ""
    stamped = sandbox("logs", "-t", "--tail", "1", name).stdout
    assert re.fullmatch(TIME.pattern + r" 4\n", stamped), stamped
    assert sandbox("logs", "--since", "1h", name).stdout == "1\n2\n3\n4\n"
    assert sandbox("logs", "--since", "2100-01-01T00:00:00Z", name).stdout == ""
    assert sandbox("logs", "--until", "1h", name).stdout == ""
    fails_with_one_sentence(sandbox("logs", "--since", "soon", name), "--since")
    sandbox("rm", name, check=True)


def test_follow_ends_when_the_container_does(name):
    sandbox("run", "-d", "--name", name, "busybox", "sh", "-c",
            "echo a; sleep 0.5; echo b", check=True)
    r = sandbox("logs", "-f", name, timeout=10)
    assert r.stdout == "a\nb\n"
    sandbox("rm", name, check=True)


def test_rotation_with_log_opt(name, state_root):
    sandbox("run", "--name", name, "--log-opt", "max-size=1k", "--log-opt", "max-file=2",
            "busybox", "sh", "-c", "i=0; while [ $i -lt 200 ]; do echo line $i; i=$((i+1)); done",
            check=True)
    _, path = _log_lines(state_root, name)
    files = sorted(p.name for p in path.parent.glob(path.name + "*"))
    assert files == [path.name, path.name + ".1"]
    shown = sandbox("logs", name).stdout.splitlines()
    assert shown[-1] == "line 199" and len(shown) < 200
    config = sandbox("inspect", "-f", "{{json .HostConfig.LogConfig}}", name).stdout
    assert json.loads(config) == {"Type": "json-file",
                                  "Config": {"max-size": "1k", "max-file": "2"}}
    sandbox("rm", name, check=True)


def test_bad_log_opt_is_one_sentence():
    fails_with_one_sentence(sandbox("run", "--log-opt", "max-size=huge", "busybox", "true"),
                            "--log-opt")


def test_logs_of_an_older_sandbox_are_still_shown(name, state_root):
    sandbox("create", "--name", name, "busybox", "true", check=True)
    cid = sandbox("inspect", "-f", "{{.Id}}", name).stdout.strip()
    (state_root / "containers" / cid / "stdout.log").write_text("from before\n")
    assert sandbox("logs", name).stdout == "from before\n"
    sandbox("rm", name, check=True)

