"""Images with Docker's verbs: diff, commit, history, tag, rmi, images, inspect, save, load,
import, export.  Bad input gets one sentence and leaves the image store as it was."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from conftest import fails_with_one_sentence, sandbox


# --- helpers ------------------------------------------------------------------------
def sandbox_binary(*args, stdin: Path | None = None, stdout: Path | None = None):
    """The CLI with binary stdin/stdout (a tar archive), for ``load``, ``import -``, ``save``."""
    with open(stdin or os.devnull, "rb") as fin, \
            open(stdout, "wb") if stdout else open(os.devnull, "wb") as fout:
        return subprocess.run([sys.executable, "-m", "sandbox", *args], stdin=fin, stdout=fout,
                              stderr=subprocess.PIPE, text=True, timeout=60)


def store_state(state_root: Path):
    """What must not change when a command fails: the blobs, the index, the scratch space."""
    oci = state_root / "oci"
    return (sorted(os.listdir(oci / "blobs" / "sha256")), (oci / "index.json").read_text(),
            sorted(os.listdir(state_root / "tmp")))


def table_rows(text: str, columns: list[str]) -> list[dict]:
    """Split a Docker-style table by where each header starts."""
    lines = text.splitlines()
    starts = [lines[0].index(col) for col in columns]
    return [dict(zip(columns, (line[a:b].strip() for a, b in
                               zip(starts, starts[1:] + [None])))) for line in lines[1:]]


def images() -> list[dict]:
    return table_rows(sandbox("images", check=True).stdout,
                      ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"])


def image_id(ref: str) -> str:
    return json.loads(sandbox("image", "inspect", ref, check=True).stdout)[0]["Id"]


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def tar_bytes(files: dict[str, bytes], modes: dict[str, int] | None = None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        dirs = sorted({str(Path(n).parent) for n in files} - {"."})
        for d in dirs:
            info = tarfile.TarInfo(d)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), (modes or {}).get(name, 0o644)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def busybox_rootfs(hello: bytes = b"hello\n") -> bytes:
    """The smallest root filesystem that runs: the host's static busybox and a file."""
    from sandbox.content.busybox import find_busybox
    return tar_bytes({"bin/busybox": find_busybox().read_bytes(), "hello": hello},
                     {"bin/busybox": 0o755})


def image_config(diff_ids: list[str]) -> bytes:
    return json.dumps({"architecture": "amd64", "os": "linux", "config": {},
                       "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()


def docker_archive(entries: list[dict], extra: dict[str, bytes] | None = None) -> bytes:
    """A docker-archive: ``entries`` are {"layers": [bytes], "tags": [...], "diff_ids": [...]}."""
    files: dict[str, bytes] = {}
    manifest = []
    for entry in entries:
        paths = []
        for layer in entry["layers"]:
            path = f"blobs/sha256/{sha256(layer)[7:]}"
            files[path] = layer
            paths.append(path)
        config = image_config(entry.get("diff_ids") or [sha256(x) for x in entry["layers"]])
        files[f"blobs/sha256/{sha256(config)[7:]}"] = config
        manifest.append({"Config": f"blobs/sha256/{sha256(config)[7:]}",
                         "RepoTags": entry.get("tags", []),
                         "Layers": entry.get("paths", paths)})
    files["manifest.json"] = json.dumps(manifest).encode()
    files.update(extra or {})
    return tar_bytes(files)


def oci_archive(layer: bytes, diff_id: str, name: str | None, gzip_layer: bool) -> bytes:
    """An OCI image layout (no manifest.json), one image of one layer."""
    blob = gzip.compress(layer) if gzip_layer else layer
    config = image_config([diff_id])
    manifest = json.dumps({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                   "digest": sha256(config), "size": len(config)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar"
                    + ("+gzip" if gzip_layer else ""), "digest": sha256(blob),
                    "size": len(blob)}]}).encode()
    descriptor = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                  "digest": sha256(manifest), "size": len(manifest)}
    if name:
        descriptor["annotations"] = {"org.opencontainers.image.ref.name": name}
    files = {"oci-layout": b'{"imageLayoutVersion": "1.0.0"}',
             "index.json": json.dumps({"schemaVersion": 2, "manifests": [descriptor]}).encode()}
    for data in (blob, config, manifest):
        files[f"blobs/sha256/{sha256(data)[7:]}"] = data
    return tar_bytes(files)


@pytest.fixture
def committed(name):
    """A stopped container ``name`` that wrote /new and deleted /bin/vi, committed as
    ``<name>:v1``; the container is removed afterwards, the image too if still there."""
    ref = f"{name}:v1"
    sandbox("run", "--name", name, "busybox", "sh", "-c", "echo hi > /new; rm /bin/vi",
            check=True)
    sandbox("commit", name, ref, check=True)
    yield name, ref
    sandbox("rm", "-f", name)
    sandbox("rmi", "-f", ref)


# --- the "done when" --------------------------------------------------------------
def test_diff_commit_history_save_rmi_load(name, tmp_path):
    ref, archive = f"{name}:v1", tmp_path / "mine.tar"
    sandbox("run", "--name", name, "busybox", "sh", "-c", "echo hi > /new; rm /bin/vi",
            check=True)

    changes = sandbox("diff", name, check=True).stdout.splitlines()
    assert {"A /new", "D /bin/vi", "C /bin"} <= set(changes)
    assert sorted(changes) == ["A /new", "C /bin", "D /bin/vi"], changes  # nothing else:
    for mount_point in ("/etc", "/etc/hostname", "/etc/hosts", "/etc/resolv.conf", "/dev",
                        "/proc", "/sys"):  # the init layer keeps these out
        assert not any(line.endswith(" " + mount_point) for line in changes)

    new_id = sandbox("commit", name, ref, check=True).stdout.strip()
    assert new_id.startswith("sha256:") and len(new_id) == 71
    rows = table_rows(sandbox("history", ref, check=True).stdout,
                      ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"])
    assert len(rows) == 2
    assert rows[0]["IMAGE"] == new_id[7:19] and "sandbox commit" in rows[0]["CREATED BY"]
    assert rows[1]["IMAGE"] == "<missing>" and "busybox" in rows[1]["CREATED BY"]

    assert sandbox("run", "--rm", ref, "cat", "/new").stdout == "hi\n"
    sandbox("save", ref, "-o", str(archive), check=True)
    sandbox("rm", name, check=True)
    r = sandbox("rmi", ref, check=True)
    assert r.stdout.splitlines() == [f"Untagged: {ref}", f"Deleted: {new_id}"]
    assert not any(i["REPOSITORY"] == name for i in images())

    assert sandbox("load", "-i", str(archive), check=True).stdout == f"Loaded image: {ref}\n"
    assert image_id(ref) == new_id
    r = sandbox("run", "--rm", ref, "ls", "/bin/vi")
    assert r.returncode != 0 and "No such file" in r.stderr
    assert sandbox("run", "--rm", ref, "cat", "/new").stdout == "hi\n"
    sandbox("rmi", ref, check=True)


def test_diff_of_replaced_and_opaque_directories(name):
    """A file that became a directory, and a directory deleted and made again (overlayfs
    marks it opaque: nothing of the image's shows through, so what is in it is new)."""
    sandbox("run", "--name", name, "busybox", "sh", "-c",
            "rm /bin/cat; mkdir /bin/cat; touch /bin/cat/x; "
            "rm -rf /usr/bin; mkdir /usr/bin; touch /usr/bin/wc", check=True)
    try:
        r = sandbox("diff", name)
        assert r.returncode == 0 and r.stderr == "", r.stderr
        changes = r.stdout.splitlines()
        assert {"C /bin/cat", "A /bin/cat/x", "C /usr/bin", "A /usr/bin/wc"} <= set(changes)
        assert "D /bin/cat" not in changes
    finally:
        sandbox("rm", name)


def test_load_from_stdin(committed, tmp_path):
    _, ref = committed
    archive = tmp_path / "image.tar"
    assert sandbox_binary("save", ref, stdout=archive).returncode == 0
    sandbox("rmi", ref, check=True)
    r = sandbox_binary("load", stdin=archive)
    assert r.returncode == 0, r.stderr
    assert sandbox("run", "--rm", ref, "cat", "/new").stdout == "hi\n"


def test_save_writes_both_formats_owned_by_whoever_saves(committed, tmp_path):
    """docker-archive (manifest.json) and OCI layout (oci-layout, index.json) over the same
    blobs; the archive's own entries belong to the saver (0:0 as root), with their
    directories, so that a rootless reader (skopeo oci-archive:) can restore the owners."""
    _, ref = committed
    archive = tmp_path / "image.tar"
    sandbox("save", ref, "-o", str(archive), check=True)
    with tarfile.open(archive) as tar:
        members = {m.name: m for m in tar.getmembers()}
        docker = json.load(tar.extractfile("manifest.json"))
        index = json.load(tar.extractfile("index.json"))
    assert {"manifest.json", "index.json", "oci-layout", "blobs", "blobs/sha256"} <= set(members)
    assert members["blobs/sha256"].isdir()
    assert {(m.uid, m.gid) for m in members.values()} == {(os.getuid(), os.getgid())}
    assert docker[0]["RepoTags"] == [ref]
    assert index["manifests"][0]["annotations"]["org.opencontainers.image.ref.name"] == "v1"
    for path in docker[0]["Layers"] + [docker[0]["Config"]]:
        assert path in members


def test_commit_message_and_author(name):
    sandbox("run", "--name", name, "busybox", "true", check=True)
    ref = f"{name}:msg"
    sandbox("commit", "-m", "a message", "-a", "Ada <ada@example.org>", name, ref, check=True)
    info = json.loads(sandbox("image", "inspect", ref, check=True).stdout)[0]
    assert info["Author"] == "Ada <ada@example.org>"
    assert "a message" in sandbox("history", ref, check=True).stdout
    sandbox("rm", name, check=True)
    sandbox("rmi", ref, check=True)


def test_commit_without_a_name_is_listed_untagged(name):
    sandbox("run", "--name", name, "busybox", "true", check=True)
    full_id = sandbox("commit", name, check=True).stdout.strip()
    row = next(i for i in images() if i["IMAGE ID"] == full_id[7:19])
    assert (row["REPOSITORY"], row["TAG"]) == ("<none>", "<none>")
    sandbox("rm", name, check=True)
    sandbox("rmi", full_id, check=True)


def test_committing_to_a_name_again_leaves_the_old_image_dangling(name):
    """``commit c img`` twice: the first image loses its name, not its existence; a
    container made from it can still be committed (its base must still be found)."""
    ref = f"{name}:again"
    sandbox("run", "--name", name, "busybox", "sh", "-c", "echo 1 > /one", check=True)
    first = sandbox("commit", name, ref, check=True).stdout.strip()
    sandbox("run", "--name", f"{name}-2", ref, "sh", "-c", "echo 2 > /two", check=True)
    second = sandbox("commit", f"{name}-2", ref, check=True).stdout.strip()
    try:
        row = next(i for i in images() if i["IMAGE ID"] == first[7:19])
        assert (row["REPOSITORY"], row["TAG"]) == ("<none>", "<none>")
        third = sandbox("commit", f"{name}-2", ref, check=True).stdout.strip()
        assert len({first, second, third}) == 3
        assert sandbox("run", "--rm", ref, "cat", "/one", "/two").stdout == "1\n2\n"
    finally:
        sandbox("rm", name, f"{name}-2")
        sandbox("rmi", ref)
        for image in (first, second):
            sandbox("rmi", image)


# --- images, tag, inspect ---------------------------------------------------------------
def test_images_columns_and_tag(committed):
    _, ref = committed
    repo = ref.split(":")[0]
    header = sandbox("images", check=True).stdout.splitlines()[0]
    assert header.split() == ["REPOSITORY", "TAG", "IMAGE", "ID", "CREATED", "SIZE"]
    busybox = next(i for i in images() if i["REPOSITORY"] == "busybox")
    assert busybox["TAG"] == "latest" and len(busybox["IMAGE ID"]) == 12
    assert busybox["SIZE"][0].isdigit() and busybox["CREATED"]

    sandbox("tag", ref, f"{repo}-copy:v2", check=True)
    mine = {(i["REPOSITORY"], i["TAG"]): i["IMAGE ID"] for i in images()}
    assert mine[(repo, "v1")] == mine[(f"{repo}-copy", "v2")]
    assert image_id(f"{repo}-copy:v2") == image_id(ref)
    assert sandbox("images", "-q", check=True).stdout.count(mine[(repo, "v1")]) == 2

    r = sandbox("rmi", f"{repo}-copy:v2", check=True)  # one name of two: only untagged
    assert r.stdout == f"Untagged: {repo}-copy:v2\n"
    assert sandbox("run", "--rm", ref, "cat", "/new").stdout == "hi\n"


def test_tag_without_a_tag_means_latest(committed):
    _, ref = committed
    repo = ref.split(":")[0] + "-latest"
    sandbox("tag", ref, repo, check=True)
    assert (repo, "latest") in {(i["REPOSITORY"], i["TAG"]) for i in images()}
    assert sandbox("rmi", repo, check=True).stdout == f"Untagged: {repo}:latest\n"


def test_inspect_an_image(committed):
    _, ref = committed
    via_image = json.loads(sandbox("image", "inspect", ref, check=True).stdout)
    via_inspect = json.loads(sandbox("inspect", ref, check=True).stdout)
    assert via_image == via_inspect and len(via_image) == 1
    info = via_image[0]
    assert info["Id"].startswith("sha256:") and info["RepoTags"] == [ref]
    assert info["Os"] == "linux" and info["RootFS"]["Type"] == "layers"
    assert len(info["RootFS"]["Layers"]) == 2
    assert info["Config"]["Cmd"] == ["sh", "-c", "echo hi > /new; rm /bin/vi"]
    assert sandbox("inspect", "-f", "{{.Id}}", ref).stdout.strip() == info["Id"]
    busybox = json.loads(sandbox("image", "inspect", "busybox", check=True).stdout)[0]
    assert busybox["Config"]["Cmd"] == ["sh"] and busybox["RepoTags"] == ["busybox:latest"]


# --- rmi ----------------------------------------------------------------------------------
def test_rmi_refuses_an_image_a_stopped_container_uses(committed, state_root):
    name, ref = committed
    user = f"{name}-user"
    cid = sandbox("create", "--name", user, ref, "cat", "/new", check=True).stdout.strip()
    assert sandbox("start", "-a", user).stdout == "hi\n"  # now stopped (exited)
    before = store_state(state_root)
    r = sandbox("rmi", ref)
    fails_with_one_sentence(r, "must force", cid[:12])
    assert store_state(state_root) == before
    assert sandbox("rmi", "-f", ref).returncode == 0
    assert not any(i["REPOSITORY"] == name for i in images())
    assert sandbox("start", "-a", user).stdout == "hi\n"  # its layers are still unpacked
    sandbox("rm", user, check=True)


def test_rmi_of_one_name_of_several_is_allowed_while_a_container_uses_it(committed):
    name, ref = committed
    sandbox("tag", ref, f"{name}-other:v1", check=True)
    sandbox("create", "--name", f"{name}-user", ref, "true", check=True)
    try:
        assert sandbox("rmi", f"{name}-other:v1").stdout == f"Untagged: {name}-other:v1\n"
        fails_with_one_sentence(sandbox("rmi", ref), "must force")
    finally:
        sandbox("rm", f"{name}-user", check=True)


def test_rmi_keeps_what_busybox_still_needs(committed, state_root):
    _, ref = committed
    sandbox("rmi", ref, check=True)
    assert sandbox("run", "--rm", "busybox", "true").returncode == 0


# --- untagged images ----------------------------------------------------------------------
def test_save_by_id_then_load_gives_an_untagged_image(committed, tmp_path):
    _, ref = committed
    full_id = image_id(ref)
    archive = tmp_path / "by-id.tar"
    sandbox("save", full_id[7:19], "-o", str(archive), check=True)
    with tarfile.open(archive) as tar:
        assert json.load(tar.extractfile("manifest.json"))[0]["RepoTags"] == []
    sandbox("rmi", ref, check=True)
    r = sandbox("load", "-i", str(archive), check=True)
    assert r.stdout == f"Loaded image ID: {full_id}\n"
    row = next(i for i in images() if i["IMAGE ID"] == full_id[7:19])
    assert (row["REPOSITORY"], row["TAG"]) == ("<none>", "<none>")
    assert sandbox("run", "--rm", full_id[7:19], "cat", "/new").stdout == "hi\n"
    r = sandbox("rmi", full_id[7:19], check=True)
    assert r.stdout == f"Deleted: {full_id}\n"
    assert not any(i["IMAGE ID"] == full_id[7:19] for i in images())


def test_oci_layout_with_a_bare_tag_loads_untagged_and_a_full_name_tagged(name, tmp_path):
    layer = busybox_rootfs(f"{name}\n".encode())
    for ref_name, shown in ((None, None), ("v1", None),
                            (f"docker.io/library/{name}:oci", f"{name}:oci")):
        archive = tmp_path / "oci.tar"
        archive.write_bytes(oci_archive(layer, sha256(layer), ref_name, gzip_layer=True))
        out = sandbox("load", "-i", str(archive), check=True).stdout.strip()
        if shown:
            assert out == f"Loaded image: {shown}"
            target = shown
        else:
            assert out.startswith("Loaded image ID: sha256:")
            target = out.rsplit(" ", 1)[1]
            row = next(i for i in images() if i["IMAGE ID"] == target[7:19])
            assert (row["REPOSITORY"], row["TAG"]) == ("<none>", "<none>")
        r = sandbox("run", "--rm", target, "/bin/busybox", "cat", "/hello")
        assert r.stdout == f"{name}\n", r.stderr
        sandbox("rmi", target, check=True)


# --- import and export --------------------------------------------------------------------
@pytest.mark.parametrize("how", ["plain", "gzip", "xz", "bzip2", "stdin"])
def test_import_a_rootfs_tarball(name, tmp_path, how):
    import bz2
    import lzma
    data = busybox_rootfs(f"imported {how}\n".encode())
    compress = {"gzip": gzip.compress, "xz": lzma.compress, "bzip2": bz2.compress}
    tarball = tmp_path / f"rootfs.tar.{how}"
    tarball.write_bytes(compress[how](data) if how in compress else data)
    ref = f"{name}:imported"
    if how == "stdin":
        r = sandbox_binary("import", "-", ref, stdin=tarball)
    else:
        r = sandbox("import", str(tarball), ref)
    assert r.returncode == 0, r.stderr
    info = json.loads(sandbox("image", "inspect", ref, check=True).stdout)[0]
    assert info["RootFS"]["Layers"] == [sha256(data)]  # stored uncompressed
    r = sandbox("run", "--rm", ref, "/bin/busybox", "cat", "/hello")
    assert r.stdout == f"imported {how}\n", r.stderr
    sandbox("rmi", ref, check=True)


def test_import_without_a_name_is_untagged(tmp_path):
    tarball = tmp_path / "rootfs.tar"
    tarball.write_bytes(busybox_rootfs(b"nameless\n"))
    full_id = sandbox("import", str(tarball), check=True).stdout.strip()
    row = next(i for i in images() if i["IMAGE ID"] == full_id[7:19])
    assert (row["REPOSITORY"], row["TAG"]) == ("<none>", "<none>")
    sandbox("rmi", full_id, check=True)


@pytest.mark.parametrize("to", ["file", "stdout"])
def test_export_is_the_containers_whole_filesystem(committed, tmp_path, to):
    name, _ = committed
    out = tmp_path / "export.tar"
    if to == "file":
        sandbox("export", name, "-o", str(out), check=True)
    else:
        assert sandbox_binary("export", name, stdout=out).returncode == 0
    with tarfile.open(out) as tar:
        names = {n.removeprefix("./") for n in tar.getnames()}
        assert tar.extractfile("new").read() == b"hi\n"
        assert tar.getmember("bin/sh").issym()
    assert {"new", "bin/busybox", "bin/sh", "etc/passwd"} <= names
    assert "bin/vi" not in names and not any(".wh." in n for n in names)


def test_export_then_import_round_trip(committed, tmp_path):
    name, _ = committed
    out = tmp_path / "export.tar"
    sandbox("export", name, "-o", str(out), check=True)
    ref = f"{name}:flat"
    sandbox("import", str(out), ref, check=True)
    assert sandbox("run", "--rm", ref, "/bin/cat", "/new").stdout == "hi\n"
    assert sandbox("run", "--rm", ref, "/bin/ls", "/bin/vi").returncode != 0
    sandbox("rmi", ref, check=True)


# --- layers are shared ------------------------------------------------------------------
def test_two_containers_share_the_unpacked_layers(name, state_root):
    ref = f"{name}:shared"
    sandbox("run", "--name", name, "busybox", "sh", "-c", f"echo {name} > /new", check=True)
    sandbox("commit", name, ref, check=True)
    sandbox("rm", name, check=True)
    layers = state_root / "layers"

    def unpacked():
        return {entry: os.lstat(layers / entry).st_ino for entry in os.listdir(layers)}

    def lower(container):
        return sandbox("inspect", "-f", "{{.GraphDriver.Data.LowerDir}}", container,
                       check=True).stdout.strip()

    diff_ids = json.loads(sandbox("image", "inspect", ref).stdout)[0]["RootFS"]["Layers"]
    top = diff_ids[-1][7:]
    assert top not in unpacked()  # commit does not unpack; the first container does
    sandbox("create", "--name", f"{name}-a", ref, "true", check=True)
    after_a = unpacked()
    sandbox("create", "--name", f"{name}-b", ref, "true", check=True)
    after_b = unpacked()
    try:
        lower_a, lower_b = lower(f"{name}-a"), lower(f"{name}-b")
        assert lower_a == lower_b
        assert lower_a.split(":") == [str(layers / d[7:]) for d in reversed(diff_ids)]
        assert top in after_a
        assert after_b == after_a  # the same directories, the same inodes: unpacked once
        assert sandbox("start", "-a", f"{name}-b").returncode == 0
    finally:
        sandbox("rm", f"{name}-a", f"{name}-b")
        sandbox("rmi", ref)


# --- bad input: one sentence, non-zero, store unchanged --------------------------------------
def check_load_fails(state_root, archive: Path, *needles):
    before = store_state(state_root)
    fails_with_one_sentence(sandbox("load", "-i", str(archive)), *needles)
    assert store_state(state_root) == before


def test_load_of_a_file_that_is_not_a_tar(state_root, tmp_path):
    (tmp_path / "notatar").write_text("this is not a tar archive\n" * 50)
    check_load_fails(state_root, tmp_path / "notatar", "notatar", "not a tar archive")
    (tmp_path / "empty").write_bytes(b"")
    check_load_fails(state_root, tmp_path / "empty", "empty")


def test_load_of_a_tar_that_is_not_an_image(state_root, tmp_path):
    (tmp_path / "plain.tar").write_bytes(tar_bytes({"hello": b"hi"}))
    check_load_fails(state_root, tmp_path / "plain.tar", "manifest.json", "index.json")


@pytest.mark.parametrize("cut", [0.3, 0.6, 0.97])
@pytest.mark.parametrize("compress", [False, True], ids=["tar", "gzip"])
def test_load_of_a_truncated_archive(state_root, tmp_path, name, cut, compress):
    layer = busybox_rootfs(f"{name} {cut} {compress}\n".encode())  # new blobs, never stored
    # The manifest first, so that a cut lands in the middle of the image, not before it.
    data = docker_archive([{"layers": [layer], "tags": [f"{name}:cut"]}])
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = sorted(tar.getmembers(), key=lambda m: m.name != "manifest.json")
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as out:
            for m in members:
                out.addfile(m, tar.extractfile(m))
    data = gzip.compress(buf.getvalue()) if compress else buf.getvalue()
    (tmp_path / "cut.tar").write_bytes(data[:int(len(data) * cut)])
    check_load_fails(state_root, tmp_path / "cut.tar", "cut.tar")
    assert not any(i["REPOSITORY"] == name for i in images())


def test_load_of_a_layer_that_does_not_match_its_diff_id(state_root, tmp_path, name):
    layer = tar_bytes({"a": name.encode()})
    other = tar_bytes({"a": b"something else " + name.encode()})
    (tmp_path / "bad.tar").write_bytes(docker_archive(
        [{"layers": [layer], "diff_ids": [sha256(other)], "tags": [f"{name}:bad"]}]))
    check_load_fails(state_root, tmp_path / "bad.tar", "does not match")


@pytest.mark.parametrize("compressed", [False, True], ids=["tar", "gzip"])
def test_load_of_an_oci_layout_whose_layer_does_not_match_its_diff_id(state_root, tmp_path,
                                                                       name, compressed):
    layer = tar_bytes({"a": name.encode()})
    wrong = sha256(tar_bytes({"a": b"other " + name.encode()}))
    (tmp_path / "bad-oci.tar").write_bytes(
        oci_archive(layer, wrong, f"{name}:bad", gzip_layer=compressed))
    check_load_fails(state_root, tmp_path / "bad-oci.tar", "diff_id")


def test_load_of_a_manifest_that_names_a_missing_blob(state_root, tmp_path, name):
    layer = tar_bytes({"a": name.encode()})
    missing = "blobs/sha256/" + "0" * 64
    (tmp_path / "missing.tar").write_bytes(docker_archive(
        [{"layers": [layer], "paths": [missing], "tags": [f"{name}:missing"]}]))
    check_load_fails(state_root, tmp_path / "missing.tar", missing)


def test_load_of_a_manifest_that_is_not_a_manifest(state_root, tmp_path):
    (tmp_path / "odd.tar").write_bytes(tar_bytes({"manifest.json": b'{"not": "a list"}'}))
    check_load_fails(state_root, tmp_path / "odd.tar", "manifest.json")


def test_a_bad_second_image_loads_nothing(state_root, tmp_path, name):
    """One archive, two images, the second damaged: the first is not half-loaded either."""
    good = tar_bytes({"good": name.encode()})
    bad = tar_bytes({"bad": name.encode()})
    (tmp_path / "two.tar").write_bytes(docker_archive([
        {"layers": [good], "tags": [f"{name}:good"]},
        {"layers": [bad], "diff_ids": [sha256(good + b"x")], "tags": [f"{name}:bad"]}]))
    check_load_fails(state_root, tmp_path / "two.tar", "does not match")
    assert not any(i["REPOSITORY"] == name for i in images())


@pytest.mark.parametrize("verb, needle", [
    (["rmi", "ghost-image"], "No such image: ghost-image"),
    (["tag", "ghost-image", "other:v1"], "ghost-image"),
    (["history", "ghost-image"], "ghost-image"),
    (["save", "ghost-image", "-o", "/dev/null"], "ghost-image"),
    (["image", "inspect", "ghost-image"], "ghost-image"),
    (["commit", "ghost-container"], "No such container: ghost-container"),
    (["commit", "ghost-container", "x:v1"], "No such container: ghost-container"),
    (["diff", "ghost-container"], "No such container: ghost-container"),
    (["export", "ghost-container", "-o", "/dev/null"], "No such container: ghost-container"),
], ids=lambda v: "-".join(v) if isinstance(v, list) else None)
def test_unknown_image_or_container(state_root, verb, needle):
    before = store_state(state_root)
    fails_with_one_sentence(sandbox(*verb), needle)
    assert store_state(state_root) == before


@pytest.mark.parametrize("content", [b"not a tar at all\n" * 40, b"",
                                     gzip.compress(b"gzip, but not of a tar\n" * 40)],
                         ids=["text", "empty", "gzip-of-text"])
def test_import_of_a_non_tar(state_root, tmp_path, content, name):
    (tmp_path / "rootfs.tar").write_bytes(content)
    before = store_state(state_root)
    fails_with_one_sentence(sandbox("import", str(tmp_path / "rootfs.tar"), f"{name}:x"),
                            "rootfs.tar")
    assert store_state(state_root) == before
    assert not any(i["REPOSITORY"] == name for i in images())


def test_import_of_a_missing_file(state_root, tmp_path):
    before = store_state(state_root)
    fails_with_one_sentence(sandbox("import", str(tmp_path / "nope.tar")), "nope.tar")
    assert store_state(state_root) == before


# --- hostile archives: digests are data, layers have limits -----------------------------------
def test_load_refuses_digests_that_are_paths(state_root, tmp_path, name):
    """A docker-archive's config, an OCI layout's index and manifest: each digest must be
    ``sha256:`` and 64 lowercase hex digits before it names a blob or a layer."""
    layer = tar_bytes({"a": name.encode()})
    (tmp_path / "diff-id.tar").write_bytes(docker_archive(
        [{"layers": [layer], "diff_ids": ["sha256:../../../x"], "tags": [f"{name}:path"]}]))
    check_load_fails(state_root, tmp_path / "diff-id.tar", f"image {name}:path in diff-id.tar: "
                     "config field rootfs.diff_ids[0] is not a sha256 digest: 'sha256:../../../x'")

    (tmp_path / "oci-diff-id.tar").write_bytes(
        oci_archive(layer, "sha256:" + "A" * 64, f"{name}:upper", gzip_layer=True))
    check_load_fails(state_root, tmp_path / "oci-diff-id.tar",
                     "config field rootfs.diff_ids[0] is not a sha256 digest")

    index = {"schemaVersion": 2, "manifests": [{
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "digest": "sha256:../../../../etc/passwd", "size": 10}]}
    (tmp_path / "index.tar").write_bytes(tar_bytes({
        "oci-layout": b'{"imageLayoutVersion": "1.0.0"}', "index.json": json.dumps(index).encode()}))
    check_load_fails(state_root, tmp_path / "index.tar", "image index.tar: index field "
                     "manifests[0].digest is not a sha256 digest: 'sha256:../../../../etc/passwd'")


def bomb_root(tmp_path: Path, limit: int) -> dict:
    """A state root of its own whose daemon.json lowers max-layer-bytes; its env for sandbox()."""
    root = tmp_path / "bomb-root"
    root.mkdir()
    (root / "daemon.json").write_text(json.dumps({"max-layer-bytes": limit}))
    return {"SANDBOX_ROOT": str(root)}


def test_import_and_load_of_a_decompression_bomb_stop_at_max_layer_bytes(tmp_path, name):
    env = bomb_root(tmp_path, 1 << 20)
    zeros = tar_bytes({"zeros": bytes(16 << 20)})
    (tmp_path / "bomb.tar.gz").write_bytes(gzip.compress(zeros))
    fails_with_one_sentence(sandbox("import", str(tmp_path / "bomb.tar.gz"), f"{name}:bomb",
                                    env=env),
                            "bomb.tar.gz uncompresses to more than 1,048,576 bytes",
                            "max-layer-bytes")
    (tmp_path / "bomb-archive.tar").write_bytes(docker_archive(
        [{"layers": [gzip.compress(zeros)], "diff_ids": [sha256(zeros)], "tags": [f"{name}:b"]}]))
    fails_with_one_sentence(sandbox("load", "-i", str(tmp_path / "bomb-archive.tar"), env=env),
                            "uncompresses to more than 1,048,576 bytes")
    root = Path(env["SANDBOX_ROOT"])
    assert os.listdir(root / "oci" / "blobs" / "sha256") == []
    assert os.listdir(root / "tmp") == []
    assert json.loads((root / "oci" / "index.json").read_text())["manifests"] == []
