"""Real limits through the command line: the kernel kills, throttles and refuses to fork.

As root, these run against whatever this host has: v1 controllers (or hybrid)
on the course's Debian machines, pure cgroup v2 in the GitHub workflow
(.github/workflows/cgroup-v2.yml).  The rootless pass skips them, and checks
instead that a limit an unprivileged user cannot enforce is refused with the
reason and the fix, while containers without limits still run.
"""

import glob
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sandbox import api
from sandbox.isolation import cgroups
from conftest import root_only, rootless_only, sandbox, wait_for

HOG = "x=a; while true; do x=$x$x; done"  # doubles a shell variable until memory runs out
SPIN = "while :; do :; done"


# --- helpers -------------------------------------------------------------------------


def container_id(name: str) -> str:
    return sandbox("inspect", "-f", "{{.Id}}", name, check=True).stdout.strip()


def state_json(state_root: Path, name: str) -> dict:
    """The container's state.json as the runtime wrote it (Pid, MonitorPid, Cgroup, ...)."""
    path = state_root / "containers" / container_id(name) / "state.json"
    return json.loads(path.read_text())


def cgroup_dirs(paths: dict) -> list[str]:
    """Every directory of a container's cgroup, from the "Cgroup" entry of its state."""
    return sorted(set(paths["dirs"].values())) if paths["version"] == 1 else [paths["dir"]]


def cgroup_file(paths: dict, controller: str, name: str) -> str:
    directory = paths["dirs"][controller] if paths["version"] == 1 else paths["dir"]
    return Path(directory, name).read_text().strip()


def sandbox_cgroups() -> list[str]:
    """Every ``sandbox`` directory in a cgroup hierarchy where this runtime could make one:
    at or above our own cgroup in each hierarchy, plus a glob a few levels deep."""
    found = set()
    own = cgroups.own_paths()
    for mount in cgroups.mounts():
        for key in mount.controllers if mount.version == 1 else ("",):
            path = own.get(key, "/")
            while True:
                candidate = os.path.join(mount.path, path.lstrip("/"), "sandbox")
                if os.path.isdir(candidate):
                    found.add(candidate)
                if path == "/":
                    break
                path = os.path.dirname(path)
    for depth in range(5):
        found.update(d for d in glob.glob("/sys/fs/cgroup/" + "*/" * depth + "sandbox")
                     if os.path.isdir(d))
    return sorted(found)


def leftover_cgroups() -> list[str]:
    """Container cgroups nobody lives in, and empty ``sandbox`` parents.

    Another state root (a notebook run alongside) may have live containers, whose
    cgroups hold processes: those are not leftovers.  A cgroup caught between its
    mkdir and its first process, or its last and its rmdir, is only a moment: a
    leftover is one that stays for the whole three seconds this waits.
    """
    def now():
        left = []
        for parent in sandbox_cgroups():
            try:
                children = [e.path for e in os.scandir(parent) if e.is_dir()]
            except OSError:
                continue  # removed while we looked
            if not children:
                left.append(parent)
            for child in children:
                try:
                    if not Path(child, "cgroup.procs").read_text().strip():
                        left.append(child)
                except FileNotFoundError:
                    continue  # removed while we looked
                except PermissionError:
                    continue  # another user's (the root pass's, run alongside): not ours to judge
        return left
    last = now()
    deadline = time.monotonic() + 3
    while last and time.monotonic() < deadline:
        time.sleep(0.2)
        last = [p for p in now() if p in last]
    return last


def new_leftover_cgroups(before: list[str]) -> list[str]:
    """Leftovers that were not there when the test began: a machine may have other users
    of this runtime (or crashed runs of theirs); their cgroups are not this test's."""
    return [c for c in leftover_cgroups() if c not in before]


def ps_ids() -> list[str]:
    return sandbox("ps", "-a", "-q", "--no-trunc", check=True).stdout.split()


def exited(name: str) -> bool:
    return sandbox("inspect", "-f", "{{.State.Status}}", name).stdout.strip() == "exited"


# --- memory --------------------------------------------------------------------------
@root_only
def test_memory_hog_is_killed_with_137():
    r = sandbox("run", "--rm", "--memory", "32m", "busybox", "sh", "-c", HOG, timeout=120)
    assert r.returncode == 137, (r.returncode, r.stderr)  # 128 + SIGKILL, from the OOM killer
    # Under the limit nothing happens: a megabyte is fine in 32m.
    r = sandbox("run", "--rm", "--memory", "32m", "busybox", "sh", "-c",
                "x=$(head -c 1000000 /dev/zero | tr '\\0' a); echo ${#x}")
    assert (r.returncode, r.stdout) == (0, "1000000\n"), r.stderr


@root_only
def test_detached_hog_is_recorded_as_oom_killed(state_root, name):
    try:
        sandbox("run", "-d", "--name", name, "--memory", "32m", "busybox", "sh", "-c", HOG,
                check=True)
        assert wait_for(lambda: exited(name), timeout=60, step=0.2)
        r = sandbox("inspect", "-f", "{{.State.OOMKilled}} {{.State.ExitCode}}", name)
        assert r.stdout.split() == ["true", "137"]
        # The kernel's own word for it, kept when the cgroup was removed.
        evidence = " ".join(map(str, api.get(name).cgroup_evidence.values()))
        assert re.search(r"^oom_kill [1-9]", evidence, re.M), evidence
        state = state_json(state_root, name)
        assert state["Cgroup"] is None  # the monitor removed the cgroup
    finally:
        sandbox("rm", "-f", name)


def in_its_cgroup(path: str, cid: str) -> bool:
    """A cgroup path read inside a container: its own cgroup, or the root of its cgroup
    namespace, made once it had joined it (outside that root it would read "/..",
    cgroup_namespaces(7))."""
    return path == "/" or path.endswith(f"/sandbox/{cid}")


@root_only
def test_the_containers_first_process_is_already_in_its_cgroup(state_root, name):
    try:
        sandbox("run", "-d", "--name", name, "--memory", "64m", "busybox", "sh", "-c",
                "cat /proc/self/cgroup; sleep 300", check=True)
        cid = container_id(name)
        assert wait_for(lambda: sandbox("logs", name).stdout, timeout=10)
        inside = cgroups.own_paths(sandbox("logs", name).stdout)  # its first instructions
        host = cgroups.own_paths(Path(f"/proc/{state_json(state_root, name)['Pid']}/cgroup")
                                 .read_text())
        kind = cgroups.layout()
        expected = {""} if kind == "v2" else {
            c for m in cgroups.mounts() if m.version == 1 for c in m.controllers} & set(
            cgroups.USED)
        assert expected and all(in_its_cgroup(inside[c], cid) for c in expected), inside
        assert all(host[c].endswith(f"/sandbox/{cid}") for c in expected), host
    finally:
        sandbox("rm", "-f", name)


# --- CPU -----------------------------------------------------------------------------
def cpu_rate(container, seconds: float) -> float:
    """CPUs' worth of time the container used over ``seconds`` of wall time, from its cgroup."""
    before, t0 = container.cgroup.stats()["cpu_ns"], time.monotonic()
    time.sleep(seconds)
    after, t1 = container.cgroup.stats()["cpu_ns"], time.monotonic()
    return (after - before) / 1e9 / (t1 - t0)


@root_only
def test_half_a_cpu_is_half_a_cpu(name):
    try:
        sandbox("run", "-d", "--name", name, "--cpus", "0.5", "busybox", "sh", "-c", SPIN,
                check=True)
        container = api.get(name)
        assert wait_for(lambda: container.cgroup.stats()["cpu_ns"] > 0, timeout=10)
        time.sleep(0.3)  # past the start, into the loop
        # The container's own CPU time against wall time: other load on the machine
        # does not change it unless the machine is saturated; then measure once more.
        rates = [cpu_rate(container, 2.0)]
        if not 0.425 <= rates[0] <= 0.575:
            rates.append(cpu_rate(container, 4.0))
        assert 0.425 <= rates[-1] <= 0.575, (rates, os.getloadavg())  # 0.5 ± 15 %
        # `stats --no-stream`: the average since the start, as a percentage of one CPU.
        r = sandbox("stats", "--no-stream", check=True)
        row = next(line.split() for line in r.stdout.splitlines()[1:]
                   if line.split()[1:2] == [name])
        assert row[0] == container.short_id
        assert 35 <= float(row[2].rstrip("%")) <= 65, r.stdout
    finally:
        sandbox("rm", "-f", name)


# --- processes ------------------------------------------------------------------------
FORK_50 = "for i in $(seq 50); do sleep 1 & done; wait"


@root_only
def test_pids_limit_stops_a_fork_bomb():
    r = sandbox("run", "--rm", "--pids-limit", "20", "busybox", "sh", "-c", FORK_50)
    assert "can't fork" in r.stderr, (r.returncode, r.stderr)


@root_only
def test_a_high_enough_pids_limit_lets_it_run():
    r = sandbox("run", "--rm", "--pids-limit", "200", "busybox", "sh", "-c", FORK_50)
    assert (r.returncode, r.stderr) == (0, ""), r.stderr


@root_only
def test_pids_max_of_a_running_container(state_root, name):
    try:
        sandbox("run", "-d", "--name", name, "--pids-limit", "20", "busybox", "sleep", "300",
                check=True)
        paths = state_json(state_root, name)["Cgroup"]
        assert cgroup_file(paths, "pids", "pids.max") == "20"
        assert cgroup_file(paths, "pids", "pids.current") == "1"  # sleep, alone
    finally:
        sandbox("rm", "-f", name)
    assert not any(os.path.exists(d) for d in cgroup_dirs(paths))


# --- nothing left behind -----------------------------------------------------------------
@root_only
def test_100_runs_with_a_limit_leave_no_cgroup():
    before = leftover_cgroups()
    for i in range(100):
        r = sandbox("run", "--rm", "--memory", "64m", "busybox", "true")
        assert r.returncode == 0, (i, r.stderr)
    assert new_leftover_cgroups(before) == []
    assert sandbox("ps", "-a", "-q").stdout == ""


@root_only
def test_killed_sandbox_and_monitor_then_prune_removes_the_cgroup(state_root, name):
    before = leftover_cgroups()
    cli = subprocess.Popen([sys.executable, "-m", "sandbox", "run", "--name", name, "--memory",
                            "64m", "busybox", "sleep", "300"], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
    try:
        state = wait_for(lambda: _state_if_running(state_root, name), timeout=20)
        assert state, "the container did not start"
        paths = state["Cgroup"]
        assert all(os.path.isdir(d) for d in cgroup_dirs(paths))
        cli.kill()  # SIGKILL: no chance to clean up
        cli.wait()
        os.kill(state["MonitorPid"], signal.SIGKILL)  # nobody left to record the exit
        os.kill(state["Pid"], signal.SIGKILL)
        assert wait_for(lambda: _gone(state["Pid"]), timeout=10)
        cid = container_id(name)
        r = sandbox("system", "prune", "-f", check=True)
        assert cid in r.stdout
        assert cid not in ps_ids()
        assert [d for d in cgroup_dirs(paths) if os.path.exists(d)] == []
        assert new_leftover_cgroups(before) == []
    finally:
        if cli.poll() is None:
            cli.kill()
            cli.wait()
        sandbox("rm", "-f", name)


def _state_if_running(state_root: Path, name: str) -> dict | None:
    try:
        state = state_json(state_root, name)
    except (AssertionError, FileNotFoundError, json.JSONDecodeError):
        return None
    return state if state.get("Status") == "running" and state.get("MonitorPid") else None


def _gone(pid: int) -> bool:
    """No such process, or a zombie (exited; only its reaping is left)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat[stat.rindex(")") + 2] == "Z"


# --- bad input: one sentence, exit 125, no container ------------------------------------
@pytest.mark.parametrize("flags, flag", [
    (["--memory", "10x"], "--memory"),
    (["--memory", "1"], "--memory"),
    (["--cpus", "-1"], "--cpus"),
    (["--cpus", "1000"], "--cpus"),
    (["--pids-limit", "abc"], "--pids-limit"),
    (["--memory", "64m", "--memory-swap", "32m"], "--memory-swap"),
])
def test_bad_limits_on_the_command_line(flags, flag):
    """Checked before anything exists, the same for root and rootless."""
    before = ps_ids()
    r = sandbox("run", "--rm", *flags, "busybox", "true")
    assert r.returncode == 125
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sandbox: ") and flag in lines[0], r.stderr
    assert ps_ids() == before


# --- rootless: refused, with the reason and the fix ----------------------------------------
@rootless_only
@pytest.mark.parametrize("flags", [["--memory", "32m"], ["--cpus", "0.5"],
                                   ["--pids-limit", "20"]])
def test_rootless_limits_are_refused_with_the_reason_and_the_fix(flags):
    before = ps_ids()
    r = sandbox("run", "--rm", *flags, "busybox", "true")
    assert r.returncode == 125, r.stderr
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sandbox: "), r.stderr
    assert re.search(r"delegat|root", lines[0], re.I), lines[0]
    assert ps_ids() == before  # refused before the container was created
    r = sandbox("run", "--rm", "busybox", "echo", "no limits, no problem")
    assert (r.returncode, r.stdout, r.stderr) == (0, "no limits, no problem\n", "")


@root_only
def test_exec_runs_under_the_containers_limits(name):
    """`exec` joins the container's cgroup as well as its namespaces, as Docker's does."""
    sandbox("run", "-d", "--name", name, "--memory", "32m", "busybox", "sleep", "60", check=True)
    try:
        line = next(l for l in sandbox("exec", name, "cat", "/proc/self/cgroup").stdout.splitlines()
                    if ":memory:" in l or l.startswith("0::"))
        cid = sandbox("inspect", "-f", "{{.Id}}", name).stdout.strip()
        assert in_its_cgroup(line.split(":", 2)[2], cid), line
        hog = sandbox("exec", name, "sh", "-c", "x=a; while true; do x=$x$x; done")
        assert hog.returncode == 137
    finally:
        sandbox("rm", "-f", name)


@root_only
def test_removing_an_ended_containers_cgroup_kills_what_is_left_in_it():
    """A helper that joined the cgroup from outside the container's PID namespace (an
    exec's, a healthcheck's) outlives the container's init: the removal kills it rather
    than give up and leave the cgroup behind."""
    cid = os.urandom(32).hex()
    cgroup = cgroups.prepare(cid, cgroups.Limits())
    straggler = subprocess.Popen(["sleep", "60"])
    try:
        cgroup.join(straggler.pid)
        cgroup.remove()
        assert straggler.wait(timeout=5) == -signal.SIGKILL
        assert not [d for d in cgroup.paths()["dirs"].values() if os.path.isdir(d)]
    finally:
        straggler.kill()
        straggler.wait()


@root_only
def test_system_prune_finds_cgroups_whose_container_is_gone():
    """An empty container cgroup that nothing records (its state root deleted, its monitor
    killed) is an orphan once it has stood empty a while; one with a process is not."""
    gone, alive = os.urandom(32).hex(), os.urandom(32).hex()
    orphan, live = cgroups.prepare(gone, cgroups.Limits()), cgroups.prepare(alive, cgroups.Limits())
    sleeper = subprocess.Popen(["sleep", "60"])
    try:
        live.join(sleeper.pid)
        found = cgroups.orphans(min_age=0)
        assert set(orphan.paths()["dirs"].values()) <= set(found)
        assert not set(live.paths()["dirs"].values()) & set(found)
        assert not [d for d in cgroups.orphans() if gone in d]  # made just now: not yet
        cgroups.remove_orphans(min_age=0)
        assert not [d for d in orphan.paths()["dirs"].values() if os.path.isdir(d)]
        assert all(os.path.isdir(d) for d in live.paths()["dirs"].values())
    finally:
        sleeper.kill()
        sleeper.wait()
        live.remove()
