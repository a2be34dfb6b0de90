"""The image store: an OCI image layout on disk.

An image is three kinds of content-addressed blobs (OCI image spec,
image-layout.md and manifest.md):

    index.json ──▶ manifest ──▶ config      (environment, command, history, diff ids)
                            └─▶ layers[]    (tar archives, applied bottom to top)

Every blob lives at ``blobs/sha256/<hex>``, where ``<hex>`` is the sha256 of
its bytes, so the same layer is stored once however many images use it.
``index.json`` lists the tagged manifests; the tag is the annotation
``org.opencontainers.image.ref.name``.  Blobs are verified against their
digest when written and when read.

A digest becomes a file name here, so :meth:`Store.blob_path` takes nothing
that is not ``sha256:`` and 64 lowercase hex digits, and every manifest and
config the store reads has its digests checked (:mod:`sandbox.content.digests`)
before anyone makes a path of them.
"""

from __future__ import annotations

import fcntl
import json
import os
from pathlib import Path

from . import digests
from ..errors import ImageNotFound, SandboxError
from ..paths import ensure, prepare_root, write_atomic

MEDIA_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MEDIA_CONFIG = "application/vnd.oci.image.config.v1+json"
MEDIA_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
MEDIA_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
REF_NAME = "org.opencontainers.image.ref.name"
# The most a manifest, an index or a config may weigh.  containerd refuses larger
# manifests from a registry (core/remotes/docker/resolver.go, MaxManifestSize,
# "4 * 1048 * 1048", about 4 MiB): a real one is a few kilobytes, and JSON this
# large is read into memory whole.
MAX_MANIFEST_BYTES = 4 << 20


def oci_arch() -> str:
    """This machine's architecture as OCI spells it (Go's GOARCH): amd64, arm64, arm."""
    machine = os.uname().machine
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm"}.get(machine, machine)


class DigestMismatch(SandboxError):
    """A blob's bytes do not hash to the digest that names it."""


try:  # CPython's own small sha256, which starts faster than hashlib's OpenSSL
    from _sha256 import sha256 as _sha256
except ImportError:  # Python 3.12 renamed it; any Python has hashlib
    from hashlib import sha256 as _sha256


def sha256_digest(data: bytes) -> str:
    """The OCI digest of some bytes: ``sha256:<64 hex digits>``."""
    return "sha256:" + _sha256(data).hexdigest()


def normalize_ref(ref: str) -> str:
    """The name a tag is stored under: Docker's short form with a tag.

    ``busybox`` and ``docker.io/library/busybox:latest`` are both ``busybox:latest``
    (see :mod:`sandbox.content.reference`).
    """
    from .reference import parse
    return parse(ref).familiar()


class Image:
    """One image, read from the store: its manifest, config and layer list."""

    def __init__(self, ref: str | None, manifest_digest: str, manifest: dict, config: dict):
        self.ref = ref
        self.manifest_digest = manifest_digest
        self.manifest = manifest
        self.config = config

    def __repr__(self) -> str:
        return f"<Image {self.ref or '<none>'} {self.short_id}>"

    @property
    def id(self) -> str:
        """Docker's IMAGE ID is the digest of the config blob."""
        return self.manifest["config"]["digest"]

    @property
    def short_id(self) -> str:
        return self.id.split(":", 1)[1][:12]

    @property
    def layers(self) -> list[dict]:
        return self.manifest["layers"]

    @property
    def diff_ids(self) -> list[str]:
        return self.config["rootfs"]["diff_ids"]

    @property
    def size(self) -> int:
        return sum(layer["size"] for layer in self.layers)


class _IndexLock:
    def __init__(self, path: Path):
        self.path = path

    def __enter__(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        fcntl.flock(self.fd, fcntl.LOCK_EX)  # released when the descriptor is closed

    def __exit__(self, *exc):
        os.close(self.fd)


class Store:
    """An OCI image layout at ``root/oci``, shared safely between processes."""

    def __init__(self, state_root: Path):
        self.root = state_root
        self.dir = state_root / "oci"
        self.blobs = self.dir / "blobs" / "sha256"
        self.tmp = state_root / "tmp"

    # --- layout -------------------------------------------------------------
    def init(self) -> "Store":
        """Create the layout's skeleton if it is not there (idempotent)."""
        ensure(self.blobs)
        ensure(self.tmp)
        if not (self.dir / "oci-layout").exists():
            write_atomic(self.dir / "oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}))
        if not (self.dir / "index.json").exists():
            self._write_index({"schemaVersion": 2, "manifests": []})
        return self

    def _locked(self) -> "_IndexLock":
        """Hold an exclusive flock(2) on the index while changing it (``with store._locked():``)."""
        return _IndexLock(self.dir / "index.lock")

    def _read_index(self) -> dict:
        try:
            return json.loads((self.dir / "index.json").read_text())
        except FileNotFoundError:
            return {"schemaVersion": 2, "manifests": []}

    def _write_index(self, index: dict) -> None:
        write_atomic(self.dir / "index.json", json.dumps(index, indent=2))

    # --- blobs --------------------------------------------------------------
    def blob_path(self, digest: str) -> Path:
        """``blobs/sha256/<hex>``; a name that is not a sha256 digest is refused, not joined."""
        return self.blobs / digests.hex_part(digest)

    def has_blob(self, digest: str) -> bool:
        return self.blob_path(digest).exists()

    def put_blob(self, data: bytes, media_type: str, expected: str | None = None,
                 added: list[str] | None = None) -> dict:
        """Store bytes as a blob and return its OCI descriptor.

        With ``expected``, the bytes must hash to that digest, or nothing is stored.
        The digest is appended to ``added`` if the store did not have the blob before.
        """
        digest = sha256_digest(data)
        if expected and digest != expected:
            raise DigestMismatch(f"content does not match its digest: expected {expected}, "
                                 f"got {digest}")
        path = self.blob_path(digest)
        if not path.exists():
            write_atomic(path, data)
            if added is not None:
                added.append(digest)
        return {"mediaType": media_type, "digest": digest, "size": len(data)}

    def put_blob_stream(self, source, media_type: str, expected: str | None = None,
                        verify=None, added: list[str] | None = None) -> dict:
        """Store a blob read from a binary file object, hashing as it streams.

        The bytes go to a scratch file first and are renamed into ``blobs/``
        only when their digest is known (and matches ``expected``): a crash or
        a mismatch never leaves a wrong or half-written blob visible.
        ``verify(scratch_path)``, if given, checks more (a layer's diff_id)
        before the rename, and raises to keep the blob out.  The digest is
        appended to ``added`` if the store did not have the blob before.
        """
        import hashlib  # OpenSSL's sha256: much faster on large blobs, and it releases the GIL
        hasher = hashlib.sha256()
        size = 0
        scratch = self.tmp / f"blob-{os.getpid()}-{os.urandom(4).hex()}"
        try:
            with open(scratch, "wb") as out:
                while chunk := source.read(1 << 20):
                    hasher.update(chunk)
                    out.write(chunk)
                    size += len(chunk)
            digest = "sha256:" + hasher.hexdigest()
            if expected and digest != expected:
                raise DigestMismatch(f"content does not match its digest: expected {expected}, "
                                     f"got {digest}")
            if verify is not None:
                verify(scratch)
            path = self.blob_path(digest)
            if added is not None and not path.exists():
                added.append(digest)
            os.replace(scratch, path)
        finally:
            if scratch.exists():
                scratch.unlink()
        return {"mediaType": media_type, "digest": digest, "size": size}

    def read_blob(self, digest: str) -> bytes:
        """Read a blob and check that it still hashes to its name."""
        try:
            data = self.blob_path(digest).read_bytes()
        except FileNotFoundError:
            raise SandboxError(f"blob {digest} is missing from the store at {self.dir}") from None
        actual = sha256_digest(data)
        if actual != digest:
            raise DigestMismatch(f"blob {digest} is corrupt: its content hashes to {actual}")
        return data

    def read_json(self, digest: str) -> dict:
        return json.loads(self.read_blob(digest))

    # --- images -------------------------------------------------------------
    def tag(self, ref: str, manifest_descriptor: dict) -> None:
        """Point ``ref`` at a manifest, replacing what it pointed at before.

        The image the name leaves stays listed, without a name (Docker's
        "dangling" ``<none>:<none>``): containers made from it still need it.
        """
        ref = normalize_ref(ref)
        entry = dict(manifest_descriptor, annotations={REF_NAME: ref})
        with self._locked():
            index = self._read_index()
            old = [m for m in index["manifests"]
                   if m.get("annotations", {}).get(REF_NAME) == ref]
            index["manifests"] = [m for m in index["manifests"]
                                  if m.get("annotations", {}).get(REF_NAME) != ref
                                  and not (m["digest"] == entry["digest"] and not m.get(
                                      "annotations", {}).get(REF_NAME))]
            index["manifests"].append(entry)
            listed = {m["digest"] for m in index["manifests"]}
            for m in old:
                if m["digest"] not in listed:
                    index["manifests"].append({k: v for k, v in m.items() if k != "annotations"})
                    listed.add(m["digest"])
            self._write_index(index)

    def add_untagged(self, manifest_descriptor: dict) -> None:
        """List a manifest without a name (Docker's ``<none>:<none>``), unless it is listed."""
        with self._locked():
            index = self._read_index()
            if not any(m["digest"] == manifest_descriptor["digest"] for m in index["manifests"]):
                index["manifests"].append(dict(manifest_descriptor))
                self._write_index(index)

    def remove_manifest(self, digest: str) -> None:
        """Drop every index entry, tagged or not, for this manifest."""
        with self._locked():
            index = self._read_index()
            index["manifests"] = [m for m in index["manifests"] if m["digest"] != digest]
            self._write_index(index)

    def untag(self, ref: str) -> bool:
        """Remove one tag; the blobs stay until :meth:`collect_garbage`.  True if it existed."""
        ref = normalize_ref(ref)
        with self._locked():
            index = self._read_index()
            kept = [m for m in index["manifests"]
                    if m.get("annotations", {}).get(REF_NAME) != ref]
            found = len(kept) != len(index["manifests"])
            index["manifests"] = kept
            self._write_index(index)
        return found

    # --- leases ---------------------------------------------------------------
    # containerd's word: a lease holds blobs that no image names (yet, or any more), so
    # that garbage collection leaves them.  The build cache holds its layers this way.
    @property
    def leases(self) -> Path:
        return self.dir / "leases"

    def write_lease(self, name: str, record: dict) -> None:
        """Hold the blobs ``record["digests"]`` lists, under ``leases/<name>.json``.

        Written under the index lock, and only if every blob is still there: a
        garbage collection running at the same moment either sees the lease or has
        already taken a blob, and then the lease is not written (``FileNotFoundError``).
        """
        if not name.isalnum():
            raise ValueError(f"a lease's name is letters and digits, not {name!r}")
        with self._locked():
            for digest in record["digests"]:
                if not self.has_blob(digest):
                    raise FileNotFoundError(digest)
            ensure(self.leases)
            write_atomic(self.leases / f"{name}.json", json.dumps(record))

    def read_lease(self, name: str) -> dict | None:
        try:
            return json.loads((self.leases / f"{name}.json").read_text())
        except (FileNotFoundError, ValueError):
            return None

    def drop_leases(self) -> int:
        """Remove every lease (``builder prune``); the blobs go at the next garbage collection."""
        with self._locked():
            names = os.listdir(self.leases) if self.leases.is_dir() else []
            for name in names:
                (self.leases / name).unlink(missing_ok=True)
        return len(names)

    def leased(self) -> set[str]:
        """Every blob a lease holds."""
        held = set()
        for name in os.listdir(self.leases) if self.leases.is_dir() else []:
            try:
                held.update(str(d) for d in json.loads((self.leases / name).read_text())["digests"])
            except (OSError, ValueError, KeyError, TypeError):
                continue  # a lease being written or broken holds nothing
        return held

    def referenced(self) -> set[str]:
        """Every blob an image in the index needs (its manifest, config and layers), and
        every blob a lease holds.

        Only compared with the names of the blobs on disk, never made into a path,
        so a broken image's manifest cannot stop a clean-up: it just keeps its blobs.
        """
        live = self.leased()
        for _, digest in self.refs():
            live.add(digest)
            manifest = self.read_json(digest)
            descriptors = [manifest.get("config")] + list(manifest.get("layers") or [])
            live.update(str(d.get("digest")) for d in descriptors if isinstance(d, dict))
        return live

    def collect_garbage(self, keep_diff_ids: set[str] = frozenset()) -> list[str]:
        """Delete every blob no image in the index refers to (under the index lock, see
        :meth:`remove_unreferenced`); return their digests."""
        on_disk = ["sha256:" + name for name in os.listdir(self.blobs)]
        return self.remove_unreferenced([d for d in on_disk if d not in keep_diff_ids])

    def remove_unreferenced(self, candidates: list[str]) -> list[str]:
        """Delete those of ``candidates`` (blob digests) that no image in the index needs;
        return their digests.

        Runs under the index lock, so a concurrent tag cannot lose its blobs.  The
        candidates are names the store itself made (file names in ``blobs/``, digests
        it computed), never digests read from an image, so they are joined as they are.
        """
        with self._locked():
            live = self.referenced()
            removed = [digest for digest in candidates if digest not in live]
            for digest in removed:
                (self.blobs / digest.removeprefix("sha256:")).unlink(missing_ok=True)
        return removed

    def write_image(self, config: dict, layers: list[dict], ref: str | None) -> Image:
        """Store a config and a manifest over layers already in the store; name it ``ref``.

        Without a name the image is listed untagged (Docker's ``<none>:<none>``).
        The name is written last: until then, the new blobs are invisible.
        """
        config_desc = self.put_blob(json.dumps(config, sort_keys=True).encode(), MEDIA_CONFIG)
        manifest = {"schemaVersion": 2, "mediaType": MEDIA_MANIFEST, "config": config_desc,
                    "layers": layers}
        descriptor = self.put_blob(json.dumps(manifest, sort_keys=True).encode(), MEDIA_MANIFEST)
        if ref:
            self.tag(ref, descriptor)
        else:
            self.add_untagged(descriptor)
        return Image(normalize_ref(ref) if ref else None, descriptor["digest"], manifest, config)

    def refs(self) -> list[tuple[str, str]]:
        """Every (ref, manifest digest) pair in the index, each digest checked."""
        pairs = []
        for i, entry in enumerate(self._read_index()["manifests"]):
            ref = entry.get("annotations", {}).get(REF_NAME)
            pairs.append((ref, digests.check(entry.get("digest"), ref or "<none>",
                                             f"manifests[{i}].digest", "index.json")))
        return pairs

    def get(self, name: str) -> Image:
        """Find an image by reference (``busybox``, ``busybox:latest``) or id prefix."""
        wanted = normalize_ref(name)
        for ref, digest in self.refs():
            if ref == wanted:
                return self._load(ref, digest)
        hexpart = name.removeprefix("sha256:")
        if len(hexpart) >= 4 and all(c in "0123456789abcdef" for c in hexpart):
            for ref, digest in self.refs():
                image = self._load(ref, digest)
                if image.id.removeprefix("sha256:").startswith(hexpart):
                    return image
        raise ImageNotFound(f"Unable to find image '{wanted}' locally")

    def images(self) -> list[Image]:
        return [self._load(ref, digest) for ref, digest in self.refs()]

    def _load(self, ref: str | None, manifest_digest: str) -> Image:
        """An image from the store, every digest in it checked before it names a file.

        Images stored by an older sandbox were not checked on the way in: one that
        fails now is refused with a way out (``rmi`` removes a name without loading).
        """
        try:
            manifest = self.read_json(manifest_digest)
            digests.check_manifest(manifest, ref or manifest_digest)
            config = self.read_json(manifest["config"]["digest"])
            digests.check_config(config, ref or manifest["config"]["digest"],
                                 len(manifest["layers"]))
        except digests.BadDigest as err:
            if not ref:
                raise
            raise digests.BadDigest(f"{err} ('sandbox rmi {ref}' removes it)") from None
        return Image(ref, manifest_digest, manifest, config)


class NewBlobs:
    """The blobs one pull or load adds, taken away again if it fails.

        with NewBlobs(store) as new:
            new.put_stream(...)        every blob the store did not have is noted
            ...                        any exception, Ctrl-C too: the noted blobs go

    Blobs that were in the store before stay, and so does a new blob that an
    image tagged meanwhile needs: only what this operation brought and nobody
    uses is deleted (:meth:`Store.remove_unreferenced`).  On success, all stay.
    """

    def __init__(self, store: Store):
        self.store, self.added = store, []

    def put_stream(self, source, media_type: str, expected: str | None, verify=None) -> dict:
        return self.store.put_blob_stream(source, media_type, expected, verify, self.added)

    def put(self, data: bytes, media_type: str, expected: str | None = None) -> dict:
        return self.store.put_blob(data, media_type, expected, self.added)

    def __enter__(self) -> "NewBlobs":
        return self

    def __exit__(self, kind, error, traceback) -> None:
        if kind is not None:  # BaseException too: a Ctrl-C half-way leaves no stray blob
            self.store.remove_unreferenced(self.added)


def store_for(root: Path) -> Store:
    """The image store under ``root``, made (private to this user) if it is not there yet."""
    prepare_root(root)  # first: a state root of another user is refused before anything is written
    return Store(root).init()
