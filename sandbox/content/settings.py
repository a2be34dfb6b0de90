"""Settings from ``$SANDBOX_ROOT/daemon.json``, the file Docker's daemon reads its own from.

Unpacking a layer writes whatever its tar says, and a few kilobytes of gzip or
zstd can say "a terabyte of zeros" (a decompression bomb).  So every layer is
unpacked, and every pulled or loaded layer checked, under two limits:

    {
      "max-layer-bytes": 34359738368,
      "max-layer-entries": 1000000
    }

- ``max-layer-bytes``: the most one layer may uncompress to, in bytes
  (here the default, 32 GiB);
- ``max-layer-entries``: the most entries (files, directories and links) one
  layer may hold (the default, one million).

The defaults are far above any real image and far below what fills a disk
or the inode table: the largest public layers (CUDA, PyTorch, images with
model weights baked in) are a few GiB to about 20 GiB uncompressed, and a
full distribution with TeX Live is some 200 000 files.  A learner's machine
or a classroom server may lower them; a site that builds huge images may
raise them.  Both are whole numbers (bytes, entries).

Registry settings in the same file (``registry-mirrors``,
``insecure-registries``) are read by :mod:`sandbox.content.registry.config`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import NamedTuple

from ..errors import SandboxError

DEFAULT_MAX_LAYER_BYTES = 32 << 30
DEFAULT_MAX_LAYER_ENTRIES = 1_000_000


class LayerLimits(NamedTuple):
    """How much one layer may unpack to."""

    max_bytes: int = DEFAULT_MAX_LAYER_BYTES
    max_entries: int = DEFAULT_MAX_LAYER_ENTRIES


def daemon_json(root: Path) -> dict:
    """The settings in ``root/daemon.json``; none if there is no such file."""
    path = root / "daemon.json"
    try:
        value = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except ValueError as err:
        raise SandboxError(f"{path} is not valid JSON ({err}): fix it or remove it") from None
    if not isinstance(value, dict):
        raise SandboxError(f"{path} must hold a JSON object ({{\"key\": value, ...}})")
    return value


def layer_limits(root: Path) -> LayerLimits:
    """The limits ``max-layer-bytes`` and ``max-layer-entries`` in ``root/daemon.json``.

    The file is read once for both.  A key that is not there keeps its default;
    a value that is not a positive whole number is refused, naming the file and key.
    """
    settings = daemon_json(root)
    return LayerLimits(
        _positive(settings, "max-layer-bytes", DEFAULT_MAX_LAYER_BYTES, root),
        _positive(settings, "max-layer-entries", DEFAULT_MAX_LAYER_ENTRIES, root))


def _positive(settings: dict, key: str, default: int, root: Path) -> int:
    value = settings.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise SandboxError(f"{root / 'daemon.json'}: {key} must be a positive whole number, "
                           f"not {value!r}")
    return value
