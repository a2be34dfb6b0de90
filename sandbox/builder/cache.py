"""The build cache: a step's result, found again by the digest of everything it depends on.

BuildKit does not ask "has this file changed since last time?" (times lie: a
``git checkout`` touches every file).  It asks "have I ever run exactly this
step on exactly this input?", and answers with a lookup:

    key(step) = sha256( key(parent step)
                      + the instruction, its variables expanded
                      + for COPY/ADD: the checksum of the files it copies
                      + for RUN: the build arguments it sees )

    FROM busybox          key₀ = sha256("FROM" + busybox's image id)
    ENV A=1               key₁ = sha256(key₀ + "ENV A=1")
    COPY app.py /app/     key₂ = sha256(key₁ + "COPY app.py /app/" + checksum(app.py))
    RUN make              key₃ = sha256(key₂ + "RUN make")

Change ``app.py`` and key₂ changes, so key₃ changes too: every step after the
first changed one runs again.  That is why a Dockerfile copies the files that
change least first.

A result is the image after the step: its config and its layers.  It is kept
as a *lease* of the image store (:meth:`sandbox.content.store.Store.write_lease`),
which keeps the step's layers from garbage collection until ``builder prune``.
"""

from __future__ import annotations

import hashlib
import json
import os

from ..content.store import Store


def step_key(parent: str, *parts) -> str:
    """The key of a step: its parent's key and what the step is, hashed."""
    text = json.dumps([parent, *parts], sort_keys=True, ensure_ascii=False)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()


def _lease_name(key: str) -> str:
    return "build" + key.removeprefix("sha256:")


def lookup(store: Store, key: str) -> dict | None:
    """The result cached under ``key`` (``{"config": ..., "layers": [...]}``), if all its
    blobs are still in the store."""
    record = store.read_lease(_lease_name(key))
    if record is None or not all(store.has_blob(d) for d in record.get("digests", [])):
        return None
    return record.get("result")


def remember(store: Store, key: str, config: dict, layers: list[dict], step: str) -> None:
    """Keep a step's result under its key (and hold its layers)."""
    try:
        store.write_lease(_lease_name(key), {
            "digests": [layer["digest"] for layer in layers], "step": step,
            "result": {"config": config, "layers": layers}})
    except FileNotFoundError:
        pass  # a layer was collected meanwhile: the step is simply not cached


def prune(store: Store) -> tuple[int, int]:
    """``builder prune``: forget every cached step; (steps forgotten, bytes freed)."""
    before = _blob_bytes(store)
    forgotten = store.drop_leases()
    store.collect_garbage()
    return forgotten, before - _blob_bytes(store)


def _blob_bytes(store: Store) -> int:
    total = 0
    for name in os.listdir(store.blobs):
        try:
            total += os.lstat(store.blobs / name).st_size
        except FileNotFoundError:
            continue
    return total
