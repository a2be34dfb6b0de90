"""Docker's security defaults, each shown stopping something, then allowed by the matching flag.

Every test runs a real container.  They pass as root and rootless: a rootless
container is root in its user namespace and gets the same defaults there.
"""

from __future__ import annotations

import os
import subprocess

import pytest

from conftest import IS_ROOT, fails_with_one_sentence, root_only, sandbox

DOCKER_DEFAULT_CAPEFF = "00000000a80425fb"


def status_field(text: str, field: str) -> str:
    """One field of /proc/PID/status, as a container printed it."""
    for line in text.splitlines():
        if line.startswith(field + ":"):
            return line.split(":", 1)[1].strip()
    raise AssertionError(f"no {field} in {text!r}")


def run_sh(*flags, script: str, check: bool = False):
    return sandbox("run", "--rm", *flags, "busybox", "sh", "-c", script, check=check)


# --- capabilities --------------------------------------------------------------------
def test_a_default_root_container_has_dockers_14_capabilities():
    r = run_sh(script="cat /proc/self/status", check=True)
    for field in ("CapEff", "CapPrm", "CapBnd"):
        assert status_field(r.stdout, field) == DOCKER_DEFAULT_CAPEFF, field
    assert status_field(r.stdout, "CapInh") == "0000000000000000"
    assert status_field(r.stdout, "CapAmb") == "0000000000000000"


@pytest.mark.parametrize("flags, expected", [
    (["--cap-drop", "ALL"], "0000000000000000"),
    (["--cap-drop", "ALL", "--cap-add", "chown", "--cap-add", "CAP_KILL"], "0000000000000021"),
    (["--cap-drop", "CHOWN,KILL"], "00000000a80425da"),
    (["--cap-add", "NET_ADMIN"], "00000000a80435fb"),
])
def test_cap_add_and_cap_drop_change_the_sets(flags, expected):
    r = run_sh(*flags, script="cat /proc/self/status", check=True)
    assert status_field(r.stdout, "CapEff") == expected
    assert status_field(r.stdout, "CapBnd") == expected


def test_an_unknown_capability_is_one_sentence():
    fails_with_one_sentence(sandbox("run", "--rm", "--cap-add", "FLY", "busybox", "true"),
                            "--cap-add", "FLY")


def test_privileged_has_every_capability_it_can_have():
    """As root: every capability of the caller.  Rootless: every one, over the container's
    own user namespace only (a new user namespace starts with a full bounding set)."""
    if IS_ROOT:
        with open("/proc/self/status") as f:
            expected = status_field(f.read(), "CapBnd")
    else:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            expected = f"{(1 << (int(f.read()) + 1)) - 1:016x}"
    r = run_sh("--privileged", script="cat /proc/self/status", check=True)
    assert status_field(r.stdout, "CapEff") == expected


def test_another_user_keeps_no_capability_and_gets_its_groups():
    if not IS_ROOT:
        pytest.skip("rootless maps only one uid, so -u with another user is refused")
    r = run_sh("-u", "65534", script="cat /proc/self/status; id", check=True)
    assert status_field(r.stdout, "CapEff") == "0000000000000000"
    assert status_field(r.stdout, "CapPrm") == "0000000000000000"
    assert status_field(r.stdout, "CapBnd") == DOCKER_DEFAULT_CAPEFF  # and can never get more
    assert "uid=65534" in r.stdout


@root_only
def test_supplementary_groups_come_from_the_images_etc_group(tmp_path):
    group = tmp_path / "group"
    group.write_text("root:x:0:\nnogroup:x:65534:\nstaff:x:50:nobody\nwheel:x:10:root,nobody\n")
    os.chmod(group, 0o644)
    r = run_sh("-v", f"{group}:/etc/group:ro", "-u", "nobody",
               script="grep Groups /proc/self/status", check=True)
    assert sorted(r.stdout.split()[1:]) == ["10", "50", "65534"]


# --- /proc, /sys, cgroups, /dev --------------------------------------------------------
def test_proc_sys_and_the_other_read_only_paths_refuse_writes():
    r = run_sh(script="echo x > /proc/sys/kernel/domainname; "
                      "[ -e /proc/sysrq-trigger ] && echo h > /proc/sysrq-trigger; "
                      "grep -E ' /proc/(sys|sysrq-trigger|irq|bus|fs) ' /proc/self/mountinfo")
    assert "domainname: Read-only file system" in r.stderr, r.stderr
    assert "sysrq-trigger" not in r.stderr or "Read-only file system" in r.stderr.split(
        "sysrq-trigger")[1]
    assert r.stdout and all(line.split()[5].startswith("ro") for line in r.stdout.splitlines())


def test_masked_paths_are_empty():
    r = run_sh(script="for p in /proc/keys /proc/timer_list /proc/sched_debug; do "
                      "[ -e $p ] && wc -c < $p; done; ls -A /sys/firmware | wc -l", check=True)
    assert set(r.stdout.split()) <= {"0"}, r.stdout


def test_unconfined_systempaths_show_them_again():
    script = "grep -cE ' /proc/(sys|timer_list|keys) ' /proc/self/mountinfo"
    assert run_sh(script=script).stdout.split() != ["0"]
    r = run_sh("--security-opt", "systempaths=unconfined", script=script)
    assert r.stdout.split() == ["0"]  # nothing mounted over them


def test_sys_is_read_only_unless_privileged():
    r = run_sh(script="grep ' /sys ' /proc/self/mountinfo", check=True)
    assert r.stdout.split()[5].startswith("ro")
    r = run_sh("--privileged", script="grep ' /sys ' /proc/self/mountinfo", check=True)
    assert r.stdout.split()[5].startswith("rw")


def test_the_container_sees_its_own_cgroup_as_the_root_read_only():
    r = run_sh(script="cat /proc/self/cgroup; grep ' /sys/fs/cgroup' /proc/self/mountinfo",
               check=True)
    cgroup_lines = [l for l in r.stdout.splitlines() if l[0].isdigit() and ":" in l
                    and l.count(":") >= 2 and "/" in l.split(":", 2)[2][:1]]
    assert cgroup_lines and all(l.split(":", 2)[2] == "/" for l in cgroup_lines), r.stdout
    mounts = [l for l in r.stdout.splitlines() if " /sys/fs/cgroup" in l]
    assert mounts and all(m.split()[5].startswith("ro") for m in mounts), mounts


def test_dev_holds_only_the_standard_devices():
    r = run_sh(script="ls -A /dev", check=True)
    assert set(r.stdout.split()) == {"null", "zero", "full", "random", "urandom", "tty",
                                     "ptmx", "pts", "shm", "mqueue", "fd", "stdin", "stdout",
                                     "stderr"}
    r = run_sh(script="grep ' /dev/mqueue ' /proc/self/mountinfo", check=True)
    assert "mqueue" in r.stdout and "nosuid,nodev,noexec" in r.stdout


# --- mounts ------------------------------------------------------------------------------
def test_read_only_root_filesystem():
    r = run_sh("--read-only", script="touch /new; echo ok > /dev/null && echo dev-ok; "
                                     "echo x >> /etc/hosts")
    assert r.stderr.count("Read-only file system") == 2 and "dev-ok" in r.stdout


@root_only
def test_a_read_only_volume_is_read_only_all_the_way_down(tmp_path):
    host = tmp_path / "data"
    (host / "sub").mkdir(parents=True)
    subprocess.run(["mount", "-t", "tmpfs", "none", str(host / "sub")], check=True)
    try:
        r = run_sh("-v", f"{host}:/data:ro", script="touch /data/sub/x")
        assert "Read-only file system" in r.stderr
        assert not (host / "sub" / "x").exists()
    finally:
        subprocess.run(["umount", str(host / "sub")], check=True)


def test_tmpfs_is_noexec_nosuid_nodev_by_default_and_exec_can_be_asked_for():
    r = run_sh("--tmpfs", "/scratch", script="grep ' /scratch ' /proc/self/mountinfo",
               check=True)
    assert "nosuid,nodev,noexec" in r.stdout
    r = run_sh("--tmpfs", "/scratch:exec,size=8m",
               script="cp /bin/busybox /scratch/ && /scratch/busybox true && echo ran", check=True)
    assert "ran" in r.stdout


# --- environment ---------------------------------------------------------------------------
def test_an_image_env_entry_without_a_value_never_reads_the_callers_environment(state_root,
                                                                                 name):
    from sandbox.content.store import Store
    store = Store(state_root).init()
    base = store.get("busybox")
    config = dict(base.config, config=dict(base.config.get("config", {}),
                                           Env=["PATH=/bin:/usr/bin:/sbin:/usr/sbin", "SECRET_TOKEN"]))
    store.write_image(config, base.layers, name)
    try:
        leak = {"SECRET_TOKEN": "the-callers-secret"}
        r = sandbox("run", "--rm", name, "env", env=leak, check=True)
        assert "the-callers-secret" not in r.stdout
        # `-e NAME` on the command line still passes the caller's value, as in Docker.
        r = sandbox("run", "--rm", "-e", "SECRET_TOKEN", name, "env", env=leak, check=True)
        assert "SECRET_TOKEN=the-callers-secret" in r.stdout
    finally:
        sandbox("rmi", name)


def test_security_opt_errors_are_one_sentence():
    fails_with_one_sentence(sandbox("run", "--rm", "--security-opt", "apparmor=x", "busybox",
                                    "true"), "apparmor=x")
    fails_with_one_sentence(sandbox("run", "--rm", "--security-opt", "bogus", "busybox",
                                    "true"), "bogus")


# --- seccomp, with the capabilities it depends on -------------------------------------------
def test_a_default_container_cannot_mount():
    r = run_sh(script="mount -t tmpfs none /tmp")
    assert r.returncode != 0 and "permission denied" in r.stderr


def test_seccomp_alone_off_is_not_enough_to_mount_the_capability_is_missing():
    r = run_sh("--security-opt", "seccomp=unconfined", script="mount -t tmpfs none /tmp")
    assert r.returncode != 0 and "permission denied" in r.stderr


@pytest.mark.parametrize("flags", [["--cap-add", "SYS_ADMIN"], ["--privileged"]],
                         ids=["cap-add-SYS_ADMIN", "privileged"])
def test_sys_admin_or_privileged_can_mount(flags):
    # Docker's profile allows mount(2) to a container that has CAP_SYS_ADMIN.
    r = run_sh(*flags, script="mount -t tmpfs none /tmp && grep -c ' /tmp ' /proc/self/mountinfo",
               check=True)
    assert r.stdout.strip() == "1"


def test_a_default_container_cannot_create_a_user_namespace():
    r = run_sh(script="unshare -U true")
    assert r.returncode != 0 and "Operation not permitted" in r.stderr
    assert run_sh("--security-opt", "seccomp=unconfined", script="unshare -U true").returncode == 0


def test_a_default_container_cannot_load_a_module():
    # A file that is not a module: the kernel would refuse it (ENOEXEC) if asked; the filter
    # refuses before it is asked (EPERM).
    script = "echo not-a-module > /tmp/m.ko; insmod /tmp/m.ko"
    r = run_sh(script=script)
    assert r.returncode != 0 and "Operation not permitted" in r.stderr, r.stderr
    if IS_ROOT:
        r = run_sh("--privileged", script=script)
        assert "Operation not permitted" not in r.stderr  # the kernel read it, and refused it


def test_the_default_filter_is_shown_in_proc_status():
    r = run_sh(script="cat /proc/self/status", check=True)
    assert status_field(r.stdout, "Seccomp") == "2"  # SECCOMP_MODE_FILTER
    r = run_sh("--security-opt", "seccomp=unconfined", script="cat /proc/self/status", check=True)
    assert status_field(r.stdout, "Seccomp") == "0"


def test_a_custom_profile_denies_what_it_lists(tmp_path):
    import json
    from sandbox.isolation.seccomp import default_profile
    profile = default_profile()
    profile["syscalls"] = [dict(rule, names=[n for n in rule["names"]
                                             if n not in ("mkdir", "mkdirat")])
                           for rule in profile["syscalls"]]
    path = tmp_path / "no-mkdir.json"
    path.write_text(json.dumps(profile))
    os.chmod(tmp_path, 0o755)
    os.chmod(path, 0o644)
    r = run_sh("--security-opt", f"seccomp={path}", script="mkdir /tmp/d; echo still-running")
    assert "Operation not permitted" in r.stderr and "still-running" in r.stdout


def test_a_broken_profile_is_one_sentence_naming_the_file(tmp_path):
    path = tmp_path / "broken.json"
    path.write_text("{not json")
    fails_with_one_sentence(sandbox("run", "--rm", "--security-opt", f"seccomp={path}",
                                    "busybox", "true"), str(path))


def test_no_new_privileges_is_set_when_asked():
    r = run_sh("--security-opt", "no-new-privileges", script="cat /proc/self/status", check=True)
    assert status_field(r.stdout, "NoNewPrivs") == "1"
    r = run_sh(script="cat /proc/self/status", check=True)
    assert status_field(r.stdout, "NoNewPrivs") == "0"


def test_exec_gets_the_same_confinement(name):
    sandbox("run", "-d", "--name", name, "busybox", "sleep", "30", check=True)
    try:
        r = sandbox("exec", name, "sh", "-c", "cat /proc/self/status; mount -t tmpfs none /tmp")
        assert status_field(r.stdout, "CapEff") == DOCKER_DEFAULT_CAPEFF
        assert status_field(r.stdout, "Seccomp") == "2"
        assert "permission denied" in r.stderr
    finally:
        sandbox("rm", "-f", name)


def test_a_profile_that_refuses_the_runtimes_own_calls_is_named(tmp_path):
    import json
    from sandbox.isolation.seccomp import default_profile
    profile = default_profile()
    profile["syscalls"] = [dict(rule, names=[n for n in rule["names"] if n != "prctl"])
                           for rule in profile["syscalls"]]
    path = tmp_path / "no-prctl.json"
    path.write_text(json.dumps(profile))
    os.chmod(tmp_path, 0o755)
    os.chmod(path, 0o644)
    fails_with_one_sentence(sandbox("run", "--rm", "--security-opt", f"seccomp={path}",
                                    "busybox", "true"), str(path), "prctl")
