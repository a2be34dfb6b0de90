"""Hostile images from a real registry: downloaded content is data, never a path.

Each image here is built by hand and pushed to Debian's docker-registry (or served
by a :class:`Front` before it, where the registry itself would refuse to store
it), then pulled into a fresh state root.  Every pull must fail with one
sentence naming the image and the field at fault, and leave nothing behind:

- nothing outside the state root (the path a hostile digest points at stays absent);
- no tag, no ``layers/`` entry, no scratch file;
- no new blob: the blob directory is exactly as before the pull.

The images:

    a diff_id that is a path              sha256:../../<somewhere>
    digests that are almost digests       padded, upper case, one character too many
    digests that are paths elsewhere      manifests[1].digest, config.digest, layers[0].digest
    a layer that claims another's diff_id the innocent image still runs its own content
    an oversized manifest                 > 4 MiB, with or without Content-Length
    a decompression bomb                  gzip and zstd, past max-layer-bytes in daemon.json
    a blob longer or shorter than declared
"""

from __future__ import annotations

import gzip
import io
import json
import os
import tarfile
import uuid
from pathlib import Path

import pytest

from conftest import fails_with_one_sentence

pytest.register_assert_rewrite("registry_fixture")  # imported here before pytest_plugins loads it
from registry_fixture import StateRoot, put_manifest, sha256, upload_blob  # noqa: E402
from sandbox.content.registry.pull import this_platform  # noqa: E402
from sandbox.content.store import Store  # noqa: E402

# the fixtures registry, front, fresh_root
pytest_plugins = ("registry_fixture",)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
LAYER_ZSTD = "application/vnd.oci.image.layer.v1.tar+zstd"
LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
FOUR_MIB = 4 << 20


# --- building images --------------------------------------------------------------------------
def tar_of(files: dict[str, bytes], links: dict[str, str] | None = None) -> bytes:
    """A layer tar, the same bytes every time (fixed times and owners)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for directory in sorted({str(Path(n).parent) for n in [*files, *(links or {})]} - {"."}):
            info = tarfile.TarInfo(directory)
            info.type, info.mode, info.mtime = tarfile.DIRTYPE, 0o755, 1_000_000_000
            tar.addfile(info)
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size, info.mode, info.mtime = len(data), 0o755, 1_000_000_000
            tar.addfile(info, io.BytesIO(data))
        for name, target in (links or {}).items():
            info = tarfile.TarInfo(name)
            info.type, info.linkname, info.mtime = tarfile.SYMTYPE, target, 1_000_000_000
            tar.addfile(info)
    return buf.getvalue()


def gz(data: bytes) -> bytes:
    return gzip.compress(data, mtime=0)


def config_json(diff_ids: list) -> bytes:
    return json.dumps({"architecture": this_platform().split("/")[1], "os": "linux",
                       "config": {"Env": [PATH_ENV], "Cmd": ["sh"]},
                       "rootfs": {"type": "layers", "diff_ids": diff_ids}}).encode()


def publish(host: str, repository: str, layers: list[tuple[bytes, str]], diff_ids: list,
            tag: str = "1") -> dict:
    """Push blobs, a config that says ``diff_ids`` and a manifest; the manifest's descriptor."""
    descriptors = [upload_blob(host, repository, blob, media) for blob, media in layers]
    config = upload_blob(host, repository, config_json(diff_ids), OCI_CONFIG)
    return put_manifest(host, repository, {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
                                           "config": config, "layers": descriptors}, tag=tag)


def busybox_layer() -> bytes:
    from sandbox.content.busybox import find_busybox
    return tar_of({"bin/busybox": find_busybox().read_bytes()},
                  {"bin/sh": "busybox", "bin/cat": "busybox", "bin/true": "busybox"})


# --- what must not change -------------------------------------------------------------------
def snapshot(root: StateRoot) -> dict:
    """Blobs, tags, unpacked layers and scratch files of a state root."""
    layers = root.path / "layers"
    return {"blobs": root.blobs(), "tags": root.tags(), "scratch": root.scratch(),
            "layers": sorted(os.listdir(layers)) if layers.exists() else []}


def refused(root: StateRoot, name: str, *needles: str, before: dict | None = None,
            outside: Path | None = None) -> None:
    """``pull`` fails with one sentence naming the image, and leaves the root as it was."""
    before = before if before is not None else snapshot(root)
    fails_with_one_sentence(root.sandbox("pull", name), f"image {name}", *needles)
    assert snapshot(root) == before
    if outside is not None:
        assert not os.path.lexists(outside), f"{outside} was made outside the state root"


def somewhere_outside(root: StateRoot) -> tuple[str, Path]:
    """A hex part that climbs out of ``layers/`` and ``blobs/sha256/`` to a fresh name next to
    the state root (in its parent folder); and that place, which must never exist."""
    name = f"sandbox-hostile-{uuid.uuid4().hex[:12]}"
    return f"../../{name}", root.path.parent / name


# --- digests that are paths, or almost digests ----------------------------------------------
def test_a_diff_id_that_is_a_path_is_refused_by_pull_and_run(registry, fresh_root):
    climb, outside = somewhere_outside(fresh_root)
    evil = f"sha256:{climb}"
    layer = busybox_layer()
    publish(registry, "hostile/path", [(gz(layer), LAYER_GZIP)], [evil])
    name = f"{registry}/hostile/path:1"
    refused(fresh_root, name, "config field rootfs.diff_ids[0] is not a sha256 digest",
            repr(evil), outside=outside)
    assert not os.path.lexists(fresh_root.path / "layers" / climb)

    before = snapshot(fresh_root)
    r = fresh_root.sandbox("run", "--rm", name, "true")  # run pulls it by itself
    assert r.returncode != 0 and "Traceback" not in r.stderr
    lines = r.stderr.splitlines()  # Docker's note, the pull's progress, then one sentence
    assert lines[0] == f"Unable to find image '{name}' locally", r.stderr
    assert lines[-1] == (f"sandbox: image {name}: config field rootfs.diff_ids[0] is not a "
                         f"sha256 digest: {evil!r}"), r.stderr
    assert snapshot(fresh_root) == before and not os.path.lexists(outside)


GOOD_HEX = "0123456789abcdef" * 4
ALMOST = [
    ("padded-to-64", "sha256:" + GOOD_HEX[:60] + "    "),
    ("64-not-hex", "sha256:" + "z" * 64),
    ("trailing-spaces", "sha256:" + GOOD_HEX + "  "),
    ("upper-case", "sha256:" + GOOD_HEX.upper()),
    ("one-more", "sha256:" + GOOD_HEX + "0"),
    ("trailing-newline", "sha256:" + GOOD_HEX + "\n"),
]


@pytest.mark.parametrize("kind, diff_id", ALMOST, ids=[a[0] for a in ALMOST])
def test_a_diff_id_that_is_almost_a_digest_is_refused(registry, fresh_root, kind, diff_id):
    repository = f"hostile/almost-{kind}"
    layer = tar_of({"marker": b"almost\n"})
    publish(registry, repository, [(gz(layer), LAYER_GZIP)], [sha256(layer), diff_id])
    # two diff_ids for one layer: the digest check comes first, and names the second
    refused(fresh_root, f"{registry}/{repository}:1",
            "config field rootfs.diff_ids[1] is not a sha256 digest", repr(diff_id))


def serve(front, repository: str, documents: dict[str, dict]):
    """Make ``front`` answer GET manifests/<reference> with hand-written JSON (a registry
    would refuse to store it); everything else goes to the registry."""
    def hook(handler):
        for reference, document in documents.items():
            if handler.path == f"/v2/{repository}/manifests/{reference}":
                media = document.get("mediaType", OCI_MANIFEST)
                handler.reply(200, [("Content-Type", media)], json.dumps(document).encode())
                return True
    front.hook = hook


def test_digests_that_are_paths_in_an_index_or_a_manifest_are_refused(registry, front,
                                                                      fresh_root):
    climb, outside = somewhere_outside(fresh_root)
    evil = f"sha256:{climb}"
    layer = gz(tar_of({"marker": b"x\n"}))
    good = publish(registry, "hostile/docs", [(layer, LAYER_GZIP)],
                   [sha256(gzip.decompress(layer))], tag="good")
    good_manifest = json.load(open_manifest(registry, "hostile/docs", "good"))
    here = dict(zip(("os", "architecture"), this_platform().split("/")))
    cases = {
        "index": ({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": [
            {**good, "platform": {"os": "linux", "architecture": "s390x"}},
            {**good, "digest": evil, "platform": here}]}, "index field manifests[1].digest"),
        "config": ({**good_manifest, "config": {**good_manifest["config"], "digest": evil}},
                   "manifest field config.digest"),
        "layer": ({**good_manifest, "layers": [{**good_manifest["layers"][0], "digest": evil}]},
                  "manifest field layers[0].digest"),
    }
    serve(front, "hostile/docs", {tag: document for tag, (document, _) in cases.items()})
    for tag, (_, field) in cases.items():
        front.seen.clear()
        refused(fresh_root, f"{front.host}/hostile/docs:{tag}", f"{field} is not a sha256 "
                "digest", outside=outside)
        assert not any(climb in path or "/.." in path for _, path, _ in front.seen)
        assert fresh_root.blobs() == set()


def open_manifest(host: str, repository: str, reference: str):
    import urllib.request
    request = urllib.request.Request(f"http://{host}/v2/{repository}/manifests/{reference}",
                                     headers={"Accept": OCI_MANIFEST})
    return urllib.request.urlopen(request, timeout=10)


# --- a layer that claims another image's diff_id ----------------------------------------------
@pytest.fixture
def innocent(registry, fresh_root):
    """HOST/innocent:1 (busybox, then /marker = "innocent"), pulled but not yet run: its
    layers are not unpacked, so a poisoned layers/<diff_id> would be what it runs."""
    base, marker = busybox_layer(), tar_of({"marker": b"innocent\n"})
    publish(registry, "innocent", [(gz(base), LAYER_GZIP), (gz(marker), LAYER_GZIP)],
            [sha256(base), sha256(marker)])
    name = f"{registry}/innocent:1"
    fresh_root.sandbox("pull", name, check=True)
    return name, base, marker


@pytest.mark.parametrize("how", ["new-blob", "innocent-blob"])
def test_a_layer_that_claims_another_images_diff_id(registry, fresh_root, innocent, how):
    """``new-blob``: evil content under the innocent marker layer's diff_id.  ``innocent-blob``:
    the innocent busybox blob (already in the store) under the marker's diff_id."""
    name, base, marker = innocent
    evil = tar_of({"marker": b"evil\n"})
    if how == "new-blob":
        layers = [(gz(base), LAYER_GZIP), (gz(evil), LAYER_GZIP)]
    else:
        layers = [(gz(base), LAYER_GZIP), (gz(base), LAYER_GZIP)]
    publish(registry, f"hostile/liar-{how}", layers, [sha256(base), sha256(marker)])
    hostile = f"{registry}/hostile/liar-{how}:1"

    refused(fresh_root, hostile, "layers[1] uncompresses to sha256:",
            f"not to {sha256(marker)} as the config's rootfs.diff_ids[1] says")
    r = fresh_root.sandbox("run", "--rm", hostile, "cat", "/marker")
    assert r.returncode != 0 and "evil" not in r.stdout
    r = fresh_root.sandbox("run", "--rm", name, "cat", "/marker", check=True)
    assert r.stdout == "innocent\n"
    unpacked = fresh_root.path / "layers" / sha256(marker)[7:] / "marker"
    assert unpacked.read_bytes() == b"innocent\n"


# --- sizes: manifests, layers, blobs ------------------------------------------------------------
def test_a_manifest_over_4_mib_is_refused(registry, front, fresh_root):
    layer = gz(tar_of({"marker": b"big\n"}))
    publish(registry, "hostile/big", [(layer, LAYER_GZIP)], [sha256(gzip.decompress(layer))])
    manifest = json.load(open_manifest(registry, "hostile/big", "1"))
    manifest["annotations"] = {"padding": "x" * FOUR_MIB}
    serve(front, "hostile/big", {"1": manifest})
    refused(fresh_root, f"{front.host}/hostile/big:1", "larger than 4 MiB")
    assert fresh_root.blobs() == set()


def test_a_manifest_without_an_end_is_read_no_further_than_4_mib(front, fresh_root):
    """No Content-Length, and a body that does not end: reading stops after 4 MiB + 1."""
    sent = []

    def endless(handler):
        if "/manifests/" not in handler.path:
            return False
        handler.send_response(200)
        handler.send_header("Content-Type", OCI_MANIFEST)
        handler.end_headers()
        chunk = b" " * (1 << 20)
        try:
            for _ in range(1024):  # up to 1 GiB, unless the client hangs up
                handler.wfile.write(chunk)
                sent.append(len(chunk))
        except OSError:
            pass
        handler.close_connection = True
        return True
    front.hook = endless
    refused(fresh_root, f"{front.host}/hostile/endless:1", "larger than 4 MiB")
    # what the sockets' buffers held on top of the 4 MiB + 1 byte read, not a gigabyte
    assert sum(sent) < 64 << 20, sum(sent)


def bomb_layer(compression: str) -> tuple[bytes, bytes, str]:
    """(blob, tar, media type): 64 MiB of zeros in a tar, a few hundred kilobytes compressed."""
    data = tar_of({"zeros": bytes(64 << 20)})
    if compression == "gzip":
        return gzip.compress(data, compresslevel=9, mtime=0), data, LAYER_GZIP
    zstandard = pytest.importorskip("zstandard", reason="the zstandard package is not installed")
    return zstandard.ZstdCompressor(level=19).compress(data), data, LAYER_ZSTD


@pytest.mark.parametrize("compression", ["gzip", "zstd"])
def test_a_decompression_bomb_stops_at_max_layer_bytes(registry, fresh_root, compression):
    blob, data, media = bomb_layer(compression)
    assert len(blob) < 1 << 20
    publish(registry, f"hostile/bomb-{compression}", [(blob, media)], [sha256(data)])
    (fresh_root.path / "daemon.json").write_text(json.dumps({"max-layer-bytes": 16 << 20}))
    name = f"{registry}/hostile/bomb-{compression}:1"
    refused(fresh_root, name, "layers[0] uncompresses to more than 16,777,216 bytes",
            "max-layer-bytes")
    # the same image under a limit it fits in: the limit is what refused it
    (fresh_root.path / "daemon.json").write_text(json.dumps({"max-layer-bytes": 80 << 20}))
    fresh_root.sandbox("pull", name, check=True)


def test_a_bad_limit_in_daemon_json_is_one_sentence(fresh_root):
    (fresh_root.path / "daemon.json").write_text(json.dumps({"max-layer-bytes": "lots"}))
    fails_with_one_sentence(fresh_root.sandbox("pull", "127.0.0.1:1/x:1"),
                            "daemon.json: max-layer-bytes must be a positive whole number")


def test_a_blob_longer_than_its_descriptor_declares(registry, front, fresh_root):
    layer = gz(tar_of({"marker": b"long\n"}))
    publish(registry, "hostile/long", [(layer, LAYER_GZIP)], [sha256(gzip.decompress(layer))])
    digest = sha256(layer)

    def longer(handler):
        if handler.command == "GET" and handler.path.endswith(f"/blobs/{digest}"):
            status, headers, body = handler.forward()
            handler.reply(status, headers, body + b"\0" * (8 << 20))
            return True
    front.hook = longer
    refused(fresh_root, f"{front.host}/hostile/long:1",
            f"sent more than the {len(layer):,} bytes its descriptor declares for layers[0]")


def test_a_blob_shorter_than_its_descriptor_declares(registry, front, fresh_root):
    layer = gz(tar_of({"marker": b"short\n"}))
    publish(registry, "hostile/short", [(layer, LAYER_GZIP)], [sha256(gzip.decompress(layer))])
    digest = sha256(layer)

    def shorter(handler):  # a whole answer, by its own Content-Length: just not the whole blob
        if handler.command == "GET" and handler.path.endswith(f"/blobs/{digest}"):
            status, headers, body = handler.forward()
            handler.reply(status, headers, body[:len(body) // 2])
            return True
    front.hook = shorter
    before = snapshot(fresh_root)
    r = fresh_root.sandbox("pull", f"{front.host}/hostile/short:1")  # retried: it may be the line
    fails_with_one_sentence(r, f"downloading {digest[:19]}", "failed after 3 attempts",
                            f"closed after {len(layer) // 2} of {len(layer)} bytes")
    assert snapshot(fresh_root) == before


# --- an image already in the store, from before these checks ----------------------------------
def test_a_stored_image_with_a_path_for_a_diff_id_is_refused_and_removable(fresh_root):
    """An older sandbox stored it unchecked: run refuses it before making any path, images
    says how to remove it, and rmi removes its name without deleting what it points at."""
    climb, outside = somewhere_outside(fresh_root)
    outside.mkdir()
    (outside / "precious").write_text("keep me\n")
    try:
        store = Store(fresh_root.path).init()
        layer = store.put_blob(tar_of({"marker": b"x\n"}), LAYER_TAR)
        store.write_image(json.loads(config_json([f"sha256:{climb}"])), [layer], "old:1")
        for verb in (["run", "--rm", "old:1", "true"], ["images"]):
            fails_with_one_sentence(fresh_root.sandbox(*verb),
                                    "image old:1: config field rootfs.diff_ids[0] is not a "
                                    "sha256 digest", "'sandbox rmi old:1' removes it")
        assert fresh_root.sandbox("rmi", "old:1", check=True).stdout == "Untagged: old:1\n"
        assert (outside / "precious").read_text() == "keep me\n"
        assert fresh_root.tags() == [] and fresh_root.blobs() == set()
        assert "old" not in fresh_root.sandbox("images", check=True).stdout
    finally:
        (outside / "precious").unlink()
        outside.rmdir()
