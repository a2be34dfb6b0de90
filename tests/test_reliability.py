"""Nothing is left behind, a killed `sandbox` is recovered from, and one state root is shared safely."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path


from conftest import sandbox


def leftovers(root: Path, cgroups_before: list[str] = ()) -> dict:
    """Everything a container could leave: state entries, mounts, processes, cgroups.

    Cgroups are not named after the state root, so those already left when the test
    began (``cgroups_before``, another user's) are not counted; live ones never are.
    """
    from test_cgroups_real import leftover_cgroups
    found = {
        "containers": os.listdir(root / "containers") if (root / "containers").exists() else [],
        "names": os.listdir(root / "names") if (root / "names").exists() else [],
        "scratch": os.listdir(root / "tmp") if (root / "tmp").exists() else [],
        "mounts": [line for line in Path("/proc/self/mountinfo").read_text().splitlines()
                   if f"{root}/" in line or f"{root} " in line],
        # A container's cgroup sits below the cgroup of whoever started it, at any depth.
        "cgroups": [c for c in leftover_cgroups() if c not in cgroups_before],
        "processes": [],
    }
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            # A path below the root, not one that merely starts with its name
            # (/tmp/t/root is not /tmp/t/rootless/...: another pass's root, beside ours).
            inside = os.readlink(f"/proc/{pid}/root")
            words = Path(f"/proc/{pid}/cmdline").read_text().split("\0")
            if inside == str(root) or inside.startswith(f"{root}/") or \
                    any(w == str(root) or w.startswith(f"{root}/") or f"={root}" in w
                        for w in words):
                found["processes"].append(pid)
        except OSError:
            continue
    return {k: v for k, v in found.items() if v}


def _cgroups_left_by_others() -> list[str]:
    from test_cgroups_real import leftover_cgroups
    return leftover_cgroups()


def test_200_runs_leave_nothing(state_root):
    before = _cgroups_left_by_others()
    for i in range(200):
        r = sandbox("run", "--rm", "busybox", "true")
        assert r.returncode == 0, (i, r.stderr)
    assert leftovers(state_root, before) == {}


def test_sigkill_of_sandbox_during_a_foreground_run(state_root, name):
    before = _cgroups_left_by_others()
    cli = subprocess.Popen([sys.executable, "-m", "sandbox", "run", "--name", name, "busybox",
                            "sh", "-c", "echo up; sleep 300"], stdout=subprocess.PIPE, text=True)
    assert cli.stdout.readline() == "up\n"
    cli.kill()  # SIGKILL: no chance to clean up
    cli.wait()
    # The truth: the container is still running (Docker's too, when its client dies).
    assert sandbox("inspect", "-f", "{{.State.Status}}", name).stdout.strip() == "running"
    assert "Up " in sandbox("ps", "-a").stdout
    assert sandbox("rm", "-f", name).returncode == 0
    assert leftovers(state_root, before) == {}


def test_sigkill_of_sandbox_and_its_monitor(state_root, name):
    """Even with the monitor gone, `ps -a` tells the truth and `system prune` cleans up."""
    before = _cgroups_left_by_others()
    cli = subprocess.Popen([sys.executable, "-m", "sandbox", "run", "--name", name, "busybox",
                            "sh", "-c", "echo up; sleep 1; exit 3"], stdout=subprocess.PIPE,
                           text=True)
    assert cli.stdout.readline() == "up\n"
    state = json.loads(sandbox("inspect", name).stdout)[0]
    monitor = json.loads((state_root / "containers" / state["Id"] / "state.json").read_text())
    os.kill(monitor["MonitorPid"], signal.SIGKILL)
    cli.kill()
    cli.wait()
    time.sleep(2)  # the container's own process ends by itself, with nobody to wait for it
    status = sandbox("inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name).stdout.split()
    assert status == ["exited", "-1"]  # the exit code is unknown: nobody was left to collect it
    assert "Exited (unknown)" in sandbox("ps", "-a").stdout
    assert state["Id"] in sandbox("system", "prune", "-f").stdout
    assert leftovers(state_root, before) == {}


def test_two_processes_start_ten_containers_each_on_one_new_root(tmp_path):
    """Both race to build the busybox image and unpack its layer too."""
    before = _cgroups_left_by_others()
    root = tmp_path / "shared-root"
    script = ("import subprocess, sys\n"
              "for i in range(10):\n"
              "    r = subprocess.run([sys.executable, '-m', 'sandbox', 'run', '--rm', 'busybox',"
              " 'echo', str(i)], capture_output=True, text=True)\n"
              "    print(r.returncode, r.stdout.strip(), r.stderr.strip(), flush=True)\n")
    env = {**os.environ, "SANDBOX_ROOT": str(root)}
    workers = [subprocess.Popen([sys.executable, "-c", script], env=env, stdout=subprocess.PIPE,
                                text=True) for _ in range(2)]
    outputs = [w.communicate(timeout=300)[0].splitlines() for w in workers]
    for lines in outputs:
        assert [line.split(" ", 2)[:2] for line in lines] == [["0", str(i)] for i in range(10)], lines
    index = json.loads((root / "oci" / "index.json").read_text())
    assert [m["annotations"]["org.opencontainers.image.ref.name"] for m in index["manifests"]] \
        == ["busybox:latest"]
    assert len(os.listdir(root / "layers")) == 1
    assert leftovers(root, before) == {}
