"""The Python API, as a notebook uses it."""

import pytest

import sandbox
from sandbox.errors import Conflict, ImageNotFound


def test_run_returns_code_stdout_and_stderr(capfd):
    r = sandbox.run("busybox", ["sh", "-c", "echo out; echo err >&2; exit 4"])
    assert (r.exit_code, r.stdout, r.stderr) == (4, "out\n", "err\n")
    assert not r.ok
    printed = capfd.readouterr()
    assert printed.out == "" and printed.err == "", "the API must not print into the cell"


def test_command_string_is_split_like_a_shell():
    assert sandbox.run("busybox", "echo 'two words'").stdout == "two words\n"


def test_input_goes_to_stdin():
    assert sandbox.run("busybox", "rev", input="abc\n").stdout == "cba\n"


def test_foreground_run_removes_the_container():
    before = {c.id for c in sandbox.containers(all=True)}
    sandbox.run("busybox", "true")
    assert {c.id for c in sandbox.containers(all=True)} == before


def test_missing_command_is_127_with_the_message_in_stderr():
    r = sandbox.run("busybox", "nosuch")
    assert r.exit_code == 127
    assert r.stderr == 'sandbox: exec: "nosuch": executable file not found in $PATH\n'


def test_unknown_image_raises():
    with pytest.raises(ImageNotFound, match="Unable to find image 'nope:latest' locally, and "
                                            "pulling it failed"):
        sandbox.run("nope", "true")


def test_detached_container_object():
    with sandbox.run("busybox", "sh -c 'echo started; sleep 300'", detach=True) as c:
        assert c.status == "running" and c.pid > 0
        assert c.exec("hostname").stdout.strip() == c.short_id
        assert c.exec(["sh", "-c", "echo $X"], environment={"X": "1"}).stdout == "1\n"
        c.stop(timeout=1)
        assert (c.status, c.exit_code) == ("exited", 137)
        assert c.logs() == "started\n"
        with pytest.raises(Conflict, match="is not running"):
            c.exec("true")
    assert all(other.id != c.id for other in sandbox.containers(all=True))


def test_wait_returns_the_exit_code():
    c = sandbox.run("busybox", "sh -c 'exit 9'", detach=True, remove=False)
    try:
        assert c.wait(timeout=20) == 9
    finally:
        c.remove()


def test_doctor_and_containers_stay_functions():
    """`sandbox.doctor` and `sandbox.containers` must not be shadowed by submodules."""
    sandbox.run("busybox", "true")
    assert sandbox.doctor().ok and sandbox.doctor().ok
    assert isinstance(sandbox.containers(), list) and isinstance(sandbox.containers(), list)


def test_labels_on_create():
    c = sandbox.create("busybox", "true", labels={"team": "web"})
    try:
        assert c.inspect()["Config"]["Labels"] == {"team": "web"}
    finally:
        c.remove(force=True)
