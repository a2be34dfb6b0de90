"""The seed's own walk-through, with `docker` replaced by `sandbox` (issue 12's acceptance).

    docker run -it ubuntu /bin/sh          create a file, exit
    docker start <container>               it keeps running: its stdin and terminal stay open
    docker exec -it <container> /bin/bash  the file is there
    docker stop / docker container rm
    --env, docker volume create / volume ls, --mount source=...,target=...,
    -v example-vol:/var/my_vol, -v /home/felix/Downloads:/var/my_vol
    docker pull registry.hub.docker.com/ubuntu:latest   (through a Docker Hub mirror)

Everything runs for real, as root and (in CI's second pass) rootless.  "ubuntu" is a
local stand-in: busybox with a /bin/bash that runs its sh, made with `commit`.  This
machine has no internet, so the tests' own registry plays the Docker Hub mirror.  The
terminal is a real pty driven by a script that types before the prompt appears.
"""

from __future__ import annotations

import json
import time

import pexpect
import pytest

pytest.register_assert_rewrite("registry_fixture")
from conftest import fails_with_one_sentence, sandbox  # noqa: E402
from registry_fixture import StateRoot  # noqa: E402
from test_tty import spawn  # noqa: E402

pytest_plugins = ("registry_fixture",)

UBUNTU = "seed-ubuntu:latest"


@pytest.fixture(scope="module")
def ubuntu():
    """busybox with a /bin/bash, committed as a local stand-in for ubuntu."""
    maker = "seed-ubuntu-maker"
    sandbox("rm", "-f", maker)
    # A script, not a link: busybox picks its applet by the name it was called, and has no "bash"
    sandbox("run", "--name", maker, "busybox", "sh", "-c",
            'printf \'#!/bin/sh\\nexec /bin/sh "$@"\\n\' > /bin/bash && chmod 755 /bin/bash',
            check=True)
    sandbox("commit", maker, UBUNTU, check=True)
    sandbox("rm", maker, check=True)
    yield UBUNTU
    sandbox("rmi", UBUNTU)


def _state(name: str) -> str:
    return sandbox("inspect", "-f", "{{.State.Status}}", name).stdout.strip()


def _wait_for(name: str, status: str, seconds: float = 10) -> str:
    deadline = time.monotonic() + seconds
    while (now := _state(name)) != status and time.monotonic() < deadline:
        time.sleep(0.05)
    return now


def test_run_it_create_a_file_exit_start_exec_stop_rm(ubuntu, name):
    # docker run -it ubuntu /bin/sh: typed at once, before the prompt exists
    shell = spawn("run", "-it", "--name", name, ubuntu, "/bin/sh")
    shell.send("echo made-in-the-container > /hello.txt; echo typed-$((6 * 7))\r")
    shell.expect("typed-42")
    shell.send("exit\r")
    shell.expect(pexpect.EOF)
    shell.close()
    assert shell.exitstatus == 0
    assert _state(name) == "exited"

    # docker start <container>: created with -it, it keeps its terminal and stdin open
    assert sandbox("start", name, check=True).stdout.strip() == name
    time.sleep(0.5)
    assert _state(name) == "running"

    # docker exec -it <container> /bin/bash
    bash = spawn("exec", "-it", name, "/bin/bash")
    bash.send("cat /hello.txt\r")
    bash.expect("made-in-the-container")
    bash.send("exit\r")
    bash.expect(pexpect.EOF)
    bash.close()
    assert bash.exitstatus == 0

    # docker stop, docker container rm
    started = time.monotonic()
    sandbox("stop", name, check=True)
    assert _state(name) == "exited"
    assert time.monotonic() - started < 15
    sandbox("container", "rm", name, check=True)
    assert sandbox("inspect", name).returncode != 0


def test_env_flag(ubuntu):
    r = sandbox("run", "--rm", "--env", "GREETING=hello from the host", ubuntu,
                "sh", "-c", 'echo "$GREETING"', check=True)
    assert r.stdout == "hello from the host\n"


def test_volume_create_ls_mount_and_v(ubuntu, name, tmp_path):
    vol = f"{name}-example-vol"
    sandbox("volume", "rm", vol)
    try:
        assert sandbox("volume", "create", vol, check=True).stdout.strip() == vol
        listed = sandbox("volume", "ls", check=True).stdout.splitlines()
        assert listed[0].split() == ["DRIVER", "VOLUME", "NAME"]
        assert ["local", vol] in [line.split() for line in listed[1:]]

        # --mount source=example-vol,target=/var/my_vol
        sandbox("run", "--rm", "--mount", f"source={vol},target=/var/my_vol", ubuntu,
                "sh", "-c", "echo kept > /var/my_vol/note", check=True)
        # -v example-vol:/var/my_vol: the next container sees what the last one wrote
        r = sandbox("run", "--rm", "-v", f"{vol}:/var/my_vol", ubuntu,
                    "cat", "/var/my_vol/note", check=True)
        assert r.stdout == "kept\n"
        # where it lives on disk
        mountpoint = json.loads(sandbox("volume", "inspect", vol, check=True).stdout)[0][
            "Mountpoint"]
        assert open(f"{mountpoint}/note").read() == "kept\n"
    finally:
        sandbox("volume", "rm", vol)

    # -v /home/felix/Downloads:/var/my_vol: a host directory, both ways
    downloads = tmp_path / "Downloads"
    downloads.mkdir()
    downloads.chmod(0o777)
    (downloads / "from-host.txt").write_text("hello\n")
    r = sandbox("run", "--rm", "-v", f"{downloads}:/var/my_vol", ubuntu,
                "sh", "-c", "cat /var/my_vol/from-host.txt; echo back > /var/my_vol/back.txt",
                check=True)
    assert r.stdout == "hello\n"
    assert (downloads / "back.txt").read_text() == "back\n"


@pytest.mark.parametrize("args, needle", [
    (["run", "--rm", "-v", ":/x", "busybox", "true"], "-v"),
    (["run", "--rm", "--mount", "type=nope,target=/x", "busybox", "true"], "nope"),
    (["run", "--rm", "--restart", "sometimes", "busybox", "true"], "sometimes"),
    (["volume", "rm", "seed-no-such-volume"], "seed-no-such-volume"),
])
def test_bad_input_is_one_sentence_and_changes_nothing(args, needle, state_root):
    before = sorted(p.name for p in (state_root / "containers").iterdir()) \
        if (state_root / "containers").exists() else []
    fails_with_one_sentence(sandbox(*args), needle)
    after = sorted(p.name for p in (state_root / "containers").iterdir()) \
        if (state_root / "containers").exists() else []
    assert after == before


def test_volume_rm_of_a_used_volume_is_refused(name):
    vol = f"{name}-used"
    sandbox("volume", "create", vol, check=True)
    sandbox("create", "--name", name, "-v", f"{vol}:/data", "busybox", "true", check=True)
    try:
        fails_with_one_sentence(sandbox("volume", "rm", vol), name)
        assert sandbox("volume", "inspect", vol).returncode == 0
    finally:
        sandbox("rm", name)
        sandbox("volume", "rm", vol, check=True)


def test_pull_registry_hub_docker_com_ubuntu_through_a_mirror(registry, fresh_root):
    """`docker pull registry.hub.docker.com/ubuntu:latest` with a mirror configured."""
    publisher = StateRoot()
    try:
        publisher.sandbox("run", "--rm", "busybox", "true", check=True)
        publisher.sandbox("tag", "busybox", f"{registry}/library/ubuntu:latest", check=True)
        publisher.sandbox("push", f"{registry}/library/ubuntu:latest", check=True)
    finally:
        publisher.remove()
    (fresh_root.path / "daemon.json").write_text(
        json.dumps({"registry-mirrors": [f"http://{registry}"]}))
    r = fresh_root.sandbox("pull", "registry.hub.docker.com/ubuntu:latest", check=True)
    assert r.stdout.splitlines()[-1] == "docker.io/library/ubuntu:latest"
    r = fresh_root.sandbox("run", "--rm", "ubuntu", "echo", "pulled", check=True)
    assert r.stdout == "pulled\n"
