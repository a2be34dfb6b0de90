"""`sandbox run`: a real container, seen from inside."""

import os
import signal
import subprocess
import sys

import pytest

from conftest import root_only, rootless_only, sandbox


def test_echo_hello():
    r = sandbox("run", "--rm", "busybox", "echo", "hello")
    assert (r.returncode, r.stdout, r.stderr) == (0, "hello\n", "")


def test_pid_hostname_and_processes_are_the_containers_own():
    r = sandbox("run", "--rm", "busybox", "sh", "-c",
                'echo $$; hostname; ls /proc | grep -c "^[0-9]"')
    pid, hostname, count = r.stdout.split()
    assert pid == "1"
    assert hostname != os.uname().nodename and len(hostname) == 12
    assert int(count) <= 3  # sh, ls, grep: nothing of the host's


def test_hostname_is_the_short_id_and_in_etc(name):
    r = sandbox("run", "--name", name, "busybox", "sh", "-c", "hostname; cat /etc/hostname")
    cid = sandbox("inspect", "-f", "{{.Id}}", name).stdout.strip()
    assert r.stdout.split() == [cid[:12], cid[:12]]
    sandbox("rm", name, check=True)


def test_namespaces_differ_from_the_hosts():
    r = sandbox("run", "--rm", "busybox", "sh", "-c",
                "for n in mnt uts ipc pid net; do readlink /proc/1/ns/$n; done")
    inside = r.stdout.split()
    outside = [os.readlink(f"/proc/self/ns/{n}") for n in ("mnt", "uts", "ipc", "pid", "net")]
    assert len(inside) == 5 and not set(inside) & set(outside)


def test_network_none_is_loopback_only_and_up():
    devices = sandbox("run", "--rm", "--network", "none", "busybox", "tail", "-n", "+3",
                      "/proc/net/dev").stdout
    assert [line.split(":")[0].strip() for line in devices.splitlines()] == ["lo"]
    assert "LOOPBACK,UP" in sandbox("run", "--rm", "--network", "none", "busybox", "ip",
                                    "link").stdout


def test_root_is_an_overlay_and_proc_dev_sys_are_mounted():
    r = sandbox("run", "--rm", "busybox", "cat", "/proc/mounts")
    mounts = {line.split()[1]: line.split() for line in r.stdout.splitlines()}
    assert mounts["/"][2] == "overlay"
    assert mounts["/proc"][2] == "proc"
    assert mounts["/sys"][3].startswith("ro")
    assert mounts["/dev"][2] == "tmpfs" and mounts["/dev/pts"][2] == "devpts"
    assert "/dev/shm" in mounts
    assert not any(m.startswith("/work") or m.startswith("/home") for m in mounts)


def test_dev_has_the_minimal_devices():
    r = sandbox("run", "--rm", "busybox", "ls", "/dev")
    for device in ("null", "zero", "full", "random", "urandom", "tty", "pts", "shm", "ptmx"):
        assert device in r.stdout.split()
    r = sandbox("run", "--rm", "busybox", "sh", "-c", "echo x > /dev/null && head -c 4 /dev/zero | wc -c")
    assert r.stdout.strip() == "4"


def test_the_old_root_is_gone():
    """pivot_root, not chroot: there is no way back to the host's files."""
    r = sandbox("run", "--rm", "busybox", "sh", "-c",
                "cd /; for i in 1 2 3 4 5 6; do cd ..; done; ls /")
    assert "sandbox" not in r.stdout and "work" not in r.stdout.split()
    assert r.stdout.split() == sorted(r.stdout.split())


@pytest.mark.parametrize("code", [0, 1, 3, 42])
def test_exit_codes_pass_through(code):
    assert sandbox("run", "--rm", "busybox", "sh", "-c", f"exit {code}").returncode == code


def test_process_1_ignores_sigkill_from_inside():
    """The init of a PID namespace gets only signals it handles, even SIGKILL (pid_namespaces(7))."""
    r = sandbox("run", "--rm", "busybox", "sh", "-c", "kill -9 $$; echo still here")
    assert (r.returncode, r.stdout) == (0, "still here\n")


def test_command_not_found_is_127_with_dockers_message():
    r = sandbox("run", "--rm", "busybox", "nosuchcommand")
    assert r.returncode == 127
    assert r.stderr.strip() == 'sandbox: exec: "nosuchcommand": executable file not found in $PATH'


def test_not_executable_is_126():
    r = sandbox("run", "--rm", "busybox", "/etc/passwd")
    assert r.returncode == 126 and "permission denied" in r.stderr


def test_environment_from_image_and_flags():
    r = sandbox("run", "--rm", "-e", "GREETING=hi", "-e", "PASSED", "busybox", "env",
                env={"PASSED": "through"})
    env = dict(line.split("=", 1) for line in r.stdout.splitlines())
    assert env["GREETING"] == "hi" and env["PASSED"] == "through"
    assert env["PATH"].startswith("/usr/local/sbin") and env["HOME"] == "/root"
    assert len(env["HOSTNAME"]) == 12


def test_workdir_is_created_and_used():
    r = sandbox("run", "--rm", "-w", "/srv/app", "busybox", "pwd")
    assert r.stdout == "/srv/app\n"


@root_only
def test_user_flag_switches_user():
    r = sandbox("run", "--rm", "-u", "nobody", "busybox", "id")
    assert r.stdout.startswith("uid=65534(nobody) gid=65534(nogroup)")
    r = sandbox("run", "--rm", "-u", "1234:5", "busybox", "id", "-u")
    assert r.stdout == "1234\n"


@rootless_only
def test_user_flag_rootless_says_why_it_cannot():
    r = sandbox("run", "--rm", "-u", "nobody", "busybox", "id")
    assert r.returncode == 125
    assert "rootless container maps only uid 0" in r.stderr


def test_unknown_user_is_one_sentence():
    r = sandbox("run", "--rm", "-u", "ghost", "busybox", "id")
    assert r.returncode == 125 and r.stderr.strip() == (
        "sandbox: unable to find user ghost: no matching entries in passwd file")


@pytest.mark.parametrize("sig, code", [(signal.SIGTERM, 7), (signal.SIGINT, 130)],
                         ids=["sigterm", "ctrl_c"])
def test_signals_reach_the_container(sig, code):
    """The command line passes SIGTERM and Ctrl-C (SIGINT) on to the container's process 1."""
    name = sig.name[3:]
    proc = subprocess.Popen(
        [sys.executable, "-m", "sandbox", "run", "--rm", "busybox", "sh", "-c",
         f'trap "echo got {name}; exit {code}" {name}; echo ready; '
         "while true; do sleep 0.1; done"],
        stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline() == "ready\n"
    proc.send_signal(sig)
    out, _ = proc.communicate(timeout=20)
    assert out == f"got {name}\n" and proc.returncode == code


def test_stdin_with_i():
    r = sandbox("run", "--rm", "-i", "busybox", "tr", "a-z", "A-Z", input="shout\n")
    assert r.stdout == "SHOUT\n"


def test_without_i_stdin_is_empty():
    r = sandbox("run", "--rm", "busybox", "cat", input="ignored\n")
    assert r.stdout == "" and r.returncode == 0


def test_files_written_stay_in_the_container(state_root, name):
    sandbox("run", "--name", name, "busybox", "sh", "-c", "echo hi > /new; rm /bin/vi",
            check=True)
    upper = state_root / "containers" / sandbox("inspect", "-f", "{{.Id}}", name).stdout.strip() / "upper"
    assert (upper / "new").read_text() == "hi\n"
    assert os.path.exists(upper / "bin" / "vi")  # the whiteout: a 0/0 character device
    assert sandbox("run", "--rm", "busybox", "ls", "/new").returncode != 0
    sandbox("rm", name, check=True)


def test_unknown_image_says_what_happened():
    """As Docker: a note that the image is not here, then why pulling it failed (offline here)."""
    r = sandbox("run", "--rm", "nosuchimage", "true",
                env={"SANDBOX_REGISTRY_MIRRORS": "http://127.0.0.1:9"})  # nothing listens there
    assert r.returncode == 125
    first, last = r.stderr.strip().splitlines()[0], r.stderr.strip().splitlines()[-1]
    assert first == "Unable to find image 'nosuchimage:latest' locally"
    assert last.startswith("sandbox: cannot pull nosuchimage:latest: ")
    assert sandbox("ps", "-a", "-q").stdout == ""


def test_labels_are_kept_shown_by_inspect_and_filtered_by_ps(name):
    """--label (compose finds its containers by them): inspect's Config.Labels, ps --filter."""
    sandbox("create", "--name", name, "-l", "tier=web", "--label", "flag", "busybox", "true",
            check=True)
    try:
        labels = sandbox("inspect", "-f", "{{json .Config.Labels}}", name, check=True).stdout
        assert labels.strip() == '{"tier": "web", "flag": ""}'
        ps = lambda *f: sandbox("ps", "-aq", "--no-trunc", *f, check=True).stdout.split()  # noqa: E731
        cid = sandbox("inspect", "-f", "{{.Id}}", name).stdout.strip()
        assert cid in ps("--filter", "label=tier=web")
        assert cid in ps("--filter", "label=flag")
        assert cid not in ps("--filter", "label=tier=db")
        assert cid in ps("--filter", f"name={name}", "--filter", "label=tier")
        assert cid not in ps("--filter", "name=no-such-name-here")
        assert cid in ps("--filter", "status=created")
        bad = sandbox("ps", "--filter", "colour=red")
        assert bad.returncode == 125 and "invalid filter 'colour'" in bad.stderr
    finally:
        sandbox("rm", "-f", name)
