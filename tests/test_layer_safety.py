"""Unpacking a layer is unpacking untrusted input: nothing may land outside the root.

Each attack is a tar archive built in memory.  Next to the extraction root
(``tmp_path/root``) lies ``tmp_path/outside/canary``; after every attack the
whole of ``tmp_path`` outside the root must be exactly as before.  An attack
is either *refused* (UnsafeLayer, naming the entry) or *contained*: symbolic
links are resolved as if the root were ``/`` (path_resolution(7) in a chroot),
so a write through ``evil -> ../../`` lands inside the root, as with Docker.

The content is untrusted too: a layer is kept only if it hashes to its diff_id,
a decompression bomb stops at ``max-layer-bytes``, a layer of a million empty
files at ``max-layer-entries``, and neither leaves anything in ``layers/``.  The
digests that name blobs and layers are checked before they become paths
(``sandbox.content.digests``), and whiteouts follow the spec: they hide the layers
below, never an entry of their own layer.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import stat
import tarfile
from pathlib import Path

import pytest

from conftest import IS_ROOT, root_only, rootless_only
from sandbox.content import digests
from sandbox.content.layers import DiffIdMismatch, LayerTooLarge, UnsafeLayer, _mkdir_inside, \
    check_diff_id, clean_name, secure_join, unpack, unpacked_layer
from sandbox.content.settings import LayerLimits


# --- building hostile layers ---------------------------------------------------------
def F(name, data=b"payload", mode=0o644, **kw):
    return dict(name=name, type=tarfile.REGTYPE, data=data, mode=mode, **kw)


def D(name, mode=0o755, **kw):
    return dict(name=name, type=tarfile.DIRTYPE, mode=mode, **kw)


def S(name, target):
    return dict(name=name, type=tarfile.SYMTYPE, linkname=target, mode=0o777)


def H(name, target):
    return dict(name=name, type=tarfile.LNKTYPE, linkname=target, mode=0o644)


def C(name, major, minor, mode=0o666):
    return dict(name=name, type=tarfile.CHRTYPE, devmajor=major, devminor=minor, mode=mode)


def layer_bytes(entries, places=None, compress=False) -> bytes:
    """A tar archive of ``entries``; ``{out}``, ``{base}`` in names and targets are filled in."""
    places = places or {}
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for spec in entries:
            spec = dict(spec)
            info = tarfile.TarInfo(spec.pop("name").format(**places))
            data = spec.pop("data", None)
            if "linkname" in spec:
                spec["linkname"] = spec["linkname"].format(**places)
            spec.setdefault("mtime", 1_000_000_000)
            for key, value in spec.items():
                setattr(info, key, value)
            if data is not None:
                info.size = len(data)
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return gzip.compress(buf.getvalue()) if compress else buf.getvalue()


class Box:
    """tmp_path/root (where the layer goes), tmp_path/outside/canary (what must not change)."""

    def __init__(self, tmp_path: Path):
        self.base = tmp_path
        self.dest = tmp_path / "root"
        self.dest.mkdir()
        self.outside = tmp_path / "outside"
        self.outside.mkdir()
        self.canary = self.outside / "canary"
        self.canary.write_text("canary")
        os.utime(self.outside, (1234567, 1234567))
        self.tar = tmp_path / "layer.tar"
        self.places = {"out": str(self.outside), "base": tmp_path.name}

    def write(self, entries, compress=False) -> Path:
        self.tar.write_bytes(layer_bytes(entries, self.places, compress))
        return self.tar

    def snapshot(self) -> dict:
        """Everything under tmp_path except the root and the layer: type, mode, times, content."""
        seen = {}
        for directory, dirs, files in os.walk(self.base):
            here = Path(directory)
            if here == self.base:
                dirs[:] = [d for d in dirs if d != "root"]
                files = [f for f in files if f != "layer.tar"]
            for entry in sorted(dirs + files):
                path = here / entry
                st = os.lstat(path)
                content = path.read_bytes() if stat.S_ISREG(st.st_mode) else None
                seen[str(path.relative_to(self.base))] = (
                    st.st_mode, st.st_nlink, st.st_mtime_ns, st.st_uid, content,
                    sorted(os.listxattr(path, follow_symlinks=False)))
        base = os.lstat(self.base)
        seen["."] = (base.st_mode, base.st_nlink)
        return seen


@pytest.fixture
def box(tmp_path):
    b = Box(tmp_path)
    yield b
    for directory, dirs, _ in os.walk(b.dest):  # read-only directories: let pytest clean up
        for d in dirs:
            path = Path(directory) / d
            if not path.is_symlink():
                os.chmod(path, 0o755)


def host_file_state(path: str):
    st = os.lstat(path)
    return st.st_nlink, st.st_mtime_ns, st.st_mode


# --- attacks that are refused ------------------------------------------------------------
REFUSED = [
    ("dotdot-file", [F("../outside/canary", b"pwned")], "../outside/canary"),
    ("dotdot-deep", [D("a"), F("a/b/../../../outside/canary", b"pwned")],
     "a/b/../../../outside/canary"),
    ("dotdot-dir", [D("../outside/newdir")], "../outside/newdir"),
    ("dotdot-symlink-name", [S("../outside/link", "/etc/passwd")], "../outside/link"),
    ("absolute-file", [F("{out}/canary", b"pwned")], "{out}/canary"),
    ("absolute-new-file", [F("{out}/new", b"pwned")], "{out}/new"),
    ("absolute-dir", [D("{out}/newdir")], "{out}/newdir"),
    ("hardlink-dotdot", [H("evil-hardlink", "../outside/canary")], "evil-hardlink"),
    ("hardlink-absolute-host", [H("evil-hardlink", "/etc/passwd")], "evil-hardlink"),
    ("hardlink-absolute-canary", [H("evil-hardlink", "{out}/canary")], "evil-hardlink"),
    ("hardlink-to-escaping-symlink",
     [S("evil", "../outside/canary"), H("evil-hardlink", "evil")], "evil-hardlink"),
    ("hardlink-through-symlinked-dir",
     [S("d", "{out}"), H("evil-hardlink", "d/canary")], "evil-hardlink"),
    ("whiteout-of-parent-dir", [F(".wh...", b"")], ".wh..."),
    ("whiteout-of-parent-dir-nested", [D("a"), F("a/.wh...", b"")], "a/.wh..."),
    ("whiteout-of-root-itself", [F(".wh..", b"")], ".wh.."),
    ("whiteout-without-name", [D("a"), F("a/.wh.", b"")], "a/.wh."),
    ("symlink-loop", [S("a", "a"), F("a/x")], "a/x"),
]


@pytest.mark.parametrize("entries, culprit", [r[1:] for r in REFUSED], ids=[r[0] for r in REFUSED])
@pytest.mark.parametrize("rootless", [False, True], ids=["root-mode", "rootless-mode"])
def test_attack_is_refused(box, entries, culprit, rootless):
    if not rootless and not IS_ROOT:
        pytest.skip("unpacking as root (chown, mknod) needs root")
    before, passwd = box.snapshot(), host_file_state("/etc/passwd")
    with pytest.raises(UnsafeLayer) as caught:
        unpack(box.write(entries), box.dest, rootless=rootless)
    culprit = culprit.format(**box.places).lstrip("/")
    assert culprit in str(caught.value)
    assert box.canary.read_text() == "canary"
    assert box.snapshot() == before
    assert host_file_state("/etc/passwd") == passwd


# --- attacks that are contained: resolved inside the root -------------------------------
CONTAINED = [
    # (id, entries, where the payload lands (relative to the root) or None)
    ("symlink-absolute-escape", [S("evil", "{out}"), F("evil/x")], "{out_rel}/x"),
    ("symlink-dotdot-escape", [S("evil", "../../"), F("evil/x")], "x"),
    ("symlink-dotdot-to-canary", [S("evil", "../outside"), F("evil/canary", b"pwned")],
     "outside/canary"),
    ("symlink-to-canary-file", [S("evil", "../outside/canary"), F("evil", b"pwned")], "evil"),
    ("symlink-nested-dotdot", [D("a"), S("a/evil", "../../../outside"),
                               F("a/evil/canary", b"pwned")], "outside/canary"),
    ("chain-two-hops", [S("b", ".."), S("a", "b/.."), F("a/{base}/outside/canary", b"pwned")],
     "{base}/outside/canary"),
    ("chain-first-hop", [S("b", ".."), S("a", "b/.."), F("b/outside/canary", b"pwned")],
     "outside/canary"),
    ("sibling-with-root-prefix", [S("link", "../rootevil"), F("link/x")], "rootevil/x"),
    ("dir-through-symlink", [S("evil", "../outside"), D("evil/sub", mode=0o777)],
     "outside/sub"),
    ("whiteout-through-symlink", [S("evil", "../outside"), F("evil/.wh.canary", b"")],
     "outside/canary"),
    ("opaque-through-symlink", [S("evil", "../outside"), F("evil/.wh..wh..opq", b"")],
     "outside"),
    ("hardlink-through-symlink-stays-in", [F("real", b"mine"), S("evil", "../outside"),
                                           H("evil/canary", "real")], "outside/canary"),
    # A directory later replaced by a link: its mode and time, set last, must not follow it.
    ("dir-replaced-by-symlink", [D("a"), D("a/outside", mode=0o777, mtime=0), S("a", "..")],
     None),
    ("dir-replaced-by-symlink-to-canary", [D("c", mode=0o777, mtime=0),
                                           S("c", "../outside/canary")], None),
]


@pytest.mark.parametrize("entries, lands", [r[1:] for r in CONTAINED],
                         ids=[r[0] for r in CONTAINED])
@pytest.mark.parametrize("rootless", [False, True], ids=["root-mode", "rootless-mode"])
def test_attack_is_contained(box, entries, lands, rootless):
    if not rootless and not IS_ROOT:
        pytest.skip("unpacking as root (chown, mknod) needs root")
    before = box.snapshot()
    unpack(box.write(entries), box.dest, rootless=rootless)
    assert box.canary.read_text() == "canary"
    assert box.snapshot() == before
    assert not (box.base / "rootevil").exists()
    if lands:
        landed = box.dest / lands.format(out_rel=str(box.outside).lstrip("/"), **box.places)
        assert os.path.lexists(landed), sorted(str(p) for p in box.dest.rglob("*"))
        assert box.dest in landed.parents
        for parent in landed.relative_to(box.dest).parents:  # reached without a link
            assert not (box.dest / parent).is_symlink()


def test_absolute_symlink_escape_through_tmp_stays_inside(box):
    """The classic: ``evil -> /tmp/<something>``, then ``evil/x``."""
    target = f"/tmp/sbx-layer-test-{os.getpid()}-{box.base.name}"
    unpack(box.write([S("evil", target), F("evil/x", b"payload")]), box.dest, rootless=True)
    assert not os.path.lexists(target)
    assert (box.dest / target.lstrip("/") / "x").read_bytes() == b"payload"
    assert os.readlink(box.dest / "evil") == target


# --- secure_join and clean_name on their own -------------------------------------------------
JOINS = [
    # (links made inside the root, path, expected result relative to the root)
    ({}, "a/b/c", "a/b/c"),
    ({}, "../../etc/passwd", "etc/passwd"),
    ({"lib": "/usr/lib"}, "lib/x", "usr/lib/x"),
    ({"up": "../../.."}, "up/etc/passwd", "etc/passwd"),
    ({"b": "..", "a": "b/.."}, "a/etc/passwd", "etc/passwd"),
    ({"d/rel": "../e"}, "d/rel/f", "e/f"),
    ({"link": "../rootevil"}, "link/x", "rootevil/x"),
]


@pytest.mark.parametrize("links, relative, expected", JOINS, ids=[j[1] for j in JOINS])
def test_secure_join_resolves_inside_the_root(tmp_path, links, relative, expected):
    root = tmp_path / "root"
    root.mkdir()
    for name, target in links.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, root / name)
    assert secure_join(root, relative) == root / expected


def test_secure_join_does_not_follow_the_last_link_unless_asked(tmp_path):
    os.symlink("/etc", tmp_path / "link")
    assert secure_join(tmp_path, "link") == tmp_path / "link"
    assert secure_join(tmp_path, "link", follow_last=True) == tmp_path / "etc"


def test_a_sibling_whose_name_starts_with_the_roots_is_outside(tmp_path):
    """``/x/rootevil`` starts with the string ``/x/root`` but is not below it."""
    root = tmp_path / "root"
    root.mkdir()
    with pytest.raises(UnsafeLayer, match="rootevil"):
        _mkdir_inside(root, tmp_path / "rootevil" / "sub")
    assert not (tmp_path / "rootevil").exists()
    _mkdir_inside(root, root / "inside" / "sub")
    assert (root / "inside" / "sub").is_dir()


@pytest.mark.parametrize("name, expected", [("./a/./b/", "a/b"), ("a//b", "a/b"), ("./", ""),
                                            ("a/..b", "a/..b"), ("..a", "..a")])
def test_clean_name_keeps_harmless_names(name, expected):
    assert clean_name(name) == expected


# --- what a layer may legitimately do ------------------------------------------------------
def test_absolute_symlinks_stay_links(box):
    unpack(box.write([D("bin"), S("bin/sh", "/bin/busybox"), S("bin/ls", "busybox")]),
           box.dest, rootless=not IS_ROOT)
    assert os.readlink(box.dest / "bin/sh") == "/bin/busybox"
    assert os.readlink(box.dest / "bin/ls") == "busybox"


def test_a_write_through_an_absolute_symlink_lands_inside(box):
    before = box.snapshot()
    host_lib_x = os.path.lexists("/lib/x")
    unpack(box.write([D("usr"), S("usr/lib", "/lib"), F("usr/lib/x", b"inside")]), box.dest,
           rootless=not IS_ROOT)
    assert (box.dest / "lib/x").read_bytes() == b"inside"
    assert os.readlink(box.dest / "usr/lib") == "/lib"
    assert os.path.lexists("/lib/x") == host_lib_x
    assert box.snapshot() == before


def test_whiteout_becomes_a_0_0_character_device(box):
    unpack(box.write([D("etc"), F("etc/.wh.passwd", b""), F(".wh.gone", b"")]), box.dest,
           rootless=not IS_ROOT)
    for path in (box.dest / "etc/passwd", box.dest / "gone"):
        st = os.lstat(path)
        assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0
    assert not (box.dest / "etc/.wh.passwd").exists()


# --- whiteouts hide the layers below, not their own layer (layer.md, "Whiteouts") ----------
def opaque(path: Path) -> bool:
    name = "user.overlay.opaque" if not IS_ROOT else "trusted.overlay.opaque"
    try:
        return os.getxattr(path, name, follow_symlinks=False) == b"y"
    except OSError:
        return False


def is_whiteout(path: Path) -> bool:
    st = os.lstat(path)
    return stat.S_ISCHR(st.st_mode) and st.st_rdev == 0


def test_a_whiteout_does_not_delete_an_entry_of_its_own_layer(box):
    unpack(box.write([D("d"), F("d/f", b"mine"), F(".wh.d", b""), F("g", b"kept"),
                      F(".wh.g", b""), S("link", "g"), F(".wh.link", b"")]),
           box.dest, rootless=not IS_ROOT)
    assert (box.dest / "d/f").read_bytes() == b"mine"  # the layer's own entries stay visible
    assert (box.dest / "g").read_bytes() == b"kept"
    assert os.readlink(box.dest / "link") == "g"
    # The directory of the layers below is deleted: this layer's d must not merge with it.
    assert opaque(box.dest / "d")
    assert not any(n.startswith(".wh.") for n in os.listdir(box.dest))


def test_a_whiteout_before_a_directory_of_its_own_layer_makes_it_opaque(box):
    """``rm -rf d; mkdir d`` spelled with a whiteout first: the d of the layers below is
    gone, the new one shows only what this layer put in it."""
    unpack(box.write([F(".wh.d", b""), D("d"), F("d/new", b"new"), F(".wh.e", b""),
                      F("e", b"file again"), F(".wh.x", b""), F("x/y/z", b"deep")]),
           box.dest, rootless=not IS_ROOT)
    assert stat.S_ISDIR(os.lstat(box.dest / "d").st_mode) and opaque(box.dest / "d")
    assert (box.dest / "d/new").read_bytes() == b"new"
    assert (box.dest / "e").read_bytes() == b"file again"
    assert opaque(box.dest / "x") and (box.dest / "x/y/z").read_bytes() == b"deep"


def test_a_whiteout_of_what_the_layer_lacks_hides_the_layers_below(box):
    unpack(box.write([F(".wh.gone", b""), F(".wh.gone", b"")]), box.dest,
           rootless=not IS_ROOT)
    assert is_whiteout(box.dest / "gone")


@root_only
def test_opaque_directory_gets_the_trusted_xattr(box):
    unpack(box.write([D("etc"), F("etc/.wh..wh..opq", b"")]), box.dest, rootless=False)
    assert os.getxattr(box.dest / "etc", "trusted.overlay.opaque") == b"y"
    assert not (box.dest / "etc/.wh..wh..opq").exists()


@rootless_only
def test_opaque_directory_gets_the_user_xattr_rootless(box):
    unpack(box.write([D("etc"), F("etc/.wh..wh..opq", b"")]), box.dest, rootless=True)
    assert os.getxattr(box.dest / "etc", "user.overlay.opaque") == b"y"
    assert not (box.dest / "etc/.wh..wh..opq").exists()


def test_rootless_skips_devices_and_drops_setuid_with_notices(box):
    notices: list[str] = []
    entries = [D("dev"), C("dev/null", 1, 3), D("bin"), F("bin/su", b"x", mode=0o4755),
               F("bin/wall", b"x", mode=0o2755), dict(name="fifo", type=tarfile.FIFOTYPE,
                                                      mode=0o644)]
    unpack(box.write(entries), box.dest, rootless=True, notices=notices)
    assert not os.path.lexists(box.dest / "dev/null")
    assert stat.S_IMODE(os.stat(box.dest / "bin/su").st_mode) == 0o755
    assert stat.S_IMODE(os.stat(box.dest / "bin/wall").st_mode) == 0o755
    assert stat.S_ISFIFO(os.lstat(box.dest / "fifo").st_mode)
    assert any("/dev/null" in n and "device" in n for n in notices), notices
    assert any("/bin/su" in n and "setuid" in n for n in notices), notices
    assert any("/bin/wall" in n for n in notices), notices


@root_only
def test_root_makes_devices_and_keeps_setuid_and_owners(box):
    notices: list[str] = []
    entries = [D("dev"), C("dev/null", 1, 3), F("su", b"x", mode=0o4755, uid=7, gid=8)]
    unpack(box.write(entries), box.dest, rootless=False, notices=notices)
    st = os.lstat(box.dest / "dev/null")
    assert stat.S_ISCHR(st.st_mode) and os.major(st.st_rdev) == 1 and os.minor(st.st_rdev) == 3
    st = os.lstat(box.dest / "su")
    assert stat.S_IMODE(st.st_mode) == 0o4755 and (st.st_uid, st.st_gid) == (7, 8)
    assert notices == []


def test_read_only_directories_get_their_mode_and_time_last(box):
    """A 0555 directory with files in it: a rootless user could not write into it if
    its mode were set first; its mtime would change if set before its children."""
    entries = [D("ro", mode=0o555, mtime=86400), F("ro/f", b"hi"), D("ro/sub", mode=0o500),
               F("ro/sub/g", b"ho")]
    unpack(box.write(entries), box.dest, rootless=not IS_ROOT)
    assert (box.dest / "ro/sub/g").read_bytes() == b"ho"
    st = os.lstat(box.dest / "ro")
    assert stat.S_IMODE(st.st_mode) == 0o555 and st.st_mtime == 86400
    assert stat.S_IMODE(os.lstat(box.dest / "ro/sub").st_mode) == 0o500


def test_hardlink_inside_the_layer(box):
    unpack(box.write([F("a", b"same"), D("d"), H("d/b", "a")]), box.dest, rootless=not IS_ROOT)
    assert os.lstat(box.dest / "a").st_ino == os.lstat(box.dest / "d/b").st_ino


def test_gzip_layer(box):
    unpack(box.write([D("etc"), F("etc/motd", b"hello")], compress=True), box.dest,
           rootless=not IS_ROOT)
    assert (box.dest / "etc/motd").read_bytes() == b"hello"


# --- damaged layers, and the unpacked-once directory --------------------------------------
def big_file_layer(compress: bool) -> bytes:
    return layer_bytes([D("etc"), F("etc/big", os.urandom(256 * 1024))], compress=compress)


@pytest.mark.parametrize("compress", [False, True], ids=["tar", "gzip"])
def test_truncated_layer_is_an_unsafe_layer_error(box, compress):
    data = big_file_layer(compress)
    box.tar.write_bytes(data[:len(data) // 2])
    with pytest.raises(UnsafeLayer) as caught:
        unpack(box.tar, box.dest, rootless=not IS_ROOT)
    assert "etc/big" in str(caught.value) or str(box.tar) in str(caught.value)


def test_not_a_tar_is_an_unsafe_layer_error(box):
    box.tar.write_bytes(b"this is not a tar archive\n" * 100)
    with pytest.raises(UnsafeLayer, match="layer.tar"):
        unpack(box.tar, box.dest, rootless=not IS_ROOT)


HALF_WAY = [
    ("unsafe-entry", lambda: layer_bytes([D("etc"), F("etc/a", b"a" * 10000), D("usr"),
                                          F("../escape", b"x")])),
    ("truncated-tar", lambda: big_file_layer(False)[:150 * 1024]),
    ("truncated-gzip", lambda: big_file_layer(True)[:150 * 1024]),
]


@pytest.mark.parametrize("make", [h[1] for h in HALF_WAY], ids=[h[0] for h in HALF_WAY])
def test_a_layer_that_fails_half_way_leaves_nothing(tmp_path, make):
    layers, scratch = tmp_path / "layers", tmp_path / "tmp"
    blob = tmp_path / "blob"
    blob.write_bytes(make())
    diff_id = "sha256:" + "ab" * 32
    with pytest.raises(UnsafeLayer):
        unpacked_layer(layers, scratch, diff_id, blob, rootless=not IS_ROOT)
    assert not (layers / ("ab" * 32)).exists()
    assert os.listdir(scratch) == []
    assert os.listdir(layers) == []


def test_a_layer_is_unpacked_once(tmp_path):
    layers, scratch = tmp_path / "layers", tmp_path / "tmp"
    blob = tmp_path / "blob"
    blob.write_bytes(layer_bytes([D("ro", mode=0o555), F("ro/f", b"x")]))
    diff_id = sha256(blob.read_bytes())
    first = unpacked_layer(layers, scratch, diff_id, blob, rootless=not IS_ROOT)
    assert first == layers / diff_id[7:] and (first / "ro/f").read_bytes() == b"x"
    inode = os.lstat(first).st_ino
    blob.write_bytes(b"not even a tar: it is not read again")
    assert unpacked_layer(layers, scratch, diff_id, blob, rootless=not IS_ROOT) == first
    assert os.lstat(first).st_ino == inode
    assert os.listdir(scratch) == []
    os.chmod(first / "ro", 0o755)  # so that pytest can remove it


# --- content: diff_ids, decompression bombs, too many entries ---------------------------------
def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def compress(data: bytes, how: str) -> bytes:
    if how == "gzip":
        return gzip.compress(data, compresslevel=9)
    if how == "zstd":
        zstandard = pytest.importorskip("zstandard")
        return zstandard.ZstdCompressor(level=19).compress(data)
    return data


COMPRESSIONS = ["plain", "gzip", "zstd"]


@pytest.mark.parametrize("how", COMPRESSIONS)
def test_unpack_returns_the_diff_id_of_what_it_read(box, how):
    """The hash covers every uncompressed byte, the end-of-archive blocks and padding too."""
    data = layer_bytes([D("etc"), F("etc/motd", b"hello")])
    box.tar.write_bytes(compress(data, how))
    assert unpack(box.tar, box.dest, rootless=not IS_ROOT) == sha256(data)
    assert check_diff_id(box.tar, sha256(data)) is None


def test_several_gzip_members_are_one_layer(box):
    """``cat a.gz b.gz`` is one gzip stream (RFC 1952): pigz and others write layers so."""
    data = layer_bytes([D("etc"), F("etc/motd", b"hello" * 1000)])
    box.tar.write_bytes(gzip.compress(data[:5000]) + gzip.compress(data[5000:]))
    assert unpack(box.tar, box.dest, rootless=not IS_ROOT) == sha256(data)
    assert (box.dest / "etc/motd").read_bytes() == b"hello" * 1000


@pytest.mark.parametrize("how", COMPRESSIONS)
def test_a_layer_that_lies_about_its_diff_id_is_not_kept(tmp_path, how):
    """The innocent image's diff_id, claimed by other content: layers/<that id> would be
    what every image with that diff_id runs.  Nothing is renamed into place."""
    layers, scratch, blob = tmp_path / "layers", tmp_path / "tmp", tmp_path / "blob"
    innocent = layer_bytes([F("marker", b"innocent")])
    blob.write_bytes(compress(layer_bytes([F("marker", b"evil")]), how))
    with pytest.raises(DiffIdMismatch) as caught:
        unpacked_layer(layers, scratch, sha256(innocent), blob, rootless=not IS_ROOT,
                       what="image evil:1: layers[0]")
    message = str(caught.value)
    assert message.startswith("image evil:1: layers[0] uncompresses to sha256:")
    assert sha256(innocent) in message and "\n" not in message
    assert os.listdir(layers) == [] and os.listdir(scratch) == []
    with pytest.raises(DiffIdMismatch):
        check_diff_id(blob, sha256(innocent))


BOMB = 8 << 20  # 8 MiB of zeros: a few kilobytes compressed


@pytest.mark.parametrize("how", COMPRESSIONS)
def test_a_decompression_bomb_stops_at_the_byte_limit(tmp_path, how):
    layers, scratch, blob = tmp_path / "layers", tmp_path / "tmp", tmp_path / "blob"
    data = layer_bytes([F("zeros", bytes(BOMB))])
    blob.write_bytes(compress(data, how))
    limits = LayerLimits(max_bytes=1 << 20)
    with pytest.raises(LayerTooLarge, match=r"more than 1,048,576 bytes.*max-layer-bytes"):
        unpacked_layer(layers, scratch, sha256(data), blob, rootless=not IS_ROOT,
                       limits=limits, what="image bomb:1: layers[0]")
    assert os.listdir(layers) == [] and os.listdir(scratch) == []
    with pytest.raises(LayerTooLarge):
        check_diff_id(blob, sha256(data), limits)
    assert check_diff_id(blob, sha256(data), LayerLimits(max_bytes=len(data))) is None


def test_a_layer_of_too_many_entries_stops_at_the_entry_limit(tmp_path):
    layers, scratch, blob = tmp_path / "layers", tmp_path / "tmp", tmp_path / "blob"
    data = layer_bytes([F(f"f{i}", b"") for i in range(101)])
    blob.write_bytes(gzip.compress(data))
    with pytest.raises(LayerTooLarge, match=r"more than 100 entries.*max-layer-entries"):
        unpacked_layer(layers, scratch, sha256(data), blob, rootless=not IS_ROOT,
                       limits=LayerLimits(max_entries=100))
    assert os.listdir(layers) == [] and os.listdir(scratch) == []
    exactly = unpacked_layer(layers, scratch, sha256(data), blob, rootless=not IS_ROOT,
                             limits=LayerLimits(max_entries=101))
    assert len(os.listdir(exactly)) == 101


# --- digests: data until checked ---------------------------------------------------------------
GOOD = "sha256:" + "0123456789abcdef" * 4
NOT_DIGESTS = [
    ("path", "sha256:../../../../tmp/x"),
    ("absolute", "/etc/passwd"),
    ("uppercase", "sha256:" + "0123456789ABCDEF" * 4),
    ("trailing-space", GOOD + " "),
    ("leading-space", " " + GOOD),
    ("trailing-newline", GOOD + "\n"),
    ("one-more", GOOD + "0"),
    ("one-less", GOOD[:-1]),
    ("padded-64", "sha256:" + "0" * 60 + "    "),
    ("not-hex-64", "sha256:" + "g" * 64),
    ("slash-64", "sha256:" + "0" * 30 + "/../" + "0" * 30),
    ("other-algorithm", "sha512:" + "0" * 64),
    ("no-algorithm", "0" * 64),
    ("empty", ""),
    ("not-a-string", 42),
    ("none", None),
]


@pytest.mark.parametrize("value", [v for _, v in NOT_DIGESTS], ids=[i for i, _ in NOT_DIGESTS])
def test_only_a_sha256_digest_passes(value):
    assert not digests.is_sha256(value)
    with pytest.raises(digests.BadDigest) as caught:
        digests.check(value, "evil:latest", "rootfs.diff_ids[0]")
    assert str(caught.value) == ("image evil:latest: config field rootfs.diff_ids[0] is not a "
                                 f"sha256 digest: {value!r}")
    with pytest.raises(digests.BadDigest):
        digests.hex_part(value)


def test_a_digest_passes_and_names_its_files():
    assert digests.check(GOOD, "x", "config.digest", "manifest") == GOOD
    assert digests.hex_part(GOOD) == GOOD[7:]


def test_whole_documents_name_the_field_at_fault():
    bad = "sha256:../../x"
    cases = [
        (digests.check_index, {"manifests": [{"digest": GOOD}, {"digest": bad}]},
         "index field manifests[1].digest"),
        (digests.check_manifest, {"config": {"digest": GOOD},
                                  "layers": [{"digest": GOOD}, {"digest": bad}]},
         "manifest field layers[1].digest"),
        (digests.check_manifest, {"config": {"digest": bad}, "layers": []},
         "manifest field config.digest"),
        (digests.check_config, {"rootfs": {"diff_ids": [GOOD, GOOD, bad]}},
         "config field rootfs.diff_ids[2]"),
        (digests.check_config, {"rootfs": {"diff_ids": "sha256:abc"}},
         "config field rootfs.diff_ids is not a list"),
        (digests.check_manifest, {"config": {"digest": GOOD}, "layers": None},
         "manifest field layers is not a list"),
    ]
    for check, document, field in cases:
        with pytest.raises(digests.BadDigest) as caught:
            check(document, "evil:1")
        assert str(caught.value).startswith(f"image evil:1: {field}"), str(caught.value)
    with pytest.raises(digests.BadDigest, match="lists 1 layers but the manifest has 2"):
        digests.check_config({"rootfs": {"diff_ids": [GOOD]}}, "evil:1", layer_count=2)


def test_unpacked_layer_makes_no_path_of_a_diff_id_that_is_not_a_digest(tmp_path):
    blob = tmp_path / "blob"
    blob.write_bytes(layer_bytes([F("x", b"x")]))
    outside = tmp_path / "outside"
    with pytest.raises(digests.BadDigest):
        unpacked_layer(tmp_path / "layers", tmp_path / "tmp", "sha256:../outside", blob,
                       rootless=not IS_ROOT)
    assert not outside.exists() and not (tmp_path / "layers").exists()


# --- file capabilities (security.capability) ---------------------------------------------------
# struct vfs_cap_data, revision 2 (linux/capability.h): magic | effective flag, then
# (permitted, inheritable) for capabilities 0-31 and 32-63.  Here: cap_net_raw (13), "+ep".
NET_RAW_EP = (0x02000000 | 0x1).to_bytes(4, "little") + (1 << 13).to_bytes(4, "little") + \
    bytes(12)


def capability_layer(box) -> Path:
    entry = F("bin/ping", b"\x7fELF pretend", mode=0o755)
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info = tarfile.TarInfo(entry["name"])
        info.size, info.mode, info.mtime = len(entry["data"]), entry["mode"], 1_000_000_000
        # tarfile writes PAX values as UTF-8; surrogateescape carries the raw bytes through.
        info.pax_headers = {"SCHILY.xattr.security.capability":
                            NET_RAW_EP.decode("utf-8", "surrogateescape")}
        tar.addfile(info, io.BytesIO(entry["data"]))
    box.tar.write_bytes(buf.getvalue())
    return box.tar


@root_only
def test_file_capabilities_are_kept_as_root(box):
    notices: list[str] = []
    unpack(capability_layer(box), box.dest, rootless=False, notices=notices)
    assert os.getxattr(box.dest / "bin/ping", "security.capability") == NET_RAW_EP
    assert notices == []


def test_file_capabilities_are_left_out_rootless_with_a_notice(box):
    notices: list[str] = []
    unpack(capability_layer(box), box.dest, rootless=True, notices=notices)
    assert "security.capability" not in os.listxattr(box.dest / "bin/ping")
    assert notices == ["dropped the file capabilities of /bin/ping (rootless)"]


def test_rmtree_removes_links_never_what_they_point_at(tmp_path):
    """sandbox.paths.rmtree (a container's directory at ``rm``): a symbolic link inside, or
    the tree itself being one, is removed as a link; overlayfs's mode-000 ``work/work`` and a
    read-only directory (an image's 0555) go too, rootless as well (chmod, then again)."""
    from sandbox.paths import rmtree
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "canary").write_text("still here")
    tree = tmp_path / "container"
    (tree / "work" / "work").mkdir(parents=True)
    (tree / "work" / "work" / "leftover").write_text("x")
    (tree / "upper" / "usr" / "bin").mkdir(parents=True)
    (tree / "upper" / "usr" / "bin" / "tool").write_text("x")
    (tree / "upper" / "escape").symlink_to(outside)
    (tree / "upper" / "file-link").symlink_to(outside / "canary")
    (tree / "work" / "work").chmod(0)
    (tree / "upper" / "usr" / "bin").chmod(0o555)
    (tree / "upper" / "usr").chmod(0o555)
    link = tmp_path / "link-to-outside"
    link.symlink_to(outside)
    rmtree(tree)
    rmtree(link)
    rmtree(tmp_path / "never-was")
    assert not tree.exists() and not os.path.lexists(link)
    assert (outside / "canary").read_text() == "still here"
