"""--uidmap: a root container whose root is an ordinary host uid (a user namespace of its own)."""

from __future__ import annotations

import os

import pytest

from conftest import IS_ROOT, fails_with_one_sentence, root_only, sandbox

BASE = 1_500_000_000  # far from any range useradd hands out (SUB_UID_MAX is 600100000)
MAP = f"0:{BASE}:65536"


def run_mapped(*args, check=False):
    return sandbox("run", "--rm", "--uidmap", MAP, *args, check=check)


@root_only
def test_root_inside_is_an_ordinary_uid_outside(tmp_path):
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(tmp_path, 0o755)
    os.chmod(shared, 0o777)
    r = run_mapped("-v", f"{shared}:/shared", "busybox", "sh", "-c",
                   "cat /proc/self/uid_map /proc/self/gid_map; id -u; touch /shared/made",
                   check=True)
    assert r.stdout.split()[:6] == ["0", str(BASE), "65536", "0", str(BASE), "65536"]
    assert r.stdout.split()[6] == "0"
    made = os.stat(shared / "made")
    assert (made.st_uid, made.st_gid) == (BASE, BASE)


@root_only
@pytest.mark.parametrize("flags", [[], ["--privileged"]], ids=["default", "privileged"])
def test_the_hosts_root_only_files_stay_closed_even_to_a_privileged_root(tmp_path, flags):
    secret = tmp_path / "secret"
    secret.write_text("host root only\n")
    os.chmod(secret, 0o600)
    os.chmod(tmp_path, 0o755)
    r = run_mapped(*flags, "-v", f"{secret}:/secret", "busybox", "sh", "-c",
                   "ls -ln /secret; cat /secret")
    assert "Permission denied" in r.stderr and "host root only" not in r.stdout
    assert " 65534 " in r.stdout  # the host's root is nobody here


@root_only
def test_limits_exec_and_users_work_and_nothing_is_left(name, state_root):
    sandbox("run", "-d", "--name", name, "--uidmap", MAP, "--memory", "64m", "--pids-limit",
            "50", "busybox", "sleep", "30", check=True)
    try:
        r = sandbox("exec", name, "sh", "-c", "id -u; cat /proc/self/uid_map; "
                    "grep CapEff /proc/self/status", check=True)
        assert r.stdout.split()[:4] == ["0", "0", str(BASE), "65536"]
        assert "00000000a80425fb" in r.stdout
        assert sandbox("exec", "-u", "65534", name, "id", "-u", check=True).stdout == "65534\n"
        pid = sandbox("inspect", "-f", "{{.State.Pid}}", name, check=True).stdout.strip()
        with open(f"/proc/{pid}/status") as f:
            uids = next(line for line in f if line.startswith("Uid:")).split()[1:]
        assert uids == [str(BASE)] * 4  # the host sees an ordinary uid
        cgroups = open(f"/proc/{pid}/cgroup").read()
        assert name not in cgroups  # it is in its container's cgroup, named by id
    finally:
        sandbox("rm", "-f", name)
    from sandbox.isolation import cgroups as cg
    leftover = [m.path for m in cg.mounts() if os.path.isdir(m.path)
                for d in [os.path.join(m.path, "sandbox")] if os.path.isdir(d)
                for c in os.listdir(d) if c.startswith(pid)]
    assert not leftover


@root_only
def test_a_remapped_container_is_killed_at_its_memory_limit():
    r = run_mapped("--memory", "32m", "busybox", "sh", "-c", "x=a; while true; do x=$x$x; done")
    assert r.returncode == 137


@pytest.mark.parametrize("flag, needle", [
    ("1:1000:10", "must start at the container's id 0"),
    ("0:0:65536", "must start above 0"),
    ("0:x:1", "expected CONTAINER_ID:HOST_ID:SIZE"),
])
def test_a_bad_map_is_one_sentence(flag, needle):
    if not IS_ROOT:
        needle = "--uidmap needs root"
    fails_with_one_sentence(sandbox("run", "--rm", "--uidmap", flag, "busybox", "true"), needle)


@root_only
def test_a_remapped_start_that_fails_leaves_no_cgroup(tmp_path, name):
    source = tmp_path / "gone"
    source.mkdir()
    sandbox("create", "--name", name, "--uidmap", MAP, "-v", f"{source}:/data", "busybox",
            "true", check=True)
    cid = sandbox("inspect", "-f", "{{.Id}}", name, check=True).stdout.strip()
    source.rmdir()  # the -v source is gone when the container starts
    try:
        r = sandbox("start", "-a", name)
        assert r.returncode != 0 and "open_tree" in r.stderr
        from sandbox.isolation import cgroups
        left = [os.path.join(m.path, root, "sandbox", cid) for m in cgroups.mounts()
                for root in [cgroups.own_paths().get(m.controllers[0] if m.controllers else "",
                                                     "/").lstrip("/")]
                if os.path.isdir(os.path.join(m.path, root, "sandbox", cid))]
        assert left == []
    finally:
        sandbox("rm", "-f", name)
