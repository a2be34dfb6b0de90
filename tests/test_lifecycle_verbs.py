"""The verbs Docker has beyond run/stop/rm (issue 12): wait, top, rename, pause and unpause,
restart, --init, --stop-signal and --stop-timeout, Docker's exit codes, container prune."""

import json
import os
import subprocess
import time
from pathlib import Path

import pytest

import sandbox as api
from conftest import IS_ROOT, fails_with_one_sentence, root_only, rootless_only, sandbox, wait_for
from sandbox.isolation import cgroups, freezer


def inspect(name: str, template: str) -> str:
    return sandbox("inspect", "-f", template, name, check=True).stdout.strip()


def container_dir(state_root: Path, name: str) -> Path:
    return state_root / "containers" / inspect(name, "{{.Id}}")


def status_of(name: str) -> str:
    lines = sandbox("ps", "-a", check=True).stdout.splitlines()
    header = lines[0]
    row = next(line for line in lines[1:] if line.rstrip().endswith(" " + name))
    return row[header.index("STATUS"):header.index("PORTS")].strip()


@pytest.fixture
def sleeper(name):
    sandbox("run", "-d", "--name", name, "busybox", "sleep", "300", check=True)
    yield name
    sandbox("rm", "-f", name)


def can_pause() -> bool:
    """Whether containers started by this user get a cgroup with a freezer here."""
    try:
        cgroup = cgroups.for_container("probe")
    except Exception:  # noqa: BLE001 - no cgroup at all (rootless on v1)
        return False
    return cgroup.version == 2 or "freezer" in cgroup.dirs


needs_freezer = pytest.mark.skipif(not can_pause(), reason="no cgroup freezer for this user")


# --- wait -------------------------------------------------------------------------------
def test_wait_blocks_until_each_stops_and_prints_each_exit_code(name):
    sandbox("run", "-d", "--name", name, "busybox", "sh", "-c", "sleep 0.3; exit 3", check=True)
    sandbox("create", "--name", name + "-c", "busybox", "true", check=True)
    try:
        started = time.monotonic()
        r = sandbox("wait", name, name + "-c", check=True)
        assert time.monotonic() - started >= 0.2
        assert r.stdout == "3\n0\n"  # a created container has not run: 0, as Docker says
        assert sandbox("wait", name, check=True).stdout == "3\n"  # already exited: at once
    finally:
        sandbox("rm", "-f", name, name + "-c")


def test_wait_reads_the_exit_of_a_container_removed_on_exit(name, state_root):
    for i in (1, 2):
        sandbox("run", "-d", "--rm", "--name", f"{name}-{i}", "busybox", "sh", "-c",
                f"sleep 0.5; exit {i}", check=True)
    r = sandbox("wait", f"{name}-1", f"{name}-2", check=True)
    assert r.stdout == "1\n2\n"
    assert wait_for(lambda: not any((state_root / "names").glob(name + "-*")))  # removed after


def test_wait_for_an_unknown_container_goes_on_with_the_others(name):
    sandbox("run", "--name", name, "busybox", "sh", "-c", "exit 4")
    try:
        r = sandbox("wait", "ghost", name)
        assert r.returncode == 1 and r.stdout == "4\n"
        assert r.stderr == "sandbox: No such container: ghost\n"
    finally:
        sandbox("rm", name)


# --- top --------------------------------------------------------------------------------
def test_top_shows_the_processes_as_the_host_sees_them(name, state_root):
    script = "sleep 301 & sleep 302; exit 0"  # the exit keeps sh from exec'ing the last sleep
    sandbox("run", "-d", "--name", name, "busybox", "sh", "-c", script, check=True)
    try:
        pid = int(inspect(name, "{{.State.Pid}}"))
        assert wait_for(lambda: "sleep 301" in sandbox("top", name).stdout)
        lines = sandbox("top", name, check=True).stdout.splitlines()
        assert lines[0].split() == ["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"]
        assert lines[0].startswith("UID" + " " * 17 + "PID")  # Docker's tabwriter: 20 wide
        rows = {int(line.split()[1]): line.split(None, 7)[7] for line in lines[1:]}
        assert rows[pid] == "sh -c " + script  # host pids: the container's PID 1 is this one
        assert sorted(rows.values()) == ["sh -c " + script, "sleep 301", "sleep 302"]
        r = sandbox("top", name, "-o", "pid,comm", check=True)
        assert r.stdout.split()[:2] == ["PID", "COMMAND"] and len(r.stdout.splitlines()) == 4
    finally:
        sandbox("rm", "-f", name)


def test_top_of_a_stopped_container_and_without_a_pid_column(name, sleeper):
    fails_with_one_sentence(sandbox("top", sleeper, "-o", "comm"), "prints no PID column")
    sandbox("create", "--name", name + "-c", "busybox", "true", check=True)
    try:
        fails_with_one_sentence(sandbox("top", name + "-c"), "is not running")
    finally:
        sandbox("rm", name + "-c")


# --- rename -----------------------------------------------------------------------------
def test_rename_keeps_the_container_and_frees_the_old_name(sleeper, state_root):
    cid = inspect(sleeper, "{{.Id}}")
    new = sleeper + "-new"
    assert sandbox("rename", sleeper, new).returncode == 0
    try:
        assert inspect(new, "{{.Id}} {{.Name}}") == f"{cid} /{new}"
        assert sandbox("exec", new, "true").returncode == 0  # still the running container
        fails_with_one_sentence(sandbox("inspect", sleeper), "No such object")
        assert not (state_root / "names" / sleeper).exists()
        sandbox("create", "--name", sleeper, "busybox", "true", check=True)  # free again
        sandbox("rm", sleeper, check=True)
    finally:
        sandbox("rm", "-f", new)


def test_a_renamed_rm_container_releases_its_new_name(name, state_root):
    sandbox("run", "-d", "--rm", "--name", name, "busybox", "sleep", "0.5", check=True)
    sandbox("rename", name, name + "-new", check=True)
    assert sandbox("wait", name + "-new", check=True).stdout == "0\n"
    assert wait_for(lambda: not (state_root / "names" / (name + "-new")).exists())


def test_rename_refusals_change_nothing(sleeper, name):
    other = name + "-other"
    sandbox("create", "--name", other, "busybox", "true", check=True)
    try:
        r = sandbox("rename", sleeper, other)
        fails_with_one_sentence(r, f'The container name "/{other}" is already in use')
        assert r.returncode == 1
        fails_with_one_sentence(sandbox("rename", sleeper, "bad/name"),
                                "Invalid container name (bad/name)")
        fails_with_one_sentence(sandbox("rename", sleeper, sleeper), "same name")
        fails_with_one_sentence(sandbox("rename", "ghost", "x"), "No such container: ghost")
        assert inspect(sleeper, "{{.Name}}") == "/" + sleeper
        assert inspect(other, "{{.Name}}") == "/" + other
    finally:
        sandbox("rm", other)


# --- pause, unpause -----------------------------------------------------------------------
def counter(state_root: Path, name: str) -> int:
    """The number the container's loop last wrote, read from its upper layer on the host."""
    try:
        return int((container_dir(state_root, name) / "upper" / "n").read_text() or 0)
    except (FileNotFoundError, ValueError):
        return 0


@needs_freezer
def test_pause_freezes_every_process_and_unpause_lets_them_go_on(name, state_root):
    sandbox("run", "-d", "--name", name, "busybox", "sh", "-c",
            "i=0; while :; do i=$((i+1)); echo $i > /n; sleep 0.02; done", check=True)
    try:
        assert wait_for(lambda: counter(state_root, name) > 2)
        assert sandbox("pause", name).stdout == f"{name}\n"
        assert status_of(name).endswith("(Paused)") and status_of(name).startswith("Up ")
        assert inspect(name, "{{.State.Status}} {{.State.Paused}}") == "paused true"
        frozen = counter(state_root, name)
        time.sleep(0.3)
        assert counter(state_root, name) == frozen, "a paused container went on running"
        r = sandbox("exec", name, "true")
        fails_with_one_sentence(r, "is paused, unpause the container before exec")
        fails_with_one_sentence(sandbox("pause", name), "is already paused")
        assert sandbox("unpause", name, check=True).stdout == f"{name}\n"
        assert wait_for(lambda: counter(state_root, name) > frozen + 2)
        assert inspect(name, "{{.State.Status}} {{.State.Paused}}") == "running false"
        fails_with_one_sentence(sandbox("unpause", name), "is not paused")
    finally:
        sandbox("rm", "-f", name)


@needs_freezer
def test_stop_and_kill_of_a_paused_container_thaw_it(name):
    sandbox("run", "-d", "--init", "--name", name, "busybox", "sleep", "300", check=True)
    sandbox("run", "-d", "--name", name + "-k", "busybox", "sleep", "300", check=True)
    try:
        sandbox("pause", name, name + "-k", check=True)
        started = time.monotonic()
        sandbox("stop", name, check=True)  # SIGTERM, then thawed: the reaper passes it on
        assert time.monotonic() - started < 3
        assert inspect(name, "{{.State.Status}} {{.State.ExitCode}}") == "exited 143"
        sandbox("kill", name + "-k", check=True)
        assert inspect(name + "-k", "{{.State.Status}} {{.State.ExitCode}}") == "exited 137"
    finally:
        sandbox("rm", "-f", name, name + "-k")


def test_pause_of_a_stopped_container_is_one_sentence(name):
    sandbox("run", "--name", name, "busybox", "true", check=True)
    try:
        r = sandbox("pause", name)
        fails_with_one_sentence(r, "is not running")
        assert r.returncode == 1
        fails_with_one_sentence(sandbox("unpause", name), "is not paused")
        assert inspect(name, "{{.State.Status}}") == "exited"
    finally:
        sandbox("rm", name)


@rootless_only
@pytest.mark.skipif(can_pause(), reason="this user has a freezer here")
def test_rootless_without_a_freezer_says_how_to_get_one(sleeper):
    r = sandbox("pause", sleeper)
    fails_with_one_sentence(r, "has no cgroup freezer", "cgroup v2")
    assert status_of(sleeper).startswith("Up ") and "Paused" not in status_of(sleeper)


@root_only
@pytest.mark.skipif(not any(m.version == 2 for m in cgroups.mounts()), reason="no cgroup2 mount")
def test_the_v2_freezer_on_a_real_cgroup2_hierarchy():
    """cgroup.freeze and cgroup.events, on this host's cgroup2 mount (hybrid hosts have one)."""
    mount = next(m for m in cgroups.mounts() if m.version == 2).path
    directory = os.path.join(mount, f"sandbox-test-freeze-{os.getpid()}")
    os.mkdir(directory)
    child = subprocess.Popen(["sleep", "30"])
    try:
        Path(directory, "cgroup.procs").write_text(str(child.pid))
        group = cgroups.V2Cgroup(directory)
        freezer.freeze(group)
        assert freezer.is_frozen(group) and "frozen 1" in Path(directory, "cgroup.events").read_text()
        freezer.thaw(group)
        assert wait_for(lambda: not freezer.is_frozen(group))
    finally:
        child.kill()
        child.wait()
        wait_for(lambda: not Path(directory, "cgroup.procs").read_text().strip())
        os.rmdir(directory)


# --- restart ------------------------------------------------------------------------------
def test_restart_stops_and_starts_again(name, state_root):
    sandbox("run", "-d", "--name", name, "busybox", "sh", "-c",
            "echo start >> /starts; sleep 300", check=True)
    try:
        first = inspect(name, "{{.State.Pid}}")
        started = time.monotonic()
        assert sandbox("restart", "-t", "0", name, check=True).stdout == f"{name}\n"
        assert time.monotonic() - started < 3
        assert inspect(name, "{{.State.Status}}") == "running"
        assert inspect(name, "{{.State.Pid}}") != first
        starts = container_dir(state_root, name) / "upper" / "starts"
        assert wait_for(lambda: starts.read_text() == "start\nstart\n")
        sandbox("kill", name, check=True)
        sandbox("restart", name, check=True)  # a stopped container is just started
        assert inspect(name, "{{.State.Status}}") == "running"
    finally:
        sandbox("rm", "-f", name)


def test_restart_keeps_a_container_that_is_removed_on_exit(name):
    sandbox("run", "-d", "--rm", "--name", name, "busybox", "sleep", "300", check=True)
    try:
        sandbox("restart", "-t", "0", name, check=True)
        assert inspect(name, "{{.State.Status}} {{.State.Restarting}}") == "running false"
    finally:
        sandbox("rm", "-f", name)


# --- --init -------------------------------------------------------------------------------
def zombies(name: str) -> list[str]:
    out = sandbox("exec", name, "ps", "-o", "stat,comm", check=True).stdout
    return [line for line in out.splitlines()[1:] if line.split()[0].startswith("Z")]


def test_without_init_orphans_become_zombies_and_with_init_they_are_reaped(name):
    # The subshell starts a short sleep and exits: the sleep is orphaned to PID 1.
    script = "(sleep 0.1 &); exec sleep 300"
    sandbox("run", "-d", "--name", name, "busybox", "sh", "-c", script, check=True)
    sandbox("run", "-d", "--init", "--name", name + "-i", "busybox", "sh", "-c", script,
            check=True)
    try:
        assert wait_for(lambda: zombies(name)), "PID 1 sleep never reaps"
        time.sleep(0.3)
        assert zombies(name + "-i") == []
        pids = sandbox("exec", name + "-i", "ps", "-o", "pid,comm", check=True).stdout.split()
        assert pids[2:6] == ["1", "sandbox-init", "2", "sleep"]
    finally:
        sandbox("rm", "-f", name, name + "-i")


def test_stop_waits_for_a_pid1_without_handler_but_not_with_init(name):
    sandbox("run", "-d", "--name", name, "busybox", "sh", "-c", "sleep 100", check=True)
    sandbox("run", "-d", "--init", "--name", name + "-i", "busybox", "sh", "-c", "sleep 100",
            check=True)
    try:
        started = time.monotonic()
        sandbox("stop", "-t", "2", name, check=True)
        assert time.monotonic() - started >= 2, "PID 1 ignores SIGTERM: stop waits the timeout"
        assert inspect(name, "{{.State.ExitCode}}") == "137"
        started = time.monotonic()
        sandbox("stop", "-t", "2", name + "-i", check=True)
        assert time.monotonic() - started < 1.5
        assert inspect(name + "-i", "{{.State.ExitCode}}") == "143"  # 128 + SIGTERM
    finally:
        sandbox("rm", "-f", name, name + "-i")


def test_init_forwards_signals_and_exits_with_the_commands_code(name):
    r = sandbox("run", "--rm", "--init", "busybox", "sh", "-c", "exit 7")
    assert r.returncode == 7
    r = sandbox("run", "--rm", "--init", "busybox", "sh", "-c", "kill -TERM $$; sleep 5")
    assert r.returncode == 143
    sandbox("run", "-d", "--init", "--name", name, "busybox", "sh", "-c",
            'trap "echo got USR1; exit 5" USR1; while :; do sleep 0.05; done', check=True)
    try:
        time.sleep(0.2)
        sandbox("kill", "-s", "USR1", name, check=True)
        assert sandbox("wait", name, check=True).stdout == "5\n"
        assert sandbox("logs", name).stdout == "got USR1\n"
        assert inspect(name, "{{.HostConfig.Init}}") == "true"
    finally:
        sandbox("rm", "-f", name)


def test_init_reports_a_missing_command_as_127():
    r = sandbox("run", "--rm", "--init", "busybox", "nosuch")
    assert r.returncode == 127
    fails_with_one_sentence(r, 'exec: "nosuch": executable file not found in $PATH')


def test_the_init_is_confined_and_small(name):
    sandbox("run", "-d", "--init", "--name", name, "busybox", "sleep", "300", check=True)
    try:
        status = sandbox("exec", name, "cat", "/proc/1/status", check=True).stdout
        fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
        assert int(fields["CapEff"], 16) == 1 << 5  # CAP_KILL only
        assert fields["Seccomp"].strip() == "2" and fields["NoNewPrivs"].strip() == "1"
        pid = inspect(name, "{{.State.Pid}}")
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        private = sum(int(line.split()[1]) for line in rollup.splitlines()
                      if line.startswith(("Private_Dirty:", "Private_Clean:")))
        print(f"--init reaper: {private / 1024:.1f} MiB private")
        assert private < 24 * 1024, f"the reaper holds {private} kB of its own"
    finally:
        sandbox("rm", "-f", name)


# --- --stop-signal, --stop-timeout ----------------------------------------------------
def test_stop_uses_the_containers_stop_signal_and_timeout(name):
    sandbox("run", "-d", "--name", name, "--stop-signal", "USR1", "--stop-timeout", "1",
            "busybox", "sh", "-c", 'trap "exit 3" USR1; while :; do sleep 0.05; done',
            check=True)
    sandbox("run", "-d", "--name", name + "-t", "--stop-timeout", "1", "busybox",
            "sleep", "300", check=True)
    try:
        assert inspect(name, "{{.Config.StopSignal}} {{.Config.StopTimeout}}") == "USR1 1"
        assert inspect(name + "-t", "{{.Config.StopSignal}}") == "<no value>"
        time.sleep(0.2)
        sandbox("stop", name, check=True)
        assert inspect(name, "{{.State.ExitCode}}") == "3"
        started = time.monotonic()
        sandbox("restart", name + "-t", check=True)  # --stop-timeout 1, not 10
        assert time.monotonic() - started < 4
        started = time.monotonic()
        sandbox("stop", "-t", "0", name + "-t", check=True)  # -t wins
        assert time.monotonic() - started < 1
    finally:
        sandbox("rm", "-f", name, name + "-t")


@pytest.mark.parametrize("signal", ["NOPE", "99", "0", "SIG"])
def test_a_bad_stop_signal_creates_nothing(name, signal):
    r = sandbox("run", "--name", name, "--stop-signal", signal, "busybox", "true")
    fails_with_one_sentence(r, f'invalid argument "{signal}" for "--stop-signal" flag')
    assert r.returncode == 125
    assert sandbox("inspect", name).returncode == 1


# --- exit codes ---------------------------------------------------------------------------
@pytest.mark.parametrize("argv, code, words", [
    (["run", "--rm", "busybox", "nosuch"], 127, "executable file not found in $PATH"),
    (["run", "--rm", "busybox", "/nosuch"], 127, "stat /nosuch: no such file or directory"),
    (["run", "--rm", "busybox", "/etc"], 126, 'exec: "/etc": permission denied'),
    (["run", "--rm", "busybox", "/etc/passwd"], 126, "permission denied"),
    (["run", "--bogus", "busybox"], 125, "unknown flag: --bogus"),
    (["run", "--rm", "sha256:" + "0" * 64, "true"], 125, "sha256:"),
    (["stop", "ghost"], 1, "No such container: ghost"),
    (["top", "ghost"], 1, "No such container: ghost"),
    (["pause", "ghost"], 1, "No such container: ghost"),
    (["stop", "--bogus", "ghost"], 125, "unknown flag: --bogus"),
])
def test_exit_codes_are_dockers(argv, code, words):
    r = sandbox(*argv)
    assert r.returncode == code, (r.returncode, r.stderr)
    assert words in r.stderr.splitlines()[0]


def test_a_missing_argument_exits_1_as_docker_does():
    r = sandbox("wait")
    assert r.returncode == 1 and '"sandbox wait" requires at least 1 argument' in r.stderr


def test_exec_codes(sleeper):
    assert sandbox("exec", sleeper, "nosuch").returncode == 127
    assert sandbox("exec", sleeper, "/etc").returncode == 126
    assert sandbox("exec", sleeper, "sh", "-c", "exit 9").returncode == 9


# --- container prune -----------------------------------------------------------------------
def test_container_prune_removes_only_stopped_containers(name, sleeper):
    sandbox("run", "--name", name + "-s", "busybox", "sh", "-c", "head -c 5000 /dev/zero > /f",
            check=True)
    cid = inspect(name + "-s", "{{.Id}}")
    r = sandbox("container", "prune", "-f", check=True)
    lines = r.stdout.splitlines()
    assert lines[0] == "Deleted Containers:" and cid in lines
    assert lines[-1].startswith("Total reclaimed space: ") and lines[-2] == ""
    assert lines[-1] == "Total reclaimed space: 5kB"
    assert inspect(sleeper, "{{.State.Status}}") == "running"
    assert sandbox("container", "prune", "-f", check=True).stdout == "Total reclaimed space: 0B\n"


# --- the Python API ------------------------------------------------------------------------
def test_api_verbs(name):
    with api.run("busybox", "sleep 300", detach=True, name=name, init=True,
                 stop_timeout=1) as c:
        top = c.top()
        assert top["Titles"][1] == "PID" and len(top["Processes"]) == 2
        c.rename(name + "-r")
        assert c.name == name + "-r" and api.get(name + "-r").id == c.id
        if can_pause():
            c.pause()
            assert c.paused and c.status == "running"
            c.unpause()
            assert not c.paused
        first = c.pid
        c.restart()
        assert c.status == "running" and c.pid != first
        c.stop()
        assert c.wait() == 143
    with pytest.raises(Exception, match="is not running"):
        c.pause()


# --- pure decisions, no container ----------------------------------------------------------
def test_top_keeps_the_containers_lines_and_their_threads():
    from sandbox.engine.top import parse
    output = ("USER PID TID CMD\n"
              "root 10 - sh -c x\n"      # ps -m: the process line, then its threads
              "- - 10 -\n"
              "root 11 - other process\n"
              "- - 11 -\n")
    titles, rows = parse(output, {10}, ["-m"])
    assert titles == ["USER", "PID", "TID", "CMD"]
    assert rows == [["root", "10", "-", "sh -c x"], ["-", "-", "10", "-"]]


@pytest.mark.parametrize("text, number", [("TERM", 15), ("SIGTERM", 15), ("sigusr1", 10),
                                          ("9", 9), ("64", 64)])
def test_signals_are_read_as_docker_reads_them(text, number):
    from sandbox.engine.lifecycle import parse_signal
    assert parse_signal(text) == number


@pytest.mark.parametrize("text", ["NOPE", "0", "65", "SIG", "-1", "TERM ", "Signals"])
def test_bad_signals_are_refused(text):
    from sandbox.errors import UsageError
    from sandbox.engine.lifecycle import parse_signal
    with pytest.raises(UsageError, match=f'invalid argument "{text}" for "--stop-signal"'):
        parse_signal(text, "--stop-signal")
