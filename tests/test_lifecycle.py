"""The lifecycle with Docker's verbs: run -d, ps, exec, logs, stop, kill, start, rm, inspect."""

import json
import threading
import time

import pytest

from conftest import sandbox


@pytest.fixture
def web(name):
    """A detached container that sleeps, removed afterwards."""
    r = sandbox("run", "-d", "--name", name, "busybox", "sleep", "300", check=True)
    yield name, r.stdout.strip()
    sandbox("rm", "-f", name)


def ps(*flags):
    lines = sandbox("ps", *flags, check=True).stdout.splitlines()
    header = lines[0]
    starts = [header.index(col) for col in ("CONTAINER ID", "IMAGE", "COMMAND", "CREATED",
                                            "STATUS", "PORTS", "NAMES")]
    rows = []
    for line in lines[1:]:
        cells = [line[a:b].strip() for a, b in zip(starts, starts[1:] + [None])]
        rows.append(dict(zip(("id", "image", "command", "created", "status", "ports", "names"),
                             cells)))
    return rows


def test_run_detached_prints_the_full_id_and_ps_shows_it(web):
    name, cid = web
    assert len(cid) == 64 and all(c in "0123456789abcdef" for c in cid)
    row = next(r for r in ps() if r["names"] == name)
    assert row["id"] == cid[:12] and row["image"] == "busybox"
    assert row["command"] == '"sleep 300"' and row["status"].startswith("Up ")


def test_exec_joins_the_namespaces(web):
    name, _ = web
    r = sandbox("exec", name, "ps", check=True)
    commands = [line.split(None, 2)[-1] for line in r.stdout.splitlines()[1:]]
    assert commands == ["sleep 300", "ps"]
    assert sandbox("exec", name, "hostname").stdout.strip() == \
        sandbox("inspect", "-f", "{{.Config.Hostname}}", name).stdout.strip()


def test_exec_env_workdir_and_exit_code(web):
    name, _ = web
    r = sandbox("exec", "-e", "A=1", "-w", "/tmp", name, "sh", "-c", 'echo $A; pwd; exit 5')
    assert (r.returncode, r.stdout) == (5, "1\n/tmp\n")
    r = sandbox("exec", name, "nosuch")
    assert r.returncode == 127 and "executable file not found" in r.stderr


def test_id_prefix_works_everywhere(web):
    name, cid = web
    assert sandbox("exec", cid[:6], "true").returncode == 0
    assert sandbox("inspect", "-f", "{{.Name}}", cid[:8]).stdout.strip() == "/" + name


def test_logs_of_a_detached_container(name):
    sandbox("run", "-d", "--name", name, "busybox", "sh", "-c", "echo out; echo err >&2",
            check=True)
    time.sleep(0.5)
    r = sandbox("logs", name)
    assert (r.stdout, r.stderr) == ("out\n", "err\n")
    sandbox("rm", "-f", name)


def test_logs_follow_ends_when_the_container_exits(name):
    sandbox("run", "-d", "--name", name, "busybox", "sh", "-c",
            "for i in 1 2 3; do echo $i; sleep 0.2; done", check=True)
    r = sandbox("logs", "-f", name, timeout=20)
    assert r.stdout == "1\n2\n3\n"
    sandbox("rm", name)


def test_stop_then_ps_a_shows_exited_then_rm(web):
    name, _ = web
    started = time.monotonic()
    assert sandbox("stop", "-t", "1", name).stdout == f"{name}\n"
    assert time.monotonic() - started < 10  # sleep ignores SIGTERM as PID 1: killed after 1 s
    assert not any(r["names"] == name for r in ps())
    row = next(r for r in ps("-a") if r["names"] == name)
    assert row["status"].startswith("Exited (137) ")
    assert sandbox("rm", name).stdout == f"{name}\n"
    assert not any(r["names"] == name for r in ps("-a"))


def test_stop_a_container_that_traps_term_exits_cleanly(name):
    sandbox("run", "-d", "--name", name, "busybox", "sh", "-c",
            'trap "exit 0" TERM; while true; do sleep 0.1; done', check=True)
    time.sleep(0.3)
    sandbox("stop", name, check=True)
    assert sandbox("inspect", "-f", "{{.State.ExitCode}}", name).stdout.strip() == "0"
    sandbox("rm", name, check=True)


def test_kill_and_start_again(web):
    name, _ = web
    sandbox("kill", name, check=True)
    state = json.loads(sandbox("inspect", name).stdout)[0]["State"]
    assert (state["Status"], state["ExitCode"], state["Running"]) == ("exited", 137, False)
    assert sandbox("start", name).stdout == f"{name}\n"
    assert sandbox("inspect", "-f", "{{.State.Status}}", name).stdout.strip() == "running"


def test_start_attach_keeps_the_upper_layer(name):
    sandbox("run", "--name", name, "busybox", "sh", "-c", "echo once >> /count; cat /count",
            check=True)
    r = sandbox("start", "-a", name)
    assert r.stdout == "once\nonce\n"
    sandbox("rm", name, check=True)


def test_create_then_start(name):
    cid = sandbox("create", "--name", name, "busybox", "echo", "created", check=True).stdout.strip()
    row = next(r for r in ps("-a") if r["names"] == name)
    assert row["status"] == "Created" and row["id"] == cid[:12]
    assert sandbox("start", "-a", name).stdout == "created\n"
    sandbox("rm", name, check=True)


def test_rm_keeps_a_running_container_unless_forced(web):
    name, _ = web
    r = sandbox("rm", name)
    assert r.returncode == 1 and "You cannot remove a running container" in r.stderr
    assert sandbox("rm", "-f", name).returncode == 0
    assert sandbox("inspect", name).returncode == 1


def test_rm_f_of_a_detached_rm_container_succeeds_quietly(name):
    """Its monitor removes it as soon as it is killed; `rm -f` must not call that an error."""
    for _ in range(5):  # the two removals race: try it a few times
        sandbox("run", "-d", "--rm", "--name", name, "busybox", "sleep", "60", check=True)
        r = sandbox("rm", "-f", name)
        assert (r.returncode, r.stderr) == (0, ""), r.stderr
        assert r.stdout.strip() == name
        assert sandbox("inspect", name).returncode == 1


def test_run_rm_removes_the_container(name):
    sandbox("run", "--rm", "--name", name, "busybox", "true", check=True)
    assert not any(r["names"] == name for r in ps("-a"))


def test_inspect_has_dockers_shape(web):
    name, cid = web
    info = json.loads(sandbox("inspect", name).stdout)[0]
    assert info["Id"] == cid and info["Name"] == "/" + name
    assert info["Path"] == "sleep" and info["Args"] == ["300"]
    assert info["State"]["Running"] and info["State"]["Pid"] > 0
    assert info["GraphDriver"]["Name"] == "overlay"
    assert info["Config"]["Image"] == "busybox"


# --- bad input: one sentence, non-zero, nothing left behind --------------------------
def test_name_in_use(web):
    name, cid = web
    r = sandbox("run", "--name", name, "busybox", "true")
    assert r.returncode == 125
    assert r.stderr.strip().startswith(f'sandbox: The container name "/{name}" is already in use')
    assert len([r for r in ps("-a") if r["names"] == name]) == 1


@pytest.mark.parametrize("verb", [["exec", "ghost", "true"], ["stop", "ghost"], ["rm", "ghost"],
                                  ["logs", "ghost"], ["start", "ghost"], ["kill", "ghost"]])
def test_unknown_container(verb):
    r = sandbox(*verb)
    assert r.returncode != 0
    assert r.stderr.strip() == "sandbox: No such container: ghost"


def test_stop_a_container_that_is_not_running(name):
    sandbox("run", "--name", name, "busybox", "true", check=True)
    r = sandbox("stop", name)
    assert r.returncode == 1
    assert r.stderr.strip() == f"sandbox: container {name} is not running"
    sandbox("rm", name, check=True)


def test_exec_in_a_stopped_container(name):
    sandbox("run", "--name", name, "busybox", "true", check=True)
    r = sandbox("exec", name, "true")
    assert r.returncode == 1 and "is not running" in r.stderr  # docker exec: a daemon error
    sandbox("rm", name, check=True)


def test_bad_container_name():
    r = sandbox("run", "--name", "bad/name", "busybox", "true")
    assert r.returncode == 125 and "Invalid container name (bad/name)" in r.stderr


def test_two_rm_racing(name, state_root):
    sandbox("run", "--name", name, "busybox", "true", check=True)
    results = []
    threads = [threading.Thread(target=lambda: results.append(sandbox("rm", name)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    codes = sorted(r.returncode for r in results)
    assert codes == [0, 1], [(r.returncode, r.stderr) for r in results]
    loser = next(r for r in results if r.returncode == 1)
    assert loser.stderr.strip().startswith("sandbox: No such container")
    assert not list((state_root / "tmp").glob("removing-*"))
