"""Working with local images: commit, diff, tag, rmi, history.

An image is immutable: ``commit`` does not change one, it writes a new layer
(the container's upper directory as a tar), a new config that lists one more
``diff_id`` and one more ``history`` entry, and a new manifest.  The old
layers are shared, not copied: that is what content addressing buys.
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

from ..content import changes
from ..content.digests import BadDigest, hex_part
from ..errors import Conflict, ImageNotFound
from ..humanize import now_iso
from .records import Container, all_containers
from ..content.store import MEDIA_LAYER_TAR, MEDIA_MANIFEST, Image, Store, normalize_ref


def diff(container: Container) -> list[tuple[str, str]]:
    """``docker diff``: what the container added (A), changed (C) and deleted (D)."""
    return changes.diff(container.dir / "upper", container.lower_dirs)


def commit(store: Store, container: Container, ref: str | None, message: str = "",
           author: str = "") -> Image:
    """``docker commit``: the container's writable layer becomes a new image."""
    base = store.get(container.spec.image_id)
    scratch = store.tmp / f"commit-{os.getpid()}-{container.short_id}.tar"
    try:
        with open(scratch, "wb") as out:
            changes.layer_tar(container.dir / "upper", out, container.spec.rootless)
        with open(scratch, "rb") as src:
            layer = store.put_blob_stream(src, MEDIA_LAYER_TAR)
    finally:
        if scratch.exists():
            scratch.unlink()
    now = now_iso()
    config = copy.deepcopy(base.config)
    config["created"] = now
    if author:
        config["author"] = author
    # Docker keeps the container's own command, environment and labels as the new image's:
    # one reason a committed image surprises whoever runs it next.
    config.setdefault("config", {})["Cmd"] = container.spec.cmd
    config["config"]["Env"] = container.spec.env
    if container.spec.labels:
        config["config"]["Labels"] = {**(config["config"].get("Labels") or {}),
                                      **container.spec.labels}
    config["rootfs"]["diff_ids"] = list(base.diff_ids) + [layer["digest"]]
    config.setdefault("history", []).append(
        {"created": now, "created_by": f"sandbox commit {container.name}: "
                                      f"{' '.join(container.spec.cmd)}",
         **({"comment": message} if message else {}), **({"author": author} if author else {})})
    return store.write_image(config, list(base.layers) + [layer], ref)


def tag(store: Store, source: str, target: str) -> None:
    """``docker tag``: one more name for the same manifest."""
    image = require_image(store, source)
    store.tag(target, {"mediaType": MEDIA_MANIFEST, "digest": image.manifest_digest,
                       "size": len(store.read_blob(image.manifest_digest))})


def rmi(root: Path, store: Store, name: str, force: bool = False) -> list[str]:
    """``docker rmi``: untag; when no tag is left, delete blobs and unpacked layers no one uses.

    Deleting an image that a container uses is refused (unless ``force``):
    the container's overlay needs its layers.  Removing one name of several
    deletes nothing, so it is allowed.  Returns Docker's report lines.
    """
    try:
        image = require_image(store, name)
    except BadDigest as err:
        return _untag_broken(store, name, err)
    refs = [ref for ref, digest in store.refs() if digest == image.manifest_digest and ref]
    by_name = normalize_ref(name) in refs
    untag = [normalize_ref(name)] if by_name else refs
    users = [c for c in all_containers(root) if c.spec.image_id == image.id]
    if users and not force and set(untag) >= set(refs):
        raise Conflict(f"unable to remove image {name} (must force) - image is being used by "
                       f"container {users[0].short_id}")
    report = [f"Untagged: {ref}" for ref in untag if store.untag(ref)]
    if any(digest == image.manifest_digest and ref for ref, digest in store.refs()):
        return report  # other tags still name it
    store.remove_manifest(image.manifest_digest)
    in_use = {d for c in all_containers(root) for d in c.spec.lower_dirs}
    store.collect_garbage()
    try:  # the layers another image still lists stay
        listed = {diff_id for other in store.images() for diff_id in other.diff_ids}
    except BadDigest:  # a broken image in the store: keep every layer rather than guess
        listed = set(image.diff_ids)
    for diff_id in image.diff_ids:
        # hex_part: a diff_id names a directory to delete only if it is a digest.
        unpacked = root / "layers" / hex_part(diff_id)
        if str(unpacked) not in in_use and diff_id not in listed:
            from ..paths import rmtree
            rmtree(unpacked)
    report.append(f"Deleted: {image.id}")
    return report


def _untag_broken(store: Store, name: str, err: BadDigest) -> list[str]:
    """An image whose digests are not digests (stored by an older sandbox): remove its name
    and the blobs nothing else needs, and make no path of what its manifest or config says."""
    ref = normalize_ref(name)
    digest = next((d for r, d in store.refs() if r == ref), None)
    if digest is None:
        raise err
    store.untag(ref)
    if not any(d == digest for _, d in store.refs()):
        store.remove_manifest(digest)
    store.collect_garbage()
    return [f"Untagged: {ref}"]


def history(image: Image) -> list[dict]:
    """``docker history``: newest first; each step that made a layer gets that layer's size."""
    sizes = [layer["size"] for layer in image.layers]
    rows = []
    for step in image.config.get("history", []):
        size = 0 if step.get("empty_layer") else (sizes.pop(0) if sizes else 0)
        rows.append({"created": step.get("created", ""), "created_by": step.get("created_by", ""),
                     "size": size, "comment": step.get("comment", "")})
    return list(reversed(rows))


def image_json(image: Image) -> dict:
    """``docker image inspect``'s shape."""
    return {"Id": image.id, "RepoTags": [image.ref] if image.ref else [],
            "RepoDigests": [], "Created": image.config.get("created"),
            "Author": image.config.get("author", ""),
            "Architecture": image.config.get("architecture"), "Os": image.config.get("os"),
            "Config": image.config.get("config", {}), "RootFS": {"Type": "layers", "Layers": list(image.diff_ids)},
            "Size": image.size, "Manifest": image.manifest_digest}


def require_image(store: Store, name: str) -> Image:
    try:
        return store.get(name)
    except ImageNotFound:
        raise ImageNotFound(f"No such image: {name}") from None

