"""Images and containers as tar archives: save, load, import, export.

``save`` writes one archive that both kinds of tool read (the layout Docker
25 writes): an OCI image layout (``oci-layout``, ``index.json``,
``blobs/sha256/...``) plus Docker's ``manifest.json``, which points at the
same blobs.  ``docker load``, ``podman load`` and ``skopeo copy
docker-archive:...`` read the second; ``skopeo copy oci-archive:...`` and
``umoci`` (once unpacked) read the first.  Layers are written uncompressed,
so a layer's digest in the archive equals its ``diff_id``.

``load`` reads either kind; every digest in its JSON must be a sha256 digest
before it names a file (:mod:`sandbox.content.digests`), every blob is checked
against its digest and every layer against its config's ``diff_id``, JSON
documents may not exceed 4 MiB nor layers the ``max-layer-bytes`` limit
(:mod:`sandbox.content.settings`), and if anything is wrong the store is left as it was.

``import`` turns a root filesystem tarball into a one-layer image;
``export`` writes a container's merged filesystem (all layers plus its
changes) as one tarball.
"""

from __future__ import annotations

import io
import json
import lzma
import os
import tarfile
import zlib
from pathlib import Path

from . import digests
from ..errors import SandboxError
from ..humanize import now_iso
from .settings import layer_limits
from .store import (MAX_MANIFEST_BYTES, MEDIA_CONFIG, MEDIA_LAYER_GZIP, MEDIA_LAYER_TAR,
                    MEDIA_MANIFEST, DigestMismatch, Image, NewBlobs, Store, normalize_ref, oci_arch,
                    sha256_digest)

MEDIA_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"


class BadArchive(SandboxError):
    """The file is not an image archive this tool understands, or its content is damaged."""


# --- save -------------------------------------------------------------------------
def save(store: Store, images: list[Image], names: list[str], output) -> None:
    """Write ``images`` (tagged ``names``) as a docker-archive + OCI layout tar to ``output``."""
    docker_manifest, index = [], {"schemaVersion": 2, "mediaType": MEDIA_INDEX, "manifests": []}
    max_bytes = layer_limits(store.root).max_bytes
    with tarfile.open(fileobj=output, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        written: set[str] = set()
        sizes: dict[str, int] = {}  # uncompressed size of each layer written
        for directory in ("blobs", "blobs/sha256"):  # a reader need not invent their owners
            info = _archive_entry(directory, 0)
            info.type, info.mode = tarfile.DIRTYPE, 0o755
            tar.addfile(info)
        for image, name in zip(images, names):
            layers = []
            for layer, diff_id in zip(image.layers, image.diff_ids):
                path = _blob_name(diff_id)
                if path not in written:
                    sizes[path] = _add_uncompressed_layer(tar, store, layer, diff_id, path,
                                                          max_bytes)
                    written.add(path)
                layers.append((path, diff_id))
            config_bytes = store.read_blob(image.id)
            _add_bytes(tar, _blob_name(image.id), config_bytes, written)
            layer_sizes = [sizes[path] for path, _ in layers]
            manifest = {"schemaVersion": 2, "mediaType": MEDIA_MANIFEST,
                        "config": {"mediaType": MEDIA_CONFIG, "digest": image.id,
                                   "size": len(config_bytes)},
                        "layers": [{"mediaType": MEDIA_LAYER_TAR, "digest": d, "size": s}
                                   for (_, d), s in zip(layers, layer_sizes)]}
            manifest_bytes = json.dumps(manifest, sort_keys=True).encode()
            manifest_digest = sha256_digest(manifest_bytes)
            _add_bytes(tar, _blob_name(manifest_digest), manifest_bytes, written)
            # An image asked for by its id is saved without a name, as Docker does.
            tagged = normalize_ref(name) if name and normalize_ref(name) == image.ref else None
            annotations = {}
            if tagged:
                annotations = {"io.containerd.image.name": _full_name(tagged),
                               "org.opencontainers.image.ref.name": tagged.rsplit(":", 1)[1]}
            index["manifests"].append({"mediaType": MEDIA_MANIFEST, "digest": manifest_digest,
                                       "size": len(manifest_bytes),
                                       **({"annotations": annotations} if annotations else {})})
            docker_manifest.append({"Config": _blob_name(image.id),
                                    "RepoTags": [tagged] if tagged else [],
                                    "Layers": [path for path, _ in layers]})
        _add_bytes(tar, "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode(),
                   written)
        _add_bytes(tar, "index.json", json.dumps(index, indent=2).encode(), written)
        _add_bytes(tar, "manifest.json", json.dumps(docker_manifest).encode(), written)


def _full_name(ref: str) -> str:
    """``mine:v1`` → ``docker.io/library/mine:v1``, the name containerd and Docker store."""
    first = ref.split("/", 1)[0]
    if "/" not in ref:
        return "docker.io/library/" + ref
    if "." in first or ":" in first or first == "localhost":
        return ref
    return "docker.io/" + ref


def _add_uncompressed_layer(tar, store: Store, layer: dict, diff_id: str, path: str,
                            max_bytes: int) -> int:
    """Add a layer to the archive uncompressed, checking that it hashes to its diff_id
    and uncompresses to no more than ``max_bytes``.

    A tar entry's size comes before its content, so the layer is decompressed
    to a scratch file first.
    """
    from .layers import UncompressedStream, mismatch
    blob = store.blob_path(layer["digest"])
    scratch = store.tmp / f"save-{os.getpid()}-{digests.hex_part(diff_id)[:12]}.tar"
    what = f"layer {layer['digest']}"
    try:
        with UncompressedStream(blob, max_bytes, what) as src, \
                open(scratch, "wb") as out:
            while chunk := src.read(1 << 20):
                out.write(chunk)
            actual = src.finish()
        if actual != diff_id:
            raise mismatch(what, actual, diff_id, stored=True)
        info = _archive_entry(path, scratch.stat().st_size)
        with open(scratch, "rb") as src:
            tar.addfile(info, src)
        return info.size
    finally:
        if scratch.exists():
            scratch.unlink()


def _add_bytes(tar, name: str, data: bytes, written: set[str]) -> None:
    if name in written:
        return
    tar.addfile(_archive_entry(name, len(data)), io.BytesIO(data))
    written.add(name)


def _archive_entry(name: str, size: int) -> tarfile.TarInfo:
    """A file of the archive itself (not of an image: layers keep their owners inside).

    It belongs to whoever saves: root's archive says 0:0, as Docker's does; a
    rootless user's says that user, whom a rootless reader can chown(2) it to
    (skopeo's ``oci-archive:`` unpacks the archive and restores its owners).
    """
    info = tarfile.TarInfo(name)
    info.size, info.mode = size, 0o644
    info.uid, info.gid = os.getuid(), os.getgid()
    return info


# --- load -------------------------------------------------------------------------
class _Loading:
    """What one ``load`` works with: the archive, the store, the blobs it added so far."""

    def __init__(self, store: Store, tar, archive_path: Path, limits, new: NewBlobs):
        self.store, self.tar, self.shown = store, tar, archive_path.name
        self.new, self.limits = new, limits


def load(store: Store, archive_path: Path) -> list[str]:
    """``docker load``: read a docker-archive or an OCI layout archive; return the loaded names."""
    limits = layer_limits(store.root)  # a daemon.json to fix is said before anything is read
    tar = _open_tar(archive_path)
    # Any failure, a Ctrl-C too, takes the blobs this load added away again (NewBlobs).
    with NewBlobs(store) as new, tar:
        loading = _Loading(store, tar, archive_path, limits, new)
        try:
            names = {name.removeprefix("./") for name in tar.getnames()}
            if "manifest.json" in names:
                images = _load_docker(loading)
            elif "index.json" in names:
                images = _load_oci(loading)
            else:
                raise BadArchive(f"{archive_path} has neither manifest.json (docker-archive) nor "
                                 "index.json (OCI layout): it is not an image archive")
        except KeyError as err:
            raise BadArchive(f"{archive_path} is damaged: its JSON lacks the field "
                             f"{err}") from None
        except (tarfile.TarError, EOFError, OSError, zlib.error, lzma.LZMAError, ValueError,
                TypeError) as err:
            # The archive itself cut short or damaged (tarfile decompresses it: EOFError,
            # zlib.error, LZMAError for .tar.xz; bz2's are OSError), or JSON that is not JSON (ValueError) or not of the right shape
            # (TypeError).  A damaged layer inside it is a CorruptLayer already.
            raise BadArchive(f"{archive_path} is damaged: {err}") from None
    return _name_all(store, images)


def _open_tar(path: Path, shown_as: str = ""):
    """tarfile.open(), with its several-line "could not be opened" turned into one sentence."""
    try:
        return tarfile.open(path, mode="r:*")
    except (tarfile.TarError, EOFError, OSError):
        empty = path.stat().st_size == 0
        raise BadArchive(f"{shown_as or path} is {'empty' if empty else 'not a tar archive'}: "
                         "expected a tar archive, plain or compressed") from None


def _name_all(store: Store, images: list[tuple[dict, list[str], str]]) -> list[str]:
    """Name the loaded images, once every blob of every image is stored: a bad archive
    changes no name.  An image without a name is listed untagged (``<none>``)."""
    loaded = []
    for descriptor, refs, config_digest in images:
        for ref in refs:
            store.tag(ref, descriptor)
            loaded.append(normalize_ref(ref))
        if not refs:
            store.add_untagged(descriptor)
            loaded.append(config_digest)
    return loaded


def _json_member(tar, name: str, what: str):
    """A JSON document of the archive, read whole: no more than 4 MiB (a manifest's limit)."""
    data = _member(tar, name).read(MAX_MANIFEST_BYTES + 1)
    if len(data) > MAX_MANIFEST_BYTES:
        raise BadArchive(f"{what}: {name} is larger than {MAX_MANIFEST_BYTES >> 20} MiB, the "
                         "most a manifest, an index or a config may be")
    return data


def _member(tar, name: str):
    """A file of the archive, by name (``tar cf x.tar .`` writes them as ``./name``)."""
    for candidate in (name, "./" + name):
        try:
            f = tar.extractfile(candidate)
            break
        except KeyError:
            continue
    else:
        raise BadArchive(f"the archive names {name!r}, but has no such file")
    if f is None:
        raise BadArchive(f"{name!r} in the archive is not a file")
    return f


def _load_docker(loading: _Loading) -> list[tuple[dict, list[str], str]]:
    images, new = [], loading.new
    entries = json.loads(_json_member(loading.tar, "manifest.json", loading.shown))
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise BadArchive("manifest.json is not a list of images: this is no docker-archive")
    for entry in entries:
        tags = entry.get("RepoTags") or []
        image = f"{tags[0] if tags else entry['Config']} in {loading.shown}"
        config_bytes = _json_member(loading.tar, entry["Config"], f"image {image}")
        config = json.loads(config_bytes)
        config_desc = new.put(config_bytes, MEDIA_CONFIG, _digest_in_name(entry["Config"]))
        # The diff_ids are all a docker-archive says about its layers' content: they
        # name each layer's stored blob, so each must be a digest before anything else.
        digests.check_config(config, image)
        diff_ids = config["rootfs"]["diff_ids"]
        if len(diff_ids) != len(entry["Layers"]):
            raise BadArchive(f"{entry['Config']} lists {len(diff_ids)} layers, manifest.json "
                             f"{len(entry['Layers'])}")
        layers = [_load_layer(loading, path, diff_id, f"image {image}: layer {path}")
                  for path, diff_id in zip(entry["Layers"], diff_ids)]
        descriptor = _write_manifest(config_desc, layers, new)
        images.append((descriptor, [_short_name(ref) for ref in tags], config_desc["digest"]))
    return images


def _load_layer(loading: _Loading, path: str, diff_id: str, what: str) -> dict:
    """A layer, stored uncompressed: its digest must equal the config's diff_id."""
    from .layers import UncompressedStream
    with UncompressedStream(_member(loading.tar, path), loading.limits.max_bytes,
                            what) as source:
        try:
            return loading.new.put_stream(source, MEDIA_LAYER_TAR, diff_id)
        except DigestMismatch as err:
            raise DigestMismatch(f"layer {path} does not match the image's config: "
                                 f"{err}") from None


def _digest_in_name(path: str) -> str | None:
    """``blobs/sha256/<hex>`` and ``<hex>.json`` name their own digest: check it."""
    stem = Path(path).name.removesuffix(".json")
    return "sha256:" + stem if len(stem) == 64 and all(c in "0123456789abcdef" for c in stem) \
        else None


def _write_manifest(config_desc: dict, layers: list[dict], new: NewBlobs) -> dict:
    manifest = {"schemaVersion": 2, "mediaType": MEDIA_MANIFEST, "config": config_desc,
                "layers": layers}
    return new.put(json.dumps(manifest, sort_keys=True).encode(), MEDIA_MANIFEST)


def _load_oci(loading: _Loading) -> list[tuple[dict, list[str], str]]:
    tar, new = loading.tar, loading.new
    index = json.loads(_json_member(tar, "index.json", loading.shown))
    digests.check_index(index, loading.shown)
    images = []
    for descriptor in index["manifests"]:
        manifest_desc = _resolve_platform(loading, descriptor)
        annotations = {**descriptor.get("annotations", {}), **manifest_desc.get("annotations", {})}
        ref = annotations.get("io.containerd.image.name") or annotations.get(
            "org.opencontainers.image.ref.name")
        image = f"{ref or manifest_desc['digest']} in {loading.shown}"
        manifest_bytes = _blob(loading, manifest_desc["digest"], image)
        if sha256_digest(manifest_bytes) != manifest_desc["digest"]:
            raise DigestMismatch(f"manifest {manifest_desc['digest']} is corrupt")
        manifest = json.loads(manifest_bytes)
        digests.check_manifest(manifest, image)
        config_bytes = _blob(loading, manifest["config"]["digest"], image)
        config_desc = new.put(config_bytes, MEDIA_CONFIG, manifest["config"]["digest"])
        config = json.loads(config_bytes)
        digests.check_config(config, image)
        diff_ids = config["rootfs"]["diff_ids"]
        if len(diff_ids) != len(manifest["layers"]):
            raise BadArchive(f"config {config_desc['digest']} lists {len(diff_ids)} layers, its "
                             f"manifest {len(manifest['layers'])}")
        layers = [_load_oci_layer(loading, layer, diff_id, f"image {image}: layers[{i}]",
                                  f"rootfs.diff_ids[{i}]")
                  for i, (layer, diff_id) in enumerate(zip(manifest["layers"], diff_ids))]
        stored = _write_manifest(config_desc, layers, new)
        if ref and not (":" in ref or "/" in ref):
            ref = None  # a bare tag ("v1") names no repository: load it untagged, as Docker does
        images.append((stored, [_short_name(ref)] if ref else [], config_desc["digest"]))
    return images


def _load_oci_layer(loading: _Loading, layer: dict, diff_id: str, what: str,
                    field: str) -> dict:
    """A layer stored as the archive has it (compressed or not), kept only if it uncompresses
    to the diff_id its image's config gives it (OCI image spec, config.md, ``rootfs.diff_ids``)."""
    from .layers import check_diff_id

    def matches_config(scratch: Path) -> None:
        check_diff_id(scratch, diff_id, loading.limits, what, field)
    return loading.new.put_stream(_member(loading.tar, _blob_name(layer["digest"])),
                                  _oci_media(layer), layer["digest"], verify=matches_config)


def _short_name(ref: str) -> str:
    """``docker.io/library/mine:v1`` → ``mine:v1``, as Docker shows it."""
    for prefix in ("docker.io/library/", "docker.io/"):
        if ref.startswith(prefix):
            return ref[len(prefix):]
    return ref


def _oci_media(layer: dict) -> str:
    media = layer.get("mediaType", MEDIA_LAYER_TAR)
    if "gzip" in media:
        return MEDIA_LAYER_GZIP
    if "zstd" in media:
        raise BadArchive("zstd-compressed layers are not supported yet")
    return MEDIA_LAYER_TAR


def _resolve_platform(loading: _Loading, descriptor: dict) -> dict:
    """An index inside the index (a multi-platform image): pick this machine's platform."""
    if descriptor.get("mediaType") not in (MEDIA_INDEX, DOCKER_LIST):
        return descriptor
    nested = json.loads(_blob(loading, descriptor["digest"], loading.shown))
    digests.check_index(nested, f"{descriptor['digest']} in {loading.shown}")
    for candidate in nested["manifests"]:
        platform = candidate.get("platform", {})
        if platform.get("architecture") == oci_arch() and platform.get("os") == "linux":
            return {**candidate, "annotations": descriptor.get("annotations", {})}
    raise BadArchive(f"the archive has no image for linux/{oci_arch()}")


def _blob_name(digest: str) -> str:
    return f"blobs/sha256/{digests.hex_part(digest)}"


def _blob(loading: _Loading, digest: str, image: str) -> bytes:
    """A manifest, index or config of the archive, by digest (4 MiB at most)."""
    return _json_member(loading.tar, _blob_name(digest), f"image {image}")


# --- import and export ----------------------------------------------------------------
def import_rootfs(store: Store, tarball: Path, ref: str | None, shown_as: str = "") -> Image:
    """``docker import``: a root filesystem tarball (plain, gzip, zstd) becomes a one-layer image.

    ``shown_as`` names the source in messages and history (``-`` for stdin).
    """
    from .layers import UncompressedStream
    shown_as = shown_as or str(tarball)
    _check_is_tar(tarball, shown_as)
    try:
        # Stored uncompressed (its digest is its diff_id), so no bigger than max-layer-bytes:
        # a small gzip must not fill the disk.  A damaged one is a CorruptLayer, one sentence.
        with UncompressedStream(tarball, layer_limits(store.root).max_bytes, shown_as) as source:
            layer = store.put_blob_stream(source, MEDIA_LAYER_TAR)
    except OSError as err:  # a read or a write that failed: the disk, not the data
        raise BadArchive(f"cannot import {shown_as}: {err}") from None
    now = now_iso()
    config = {"created": now, "architecture": oci_arch(), "os": "linux", "config": {},
              "rootfs": {"type": "layers", "diff_ids": [layer["digest"]]},
              "history": [{"created": now, "created_by": f"sandbox import {shown_as}"}]}
    return store.write_image(config, [layer], ref)


def _check_is_tar(path: Path, shown_as: str = "") -> None:
    with _open_tar(path, shown_as) as tar:
        try:
            tar.next()
        except (tarfile.TarError, EOFError, OSError) as err:
            raise BadArchive(f"{shown_as or path} is not a tar archive: {err}") from None


def export(container, output_fd: int) -> None:
    """``docker export``: the container's whole filesystem, as it sees it, as one tar.

    The merged view exists only inside the container's mount namespace, so a
    throw-away child mounts the same overlay again, read-only (the upper
    directory joins the lower ones), in a private mount namespace of its own,
    and writes the tar from there.
    """
    from ..kernel import syscalls as sc
    from ..isolation.namespaces import in_child

    spec = container.spec
    lowers = [str(container.dir / "upper")] + container.lower_dirs
    view = container.dir / "export-view"
    view.mkdir(exist_ok=True)

    def write_tar():
        sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
        options = f"lowerdir={':'.join(lowers)}" + (",userxattr" if spec.rootless else "")
        sc.mount("overlay", str(view), "overlay", sc.MS_RDONLY, options)
        with os.fdopen(os.dup(output_fd), "wb") as out:
            with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
                for entry in sorted(os.listdir(view)):
                    tar.add(str(view / entry), arcname=entry)

    try:
        in_child(write_tar, sc.CLONE_NEWNS)
    finally:
        view.rmdir()
