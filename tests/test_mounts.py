"""-v bind mounts, --tmpfs and --network none: what the grader (and chapter 08) build on."""

from __future__ import annotations

import os

import pytest

from conftest import fails_with_one_sentence, sandbox


@pytest.fixture
def host_dir(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    (data / "hello.txt").write_text("from the host\n")
    for p in (tmp_path, data, data / "hello.txt"):
        os.chmod(p, 0o777 if p.is_dir() else 0o666)
    return data


def test_a_read_only_bind_mount_shows_host_files_and_refuses_writes(host_dir):
    r = sandbox("run", "--rm", "-v", f"{host_dir}:/data:ro", "busybox", "sh", "-c",
                "cat /data/hello.txt; echo x > /data/new; grep ' /data ' /proc/self/mountinfo",
                check=False)
    assert "from the host" in r.stdout
    assert "Read-only file system" in r.stderr
    assert r.stdout.split(" /data ", 1)[1].startswith("ro,")
    assert not (host_dir / "new").exists()


def test_a_read_write_bind_mount_writes_through_to_the_host(host_dir):
    sandbox("run", "--rm", "-v", f"{host_dir}:/data", "busybox", "sh", "-c",
            "echo written > /data/new", check=True)
    assert (host_dir / "new").read_text() == "written\n"


def test_a_file_can_be_bind_mounted(host_dir):
    r = sandbox("run", "--rm", "-v", f"{host_dir / 'hello.txt'}:/etc/motd:ro", "busybox",
                "cat", "/etc/motd", check=True)
    assert r.stdout == "from the host\n"


def test_tmpfs_is_an_empty_writable_filesystem_in_memory():
    r = sandbox("run", "--rm", "--tmpfs", "/scratch:size=1m", "busybox", "sh", "-c",
                "echo hi > /scratch/f && cat /scratch/f && grep ' /scratch ' /proc/self/mountinfo",
                check=True)
    assert r.stdout.startswith("hi\n")
    assert "tmpfs" in r.stdout and "size=1024k" in r.stdout


def test_nested_mounts_are_made_parent_first(host_dir):
    r = sandbox("run", "--rm", "--tmpfs", "/data/inner", "-v", f"{host_dir}:/data",
                "busybox", "sh", "-c", "touch /data/inner/ok && ls /data", check=True)
    assert "hello.txt" in r.stdout and "inner" in r.stdout
    assert not (host_dir / "inner" / "ok").exists()  # it went to the tmpfs


def test_a_mount_point_that_cannot_be_made_is_named(host_dir):
    r = sandbox("run", "--rm", "--tmpfs", "/data/inner", "-v", f"{host_dir}:/data:ro",
                "busybox", "true")
    fails_with_one_sentence(r, "cannot create the mount point /data/inner",
                            "Read-only file system")


def test_a_symlink_in_the_image_cannot_send_a_mount_to_the_host(host_dir, name):
    """An image whose /data is a link to /etc: the mount lands on the container's /etc."""
    sandbox("run", "--name", name, "busybox", "ln", "-s", "/etc", "/data", check=True)
    image = f"{name}-img"
    sandbox("commit", name, image, check=True)
    sandbox("rm", name, check=True)
    try:
        r = sandbox("run", "--rm", "-v", f"{host_dir}:/data:ro", image, "ls", "/etc",
                    check=True)
        assert "hello.txt" in r.stdout  # inside the container, /etc is where /data led
        assert not os.path.exists("/etc/hello.txt")
    finally:
        sandbox("rmi", image)


def test_the_python_api_takes_docker_py_volumes(host_dir):
    import sandbox as sb
    r = sb.run("busybox", "cat /data/hello.txt", volumes={str(host_dir): {"bind": "/data",
                                                                          "mode": "ro"}})
    assert r.stdout == "from the host\n"


@pytest.mark.parametrize("flags, needle", [
    (["-v", "a:/x"], "volume name is too short"),
    (["-v", "/does/not/exist:/x"], "/does/not/exist does not exist on the host"),
    (["-v", "/tmp:relative"], "must be absolute"),
    (["-v", "/tmp:/x:rx"], "invalid mode 'rx'"),
    (["--tmpfs", "/x", "--tmpfs", "/x"], "duplicate mount point: /x"),
    (["--network", "no-such-net"], "--network no-such-net: network no-such-net not found"),
])
def test_bad_mount_flags_get_one_sentence(flags, needle):
    fails_with_one_sentence(sandbox("run", "--rm", *flags, "busybox", "true"), needle)


def test_network_none_has_only_loopback():
    r = sandbox("run", "--rm", "--network", "none", "busybox", "ls", "/sys/class/net",
                check=True)
    assert r.stdout.split() == ["lo"]
