"""Digests: the names of content, and why a name read from a download is checked first.

An OCI image names every piece of itself by digest (OCI image spec,
descriptor.md, "Digests"): ``algorithm ":" encoded``, and for ``sha256`` the
encoded part is exactly 64 lowercase hexadecimal digits, ``[a-f0-9]{64}``.
Those names are *read from files someone else wrote*:

    image index   manifests[i].digest     which manifest to fetch for this platform
    manifest      config.digest           the image config
                  layers[i].digest        each layer's blob
    config        rootfs.diff_ids[i]      each layer's uncompressed content

and this package turns them into file names (``oci/blobs/sha256/<hex>``,
``layers/<hex>``) and URLs (``/v2/<name>/blobs/<digest>``).  A config whose
``diff_ids[0]`` is ``sha256:../../../../etc`` would otherwise unpack a layer,
as root, wherever it points, and ``rmi`` would later delete that place.

So a digest is data until :func:`check` has matched it against the whole
pattern (``fullmatch``: ``re.match`` with ``$`` would let a trailing newline
through), and the checks happen where the documents come in: pull, load and
the store's own reading.  Anything else is refused in one sentence naming the
image and the field, e.g.::

    image evil:latest: config field rootfs.diff_ids[0] is not a sha256 digest: 'sha256:../../x'
"""

from __future__ import annotations

import re

from ..errors import SandboxError

SHA256 = re.compile(r"sha256:[0-9a-f]{64}")


class BadDigest(SandboxError):
    """A field that should hold a sha256 digest holds something else."""


def is_sha256(value: object) -> bool:
    """True for ``sha256:`` and 64 lowercase hex digits, and nothing else (no padding)."""
    return isinstance(value, str) and SHA256.fullmatch(value) is not None


def check(value: object, image: str | None, field: str, document: str = "config") -> str:
    """``value`` if it is a sha256 digest; else :class:`BadDigest` naming image, document, field.

    ``document`` is the file the field was read from: ``index``, ``manifest``,
    ``config``; ``image`` is the name the user gave (None where none is known).
    """
    if is_sha256(value):
        return value
    raise BadDigest(f"{_image(image)}{document} field {field} is not a sha256 digest: "
                    f"{_shown(value)}")


def hex_part(digest: str) -> str:
    """The 64 hex digits of a digest, the name of its blob and of its unpacked layer.

    Checked again here, where the name becomes a path: whatever a caller forgot,
    no path is ever made from something that is not a digest.
    """
    if not is_sha256(digest):
        raise BadDigest(f"refusing {_shown(digest)} as the name of a blob or a layer: it is "
                        "not a sha256 digest (sha256: and 64 lowercase hex digits)")
    return digest[len("sha256:"):]


# --- whole documents ------------------------------------------------------------------------
def check_index(index: dict, image: str | None) -> None:
    """Every ``manifests[i].digest`` of an image index (or Docker manifest list)."""
    for i, entry in enumerate(_list(index, "manifests", image, "index")):
        check(_field(entry, "digest"), image, f"manifests[{i}].digest", "index")


def check_manifest(manifest: dict, image: str | None) -> None:
    """A manifest's ``config.digest`` and every ``layers[i].digest``."""
    check(_field(manifest.get("config"), "digest"), image, "config.digest", "manifest")
    for i, layer in enumerate(_list(manifest, "layers", image, "manifest")):
        check(_field(layer, "digest"), image, f"layers[{i}].digest", "manifest")


def check_config(config: dict, image: str | None, layer_count: int | None = None) -> None:
    """Every ``rootfs.diff_ids[i]`` of an image config; with ``layer_count``, one per layer
    (config.md: the diff_ids are the manifest's layers, uncompressed, in the same order)."""
    rootfs = config.get("rootfs") if isinstance(config, dict) else None
    diff_ids = _list(rootfs if isinstance(rootfs, dict) else {}, "diff_ids", image, "config",
                     "rootfs.diff_ids")
    for i, diff_id in enumerate(diff_ids):
        check(diff_id, image, f"rootfs.diff_ids[{i}]", "config")
    if layer_count is not None and len(diff_ids) != layer_count:
        raise BadDigest(f"{_image(image)}config field rootfs.diff_ids lists {len(diff_ids)} layers "
                        f"but the manifest has {layer_count}")


def _field(entry: object, key: str) -> object:
    return entry.get(key) if isinstance(entry, dict) else None


def _list(document: object, key: str, image: str | None, kind: str, shown: str = "") -> list:
    value = document.get(key) if isinstance(document, dict) else None
    if not isinstance(value, list):
        raise BadDigest(f"{_image(image)}{kind} field {shown or key} is not a list: "
                        f"{_shown(value)}")
    return value


def _image(image: str | None) -> str:
    return f"image {image}: " if image else ""


def _shown(value: object) -> str:
    """The value as Python writes it (quotes show padding), cut short: it may be huge."""
    text = repr(value)
    return text if len(text) <= 120 else text[:117] + "..."
