"""``sandbox cp``: both directions, tar streams, Docker's path rules, ownership, and a
container's filesystem (or a tar on stdin) that tries to lead the copy out to the host.

Every container here is real; the hostile ones have the symbolic links in their own
root filesystem, made by a shell inside them.
"""

from __future__ import annotations

import io
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from conftest import IS_ROOT, fails_with_one_sentence, root_only, sandbox
from sandbox.engine.copying import placement, rebase, source_name, split_arg
from sandbox.errors import NotFound, SandboxError


# --- the rules, without containers ------------------------------------------------------
@pytest.mark.parametrize("arg, expected", [
    ("web:/etc/hosts", ("web", "/etc/hosts")),
    ("web:etc/hosts", ("web", "etc/hosts")),
    ("/abs/file:name", ("", "/abs/file:name")),
    ("./file:name", ("", "./file:name")),
    ("plain", ("", "plain")),
    ("-", ("", "-")),
])
def test_split_arg_reads_container_and_path_as_docker(arg, expected):
    assert split_arg(arg) == expected


@pytest.mark.parametrize("path, name", [
    ("/etc/hosts", "hosts"), ("/etc/", "etc"), ("/etc/.", "."), ("/", "."), ("dir", "dir"),
])
def test_source_name(path, name):
    assert source_name(path) == name


@pytest.mark.parametrize("src_is_dir, src, dest, dest_is_dir, expected", [
    (False, "f", "/out", None, ("/", "out")),              # a file saved as DEST
    (False, "f", "/out", False, ("/", "out")),             # an existing file overwritten
    (False, "f", "/dir", True, ("/dir", "f")),             # into a directory
    (True, "d", "/new", None, ("/", "new")),               # a directory made as DEST
    (True, "d", "/dir", True, ("/dir", "d")),              # a directory into a directory
    (True, ".", "/dir", True, ("/dir", "")),               # d/. : the content into DEST
    (True, ".", "/new", None, ("/", "new")),               # d/. into a new DEST
])
def test_placement_follows_dockers_table(src_is_dir, src, dest, dest_is_dir, expected):
    assert placement(src_is_dir, src, dest, dest_is_dir) == expected


def test_placement_refusals():
    with pytest.raises(SandboxError, match="cannot copy directory"):
        placement(True, "d", "/file", False)
    with pytest.raises(NotFound, match="no such directory"):
        placement(False, "f", "/missing/", None)


def test_rebase_renames_the_top_entry_only():
    assert rebase("d/x/d", "d", "new") == "new/x/d"
    assert rebase("./x", ".", "") == "x"
    assert rebase(".", ".", "") == ""
    with pytest.raises(SandboxError):
        rebase("other/x", "d", "new")


# --- helpers ---------------------------------------------------------------------------
def running(name: str, script: str = "true") -> str:
    """A detached container that has run ``script`` (it then touches /ready, and sleeps)."""
    sandbox("run", "-d", "--name", name, "busybox", "sh", "-c",
            f"{script} && touch /ready; sleep 300", check=True)
    for _ in range(200):
        if sandbox("exec", name, "test", "-e", "/ready").returncode == 0:
            return name
        time.sleep(0.05)
    raise AssertionError("the container's script did not finish")


def made(name: str, script: str, state: str) -> str:
    """A container whose script has run, left ``running`` or ``stopped`` (started again,
    it sleeps: :func:`see` looks inside that way)."""
    if state == "running":
        return running(name, script)
    sandbox("run", "--name", name, "busybox", "sh", "-c",
            f"test -e /ready && exec sleep 300; {script} && touch /ready", check=True)
    return name


def in_container(name: str, *command: str) -> str:
    return sandbox("exec", name, *command, check=True).stdout


def cp(*args, **kwargs):
    return sandbox("cp", *args, **kwargs)


@pytest.fixture
def cleanup():
    names = []
    yield names.append
    for n in names:
        sandbox("rm", "-f", n)


STATES = ["running", "stopped"]


def see(name: str, state: str, *command: str) -> str:
    """Run a command in the container, starting it first if it is stopped."""
    if state == "stopped":
        sandbox("start", name, check=True)
    return in_container(name, *command)


# --- out of a container ----------------------------------------------------------------
@pytest.mark.parametrize("state", STATES)
def test_copy_out_a_file_a_directory_and_its_content(name, cleanup, tmp_path, state):
    cleanup(name)
    made(name, "mkdir -p /d/sub && echo hi > /d/a && echo deep > /d/sub/b", state)
    cp(f"{name}:/d/a", str(tmp_path / "a"), check=True)
    assert (tmp_path / "a").read_text() == "hi\n"
    cp(f"{name}:/d", str(tmp_path / "copy"), check=True)          # a new directory
    assert (tmp_path / "copy" / "sub" / "b").read_text() == "deep\n"
    cp(f"{name}:/d", str(tmp_path / "copy"), check=True)          # into an existing one
    assert (tmp_path / "copy" / "d" / "a").read_text() == "hi\n"
    (tmp_path / "content").mkdir()
    cp(f"{name}:d/.", str(tmp_path / "content"), check=True)      # d/. : the content
    assert sorted(os.listdir(tmp_path / "content")) == ["a", "sub"]
    (tmp_path / "dir").mkdir()
    cp(f"{name}:/d/a", str(tmp_path / "dir") + "/", check=True)   # a file into a directory
    assert (tmp_path / "dir" / "a").read_text() == "hi\n"


def test_copy_out_to_stdout_is_a_tar_stream(name, cleanup):
    cleanup(name)
    running(name, "mkdir /d && echo hi > /d/a")
    out = subprocess.run([sys.executable, "-m", "sandbox", "cp", f"{name}:/d", "-"],
                         capture_output=True, check=True).stdout
    with tarfile.open(fileobj=io.BytesIO(out)) as tar:
        assert sorted(tar.getnames()) == ["d", "d/a"]
        assert tar.extractfile("d/a").read() == b"hi\n"


def test_files_copied_out_belong_to_the_caller(name, cleanup, tmp_path):
    cleanup(name)
    running(name, "echo x > /f && chown 0:0 /f")
    cp(f"{name}:/f", str(tmp_path / "f"), check=True)
    assert (tmp_path / "f").stat().st_uid == os.getuid()


# --- into a container ------------------------------------------------------------------
@pytest.mark.parametrize("state", STATES)
def test_copy_in_a_file_and_a_directory(name, cleanup, tmp_path, state):
    cleanup(name)
    made(name, "mkdir -p /in", state)
    (tmp_path / "f").write_text("hello\n")
    (tmp_path / "d" / "sub").mkdir(parents=True)
    (tmp_path / "d" / "sub" / "x").write_text("x\n")
    cp(str(tmp_path / "f"), f"{name}:/in/", check=True)            # into a directory
    cp(str(tmp_path / "f"), f"{name}:/in/renamed", check=True)      # saved as DEST
    cp(str(tmp_path / "d"), f"{name}:/newdir", check=True)          # a directory made
    cp(str(tmp_path / "d") + "/.", f"{name}:/in", check=True)       # the content into /in
    listing = see(name, state, "sh", "-c", "cat /in/f /in/renamed /newdir/sub/x; ls /in")
    assert listing.split() == ["hello", "hello", "x", "f", "renamed", "sub"]
    if state == "stopped":
        sandbox("stop", "-t", "0", name)


def test_files_copied_in_belong_to_the_containers_root_and_a_keeps_ids(name, cleanup,
                                                                       tmp_path):
    cleanup(name)
    running(name)
    f = tmp_path / "f"
    f.write_text("x\n")
    if IS_ROOT:
        os.chown(f, 1234, 2345)
    cp(str(f), f"{name}:/plain", check=True)
    assert in_container(name, "stat", "-c", "%u:%g", "/plain").strip() == "0:0"
    cp("-a", str(f), f"{name}:/kept", check=True)
    expected = "1234:2345" if IS_ROOT else "0:0"  # rootless: the caller's ids are its root's
    assert in_container(name, "stat", "-c", "%u:%g", "/kept").strip() == expected


def test_copy_in_from_stdin_a_tar_stream(name, cleanup):
    cleanup(name)
    running(name, "mkdir /in")
    r = sandbox_bytes("cp", "-", f"{name}:/in", input=tar_of({"a": b"A\n", "s/b": b"B\n"}))
    assert r.returncode == 0, r.stderr
    assert in_container(name, "cat", "/in/a", "/in/s/b") == "A\nB\n"
    r = sandbox_bytes("cp", "-", f"{name}:/in/a", input=tar_of({"a": b"A\n"}))
    assert r.returncode == 1
    assert r.stderr.decode().strip() == f'sandbox: destination "{name}:/in/a" must be a directory'


def test_follow_link_copies_what_a_local_link_points_at(name, cleanup, tmp_path):
    cleanup(name)
    running(name)
    (tmp_path / "target").write_text("T\n")
    (tmp_path / "link").symlink_to(tmp_path / "target")
    cp(str(tmp_path / "link"), f"{name}:/as-link", check=True)
    cp("-L", str(tmp_path / "link"), f"{name}:/as-file", check=True)
    assert in_container(name, "readlink", "/as-link").strip() == str(tmp_path / "target")
    assert in_container(name, "cat", "/as-file") == "T\n"


# --- what Docker says when something is missing -----------------------------------------
def test_docker_words_for_what_is_missing(name, cleanup, tmp_path):
    cleanup(name)
    running(name, "mkdir /d && touch /d/f")
    r = cp(f"{name}:/nope", str(tmp_path / "x"))
    fails_with_one_sentence(r, f"Could not find the file /nope in container {name}")
    assert r.returncode == 1
    fails_with_one_sentence(cp(str(tmp_path / "nope"), f"{name}:/"),
                            f"lstat {tmp_path / 'nope'}: no such file or directory")
    (tmp_path / "f").write_text("x")
    fails_with_one_sentence(cp(str(tmp_path / "f"), f"{name}:/nope/f"),
                            f"Could not find the file /nope in container {name}")
    fails_with_one_sentence(cp(f"{name}:/d/f", str(tmp_path / "missing") + "/"),
                            "no such directory")
    fails_with_one_sentence(cp(f"{name}:/d", str(tmp_path / "f")), "cannot copy directory")
    fails_with_one_sentence(cp(f"{name}:/d", f"{name}:/e"),
                            "copying between containers is not supported")
    fails_with_one_sentence(cp("a", "b"), "must specify at least one container source")
    fails_with_one_sentence(cp("nosuchcontainer-cp:/x", "y"), "No such container")
    assert not (tmp_path / "x").exists() and not (tmp_path / "missing").exists()


# --- a hostile container's filesystem ---------------------------------------------------
@pytest.mark.parametrize("state", STATES)
def test_links_in_the_container_never_lead_to_the_host(name, cleanup, tmp_path, state):
    """The container's /leak points at a host file, /data at a host directory, /up at /;
    the kernel resolves each inside the container's root."""
    cleanup(name)
    host = tmp_path / "host"
    host.mkdir()
    (host / "secret").write_text("host secret\n")
    made(name, f"ln -s {host}/secret /leak && ln -s {host} /data && ln -s / /up && "
               f"mkdir -p /box && ln -s {host} /box/link", state)
    out = tmp_path / "out"
    out.mkdir()
    # without -L the link itself is copied (a name, not the host's content) ...
    cp(f"{name}:/leak", str(out / "leak"), check=True)
    assert os.readlink(out / "leak") == f"{host}/secret"
    # ... with -L, or through a link in the path, the container has no such file
    for source in (("-L", f"{name}:/leak"), (f"{name}:/up{host}/secret",),
                   (f"{name}:/data/secret",)):
        r = cp(*source, str(out / "got"))
        fails_with_one_sentence(r, "Could not find the file")
        assert not (out / "got").exists()
    # writing through /data (a link to the host path) lands in the container, not the host
    (tmp_path / "f").write_text("mine\n")
    fails_with_one_sentence(cp(str(tmp_path / "f"), f"{name}:/data/f"),
                            f"Could not find the file /data in container {name}")
    fails_with_one_sentence(cp(str(tmp_path / "f"), f"{name}:/up{host}/f"),
                            "Could not find the file")
    before = sorted(os.listdir(host))
    cp(str(tmp_path / "f"), f"{name}:/box/link/", check=False)  # link to a missing dir
    cp(str(tmp_path / "d-none"), f"{name}:/box/", check=False)
    assert sorted(os.listdir(host)) == before == ["secret"]
    assert (host / "secret").read_text() == "host secret\n"
    if state == "running":
        in_container(name, "mkdir", "-p", str(host))
        cp(str(tmp_path / "f"), f"{name}:/data/", check=True)
        assert in_container(name, "cat", f"{host}/f") == "mine\n"
        assert sorted(os.listdir(host)) == ["secret"]


# --- a hostile tar on stdin ---------------------------------------------------------------
def tar_of(files: dict, links: dict = (), hardlinks: dict = ()) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as tar:
        for path, target in dict(links).items():
            info = tarfile.TarInfo(path)
            info.type, info.linkname = tarfile.SYMTYPE, target
            tar.addfile(info)
        for path, data in files.items():
            info = tarfile.TarInfo(path)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        for path, target in dict(hardlinks).items():
            info = tarfile.TarInfo(path)
            info.type, info.linkname = tarfile.LNKTYPE, target
            tar.addfile(info)
    return buffer.getvalue()


def sandbox_bytes(*args, input: bytes):
    return subprocess.run([sys.executable, "-m", "sandbox", *args], input=input,
                          capture_output=True, timeout=60)


@pytest.mark.parametrize("kind", ["climbs", "absolute", "hardlink-out", "hardlink-abs"])
def test_a_hostile_tar_on_stdin_is_refused_whole(name, cleanup, tmp_path, kind):
    cleanup(name)
    running(name, "mkdir /in")
    outside = tmp_path / "outside"
    archives = {
        "climbs": tar_of({"ok": b"1", "../../../../../../" + str(outside).lstrip("/"): b"x"}),
        "absolute": tar_of({"ok": b"1", str(outside): b"x"}),
        "hardlink-out": tar_of({"ok": b"1"}, hardlinks={"h": "../../etc/passwd"}),
        "hardlink-abs": tar_of({"ok": b"1"}, hardlinks={"h": "/etc/passwd"}),
    }
    r = sandbox_bytes("cp", "-", f"{name}:/in", input=archives[kind])
    assert r.returncode == 1
    lines = r.stderr.decode().splitlines()
    assert len(lines) == 1 and "refused, nothing was copied" in lines[0], lines
    assert in_container(name, "ls", "-A", "/in") == ""
    assert not outside.exists()


def test_a_link_in_a_tar_on_stdin_stays_inside_the_destination(name, cleanup, tmp_path):
    cleanup(name)
    running(name, "mkdir /in")
    outside = tmp_path / "outside"
    outside.mkdir()
    archive = tar_of({f"up{outside}/evil": b"x"}, links={"up": "/"})
    r = sandbox_bytes("cp", "-", f"{name}:/in", input=archive)
    assert r.returncode == 0, r.stderr
    assert os.listdir(outside) == []
    # "up" -> "/" was resolved inside the destination /in, as if /in were the root
    assert in_container(name, "cat", f"/in{outside}/evil") == "x"


# --- nothing left behind -----------------------------------------------------------------
def test_nothing_is_left_mounted_or_in_scratch(name, cleanup, tmp_path, state_root):
    cleanup(name)
    sandbox("create", "--name", name, "busybox", "true", check=True)
    (tmp_path / "f").write_text("x")
    cp(str(tmp_path / "f"), f"{name}:/f", check=True)
    sandbox_bytes("cp", "-", f"{name}:/", input=tar_of({"g": b"y"}))
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(state_root) not in mounts
    assert not [e for e in os.listdir(state_root / "tmp") if e.startswith("cp-")] \
        if (state_root / "tmp").is_dir() else True
    cp(f"{name}:/g", str(tmp_path / "g"), check=True)
    assert (tmp_path / "g").read_text() == "y"


@root_only
def test_a_read_only_container_takes_no_copy(name, cleanup, tmp_path):
    cleanup(name)
    sandbox("run", "-d", "--read-only", "--name", name, "busybox", "sleep", "300", check=True)
    (tmp_path / "f").write_text("x")
    fails_with_one_sentence(cp(str(tmp_path / "f"), f"{name}:/f"), "Read-only file system")


def test_the_host_side_unpacks_a_hostile_stream_inside_its_directory(tmp_path):
    """What comes back from a container is unpacked as hostile too: a link to / and an
    entry through it stay below the destination, merged into it or built aside."""
    from sandbox.engine.copying import unpack_stream
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    data = tar_of({f"d/up{outside}/evil": b"x"}, links={"d/up": "/"})
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:   # d/* merged into dest
        unpack_stream(tar, tar, str(dest), "d", "", None, True, [])
    assert os.listdir(outside) == []
    assert (dest / str(outside).lstrip("/") / "evil").read_bytes() == b"x"  # dest is its "/"
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:   # d made as dest/new
        unpack_stream(tar, tar, str(dest), "d", "new", None, True, [])
    assert os.listdir(outside) == []
    assert os.readlink(dest / "new" / "up") == "/"
    assert not [n for n in os.listdir(dest) if "sandbox-cp" in n]  # its scratch is gone


@root_only
@pytest.mark.parametrize("state", STATES)
def test_a_uidmap_container_gets_its_own_root_and_shows_its_own_ids(name, cleanup, tmp_path,
                                                                    state):
    """--uidmap: copied-in files belong to the container's root (host uid 100000 here), and
    -a copies out what the container sees, not the host's numbers."""
    cleanup(name)
    remap = ["--uidmap", "0:100000:65536", "--gidmap", "0:100000:65536"]
    script = "mkdir /d && echo hi > /d/a && chown 5:6 /d/a"
    if state == "running":
        sandbox("run", "-d", "--name", name, *remap, "busybox", "sh", "-c",
                f"{script} && touch /ready; sleep 300", check=True)
        for _ in range(200):
            if sandbox("exec", name, "test", "-e", "/ready").returncode == 0:
                break
            time.sleep(0.05)
    else:
        sandbox("run", "--name", name, *remap, "busybox", "sh", "-c", script, check=True)
    f = tmp_path / "f"
    f.write_text("x\n")
    os.chown(f, 7, 8)
    cp(str(f), f"{name}:/d/plain", check=True)
    cp("-a", str(f), f"{name}:/d/kept", check=True)
    cid = sandbox("inspect", "-f", "{{.Id}}", name, check=True).stdout.strip()
    upper = Path(os.environ["SANDBOX_ROOT"]) / "containers" / cid / "upper" / "d"
    owners = {n: (upper / n).stat() for n in ("plain", "kept")}
    assert (owners["plain"].st_uid, owners["plain"].st_gid) == (100000, 100000)
    assert (owners["kept"].st_uid, owners["kept"].st_gid) == (100007, 100008)
    cp("-a", f"{name}:/d/a", str(tmp_path / "a"), check=True)
    assert ((tmp_path / "a").stat().st_uid, (tmp_path / "a").stat().st_gid) == (5, 6)


def test_a_stopped_containers_bind_mounts_take_the_copy(name, cleanup, tmp_path):
    """As in the running container, a copy to a -v target lands in the host directory
    (and a :ro one refuses it), not in the container's upper layer under it."""
    cleanup(name)
    volume = tmp_path / "vol"
    volume.mkdir()
    sandbox("run", "--name", name, "-v", f"{volume}:/vol", "-v", f"{volume}:/ro:ro",
            "busybox", "true", check=True)
    (tmp_path / "f").write_text("x\n")
    cp(str(tmp_path / "f"), f"{name}:/vol/", check=True)
    assert (volume / "f").read_text() == "x\n"
    fails_with_one_sentence(cp(str(tmp_path / "f"), f"{name}:/ro/g"), "Read-only file system")
    assert not (volume / "g").exists()


def test_the_python_api_copies_too(name, cleanup, tmp_path):
    import sandbox as sb
    cleanup(name)
    running(name, "echo hi > /f")
    assert sb.cp(f"{name}:/f", str(tmp_path / "f")) == []
    assert (tmp_path / "f").read_text() == "hi\n"
    with pytest.raises(sb.NotFound, match=f"Could not find the file /nope in container {name}"):
        sb.cp(f"{name}:/nope", str(tmp_path / "g"))


@pytest.mark.parametrize("signal_name", ["INT", "TERM"])
def test_a_copy_stopped_half_way_leaves_nothing_behind(name, cleanup, tmp_path, signal_name):
    """Ctrl-C or `kill` in the middle of a copy: no half-written file, no scratch, no child."""
    cleanup(name)
    sandbox("run", "--name", name, "busybox", "truncate", "-s", "8G", "/big", check=True)
    started = subprocess.Popen([sys.executable, "-m", "sandbox", "cp", f"{name}:/big",
                                str(tmp_path / "big")], stderr=subprocess.PIPE)
    for _ in range(200):  # until the copy is under way: its scratch file is there
        if [n for n in os.listdir(tmp_path) if "sandbox-cp" in n]:
            break
        time.sleep(0.02)
    started.send_signal(getattr(__import__("signal"), "SIG" + signal_name))
    started.wait(timeout=30)
    assert started.returncode != 0
    assert "Traceback" not in started.stderr.read().decode()
    assert os.listdir(tmp_path) == []
    assert not [p for p in os.listdir("/proc") if p.isdigit() and _is_cp_of(p, name)]


def _is_cp_of(pid: str, name: str) -> bool:
    try:
        return f"{name}:/big".encode() in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False


@pytest.mark.parametrize("state", STATES)
def test_follow_link_in_the_container_copies_its_target_under_the_links_name(name, cleanup,
                                                                            tmp_path, state):
    cleanup(name)
    made(name, "mkdir /t && echo T > /t/file && ln -s /t/file /link && ln -s t /dirlink", state)
    cp(f"{name}:/link", str(tmp_path / "as-link"), check=True)
    assert os.readlink(tmp_path / "as-link") == "/t/file"
    cp("-L", f"{name}:/link", str(tmp_path / "as-file"), check=True)
    assert (tmp_path / "as-file").read_text() == "T\n"
    (tmp_path / "into").mkdir()
    cp("-L", f"{name}:/dirlink", str(tmp_path / "into"), check=True)  # named as the link
    assert (tmp_path / "into" / "dirlink" / "file").read_text() == "T\n"
