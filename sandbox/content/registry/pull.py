"""``docker pull``: fetch an image's manifest, config and layers, checking every digest.

    1. GET /v2/<name>/manifests/<tag>       an index (several platforms) or a manifest
    2. (index) pick linux/<this machine's architecture>, or --platform, and GET that manifest
    3. GET /v2/<name>/blobs/<config digest>
    4. GET /v2/<name>/blobs/<layer digest>  for each layer not in the store yet, in parallel

Everything the registry sends is data, never a path, and is checked before use:

- every digest in the index, the manifest and the config must be ``sha256:``
  and 64 lowercase hex digits before it goes into a URL or a file name
  (:mod:`sandbox.content.digests`);
- a manifest, an index or a config may not exceed 4 MiB (containerd's limit),
  and no more than 4 MiB + 1 byte of one is ever read;
- a blob may not be longer or shorter than the ``size`` its descriptor declares;
- a layer must uncompress (gzip, zstd or plain) to the ``diff_id`` its config
  gives it (config.md, ``rootfs.diff_ids``), within ``max-layer-bytes``: the
  unpacked layer is shared by every image with that diff_id, so a layer that
  lies would change what those images run.

Every blob streams into the store through a scratch file and is renamed into
``blobs/`` only when its sha256 matches the digest that named it (and, for a
layer, its diff_id); the tag is written last.  If anything is wrong, the blobs
this pull added are deleted again: a failed pull leaves no partial blob, no
blob another image could pick up, and no tag.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from .. import digests
from .. import reference as refs
from ..settings import LayerLimits, layer_limits
from ..store import MAX_MANIFEST_BYTES, DigestMismatch, Image, NewBlobs, Store, sha256_digest
from . import config
from .transport import NotFoundInRegistry, RegistryError, Transport, retrying

ACCEPT = ", ".join([
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
    "application/vnd.docker.distribution.manifest.v2+json",
])
INDEX_TYPES = ("application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json")
ZSTD_TYPES = ("application/vnd.oci.image.layer.v1.tar+zstd",)


def this_platform() -> str:
    from ..store import oci_arch
    return f"linux/{oci_arch()}"


def pull(root: Path, store: Store, name: str, platform: str | None = None,
         progress: bool = True, log=print) -> Image:
    """Pull ``name`` into the store and return it; mirrors are tried first for Docker Hub."""
    ref = refs.parse(name)
    if ref.tag == refs.DEFAULT_TAG and ":" not in name.partition("@")[0].rsplit("/", 1)[-1]:
        log(f"Using default tag: {refs.DEFAULT_TAG}")
    errors = []
    limits, insecure = layer_limits(root), config.insecure_registries(root)
    for base in config.endpoints(root, ref.registry):
        transport = Transport(base, ref.repository,
                              config.credentials_for(root, ref.registry, base),  # a mirror's own
                              insecure=insecure)
        try:
            return _pull_from(transport, store, ref, platform or this_platform(), progress, log,
                              limits)
        except RegistryError as err:  # a mirror that fails or lacks the image: try the next
            errors.append(err)
    raise errors[-1]


def _pull_from(transport: Transport, store: Store, ref, platform: str, progress: bool,
               log, limits: LayerLimits) -> Image:
    image = ref.familiar()
    try:
        manifest_bytes, media_type = _manifest(transport, ref.reference, image)
    except NotFoundInRegistry as err:  # Docker's words: "manifest for X not found: …"
        raise NotFoundInRegistry(f"manifest for {image} not found: {err}", 404,
                                 err.code) from None
    top_digest = sha256_digest(manifest_bytes)  # what the tag points at: Docker prints this one
    manifest = _json(manifest_bytes, transport, "manifest")
    if media_type in INDEX_TYPES or "manifests" in manifest:
        digests.check_index(manifest, image)  # before one of its digests goes into a URL
        chosen = choose_platform(manifest, platform, ref)
        manifest_bytes, media_type = _manifest(transport, chosen["digest"], image)
        manifest = _json(manifest_bytes, transport, "manifest")
    if "layers" not in manifest or "config" not in manifest:
        raise RegistryError(f"{image}: unsupported manifest type {media_type!r} "
                            "(schema 1 manifests are no longer served by Docker Hub)")
    digests.check_manifest(manifest, image)
    _check_sizes(manifest, image)
    log(f"{ref.tag or ref.digest}: Pulling from {ref.repository}")
    with NewBlobs(store) as new:  # a lie, a limit, a broken line, Ctrl-C: take back what came
        return _fetch_and_tag(transport, store, new, ref, manifest, manifest_bytes, media_type,
                              top_digest, progress, log, limits)


def _fetch_and_tag(transport: Transport, store: Store, new: NewBlobs, ref, manifest: dict,
                   manifest_bytes: bytes, media_type: str, top_digest: str, progress: bool,
                   log, limits: LayerLimits) -> Image:
    """The config, then the layers (each checked against its diff_id), then the name."""
    from ..layers import check_diff_id
    image = ref.familiar()
    downloaded = _fetch_blob(transport, new, manifest["config"], False, image, "config")
    image_config = _json(store.read_blob(manifest["config"]["digest"]), transport, "config")
    digests.check_config(image_config, image, len(manifest["layers"]))
    todo, present = [], []  # (index, descriptor, diff_id) of the layers to fetch, and the rest
    for i, (layer, diff_id) in enumerate(zip(manifest["layers"],
                                             image_config["rootfs"]["diff_ids"])):
        (present if store.has_blob(layer["digest"]) else todo).append((i, layer, diff_id))
    _check_layers_already_here(present, store, image, limits, log)
    for _, layer, _ in todo:
        if layer.get("mediaType") in ZSTD_TYPES:
            _need_zstandard()

    def fetch_layer(entry: tuple[int, dict, str]) -> None:
        i, layer, diff_id = entry

        def matches_config(scratch: Path) -> None:  # before the blob is renamed into blobs/
            check_diff_id(scratch, diff_id, limits, f"image {image}: layers[{i}]",
                          f"rootfs.diff_ids[{i}]")
        _fetch_blob(transport, new, layer, progress, image, f"layers[{i}]", matches_config)
        log(f"{layer['digest'][7:19]}: Pull complete")
    if todo:
        _in_parallel(fetch_layer, todo)
    # The tag is written last, once every blob it needs is in the store.
    descriptor = new.put(manifest_bytes, media_type or manifest.get("mediaType", ""))
    digest = descriptor["digest"]
    name = image.split("@")[0] if ref.tag else None
    known = any(d == digest and (name is None or r == name) for r, d in store.refs())
    if name and not known:
        store.tag(name, descriptor)
    elif not name:
        store.add_untagged(descriptor)
    log(f"Digest: {top_digest}")
    # Docker (distribution/pull_v2.go, writeStatus): "up to date" when nothing was
    # downloaded and the name already pointed at this manifest.
    if known and not downloaded and not todo:
        log(f"Status: Image is up to date for {image}")
    else:
        log(f"Status: Downloaded newer image for {image}")
    return Image(name, digest, manifest, image_config)


def _in_parallel(action, items: list) -> None:
    """Run ``action`` on each item, three at a time; after the first failure, start no more."""
    from concurrent.futures import ThreadPoolExecutor  # only when there is work for it
    with ThreadPoolExecutor(max_workers=3) as pool:
        futures = [pool.submit(action, item) for item in items]
        try:
            for future in futures:
                future.result()
        except BaseException:
            pool.shutdown(wait=True, cancel_futures=True)
            raise


def _check_sizes(manifest: dict, image: str) -> None:
    """Every descriptor's ``size`` is a byte count (descriptor.md: REQUIRED), and a
    config's is no more than a manifest's may be."""
    described = [("config", manifest["config"])] + [
        (f"layers[{i}]", layer) for i, layer in enumerate(manifest["layers"])]
    for field, descriptor in described:
        size = descriptor.get("size")
        if isinstance(size, bool) or not isinstance(size, int) or size < 0:
            raise RegistryError(f"image {image}: manifest field {field}.size is not a byte "
                                f"count: {size!r}")
    if manifest["config"]["size"] > MAX_MANIFEST_BYTES:
        raise RegistryError(f"image {image}: manifest field config.size declares "
                            f"{manifest['config']['size']:,} bytes, more than the "
                            f"{MAX_MANIFEST_BYTES >> 20} MiB a config may be (containerd's "
                            "limit too): refused")


def _check_layers_already_here(layers: list[tuple[int, dict, str]], store: Store, image: str,
                               limits: LayerLimits, log) -> None:
    """A layer blob already in the store is not downloaded again; but if this config pairs it
    with a diff_id no stored image pairs it with, one of the two lies: check it, here."""
    if not layers:
        return
    from ..layers import check_diff_id
    known = {(layer["digest"], diff_id) for stored in store.images()
             for layer, diff_id in zip(stored.layers, stored.diff_ids)}
    for i, layer, diff_id in layers:
        if (layer["digest"], diff_id) not in known:
            check_diff_id(store.blob_path(layer["digest"]), diff_id, limits,
                          f"image {image}: layers[{i}]", f"rootfs.diff_ids[{i}]")
        log(f"{layer['digest'][7:19]}: Already exists")


def digest_ref(store: Store, manifest_digest: str) -> str:
    """A name ``store.get`` finds this manifest by: its image id."""
    manifest = store.read_json(manifest_digest)
    return manifest["config"]["digest"]


def _manifest(transport: Transport, reference: str, image: str) -> tuple[bytes, str]:
    """GET a manifest (or an index), no more than 4 MiB of it, and check its digest: the one
    asked for, or the one the registry announced in ``Docker-Content-Digest`` (distribution
    spec, "Pulling manifests")."""
    def fetch():
        with transport.request("GET", f"manifests/{reference}", {"Accept": ACCEPT}) as response:
            declared = response.headers.get("Content-Length", "")
            too_large = declared.isdigit() and int(declared) > MAX_MANIFEST_BYTES
            # One byte more than allowed tells "too large" from "exactly 4 MiB".
            data = b"" if too_large else response.read(MAX_MANIFEST_BYTES + 1)
            if too_large or len(data) > MAX_MANIFEST_BYTES:
                raise RegistryError(f"image {image}: the manifest {reference} of "
                                    f"{transport.what} is larger than "
                                    f"{MAX_MANIFEST_BYTES >> 20} MiB, the most a manifest or "
                                    "an index may be (containerd's limit too): refused")
            return (data, response.headers.get("Content-Type", "").split(";")[0],
                    response.headers.get("Docker-Content-Digest", ""))
    data, media_type, announced = retrying(fetch, f"fetching the manifest {reference} of "
                                                  f"{transport.what}")
    expected = reference if reference.startswith("sha256:") else announced
    if expected.startswith("sha256:") and sha256_digest(data) != expected:
        raise RegistryError(f"the manifest {reference} of {transport.what} is corrupt: expected "
                            f"{expected}, got {sha256_digest(data)}")
    return data, media_type


def _json(data: bytes, transport: Transport, what: str) -> dict:
    """Parse a manifest, or say plainly that something else came (a proxy's login page)."""
    try:
        value = json.loads(data)
    except ValueError:
        value = None
    if isinstance(value, dict):
        return value
    kind = "an HTML page" if b"<html" in data[:1024].lower() else "something that is not JSON"
    raise RegistryError(f"the server at {transport.base} sent {kind} where the {what} of "
                        f"{transport.repository} was expected: is this a registry, or a proxy "
                        "or captive portal in between?")


def choose_platform(index: dict, platform: str, ref) -> dict:
    """The manifest of an index for ``os/arch[/variant]`` (``linux/amd64``, ``linux/arm/v7``)."""
    wanted = platform.split("/")
    os_name, arch = wanted[0], wanted[1] if len(wanted) > 1 else ""
    variant = wanted[2] if len(wanted) > 2 else None
    offered = []
    for candidate in index.get("manifests", []):
        p = candidate.get("platform", {})
        offered.append("/".join(filter(None, [p.get("os"), p.get("architecture"),
                                             p.get("variant")])))
        if p.get("os") == os_name and p.get("architecture") == arch and (
                variant is None or p.get("variant") == variant):
            return candidate
    raise NotFoundInRegistry(f"{ref.familiar()} has no image for {platform}; it offers "
                             f"{', '.join(o for o in offered if o and 'unknown' not in o)}", 404)


def _fetch_blob(transport: Transport, new: NewBlobs, descriptor: dict, progress: bool,
                image: str, field: str, verify=None) -> bool:
    """Download one blob into the store, verifying size and digest (and, with ``verify``,
    more before it is kept); retried if the line drops.  ``field`` names the descriptor in
    messages (``layers[2]``).  True if it was downloaded, False if the store had it already.
    """
    digest = descriptor["digest"]
    if new.store.has_blob(digest):
        return False

    def download():
        try:
            response = transport.request("GET", f"blobs/{digest}")
        except NotFoundInRegistry as err:  # the manifest names a blob the registry lost
            raise NotFoundInRegistry(f"the manifest of {transport.what} names the blob "
                                     f"{digest}, which the registry does not have: {err}", 404,
                                     err.code) from None
        with response:
            source = _Progress(response, descriptor["size"], digest, progress,
                               f"image {image}: {transport.what} sent more than the "
                               f"{descriptor['size']:,} bytes its descriptor declares for "
                               f"{field} ({digest})")
            try:
                new.put_stream(source, descriptor.get("mediaType", ""), digest, verify)
            except DigestMismatch as err:  # not retried: the registry has bad bytes, not the line
                raise RegistryError(f"the blob {digest} of {transport.what} is corrupt: "
                                    f"{err}") from None
            finally:
                source.close()
    retrying(download, f"downloading {digest[:19]} of {transport.what}")
    return True


class _Progress:
    """Wraps a response: counts the bytes, stops at the size the descriptor declares, notices
    a connection that closed too early, and shows a progress bar (tqdm.auto: a bar in a
    terminal, a widget in a notebook)."""

    def __init__(self, response, total: int, digest: str, show: bool, too_long: str):
        self.response, self.bar, self.total, self.count = response, None, total, 0
        self.too_long = too_long
        if show:
            try:
                from tqdm.auto import tqdm
            except ImportError:
                return
            # A bar in a terminal or a notebook; none in a pipe or a log file, where it would
            # only be carriage returns around the error message (docker does the same).
            notebook = any(cls.__module__ == "tqdm.notebook" for cls in tqdm.__mro__)
            if notebook or sys.stderr.isatty():
                self.bar = tqdm(total=total, unit="B", unit_scale=True, desc=digest[7:19],
                                leave=True)

    def read(self, size: int = -1) -> bytes:
        # Never ask for more than one byte past the declared size: that byte, if it comes,
        # proves the registry sends more than it declared (a blob that never ends).
        room = self.total + 1 - self.count
        data = self.response.read(room if size is None or size < 0 else min(size, room))
        self.count += len(data)
        if self.count > self.total:  # not retried: the registry's answer, not the line
            raise RegistryError(self.too_long)
        if self.bar is not None:
            self.bar.update(len(data))
        if not data and self.count < self.total:
            raise EOFError(f"the connection closed after {self.count} of {self.total} bytes")
        return data

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _need_zstandard() -> None:
    try:
        import zstandard  # noqa: F401  (only to learn whether it is installed)
    except ImportError:
        raise RegistryError("this image has zstd-compressed layers: install the zstandard "
                            "package (pip install zstandard)") from None
