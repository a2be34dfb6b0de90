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
import sys
from pathlib import Path

from .. import reference as refs
from ..store import DigestMismatch, Image, Store, sha256_digest
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
    for base in config.endpoints(root, ref.registry):
        transport = Transport(base, ref.repository,
                              config.credentials_for(root, ref.registry, base),  # a mirror's own
                              insecure=config.insecure_registries(root))
        try:
            return _pull_from(transport, store, ref, platform or this_platform(), progress, log)
        except RegistryError as err:  # a mirror that fails or lacks the image: try the next
            errors.append(err)
    raise errors[-1]


def _pull_from(transport: Transport, store: Store, ref, platform: str, progress: bool,
               log) -> Image:
    try:
        manifest_bytes, media_type = _manifest(transport, ref.reference)
    except NotFoundInRegistry as err:  # Docker's words: "manifest for X not found: …"
        raise NotFoundInRegistry(f"manifest for {ref.familiar()} not found: {err}", 404,
                                 err.code) from None
    top_digest = sha256_digest(manifest_bytes)  # what the tag points at: Docker prints this one
    manifest = _json(manifest_bytes, transport, "manifest")
    if media_type in INDEX_TYPES or "manifests" in manifest:
        chosen = choose_platform(manifest, platform, ref)
        manifest_bytes, media_type = _manifest(transport, chosen["digest"])
        manifest = _json(manifest_bytes, transport, "manifest")
    if "layers" not in manifest or "config" not in manifest:
        raise RegistryError(f"{ref.familiar()}: unsupported manifest type {media_type!r} "
                            "(schema 1 manifests are no longer served by Docker Hub)")
    log(f"{ref.tag or ref.digest}: Pulling from {ref.repository}")
    downloaded = _fetch_blob(transport, store, manifest["config"], False)
    todo = [layer for layer in manifest["layers"] if not store.has_blob(layer["digest"])]
    for layer in manifest["layers"]:
        if layer not in todo:
            log(f"{layer['digest'][7:19]}: Already exists")
    for layer in todo:
        if layer.get("mediaType") in ZSTD_TYPES:
            _need_zstandard()

    def fetch_layer(layer: dict) -> None:
        _fetch_blob(transport, store, layer, progress)
        log(f"{layer['digest'][7:19]}: Pull complete")
    if todo:
        from concurrent.futures import ThreadPoolExecutor  # only when there is work for it
        with ThreadPoolExecutor(max_workers=3) as pool:
            list(pool.map(fetch_layer, todo))
    # The tag is written last, once every blob it needs is in the store.
    descriptor = store.put_blob(manifest_bytes, media_type or manifest.get("mediaType", ""))
    digest = descriptor["digest"]
    name = ref.familiar().split("@")[0] if ref.tag else None
    known = any(d == digest and (name is None or r == name) for r, d in store.refs())
    if name and not known:
        store.tag(name, descriptor)
    elif not name:
        store.add_untagged(descriptor)
    log(f"Digest: {top_digest}")
    # Docker (distribution/pull_v2.go, writeStatus): "up to date" when nothing was
    # downloaded and the name already pointed at this manifest.
    if known and not downloaded and not todo:
        log(f"Status: Image is up to date for {ref.familiar()}")
    else:
        log(f"Status: Downloaded newer image for {ref.familiar()}")
    return Image(name, digest, manifest, json.loads(store.read_blob(manifest["config"]["digest"])))


def digest_ref(store: Store, manifest_digest: str) -> str:
    """A name ``store.get`` finds this manifest by: its image id."""
    manifest = store.read_json(manifest_digest)
    return manifest["config"]["digest"]


def _manifest(transport: Transport, reference: str) -> tuple[bytes, str]:
    """GET a manifest and check its digest: the one asked for, or the one the registry
    announced in ``Docker-Content-Digest`` (distribution spec, "Pulling manifests")."""
    def fetch():
        with transport.request("GET", f"manifests/{reference}", {"Accept": ACCEPT}) as response:
            return (response.read(), response.headers.get("Content-Type", "").split(";")[0],
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


def _fetch_blob(transport: Transport, store: Store, descriptor: dict, progress: bool) -> bool:
    """Download one blob into the store, verifying size and digest; retried if the line drops.

    True if it was downloaded, False if the store had it already.
    """
    digest = descriptor["digest"]
    if store.has_blob(digest):
        return False

    def download():
        try:
            response = transport.request("GET", f"blobs/{digest}")
        except NotFoundInRegistry as err:  # the manifest names a blob the registry lost
            raise NotFoundInRegistry(f"the manifest of {transport.what} names the blob "
                                     f"{digest}, which the registry does not have: {err}", 404,
                                     err.code) from None
        with response:
            source = _Progress(response, descriptor.get("size", 0), digest, progress)
            try:
                store.put_blob_stream(source, descriptor.get("mediaType", ""), expected=digest)
            except DigestMismatch as err:  # not retried: the registry has bad bytes, not the line
                raise RegistryError(f"the blob {digest} of {transport.what} is corrupt: "
                                    f"{err}") from None
            finally:
                source.close()
    retrying(download, f"downloading {digest[:19]} of {transport.what}")
    return True


class _Progress:
    """Wraps a response: counts the bytes, notices a connection that closed too early, and
    shows a progress bar (tqdm.auto: a bar in a terminal, a widget in a notebook)."""

    def __init__(self, response, total: int, digest: str, show: bool):
        self.response, self.bar, self.total, self.count = response, None, total, 0
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
        import zstandard  # noqa: F401  (only to learn whether it is installed)
    except ImportError:
        raise RegistryError("this image has zstd-compressed layers: install the zstandard "
                            "package (pip install zstandard)") from None
