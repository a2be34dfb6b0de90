"""`sandbox doctor` where the course runs inside a container (a Codespace, a JupyterHub pod,
`docker run`): it says so in one sentence, and it names a state root on overlayfs (nested
overlay), which overlayfs refuses as an upper directory.  The decisions are pure functions of
what the kernel shows (files, environment, /proc/1/cgroup, /proc/self/mountinfo)."""

import pytest

from sandbox import checks

# /proc/self/mountinfo of a Docker container: / is overlayfs, a volume holds /var/lib/sandbox.
IN_DOCKER = """\
612 540 0:52 / / rw,relatime master:270 - overlay overlay rw,lowerdir=/l,upperdir=/u,workdir=/w
613 612 0:55 / /proc rw,nosuid,nodev,noexec,relatime - proc proc rw
620 612 8:1 /var/lib/docker/volumes/sandbox/_data /var/lib/sandbox rw,relatime - ext4 /dev/sda1 rw
621 612 8:1 /home/me/my\\040dir /work/my\\040dir rw,relatime - ext4 /dev/sda1 rw
"""
# A machine's own: / is ext4, /tmp a tmpfs.
ON_A_HOST = """\
22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
23 22 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
30 22 0:27 / /tmp rw,nosuid,nodev shared:14 - tmpfs tmpfs rw
"""


@pytest.mark.parametrize("path, mountinfo, expected", [
    ("/", IN_DOCKER, "overlay"),
    ("/var/lib/sandbox", IN_DOCKER, "ext4"),
    ("/var/lib/sandbox/containers/x", IN_DOCKER, "ext4"),
    ("/var/lib/sandboxes", IN_DOCKER, "overlay"),        # a prefix of a name is not a parent
    ("/work/my dir/x", IN_DOCKER, "ext4"),               # \040 is a space
    ("/tmp/x", ON_A_HOST, "tmpfs"),
    ("/home/me", ON_A_HOST, "ext4"),
    ("/tmp", "22 1 8:1 / / rw - ext4 /dev/sda1 rw\n30 22 0:27 / /tmp rw - tmpfs t rw\n"
             "31 30 0:28 / /tmp rw - overlay o rw\n", "overlay"),   # the last mount on top wins
])
def test_filesystem_of_finds_the_mount_that_holds_a_path(path, mountinfo, expected):
    assert checks.filesystem_of(path, mountinfo) == expected


def no_files(path):
    return False


@pytest.mark.parametrize("exists, environ, init_cgroup, mountinfo, expected", [
    (no_files, {}, "0::/init.scope\n", ON_A_HOST, []),
    (lambda p: p == "/.dockerenv", {}, "0::/\n", IN_DOCKER,
     ["Docker's /.dockerenv", "/ is overlayfs"]),
    (lambda p: p == "/run/.containerenv", {"container": "podman"}, "", "",
     ["Podman's /run/.containerenv", "container=podman"]),
    (no_files, {"CODESPACES": "true"}, "", "", ["a GitHub Codespace"]),
    (no_files, {"KUBERNETES_SERVICE_HOST": "10.96.0.1"},
     "12:pids:/kubepods/burstable/pod1234/abcd\n", "",
     ["a Kubernetes pod", "cgroup path of process 1 names kubepods"]),
    (no_files, {}, "4:memory:/docker/3f2a9c1b7d0e\n", "",
     ["cgroup path of process 1 names docker"]),
])
def test_container_signs(exists, environ, init_cgroup, mountinfo, expected):
    assert checks.container_signs(exists, environ, init_cgroup, mountinfo) == expected


def test_doctor_reports_the_container_in_one_sentence(monkeypatch):
    monkeypatch.setattr(checks, "container_signs", lambda **kw: ["a GitHub Codespace"])
    check = checks.check_container()
    assert check.ok and not check.required
    assert check.detail.startswith("inside a container (a GitHub Codespace): ")
    assert check.detail.count(".") == 0 and "\n" not in check.detail      # one sentence
    monkeypatch.setattr(checks, "container_signs", lambda **kw: [])
    assert checks.check_container().detail.startswith("not inside a container")


def test_a_state_root_on_overlayfs_is_a_failed_check_with_a_fix(monkeypatch, tmp_path):
    monkeypatch.setenv("SANDBOX_ROOT", str(tmp_path / "state"))
    on_overlay = f"1 0 0:1 / / rw - ext4 d rw\n2 1 0:2 / {tmp_path} rw - overlay o rw\n"
    monkeypatch.setattr(checks, "_read_text", lambda path: on_overlay)
    check = checks.check_nested_overlay()
    assert not check.ok and check.required
    assert "overlayfs" in check.detail and "SANDBOX_ROOT" in check.fix
    on_tmpfs = on_overlay.replace("overlay o", "tmpfs t")
    monkeypatch.setattr(checks, "_read_text", lambda path: on_tmpfs)
    assert checks.check_nested_overlay().ok


def test_the_real_doctor_has_both_lines():
    names = [c.name for c in checks.doctor().checks]
    assert "container" in names and "nested overlay" in names
