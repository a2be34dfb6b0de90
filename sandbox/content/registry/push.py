"""``docker push``: upload an image's blobs, then its manifest.

For each blob (layers, then the config):

    HEAD  /v2/<name>/blobs/<digest>             200: the registry has it already, skip
    POST  /v2/<name>/blobs/uploads/             202, Location: where to upload
    PUT   <location>?digest=<digest>            the whole blob at once (monolithic), or
    PATCH <location>  (Content-Range: a-b) …    chunk by chunk, then PUT ?digest= to finish

then ``PUT /v2/<name>/manifests/<tag>``.  The registry checks every digest
itself and refuses the manifest if a blob it names is missing.

The upload ``Location`` may be on another host (blob storage behind the registry):
the upload goes there without the registry's credentials, which are the
registry's alone (transport.py, "Where credentials go").
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path

from .. import reference as refs
from ..store import Store
from . import config
from .transport import NotFoundInRegistry, Transport

CHUNK = 5 * 1024 * 1024  # blobs larger than this go up in chunks


def push(root: Path, store: Store, name: str, log=print, chunk_size: int = CHUNK) -> str:
    """Push a local image to the registry its name points at; return the manifest digest."""
    ref = refs.parse(name)
    image = store.get(name)
    base = config.registry_url(root, ref.registry)  # never a mirror: mirrors are read-only
    transport = Transport(base, ref.repository, config.credentials(root, ref.registry),
                          push=True, insecure=config.insecure_registries(root))
    log(f"The push refers to repository [{ref.registry}/{ref.repository}]")
    for descriptor in image.layers + [image.manifest["config"]]:
        short = descriptor["digest"][7:19]
        if _exists(transport, descriptor["digest"]):
            log(f"{short}: Layer already exists")
            continue
        _upload(transport, store.blob_path(descriptor["digest"]), descriptor, chunk_size)
        log(f"{short}: Pushed")
    manifest_bytes = store.read_blob(image.manifest_digest)
    media_type = image.manifest.get("mediaType", "application/vnd.oci.image.manifest.v1+json")
    with transport.request("PUT", f"manifests/{ref.tag or image.manifest_digest}",
                           {"Content-Type": media_type}, manifest_bytes, ok=(201,)) as response:
        digest = response.headers.get("Docker-Content-Digest", image.manifest_digest)
    log(f"{ref.tag or 'latest'}: digest: {digest} size: {len(manifest_bytes)}")
    return digest


def _exists(transport: Transport, digest: str) -> bool:
    try:
        with transport.request("HEAD", f"blobs/{digest}"):
            return True
    except NotFoundInRegistry:
        return False


def _upload(transport: Transport, path: Path, descriptor: dict, chunk_size: int) -> None:
    with transport.request("POST", "blobs/uploads/", {"Content-Length": "0"}, b"",
                           ok=(202,)) as response:
        location = _absolute(transport, response.headers["Location"])
    size = descriptor["size"]
    with open(path, "rb") as blob:
        if size <= chunk_size:  # monolithic: one PUT with the whole blob
            _finish(transport, location, descriptor["digest"], blob.read())
            return
        offset = 0
        while offset < size:  # chunked: PATCH each piece, each answered with the next Location
            piece = blob.read(chunk_size)
            headers = {"Content-Type": "application/octet-stream",
                       "Content-Range": f"{offset}-{offset + len(piece) - 1}",
                       "Content-Length": str(len(piece))}
            with transport.request("PATCH", "", headers, piece, ok=(202,),
                                   url=location) as response:
                location = _absolute(transport, response.headers["Location"])
            offset += len(piece)
    _finish(transport, location, descriptor["digest"], b"")


def _finish(transport: Transport, location: str, digest: str, data: bytes) -> None:
    separator = "&" if "?" in location else "?"
    url = f"{location}{separator}digest={urllib.parse.quote(digest)}"
    with transport.request("PUT", "", {"Content-Type": "application/octet-stream",
                                       "Content-Length": str(len(data))}, data, ok=(201,),
                           url=url):
        pass


def _absolute(transport: Transport, location: str) -> str:
    """The registry may answer with a path; make it a URL on the same registry."""
    if location.startswith("http://") or location.startswith("https://"):
        return location
    return transport.base + location



