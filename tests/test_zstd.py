"""zstd-compressed layers (OCI media type ...tar+zstd) unpack like gzip ones."""

import io
import tarfile

import pytest

from sandbox.content.layers import unpack

zstandard = pytest.importorskip("zstandard", reason="the zstandard package is not installed")


def test_a_zstd_layer_unpacks(tmp_path):
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        data = b"compressed with zstd\n"
        info = tarfile.TarInfo("etc/motd")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    layer = tmp_path / "layer.tar.zst"
    layer.write_bytes(zstandard.ZstdCompressor().compress(raw.getvalue()))
    dest = tmp_path / "dest"
    dest.mkdir()
    unpack(layer, dest, rootless=True)
    assert (dest / "etc" / "motd").read_text() == "compressed with zstd\n"
