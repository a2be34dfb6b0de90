"""``docker pull``: fetch an image's manifest, config and layers, checking every digest.

    1. GET /v2/<name>/manifests/<tag>       an index (several platforms) or a manifest
    2. (index) pick linux/<this machine's architecture>, or --platform, and GET that manifest
    3. GET /v2/<name>/blobs/<config digest>
    4. GET /v2/<name>/blobs/<layer digest>  for each layer not in the store yet, in parallel

Every blob streams into the store through a scratch file and is renamed into
``blobs/`` only when its sha256 matches the digest that named it; the tag is
written last.  An interrupted pull therefore leaves no partial blob and no tag.
"""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .. import reference as refs
from ..store import Image, Store, sha256_digest
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
    from ..busybox import _oci_arch
    return f"linux/{_oci_arch()}"


def pull(root: Path, store: Store, name: str, platform: str | None = None,
         progress: bool = True, log=print) -> Image:
    """Pull ``name`` into the store and return it; mirrors are tried first for Docker Hub."""
    ref = refs.parse(name)
    errors = []
    for base in config.endpoints(root, ref.registry):
        transport = Transport(base, ref.repository, config.credentials(root, ref.registry))
        try:
            return _pull_from(transport, store, ref, platform or this_platform(), progress, log)
        except NotFoundInRegistry as err:
            errors.append(err)
            if base == config.endpoints(root, ref.registry)[-1]:
                raise NotFoundInRegistry(f"manifest for {ref.familiar()} not found: {err}",
                                         404) from None
        except RegistryError as err:
            errors.append(err)
    raise errors[-1]


def _pull_from(transport: Transport, store: Store, ref, platform: str, progress: bool,
               log) -> Image:
    manifest_bytes, media_type = _manifest(transport, ref.reference)
    if ref.digest and sha256_digest(manifest_bytes) != ref.digest:
        raise RegistryError(f"the registry sent a manifest whose digest is "
                            f"{sha256_digest(manifest_bytes)}, not the {ref.digest} asked for")
    if media_type in INDEX_TYPES or json.loads(manifest_bytes).get("manifests"):
        chosen = choose_platform(json.loads(manifest_bytes), platform, ref)
        manifest_bytes, media_type = _manifest(transport, chosen["digest"])
        if sha256_digest(manifest_bytes) != chosen["digest"]:
            raise RegistryError(f"manifest {chosen['digest']} of {ref.familiar()} is corrupt: "
                                f"its content hashes to {sha256_digest(manifest_bytes)}")
    manifest = json.loads(manifest_bytes)
    if "layers" not in manifest or "config" not in manifest:
        raise RegistryError(f"{ref.familiar()}: unsupported manifest type {media_type!r} "
                            "(schema 1 manifests are no longer served by Docker Hub)")
    log(f"{ref.tag or ref.digest}: Pulling from {ref.repository.removeprefix('library/')}")
    _fetch_blob(transport, store, manifest["config"], False)
    todo = [layer for layer in manifest["layers"] if not store.has_blob(layer["digest"])]
    for layer in manifest["layers"]:
        if layer not in todo:
            log(f"{layer['digest'][7:19]}: Already exists")
    for layer in todo:
        if layer.get("mediaType") in ZSTD_TYPES:
            _need_zstandard()
    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(lambda layer: _fetch_blob(transport, store, layer, progress), todo))
    descriptor = store.put_blob(manifest_bytes, media_type or manifest.get("mediaType", ""))
    digest = descriptor["digest"]
    if ref.tag:
        store.tag(ref.familiar().split("@")[0], descriptor)
    else:
        store.add_untagged(descriptor)
    log(f"Digest: {digest}")
    log(f"Status: Downloaded newer image for {ref.familiar()}")
    return store.get(digest_ref(store, digest))


def digest_ref(store: Store, manifest_digest: str) -> str:
    """A name ``store.get`` finds this manifest by: its image id."""
    manifest = store.read_json(manifest_digest)
    return manifest["config"]["digest"]


def _manifest(transport: Transport, reference: str) -> tuple[bytes, str]:
    def fetch():
        with transport.request("GET", f"manifests/{reference}", {"Accept": ACCEPT}) as response:
            return response.read(), response.headers.get("Content-Type", "").split(";")[0]
    return retrying(fetch, f"fetching the manifest {reference}")


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


def _fetch_blob(transport: Transport, store: Store, descriptor: dict, progress: bool) -> None:
    """Download one blob into the store, verifying size and digest; retried if the line drops."""
    digest = descriptor["digest"]
    if store.has_blob(digest):
        return

    def download():
        with transport.request("GET", f"blobs/{digest}") as response:
            source = _Progress(response, descriptor.get("size", 0), digest, progress)
            try:
                store.put_blob_stream(source, descriptor.get("mediaType", ""), expected=digest)
            finally:
                source.close()
    retrying(download, f"downloading {digest[:19]}")


class _Progress:
    """Wraps a response: counts the bytes, notices a connection that closed too early, and
    shows a progress bar (tqdm.auto: a bar in a terminal, a widget in a notebook)."""

    def __init__(self, response, total: int, digest: str, show: bool):
        self.response, self.bar, self.total, self.count = response, None, total, 0
        if show:
            try:
                from tqdm.auto import tqdm
                self.bar = tqdm(total=total, unit="B", unit_scale=True, desc=digest[7:19],
                                leave=True)
            except ImportError:
                pass

    def read(self, size: int = -1) -> bytes:
        data = self.response.read(size)
        self.count += len(data)
        if self.bar is not None:
            self.bar.update(len(data))
        if not data and self.total and self.count < self.total:
            raise EOFError(f"the connection closed after {self.count} of {self.total} bytes")
        return data

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _need_zstandard() -> None:
    try:
        import zstandard  # noqa: F401
    except ImportError:
        raise RegistryError("this image has zstd-compressed layers: install the zstandard "
                            "package (pip install zstandard)") from None
