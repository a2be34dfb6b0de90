"""Volumes, --mount, --volumes-from, rm -v and --env-file, with real containers (issue 12).

Docker's behaviour is the reference: a named volume outlives its containers,
an empty one is filled from the image, anonymous ones go with ``rm -v`` and
``run --rm``, and ``volume rm`` is refused while any container uses the volume.
"""

from __future__ import annotations

import json
import os

import pytest

from conftest import IS_ROOT, fails_with_one_sentence, root_only, sandbox


@pytest.fixture
def vol(name, state_root):
    """A volume name unique to the test; the test's volumes are removed afterwards."""
    yield name + "-v"
    for v in os.listdir(state_root / "volumes") if (state_root / "volumes").is_dir() else ():
        if v.startswith(name):
            sandbox("volume", "rm", v)


def volume_names() -> set[str]:
    return set(sandbox("volume", "ls", "-q", check=True).stdout.split())


def mounts_of(ref: str) -> list[dict]:
    return json.loads(sandbox("inspect", ref, check=True).stdout)[0]["Mounts"]


# --- parsing, without containers ---------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("data:/d", {"type": "volume", "name": "data", "target": "/d", "readonly": False,
                 "nocopy": False}),
    ("data:/d:ro,nocopy", {"type": "volume", "name": "data", "readonly": True, "nocopy": True}),
    ("/d", {"type": "volume", "name": "", "target": "/d", "readonly": False}),
    ("/d:ro", {"type": "volume", "name": "", "target": "/d", "readonly": True}),
    ("/tmp:/d:ro", {"type": "bind", "target": "/d", "readonly": True}),
])
def test_dash_v_as_docker_reads_it(text, expected):
    from sandbox.isolation.mounts import parse_volume
    m = parse_volume(text)
    assert {k: m[k] for k in expected} == expected


@pytest.mark.parametrize("text, expected", [
    ("type=volume,source=data,target=/d,readonly", {"type": "volume", "name": "data",
                                                    "target": "/d", "readonly": True}),
    ("src=data,dst=/d,ro=false,volume-nocopy=true", {"type": "volume", "nocopy": True,
                                                     "readonly": False}),
    ('"type=tmpfs","destination=/t","tmpfs-size=64m","tmpfs-mode=700"',
     {"type": "tmpfs", "target": "/t", "options": "size=64m,mode=700"}),
    ("type=bind,src=/tmp,dst=/d", {"type": "bind", "source": "/tmp", "readonly": False}),
])
def test_dash_dash_mount_as_docker_reads_it(text, expected):
    from sandbox.isolation.mounts import parse_mount
    m = parse_mount(text)
    assert {k: m[k] for k in expected} == expected


def test_own_mounts_win_over_volumes_from_which_win_over_image_volumes():
    from sandbox.isolation.mounts import merged, volume_mount
    own = [volume_mount("mine", "/a")]
    inherited = [volume_mount("theirs", "/a/"), volume_mount("theirs2", "/b")]
    result = {m["target"]: m["name"] for m in merged(own, inherited, ["/a", "/b", "/c/"])}
    assert result == {"/a": "mine", "/b": "theirs2", "/c": ""}


# --- data that outlives a container ---------------------------------------------------
def test_data_in_a_named_volume_is_seen_by_the_next_container(vol):
    sandbox("run", "--rm", "-v", f"{vol}:/data", "busybox", "sh", "-c",
            "echo kept > /data/f", check=True)
    r = sandbox("run", "--rm", "-v", f"{vol}:/data", "busybox", "cat", "/data/f", check=True)
    assert r.stdout == "kept\n"
    assert vol in volume_names()


def test_volume_create_ls_inspect_rm(vol, state_root):
    assert sandbox("volume", "create", "--label", "course=08", vol, check=True).stdout == vol + "\n"
    assert sandbox("volume", "create", vol, check=True).stdout == vol + "\n"  # idempotent
    lines = sandbox("volume", "ls", check=True).stdout.splitlines()
    assert lines[0].split() == ["DRIVER", "VOLUME", "NAME"]
    assert ["local", vol] in [line.split() for line in lines[1:]]
    info = json.loads(sandbox("volume", "inspect", vol, check=True).stdout)[0]
    assert set(info) == {"CreatedAt", "Driver", "Labels", "Mountpoint", "Name", "Options",
                         "Scope"}
    assert info["Labels"] == {"course": "08"} and info["Driver"] == "local"
    assert info["Mountpoint"] == str(state_root / "volumes" / vol / "_data")
    assert sandbox("volume", "inspect", "-f", "{{.Name}}", vol).stdout == vol + "\n"
    assert sandbox("volume", "rm", vol, check=True).stdout == vol + "\n"
    assert not (state_root / "volumes" / vol).exists()


def test_a_volume_without_a_name_gets_64_hex_digits(vol):
    made = sandbox("volume", "create", check=True).stdout.strip()
    try:
        assert len(made) == 64 and all(c in "0123456789abcdef" for c in made)
    finally:
        sandbox("volume", "rm", made, check=True)


# --- copy-up --------------------------------------------------------------------------
def test_an_empty_volume_is_filled_from_the_image_keeping_owners_modes_links(vol, state_root):
    r = sandbox("run", "--rm", "-v", f"{vol}:/bin", "busybox", "sh", "-c",
                "stat -c '%u:%g %a' /bin/busybox; readlink /bin/sh", check=True)
    owner_mode, link = r.stdout.splitlines()
    assert owner_mode == "0:0 755" and link.endswith("busybox")
    data = state_root / "volumes" / vol / "_data"
    assert os.path.islink(data / "sh")
    assert os.stat(data / "busybox").st_uid == os.geteuid()  # the container's root, on the host
    # A volume that has files is not filled again: the user's files win.
    sandbox("run", "--rm", "-v", f"{vol}:/data", "busybox", "rm", "/data/ls", check=True)
    r = sandbox("run", "--rm", "-v", f"{vol}:/bin", "busybox", "sh", "-c",
                "test -e /bin/ls; echo $?", check=True)
    assert r.stdout == "1\n"


def test_copy_up_keeps_hard_links_fifos_special_modes_and_owners(name, vol, state_root):
    image = f"{name}-img"
    owner = "chown 1234:5678 /data/f; " if IS_ROOT else ""  # rootless maps only root
    sandbox("run", "--name", name, "busybox", "sh", "-c",
            "mkdir /data && echo a > /data/f && ln /data/f /data/g && mkfifo /data/p && "
            f"ln -s /etc/passwd /data/l && {owner}chmod 4750 /data/f && chmod 1777 /data",
            check=True)
    sandbox("commit", name, image, check=True)
    sandbox("rm", name, check=True)
    try:
        show = "stat -c '%n %u:%g %a %h %F %Y' /data /data/f /data/g /data/p; readlink /data/l"
        in_image = sandbox("run", "--rm", image, "sh", "-c", show, check=True).stdout
        in_volume = sandbox("run", "--rm", "-v", f"{vol}:/data", image, "sh", "-c", show,
                            check=True).stdout
        assert in_volume == in_image
        lines = in_volume.splitlines()
        assert lines[0].startswith("/data 0:0 1777 2 directory")
        assert lines[1].startswith(f"/data/f {'1234:5678' if IS_ROOT else '0:0'} ")
        assert " 2 regular file" in lines[2] and " fifo" in lines[3]
        assert lines[4] == "/etc/passwd"
        data = state_root / "volumes" / vol / "_data"
        assert os.stat(data / "f").st_ino == os.stat(data / "g").st_ino
    finally:
        sandbox("rmi", image)


def test_containers_filling_one_new_volume_at_once_all_start(vol):
    from concurrent.futures import ThreadPoolExecutor
    expected = sandbox("run", "--rm", "busybox", "ls", "/bin", check=True).stdout
    with ThreadPoolExecutor(6) as pool:
        runs = list(pool.map(lambda _: sandbox("run", "--rm", "-v", f"{vol}:/bin", "busybox",
                                               "ls", "/bin"), range(6)))
    assert all(r.returncode == 0 for r in runs), [r.stderr for r in runs]
    assert sandbox("run", "--rm", "-v", f"{vol}:/bin", "busybox", "ls", "/bin").stdout == expected


def test_volume_nocopy_leaves_the_volume_empty(vol):
    r = sandbox("run", "--rm", "--mount", f"type=volume,src={vol},dst=/etc,volume-nocopy",
                "busybox", "ls", "-A", "/etc", check=True)
    assert r.stdout == ""


def test_a_read_only_volume_refuses_writes_but_is_still_filled(vol):
    r = sandbox("run", "--rm", "-v", f"{vol}:/etc:ro", "busybox", "sh", "-c",
                "cat /etc/passwd >/dev/null && echo read; echo x > /etc/new")
    assert r.stdout == "read\n" and "Read-only file system" in r.stderr
    r = sandbox("run", "--rm", "-v", f"{vol}:/etc", "busybox", "ls", "/etc", check=True)
    assert "passwd" in r.stdout and "new" not in r.stdout


def test_a_tmpfs_volume_is_fresh_at_each_start(vol):
    sandbox("volume", "create", "-o", "type=tmpfs", "-o", "o=size=1m", vol, check=True)
    r = sandbox("run", "--rm", "-v", f"{vol}:/t", "busybox", "sh", "-c",
                "echo x > /t/f; grep ' /t ' /proc/self/mountinfo", check=True)
    assert "tmpfs" in r.stdout and "size=1024k" in r.stdout
    r = sandbox("run", "--rm", "-v", f"{vol}:/t", "busybox", "ls", "-A", "/t", check=True)
    assert r.stdout == ""


# --- --mount ------------------------------------------------------------------------
def test_mount_variants(vol, tmp_path):
    host = tmp_path / "h"
    host.mkdir()
    (host / "f").write_text("host\n")
    os.chmod(tmp_path, 0o755)
    os.chmod(host, 0o777)
    r = sandbox("run", "--rm",
                "--mount", f"type=bind,source={host},target=/b,readonly",
                "--mount", f"src={vol},destination=/v,ro=false",
                "--mount", "type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770",
                "busybox", "sh", "-c",
                "cat /b/f; touch /v/ok && echo v-ok; touch /b/no; "
                "grep ' /t ' /proc/self/mountinfo")
    assert r.stdout.startswith("host\nv-ok\n")
    assert "Read-only file system" in r.stderr
    assert "size=1024k" in r.stdout and "mode=1770" in r.stdout
    assert not (host / "no").exists()


@pytest.mark.parametrize("flags, needle", [
    (["-v", ":/x"], "invalid volume specification: ':/x' (-v)"),
    (["--mount", "type=nope,dst=/x"], 'invalid mount config for type "nope"'),
    (["--mount", "type=volume,src=v1"], "target is required"),
    (["--mount", "type=bind,src=/does/not/exist,dst=/x"], "/does/not/exist"),
    (["--mount", "type=tmpfs,src=x,dst=/x"], "Source must not be specified"),
    (["--mount", "type=bind,src=/tmp,dst=/x,volume-nocopy"], "cannot mix 'volume-*'"),
    (["--mount", "type=volume,dst=/x,bogus=1"], "unexpected key 'bogus'"),
    (["--mount", "type=volume,dst=/x,ro=maybe"], "invalid value for ro: maybe"),
    (["--mount", "type=bind,src=/tmp,dst=/x,bind-propagation=shared"], "bind-propagation"),
    (["--mount", "type=volume,dst=/x,volume-opt=type=nfs"], "type=nfs"),
    (["-v", "a:/x"], "volume name is too short"),
    (["-v", "b@d:/x"], "includes invalid characters"),
    (["-v", "v1:relative"], "must be absolute"),
    (["--volumes-from", "t-no-such-container"], "No such container: t-no-such-container"),
    (["--env-file", "/does/not/exist"], "env file /does/not/exist"),
])
def test_bad_mounts_get_one_sentence_and_change_nothing(flags, needle, state_root):
    before = volume_names()
    fails_with_one_sentence(sandbox("run", "--rm", *flags, "busybox", "true"), needle)
    assert volume_names() == before
    assert not os.listdir(state_root / "tmp") if (state_root / "tmp").is_dir() else True


def test_mount_gives_a_new_volume_its_labels_and_options(vol):
    r = sandbox("run", "--rm", "--mount", f"src={vol},dst=/x,volume-label=a=1,volume-label=b,"
                "volume-opt=type=tmpfs,volume-opt=o=size=2m,consistency=cached", "busybox",
                "grep", " /x ", "/proc/self/mountinfo", check=True)
    assert "tmpfs" in r.stdout and "size=2048k" in r.stdout
    info = json.loads(sandbox("volume", "inspect", vol, check=True).stdout)[0]
    assert info["Labels"] == {"a": "1", "b": ""}
    assert info["Options"] == {"type": "tmpfs", "o": "size=2m"}


def test_bad_volume_options_get_one_sentence(vol):
    fails_with_one_sentence(sandbox("volume", "create", "-o", "type=nfs", vol), "type=nfs")
    fails_with_one_sentence(sandbox("volume", "create", "x"), "too short")
    assert vol not in volume_names()


# --- --volumes-from, rm -v, --rm ---------------------------------------------------------
def test_volumes_from_shares_volumes_and_can_make_them_read_only(name, vol):
    sandbox("create", "--name", name, "-v", f"{vol}:/named", "-v", "/anon", "busybox",
            "true", check=True)
    try:
        sandbox("run", "--rm", "--volumes-from", name, "busybox", "sh", "-c",
                "echo 1 > /named/a; echo 2 > /anon/b", check=True)
        r = sandbox("run", "--rm", "--volumes-from", f"{name}:ro", "busybox", "sh", "-c",
                    "cat /named/a /anon/b; touch /anon/c")
        assert r.stdout == "1\n2\n" and "Read-only file system" in r.stderr
    finally:
        sandbox("rm", "-v", name, check=True)


def test_rm_v_removes_anonymous_volumes_and_keeps_named_ones(name, vol):
    sandbox("create", "--name", name, "-v", f"{vol}:/named", "-v", "/anon", "busybox",
            "true", check=True)
    mounts = {m["Destination"]: m for m in mounts_of(name)}
    anon = mounts["/anon"]["Name"]
    assert len(anon) == 64 and mounts["/named"]["Name"] == vol
    assert {"Type", "Name", "Source", "Destination", "Mode", "RW", "Propagation"} <= \
        set(mounts["/named"])
    assert mounts["/named"]["Type"] == "volume" and mounts["/named"]["RW"] is True
    assert {vol, anon} <= volume_names()
    sandbox("rm", "-v", name, check=True)
    assert vol in volume_names() and anon not in volume_names()


def test_rm_without_v_keeps_anonymous_volumes_for_prune(name, vol):
    sandbox("create", "--name", name, "-v", "/anon", "busybox", "true", check=True)
    anon = mounts_of(name)[0]["Name"]
    sandbox("rm", name, check=True)
    assert anon in volume_names()
    sandbox("volume", "create", vol, check=True)
    r = sandbox("volume", "prune", "-f", check=True)
    assert anon in r.stdout and vol not in r.stdout
    assert anon not in volume_names() and vol in volume_names()


def test_run_rm_removes_anonymous_volumes():
    before = volume_names()
    sandbox("run", "--rm", "-v", "/anon", "--mount", "type=volume,dst=/anon2", "busybox",
            "touch", "/anon/x", check=True)
    assert volume_names() == before


def test_an_image_volume_becomes_an_anonymous_volume(name):
    """An image whose config declares VOLUME /data: each container gets its own volume."""
    image = f"{name}-img"
    sandbox("run", "--name", name, "busybox", "sh", "-c", "mkdir /data; echo img > /data/f",
            check=True)
    sandbox("commit", name, image, check=True)
    sandbox("rm", name, check=True)
    try:
        _add_volume_to_image_config(image, "/data")
        r = sandbox("run", "--rm", image, "sh", "-c", "cat /data/f; grep -c ' /data ' "
                    "/proc/self/mountinfo", check=True)
        assert r.stdout == "img\n1\n"  # copied up into a volume mounted at /data
    finally:
        sandbox("rmi", image)


def _add_volume_to_image_config(image: str, path: str) -> None:
    """Write the committed image again, its config with a Volumes entry (no build verb yet)."""
    from sandbox.paths import state_root
    from sandbox.content.store import Store
    store = Store(state_root()).init()
    found = store.get(image)
    config = dict(found.config)
    config["config"] = dict(config.get("config") or {}, Volumes={path: {}})
    store.write_image(config, list(found.layers), image)


# --- volume rm, prune -----------------------------------------------------------------
def test_volume_rm_is_refused_while_a_stopped_container_uses_it(name, vol, state_root):
    sandbox("create", "--name", name, "-v", f"{vol}:/data", "busybox", "true", check=True)
    try:
        fails_with_one_sentence(sandbox("volume", "rm", vol), f"remove {vol}", name,
                                "volume is in use")
        assert (state_root / "volumes" / vol / "_data").is_dir()
        r = sandbox("volume", "prune", "-a", "-f", check=True)
        assert vol not in r.stdout
    finally:
        sandbox("rm", name, check=True)
    sandbox("volume", "rm", vol, check=True)


def test_volume_rm_of_a_missing_volume_is_one_sentence():
    fails_with_one_sentence(sandbox("volume", "rm", "t-never-made"),
                            "No such volume: t-never-made")
    fails_with_one_sentence(sandbox("volume", "inspect", "t-never-made"),
                            "No such volume: t-never-made")


def test_prune_all_removes_unused_named_volumes(vol):
    sandbox("volume", "create", vol, check=True)
    r = sandbox("volume", "prune", "-a", "-f", check=True)
    assert vol in r.stdout and vol not in volume_names()


# --- --env-file ------------------------------------------------------------------------
def test_env_file_in_dockers_format(tmp_path):
    f = tmp_path / "app.env"
    f.write_text("\ufeff# a comment\n\nGREETING=hello world\n  INDENTED=yes\nFROM_CALLER\n"
                 "UNSET_HERE\nEMPTY=\nOVERRIDDEN=file\n")
    r = sandbox("run", "--rm", "--env-file", str(f), "-e", "OVERRIDDEN=flag", "busybox",
                "env", env={"FROM_CALLER": "caller"}, check=True)
    lines = r.stdout.splitlines()
    for expected in ("GREETING=hello world", "INDENTED=yes", "FROM_CALLER=caller", "EMPTY=",
                     "OVERRIDDEN=flag"):
        assert expected in lines
    assert not any(line.startswith(("UNSET_HERE", "OVERRIDDEN=file")) for line in lines)


def test_exec_takes_an_env_file_too(name, tmp_path):
    f = tmp_path / "exec.env"
    f.write_text("FROM_FILE=1\n")
    sandbox("run", "-d", "--name", name, "busybox", "sleep", "60", check=True)
    try:
        r = sandbox("exec", "--env-file", str(f), name, "sh", "-c", "echo $FROM_FILE",
                    check=True)
        assert r.stdout == "1\n"
    finally:
        sandbox("rm", "-f", name)


def test_env_file_errors_name_file_and_line(tmp_path):
    f = tmp_path / "bad.env"
    f.write_text("A=1\nBAD NAME=2\n")
    fails_with_one_sentence(sandbox("run", "--rm", "--env-file", str(f), "busybox", "true"),
                            str(f), "line 2", "BAD NAME")


# --- the Python API ------------------------------------------------------------------------
def test_the_python_api_takes_named_volumes_and_mounts(vol):
    import sandbox as sb
    r = sb.run("busybox", "sh -c 'echo api > /d/f'", volumes={vol: {"bind": "/d", "mode": "rw"}})
    assert r.ok, r.stderr
    r = sb.run("busybox", "cat /d/f", mounts=[{"Type": "volume", "Source": vol, "Target": "/d",
                                               "ReadOnly": True}])
    assert r.stdout == "api\n"
    assert sb.get_volume(vol)["Name"] == vol
    assert vol in [v["Name"] for v in sb.list_volumes()]
    sb.remove_volume(vol)
    assert vol not in volume_names()


# --- remapped root ----------------------------------------------------------------------
@root_only
def test_a_remapped_root_owns_what_it_copies_up(vol, state_root):
    r = sandbox("run", "--rm", "--uidmap", "0:300000:65536", "-v", f"{vol}:/etc", "busybox",
                "sh", "-c", "stat -c %u /etc/passwd; echo x > /etc/new", check=True)
    assert r.stdout == "0\n"
    data = state_root / "volumes" / vol / "_data"
    assert os.stat(data / "passwd").st_uid == 300000
    assert os.stat(data / "new").st_uid == 300000


# --- nothing left behind -----------------------------------------------------------------
def test_a_hundred_runs_with_volumes_leave_nothing_behind(vol, state_root):
    before = volume_names()
    shorts = []
    for i in range(100):
        r = sandbox("run", "--rm", "-v", f"{vol}:/d", "-v", "/anon", "busybox", "sh", "-c",
                    f"echo {i} >> /d/log; hostname", check=True)
        shorts.append(r.stdout.strip())
    r = sandbox("run", "--rm", "-v", f"{vol}:/d", "busybox", "wc", "-l", "/d/log", check=True)
    assert r.stdout.split()[0] == "100"
    assert volume_names() == before | {vol}  # the 100 anonymous volumes went with --rm
    assert not os.listdir(state_root / "containers")
    assert not [e for e in os.listdir(state_root / "tmp") if "volume" in e]
    with open("/proc/self/mountinfo") as f:
        assert str(state_root) not in f.read()
    left = [os.path.join(d, n) for d, names, _ in os.walk("/sys/fs/cgroup")
            for n in names if n[:12] in shorts]
    assert not left, left
