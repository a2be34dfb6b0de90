"""COPY and ADD for ``sandbox build``: the trees they read, the checksum that keys their
cache, and the layer they write, one Docker rule a test.

Everything here runs on real temporary directories, and each written layer is
opened again with ``tarfile``.  Whiteouts are character devices 0/0, which
only root may make: those cases skip rootless.
"""

import bz2
import gzip
import hashlib
import io
import lzma
import os
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from sandbox.builder.copying import (ContextTree, CopyError, Download, LayeredTree, checksum,
                                   download, resolve_chown, url_filename, write_copy_layer)
from sandbox.builder.dockerignore import Matcher

IS_ROOT = os.geteuid() == 0
T0 = 1_600_000_000  # a fixed mtime, to tell the source's time from "now"


# --- helpers ------------------------------------------------------------------------------
def make(root: Path, files: dict) -> Path:
    """Files from a dict: "name": text (a file), "name/": a directory, "name@": link target."""
    root.mkdir(parents=True, exist_ok=True)
    for name, value in files.items():
        path = root / name.rstrip("/@")
        path.parent.mkdir(parents=True, exist_ok=True)
        if name.endswith("/"):
            path.mkdir(exist_ok=True)
        elif name.endswith("@"):
            os.symlink(value, path)
            continue
        else:
            path.write_bytes(value if isinstance(value, bytes) else value.encode())
        os.utime(path, (T0, T0))
    return root


def context(tmp_path, files, ignore=()):
    return ContextTree(make(tmp_path / "ctx", files), Matcher(list(ignore)))


def layers(tmp_path, *tops: dict) -> LayeredTree:
    """A layered tree from dicts, the first one on top."""
    dirs = [make(tmp_path / f"layer{i}", files) for i, files in enumerate(tops)]
    return LayeredTree([str(d) for d in dirs])


def whiteout(path: Path):
    try:
        os.mknod(path, stat.S_IFCHR | 0o000, os.makedev(0, 0))
    except PermissionError:
        pytest.skip("a whiteout is a character device 0/0, which only root may make "
                    "(the root pass runs this)")


def opaque(path: Path):
    os.setxattr(path, "user.overlay.opaque", b"y")


def copy(tree, sources, dest, *, workdir="/", target=None, chown=None, chmod=None,
         keep_owner=False, add=False, where="the build context"):
    """Write the layer; return {name: (TarInfo, content bytes or None)} and the entry count."""
    out = io.BytesIO()
    count = write_copy_layer(out, tree, sources, dest, workdir=workdir, target=target,
                             chown=chown, chmod=chmod, keep_owner=keep_owner, add=add,
                             where=where)
    out.seek(0)
    entries = {}
    with tarfile.open(fileobj=out, mode="r:") as tar:
        for member in tar:
            data = tar.extractfile(member).read() if member.isreg() else None
            entries[member.name] = (member, data)
    assert count >= len(entries)  # a path written twice (two sources): the later one wins
    return entries


def files_of(entries):
    return {name: data for name, (m, data) in entries.items() if m.isreg()}


# --- the context, through .dockerignore ---------------------------------------------------
def test_context_hides_excluded_files(tmp_path):
    tree = context(tmp_path, {"app.py": "x", "debug.log": "x", "node_modules/m/i.js": "x"},
                   ["*.log", "node_modules"])
    assert tree.listdir("") == ["app.py"]
    assert tree.lstat("debug.log") is None and tree.lstat("node_modules/m/i.js") is None


def test_excluded_directory_shows_only_what_an_exception_brings_back(tmp_path):
    tree = context(tmp_path, {"secrets/key.pem": "k", "secrets/README.md": "r"},
                   ["secrets", "!secrets/README.md"])
    assert tree.listdir("") == ["secrets"]
    assert tree.listdir("secrets") == ["README.md"]


def test_dockerfile_and_dockerignore_stay_copyable_unless_excluded(tmp_path):
    tree = context(tmp_path, {"Dockerfile": "FROM x", ".dockerignore": "*.log", "a.log": ""},
                   ["*.log"])
    assert sorted(files_of(copy(tree, ["."], "/app/"))) == ["app/.dockerignore",
                                                             "app/Dockerfile"]
    tree = context(tmp_path / "2", {"Dockerfile": "FROM x", ".dockerignore": "Dockerfile"},
                   ["Dockerfile", ".dockerignore"])
    with pytest.raises(CopyError, match='"Dockerfile": not found in the build context'):
        copy(tree, ["Dockerfile"], "/")


def test_context_links_resolve_inside_the_context(tmp_path):
    tree = context(tmp_path, {"etc/passwd": "context's", "link@": "/etc/passwd",
                              "up@": "../../../../etc/passwd"})
    assert tree.resolve("link") == "etc/passwd"
    assert tree.resolve("up") == "etc/passwd"
    assert files_of(copy(tree, ["up"], "/x")) == {"x": b"context's"}


def test_context_does_not_look_through_a_link_to_a_directory(tmp_path):
    tree = context(tmp_path, {"real/f": "x", "dirlink@": "real"})
    assert tree.lstat("dirlink/f") is None  # physical paths only
    assert tree.lstat(tree.resolve("dirlink/f")) is not None


# --- an image's layers, read without mounting ---------------------------------------------
def test_topmost_layer_decides(tmp_path):
    tree = layers(tmp_path, {"etc/conf": "new"}, {"etc/conf": "old", "etc/other": "o"})
    assert tree.listdir("etc") == ["conf", "other"]
    assert tree.real_path("etc/conf").read_text() == "new"


def test_opaque_directory_hides_the_layers_below(tmp_path):
    tree = layers(tmp_path, {"etc/new": "n"}, {"etc/old": "o"})
    opaque(tmp_path / "layer0" / "etc")
    assert tree.listdir("etc") == ["new"]
    assert tree.lstat("etc/old") is None


def test_whiteout_hides_the_layers_below(tmp_path):
    tree = layers(tmp_path, {"etc/": None}, {"etc/gone": "x", "etc/kept": "y"})
    whiteout(tmp_path / "layer0" / "etc" / "gone")
    assert tree.listdir("etc") == ["kept"]
    assert tree.lstat("etc/gone") is None
    with pytest.raises(CopyError, match='"/etc/gone": not found in stage builder'):
        checksum(tree, ["/etc/gone"], where="stage builder")


def test_a_file_on_top_hides_a_directory_below(tmp_path):
    tree = layers(tmp_path, {"data": "now a file"}, {"data/old": "x"})
    assert stat.S_ISREG(tree.lstat("data").st_mode)
    assert tree.lstat("data/old") is None and tree.listdir("data") == []


def test_layered_links_resolve_inside_the_tree(tmp_path):
    tree = layers(tmp_path, {"bin@": "/usr/bin"}, {"usr/bin/sh": "shell", "etc@": "/"})
    assert tree.resolve("bin/sh") == "usr/bin/sh"
    assert tree.resolve("etc/../../usr/bin/sh") == "usr/bin/sh"
    assert tree.real_path(tree.resolve("bin/sh")).read_text() == "shell"


def test_glob_matches_per_name(tmp_path):
    tree = context(tmp_path, {"a.txt": "", "b.txt": "", "c.md": "", "sub/d.txt": "",
                              "arr[0].txt": ""})
    assert tree.glob("*.txt") == ["a.txt", "arr[0].txt", "b.txt"]
    assert tree.glob("*/*.txt") == ["sub/d.txt"]
    assert tree.glob("arr[[]0].txt") == ["arr[0].txt"]  # the docs' escape for [


# --- the checksum (the cache key) ---------------------------------------------------------
@pytest.fixture
def app(tmp_path):
    root = make(tmp_path / "ctx", {"src/main.py": "print(1)", "src/lib/util.py": "x = 1"})
    return root, lambda: checksum(ContextTree(root, Matcher([])), ["src"])


def test_checksum_ignores_touch(app):
    root, key = app
    before = key()
    os.utime(root / "src/main.py", (T0 + 999, T0 + 999))
    assert key() == before


def test_checksum_sees_a_mode_change(app):
    root, key = app
    before = key()
    os.chmod(root / "src/main.py", 0o755)
    assert key() != before


def test_checksum_sees_a_setuid_bit(app):
    root, key = app
    before = key()
    os.chmod(root / "src/main.py", 0o4644)
    assert key() != before


def test_checksum_sees_a_content_change(app):
    root, key = app
    before = key()
    (root / "src/main.py").write_text("print(2)")
    assert key() != before


def test_checksum_sees_a_rename(app):
    root, key = app
    before = key()
    os.rename(root / "src/lib/util.py", root / "src/lib/utils.py")
    assert key() != before


def test_checksum_sees_a_link_target(tmp_path):
    root = make(tmp_path / "ctx", {"d/l@": "a"})
    before = checksum(ContextTree(root, Matcher([])), ["d"])
    os.unlink(root / "d/l")
    os.symlink("b", root / "d/l")
    assert checksum(ContextTree(root, Matcher([])), ["d"]) != before


def test_checksum_sees_an_excluded_file_not(app):
    root, key = app
    before = checksum(ContextTree(root, Matcher(["**/*.log"])), ["src"])
    (root / "src/debug.log").write_text("noise")
    assert checksum(ContextTree(root, Matcher(["**/*.log"])), ["src"]) == before


@pytest.mark.skipif(not IS_ROOT, reason="chown(2) to another user needs root "
                                        "(the root pass runs this)")
def test_checksum_counts_owners_in_an_image_not_in_the_context(tmp_path):
    root = make(tmp_path / "ctx", {"f": "x"})
    image = layers(tmp_path, {"f": "x"})
    ctx_before = checksum(ContextTree(root, Matcher([])), ["f"])
    img_before = checksum(image, ["f"])
    os.chown(root / "f", 1234, 1234)
    os.chown(tmp_path / "layer0" / "f", 1234, 1234)
    assert checksum(ContextTree(root, Matcher([])), ["f"]) == ctx_before
    assert checksum(LayeredTree(image.layers and [str(p) for p in image.layers]), ["f"]) \
        != img_before


def test_checksum_names_a_missing_source(tmp_path):
    tree = context(tmp_path, {"a": ""})
    with pytest.raises(CopyError) as err:
        checksum(tree, ["a", "missing.txt"])
    assert str(err.value) == '"missing.txt": not found in the build context'
    with pytest.raises(CopyError, match='"nothing-.*": not found'):
        checksum(tree, ["nothing-*"])


# --- DEST ---------------------------------------------------------------------------------
def test_relative_dest_is_joined_to_workdir(tmp_path):
    tree = context(tmp_path, {"test.txt": "t"})
    assert "usr/src/app/rel/test.txt" in copy(tree, ["test.txt"], "rel/", workdir="/usr/src/app")
    assert "usr/src/app/test.txt" in copy(tree, ["test.txt"], ".", workdir="/usr/src/app")


def test_trailing_slash_makes_dest_a_directory(tmp_path):
    tree = context(tmp_path, {"test.txt": "t"})
    assert files_of(copy(tree, ["test.txt"], "/abs/")) == {"abs/test.txt": b"t"}
    assert files_of(copy(tree, ["test.txt"], "/abs")) == {"abs": b"t"}


def test_file_into_a_directory_the_image_has(tmp_path):
    tree = context(tmp_path, {"test.txt": "t"})
    image = layers(tmp_path, {"srv/": None})
    assert files_of(copy(tree, ["test.txt"], "/srv", target=image)) == {"srv/test.txt": b"t"}


def test_directory_source_copies_its_contents(tmp_path):
    tree = context(tmp_path, {"dir/a": "a", "dir/sub/b": "b"})
    entries = copy(tree, ["dir"], "/dest")
    assert sorted(entries) == ["dest", "dest/a", "dest/sub", "dest/sub/b"]
    assert sorted(copy(tree, ["dir/"], "/")) == ["a", "sub", "sub/b"]


def test_several_sources_need_a_directory_dest(tmp_path):
    tree = context(tmp_path, {"a.txt": "a", "b.txt": "b"})
    with pytest.raises(CopyError, match="more than one source file, the destination must be "
                                        "a directory and end with a /"):
        copy(tree, ["a.txt", "b.txt"], "/things")
    with pytest.raises(CopyError, match="When using ADD with more than one source"):
        copy(tree, ["*.txt"], "/things", add=True)
    assert sorted(files_of(copy(tree, ["*.txt"], "/things/"))) == ["things/a.txt",
                                                                   "things/b.txt"]


def test_one_wildcard_match_may_go_to_a_file(tmp_path):
    tree = context(tmp_path, {"only.txt": "o"})
    assert files_of(copy(tree, ["*.txt"], "/renamed")) == {"renamed": b"o"}


def test_missing_parents_are_made_0755_root(tmp_path):
    tree = context(tmp_path, {"f": "x"})
    entries = copy(tree, ["f"], "/a/b/")
    for name in ("a", "a/b"):
        member = entries[name][0]
        assert member.isdir() and member.mode == 0o755 and (member.uid, member.gid) == (0, 0)
    entries = copy(tree, ["f"], "/a/b/", chown=(7, 8))
    assert (entries["a"][0].uid, entries["a/b"][0].gid) == (7, 8)


def test_existing_parents_keep_the_image_mode_and_owner(tmp_path):
    tree = context(tmp_path, {"f": "x"})
    image = layers(tmp_path, {"opt/app/": None})
    os.chmod(tmp_path / "layer0" / "opt", 0o711)
    os.utime(tmp_path / "layer0" / "opt", (T0, T0))
    entries = copy(tree, ["f"], "/opt/app/", target=image)
    member = entries["opt"][0]
    assert member.mode == 0o711 and member.mtime == T0
    assert (member.uid, member.gid) == image.owner(os.lstat(tmp_path / "layer0" / "opt"))


def test_dest_through_a_link_of_the_image(tmp_path):
    tree = context(tmp_path, {"x": "x"})
    image = layers(tmp_path, {"app@": "/srv/app"}, {"srv/app/": None})
    assert files_of(copy(tree, ["x"], "/app/", target=image)) == {"srv/app/x": b"x"}


def test_directory_onto_a_file_is_refused(tmp_path):
    tree = context(tmp_path, {"dir/a": "a"})
    image = layers(tmp_path, {"dest": "a file"})
    with pytest.raises(CopyError, match="cannot copy to non-directory: /dest"):
        copy(tree, ["dir"], "/dest", target=image)


def test_file_onto_a_directory_below_is_refused(tmp_path):
    tree = context(tmp_path, {"dir/sub": "a file here"})
    image = layers(tmp_path, {"dest/sub/": None})
    with pytest.raises(CopyError, match="directory /dest/sub"):
        copy(tree, ["dir"], "/dest", target=image)


# --- owners, modes, times, links -----------------------------------------------------------
def test_context_files_become_root_owned(tmp_path):
    tree = context(tmp_path, {"f": "x"})
    member = copy(tree, ["f"], "/f")["f"][0]
    assert (member.uid, member.gid, member.uname, member.gname) == (0, 0, "", "")


def test_chown_applies_to_everything_copied(tmp_path):
    tree = context(tmp_path, {"d/f": "x"})
    entries = copy(tree, ["d"], "/d", chown=(1000, 1001))
    assert {(m.uid, m.gid) for m, _ in entries.values()} == {(1000, 1001)}


def test_copy_from_keeps_the_stage_owners(tmp_path):
    stage = layers(tmp_path, {"app/bin": "x"})
    path = tmp_path / "layer0" / "app" / "bin"
    member = copy(stage, ["/app/bin"], "/bin", keep_owner=True, where="stage builder")["bin"][0]
    assert (member.uid, member.gid) == stage.owner(os.lstat(path))
    if IS_ROOT:
        os.chown(path, 33, 34)
        member = copy(LayeredTree([str(tmp_path / "layer0")]), ["/app/bin"], "/bin",
                      keep_owner=True)["bin"][0]
        assert (member.uid, member.gid) == (33, 34)


def test_rootless_layers_give_the_caller_as_root(tmp_path):
    stage = LayeredTree([str(make(tmp_path / "l", {"f": "x"}))], rootless=True)
    assert stage.owner(os.lstat(tmp_path / "l" / "f")) == (0, 0)


def test_chmod_applies_to_files_and_directories_not_links(tmp_path):
    tree = context(tmp_path, {"d/f": "x", "d/sub/": None, "d/l@": "f"})
    entries = copy(tree, ["d"], "/d", chmod=0o640)
    assert entries["d/f"][0].mode == 0o640 and entries["d/sub"][0].mode == 0o640
    assert entries["d/l"][0].issym() and entries["d/l"][0].mode == 0o777
    assert entries["d"][0].mode == 0o755  # made on the way: not a copied directory


def test_modes_and_setuid_bits_are_kept(tmp_path):
    tree = context(tmp_path, {"tool": "x"})
    os.chmod(tmp_path / "ctx" / "tool", 0o4755)
    assert copy(tree, ["tool"], "/tool")["tool"][0].mode == 0o4755


def test_mtime_is_the_source_one(tmp_path):
    tree = context(tmp_path, {"f": "x", "d/g": "y"})
    entries = copy(tree, ["f", "d"], "/out/")
    assert entries["out/f"][0].mtime == T0 and entries["out/g"][0].mtime == T0


def test_links_below_a_source_stay_links(tmp_path):
    tree = context(tmp_path, {"d/target": "t", "d/link@": "target", "d/abs@": "/etc/passwd"})
    entries = copy(tree, ["d"], "/d")
    assert entries["d/link"][0].issym() and entries["d/link"][0].linkname == "target"
    assert entries["d/abs"][0].linkname == "/etc/passwd"


def test_a_source_that_is_a_link_is_followed(tmp_path):
    tree = context(tmp_path, {"real.txt": "content", "link.txt@": "real.txt",
                              "realdir/f": "x", "dirlink@": "realdir"})
    entries = copy(tree, ["link.txt"], "/out/")
    assert files_of(entries) == {"out/link.txt": b"content"}  # the name it has, the content
    assert files_of(copy(tree, ["dirlink"], "/o")) == {"o/f": b"x"}


def test_sources_from_a_stage(tmp_path):
    stage = layers(tmp_path, {"app/out/bin": "new"}, {"app/out/bin": "old", "app/out/lib": "l"})
    assert files_of(copy(stage, ["/app/out"], "/usr/local/", where="stage builder")) == \
        {"usr/local/bin": b"new", "usr/local/lib": b"l"}


# --- --chown names ------------------------------------------------------------------------
@pytest.fixture
def image_with_users(tmp_path):
    return layers(tmp_path, {"etc/passwd": "root:x:0:0::/root:/bin/sh\n"
                                           "app:x:1000:1500::/home/app:/bin/sh\n",
                             "etc/group": "root:x:0:\nstaff:x:50:app\n"})


@pytest.mark.parametrize("spec,expected", [
    ("app", (1000, 1500)), ("app:staff", (1000, 50)), ("55:staff", (55, 50)),
    ("1", (1, 1)), ("10:11", (10, 11)), ("root", (0, 0)),
])
def test_resolve_chown(image_with_users, spec, expected):
    assert resolve_chown(spec, image_with_users) == expected


def test_resolve_chown_unknown_names(image_with_users):
    with pytest.raises(CopyError, match="^unable to find user nobody: no matching entries in "
                                        "passwd file$"):
        resolve_chown("nobody", image_with_users)
    with pytest.raises(CopyError, match="unable to find group wheel: no matching entries"):
        resolve_chown("app:wheel", image_with_users)
    with pytest.raises(CopyError, match="unable to find user app"):
        resolve_chown("app", None)  # FROM scratch: no passwd file


def test_resolve_chown_reads_the_image_not_the_host(tmp_path):
    image = layers(tmp_path, {"etc@": "/realetc", "realetc/passwd": "web:x:33:33::/:/bin/sh\n"})
    assert resolve_chown("web", image) == (33, 33)


# --- ADD: local archives ------------------------------------------------------------------
def tar_bytes(entries, compress=None) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, data, kind in entries:
            info = tarfile.TarInfo(name)
            info.mtime, info.uid, info.gid = T0, 500, 600
            if kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o750
                tar.addfile(info)
            elif kind == "hard":
                info.type, info.linkname = tarfile.LNKTYPE, data
                tar.addfile(info)
            else:
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
    raw = buf.getvalue()
    return {None: raw, "gz": gzip.compress(raw), "bz2": bz2.compress(raw),
            "xz": lzma.compress(raw)}[compress]


@pytest.mark.parametrize("compress", [None, "gz", "bz2", "xz"])
def test_add_extracts_a_local_archive(tmp_path, compress):
    archive = tar_bytes([("pkg/", None, "dir"), ("pkg/readme", b"hello", "file")], compress)
    tree = context(tmp_path, {"pkg.tar.gz": archive})
    entries = copy(tree, ["pkg.tar.gz"], "/opt/", add=True)
    assert files_of(entries) == {"opt/pkg/readme": b"hello"}
    member = entries["opt/pkg"][0]
    assert member.mode == 0o750 and (member.uid, member.gid) == (500, 600)  # the tar's owners
    assert entries["opt/pkg/readme"][0].mtime == T0


def test_add_archive_with_chown(tmp_path):
    tree = context(tmp_path, {"a.tar": tar_bytes([("f", b"x", "file")])})
    member = copy(tree, ["a.tar"], "/x", add=True, chown=(1, 2))["x/f"][0]
    assert (member.uid, member.gid) == (1, 2)


def test_copy_does_not_extract(tmp_path):
    tree = context(tmp_path, {"a.tar": tar_bytes([("f", b"x", "file")])})
    assert list(files_of(copy(tree, ["a.tar"], "/x/"))) == ["x/a.tar"]


def test_archive_is_told_by_content_not_name(tmp_path):
    tree = context(tmp_path, {"empty.tar.gz": b"", "notes.tar": b"just text"})
    assert files_of(copy(tree, ["empty.tar.gz", "notes.tar"], "/x/", add=True)) == \
        {"x/empty.tar.gz": b"", "x/notes.tar": b"just text"}


def test_archive_entries_cannot_climb_out(tmp_path):
    tree = context(tmp_path, {"evil.tar": tar_bytes([("../../etc/passwd", b"x", "file")])})
    with pytest.raises(CopyError, match=r"cannot ADD archive evil.tar, entry '../../etc/passwd'"):
        copy(tree, ["evil.tar"], "/x", add=True)


def test_archive_whiteouts_are_not_interpreted(tmp_path):
    tree = context(tmp_path, {"w.tar": tar_bytes([(".wh.etc", b"", "file"), ("f", b"x", "file")])})
    image = layers(tmp_path, {"x/etc/": None})
    assert sorted(copy(tree, ["w.tar"], "/x", add=True, target=image)) == ["x", "x/f"]


def test_archive_hard_links_point_inside_the_layer(tmp_path):
    tree = context(tmp_path, {"h.tar": tar_bytes([("a", b"x", "file"), ("b", "a", "hard")])})
    entries = copy(tree, ["h.tar"], "/d", add=True)
    assert entries["d/b"][0].islnk() and entries["d/b"][0].linkname == "d/a"
    bad = context(tmp_path / "2", {"h.tar": tar_bytes([("b", "/etc/shadow", "hard")])})
    with pytest.raises(CopyError, match="no earlier entry"):
        copy(bad, ["h.tar"], "/d", add=True)


def test_archive_follows_the_image_links(tmp_path):
    tree = context(tmp_path, {"b.tar": tar_bytes([("bin/tool", b"x", "file")])})
    image = layers(tmp_path, {"bin@": "usr/bin", "usr/bin/": None})
    assert files_of(copy(tree, ["b.tar"], "/", add=True, target=image)) == {"usr/bin/tool": b"x"}


# --- ADD: URLs ----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def web(tmp_path_factory):
    """A local web server in its own process, serving a directory."""
    root = tmp_path_factory.mktemp("web")
    (root / "file.txt").write_bytes(b"downloaded")
    os.utime(root / "file.txt", (T0, T0))
    server = subprocess.Popen([sys.executable, "-u", "-m", "http.server", "0", "--bind",
                               "127.0.0.1", "--directory", str(root)],
                              stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    line = server.stdout.readline()  # "Serving HTTP on 127.0.0.1 port 41234 (...)"
    port = int(line.split(" port ")[1].split()[0])
    yield f"http://127.0.0.1:{port}"
    server.terminate()
    server.wait(timeout=10)


def test_add_url_into_a_directory(tmp_path, web):
    tree = context(tmp_path, {})
    member, data = copy(tree, [f"{web}/file.txt"], "/srv/", add=True)["srv/file.txt"]
    assert data == b"downloaded" and member.mode == 0o600
    assert member.mtime == T0  # from Last-Modified


def test_add_url_to_a_file_name_with_chmod(tmp_path, web):
    tree = context(tmp_path, {})
    member, data = copy(tree, [f"{web}/file.txt"], "/bar", add=True, chmod=0o644)["bar"]
    assert data == b"downloaded" and member.mode == 0o644


def test_download_checksums_the_bytes(tmp_path, web):
    got = download(f"{web}/file.txt", tmp_path)
    assert got.digest == "sha256:" + hashlib.sha256(b"downloaded").hexdigest()
    assert got.filename == "file.txt" and got.path.read_bytes() == b"downloaded"
    entries = copy(context(tmp_path, {}), [got], "/d/", add=True)
    assert files_of(entries) == {"d/file.txt": b"downloaded"}


def test_download_failure_is_one_sentence(tmp_path, web):
    with pytest.raises(CopyError, match="cannot download .*/missing: the server answered 404"):
        download(f"{web}/missing", tmp_path)
    assert os.listdir(tmp_path) == []  # no half-written file left


def test_a_downloaded_archive_is_not_extracted(tmp_path, web):
    archive = tar_bytes([("f", b"x", "file")], "gz")
    got = Download("http://x/a.tar.gz", tmp_path / "a", "sha256:0", T0, "a.tar.gz")
    got.path.write_bytes(archive)
    assert files_of(copy(context(tmp_path, {}), [got], "/d/", add=True)) == {"d/a.tar.gz": archive}


def test_copy_refuses_a_url(tmp_path):
    with pytest.raises(CopyError, match="source can't be a URL for COPY"):
        copy(context(tmp_path, {}), ["https://example.com/x"], "/")


@pytest.mark.parametrize("url,name", [
    ("http://example.com/foobar", "foobar"), ("http://example.com/a/b.tar.gz?x=1", "b.tar.gz"),
    ("http://example.com", "__unnamed__"), ("http://example.com/", "__unnamed__"),
])
def test_url_filename(url, name):
    assert url_filename(url) == name


# --- what a layer cannot hold, and malformed sources ----------------------------------------
def test_a_file_named_like_a_whiteout_is_refused(tmp_path):
    tree = context(tmp_path, {"d/.wh.config": "x"})
    with pytest.raises(CopyError, match=r"/d/\.wh\.config: a layer reads a name starting with "
                                        r"\.wh\. as a deletion"):
        copy(tree, ["d"], "/d")


def test_a_bad_wildcard_names_the_source(tmp_path):
    with pytest.raises(CopyError, match=r'^"src/\[z": syntax error in pattern'):
        copy(context(tmp_path, {"src/a": ""}), ["src/[z"], "/")


def test_a_context_reached_through_a_link(tmp_path):
    make(tmp_path / "real", {"f": "x"})
    os.symlink(tmp_path / "real", tmp_path / "ctx")
    assert files_of(copy(ContextTree(tmp_path / "ctx", Matcher([])), ["f"], "/f")) == {"f": b"x"}


def test_the_layer_unpacks_as_any_image_layer(tmp_path):
    from sandbox.content.layers import unpack
    tree = context(tmp_path, {"app/main.py": "print(1)", "app/lib/u.py": "u", "app/l@": "main.py"})
    image = layers(tmp_path, {"srv/": None})
    out = tmp_path / "layer.tar"
    with open(out, "wb") as f:
        write_copy_layer(f, tree, ["app"], "app/", workdir="/srv", target=image, chown=None,
                         chmod=None, keep_owner=False, add=False, where="the build context")
    unpacked = tmp_path / "unpacked"
    unpacked.mkdir()
    diff_id = unpack(out, unpacked, rootless=not IS_ROOT)
    assert diff_id == "sha256:" + hashlib.sha256(out.read_bytes()).hexdigest()
    assert (unpacked / "srv/app/main.py").read_text() == "print(1)"
    assert os.readlink(unpacked / "srv/app/l") == "main.py"
    assert (unpacked / "srv/app/lib/u.py").read_text() == "u"
