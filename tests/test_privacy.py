"""A state root is private to its owner: another user of the machine reads nothing in it.

On a workshop server every learner has a state root.  One learner's
``containers/<id>/config.json`` holds the ``-e API_KEY=...`` it was given, its
logs what it printed, its upper directory what it wrote; another learner must
read none of it (see the modes in :mod:`sandbox.paths`).

The two-user tests are real: as root, one user (root itself, and the
unprivileged ``sandbox-ci`` that tests/run-all makes in CI) makes a container
under a permissive umask, and another user, ``sandbox-peer``, tries to read
what it left, with ``runuser``.  Users are only ever added as root with
``CI=true``: a learner's machine is never changed.
"""

from __future__ import annotations

import json
import os
import pwd
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from conftest import IS_ROOT, REPO, fails_with_one_sentence, root_only, sandbox
from sandbox.paths import ensure, rmtree, write_atomic

PEER = "sandbox-peer"   # the other learner on the workshop server
CI_USER = "sandbox-ci"  # the unprivileged user tests/run-all makes in CI
IN_CI = os.environ.get("CI") == "true"
SECRET = "API_KEY=s3cr3t-of-the-owner"

# The exceptions to "directories 0700, files 0600", and why (sandbox/paths.py):
ETC_FILES = {"hostname", "hosts", "resolv.conf"}  # 0644: read by -u nobody through bind mounts
ROOTFS_LAYERS = {"upper", "init"}  # 0755: they are the container's / (and /etc, /dev, ...)


# --- helpers ---------------------------------------------------------------------
def user_or_skip(name: str) -> pwd.struct_passwd:
    """The user ``name``; made (as tests/run-all makes sandbox-ci) only as root in CI."""
    if not IS_ROOT:
        pytest.skip("needs root to act as two users (runs in the root pass)")
    try:
        return pwd.getpwnam(name)
    except KeyError:
        if not IN_CI:
            pytest.skip(f"no user {name}: it is created only as root with CI=true "
                        "(tests never add users to a learner's machine)")
    subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", name], check=True)
    return pwd.getpwnam(name)


def as_user(user: str | None, *argv: str, cwd="/") -> subprocess.CompletedProcess:
    """Run a command as ``user`` (None: as this process), capturing its output."""
    prefix = ["runuser", "-u", user, "--"] if user else []
    return subprocess.run(prefix + list(argv), capture_output=True, text=True, timeout=120,
                          cwd=cwd)


def sandbox_as(user: str | None, root: Path, *args: str, umask: str = "000"):
    """The `sandbox` command as ``user`` on state root ``root``, under ``umask``
    (its HOME beside the root, as tests/run-all gives sandbox-ci one)."""
    home = root.parent / "home" if user else Path(os.environ.get("HOME", "/root"))
    return as_user(user, "env", f"HOME={home}", f"SANDBOX_ROOT={root}",
                   "sh", "-c", f'umask {umask} && exec "$@"', "sh",
                   sys.executable, "-m", "sandbox", *args, cwd=REPO)


def wait_exited(cdir: Path, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while json.loads((cdir / "state.json").read_text())["Status"] != "exited":
        assert time.monotonic() < deadline, (cdir / "state.json").read_text()
        time.sleep(0.1)


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def loose_modes(root: Path) -> list[str]:
    """Everything under the state root whose mode is not the one sandbox/paths.py gives it."""
    wrong = []

    def expect(path: Path, wanted: int):
        if mode(path) != wanted:
            wrong.append(f"{path.relative_to(root.parent)}: {mode(path):04o}, not {wanted:04o}")

    expect(root, 0o700)
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        rel = here.relative_to(root).parts
        if rel == ("layers",):
            dirnames.clear()  # each unpacked layer keeps the image's modes, behind layers/ (0700)
            continue
        in_container = rel[:1] == ("containers",) and len(rel) == 2
        for d in list(dirnames):
            shared = in_container and d in ROOTFS_LAYERS
            expect(here / d, 0o755 if shared else 0o700)
            if shared or (in_container and d == "work"):
                dirnames.remove(d)  # the container's own files; overlayfs's work/work (mode 000)
        for name in filenames:
            expect(here / name, 0o644 if in_container and name in ETC_FILES else 0o600)
    return wrong


# --- the exact modes, whatever the umask -------------------------------------------
@pytest.mark.parametrize("umask", [0o000, 0o077, 0o277], ids=["000", "077", "277"])
def test_ensure_and_write_atomic_set_exact_modes_whatever_the_umask(tmp_path, umask):
    old = os.umask(umask)
    try:
        ensure(tmp_path / "own" / "deeper")
        ensure(tmp_path / "own" / "upper", 0o755)
        write_atomic(tmp_path / "own" / "config.json", "{}")
        write_atomic(tmp_path / "own" / "hosts", "127.0.0.1\tlocalhost\n", 0o644)
    finally:
        os.umask(old)
    own = tmp_path / "own"
    assert {p.name: f"{mode(p):04o}" for p in [own, *own.iterdir()]} == {
        "own": "0700", "deeper": "0700", "upper": "0755", "config.json": "0600", "hosts": "0644"}


# --- one learner's secrets, another learner's eyes ---------------------------------
@pytest.fixture(scope="module", params=["root", CI_USER])
def owned(request):
    """A state root, 0777 before first use, in a directory anyone may pass through, holding
    a container that was given a secret, printed it and wrote it to its own filesystem."""
    user_or_skip(PEER)
    owner = None if request.param == "root" else request.param
    if owner:
        user_or_skip(owner)
        if as_user(owner, "test", "-r", str(REPO / "pyproject.toml"), "-a", "-x",
                   sys.executable).returncode:
            pytest.skip(f"{owner} cannot read {REPO} or its .venv")
    entry = pwd.getpwnam(owner or "root")
    base = Path(tempfile.mkdtemp(prefix="sandbox-privacy-"))
    os.chmod(base, 0o755)  # only the state root's own modes may keep the peer out
    root, home = base / "root", base / "home"
    for d in (root, home):
        d.mkdir()
        os.chown(d, entry.pw_uid, entry.pw_gid)
    os.chmod(root, 0o777)  # as a careless `mkdir -m 777` or an old sandbox left it
    try:
        r = sandbox_as(owner, root, "create", "-e", SECRET, "--name", "x", "busybox",
                       "sh", "-c", "echo $API_KEY; echo $API_KEY > /secret.txt")
        assert r.returncode == 0, r.stderr
        cdir = root / "containers" / r.stdout.strip()
        r = sandbox_as(owner, root, "start", "x")
        assert r.returncode == 0, r.stderr
        wait_exited(cdir)
        yield owner, root, cdir
        sandbox_as(owner, root, "rm", "-f", "x")
    finally:
        rmtree(base)


def secret_paths(root: Path, cdir: Path) -> list[Path]:
    return [cdir / "config.json", cdir / "state.json", cdir / f"{cdir.name}-json.log",
            cdir / "upper" / "secret.txt", root / "names" / "x",
            root / "oci" / "index.json"]


def test_the_secret_is_on_disk_for_its_owner(owned):
    owner, root, cdir = owned
    assert "s3cr3t" in as_user(owner, "cat", str(cdir / "config.json")).stdout
    log = as_user(owner, "cat", str(cdir / f"{cdir.name}-json.log")).stdout
    assert '"log":"s3cr3t-of-the-owner\\n"' in log
    for path in secret_paths(root, cdir):
        r = as_user(owner, "cat", str(path))
        assert r.returncode == 0, r.stderr


def test_another_user_reads_nothing_of_it(owned):
    _, root, cdir = owned
    for path in secret_paths(root, cdir):
        r = as_user(PEER, "cat", str(path))
        assert r.returncode != 0 and "Permission denied" in r.stderr, (path, r.stdout)
    for directory in (root, root / "names", root / "containers", cdir / "upper"):
        r = as_user(PEER, "ls", str(directory))
        assert r.returncode != 0 and "Permission denied" in r.stderr, (directory, r.stdout)


def test_each_level_keeps_another_user_out_on_its_own(owned):
    """Even with the root opened (0755), the directories inside are 0700 themselves."""
    _, root, cdir = owned
    os.chmod(root, 0o755)
    try:
        assert as_user(PEER, "ls", str(root)).returncode == 0  # the root is open now...
        for path in secret_paths(root, cdir):
            r = as_user(PEER, "cat", str(path))
            assert r.returncode != 0 and "Permission denied" in r.stderr, (path, r.stdout)
    finally:
        os.chmod(root, 0o700)


def test_every_directory_is_0700_and_every_file_0600_but_the_documented_ones(owned):
    owner, root, cdir = owned
    assert loose_modes(root) == []
    uid = pwd.getpwnam(owner or "root").pw_uid
    assert {os.lstat(p).st_uid for p in [root, *root.iterdir(), *cdir.iterdir()]} == {uid}
    assert {f"{mode(cdir / name):04o}" for name in ETC_FILES} == {"0644"}


# --- what must stay readable: inside the container ---------------------------------
@root_only
@pytest.mark.parametrize("umask", ["000", "077"])
def test_a_container_running_as_nobody_still_reads_etc_and_lists_root(umask, state_root):
    r = sandbox_as(None, state_root, "run", "--rm", "-u", "65534", "busybox", "sh", "-c",
                   "cat /etc/hosts /etc/hostname /etc/resolv.conf >/dev/null && ls / >/dev/null"
                   " && stat -c %a / /etc", umask=umask)
    assert (r.returncode, r.stdout.split(), r.stderr) == (0, ["755", "755"], "")


# --- whose state root --------------------------------------------------------------
def test_an_existing_0755_state_root_is_tightened_on_first_use(tmp_path, name):
    parent = tmp_path / "share"
    root = parent / "sandbox"
    root.mkdir(parents=True)
    os.chmod(parent, 0o755)
    os.chmod(root, 0o755)  # ~/.local/share/sandbox made by hand, under a umask of 022
    sandbox("create", "--name", name, "busybox", "true", env={"SANDBOX_ROOT": str(root)},
            check=True)
    try:
        assert (mode(root), mode(parent)) == (0o700, 0o755)  # the parent is not the sandbox's
    finally:
        sandbox("rm", name, env={"SANDBOX_ROOT": str(root)}, check=True)


def test_a_state_root_owned_by_someone_else_is_refused(tmp_path):
    if IS_ROOT:  # root could write anywhere: give the directory to nobody
        other, owner = tmp_path / "theirs", "nobody"
        other.mkdir()
        os.chown(other, pwd.getpwnam(owner).pw_uid, -1)
    else:        # an ordinary user could not write here anyway
        other, owner = Path("/usr"), "root"
    before = sorted(os.listdir(other))
    r = sandbox("create", "busybox", "true", env={"SANDBOX_ROOT": str(other)})
    fails_with_one_sentence(r, str(other), f"belongs to {owner}", "SANDBOX_ROOT")
    assert sorted(os.listdir(other)) == before


@root_only
def test_a_root_others_could_write_is_refused_if_it_holds_their_files(tmp_path):
    """A link planted in a 0777 root would send this user's files to its author."""
    root = tmp_path / "root"
    root.mkdir()
    os.chmod(root, 0o777)
    planted = root / "containers"
    planted.symlink_to(tmp_path)
    os.lchown(planted, pwd.getpwnam("nobody").pw_uid, -1)
    r = sandbox("create", "busybox", "true", env={"SANDBOX_ROOT": str(root)})
    fails_with_one_sentence(r, str(root), "containers", "nobody")
    assert mode(root) == 0o777 and os.listdir(root) == ["containers"]
