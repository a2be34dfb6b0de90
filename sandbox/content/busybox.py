"""The base image, ``busybox:latest``, made on this machine from the host's static busybox.

A root filesystem needs very little: one statically linked binary that is
a shell and 300 other tools (``/bin/busybox``), a symbolic link per tool,
``/etc/passwd`` and ``/etc/group`` so that user names mean something, and
the empty directories that the kernel's filesystems are mounted on.

The layer is built deterministically: entries in sorted order, owner 0:0,
one fixed time stamp, and gzip without a time or file name in its header.
The same busybox binary therefore always gives the same layer digest, the
same config digest, and so the same image id, on every machine.
"""

from __future__ import annotations

import gzip
import io
import os
import shutil
import subprocess
import tarfile
from pathlib import Path

from ..errors import MissingFeature
from .store import MEDIA_LAYER_GZIP, Store, oci_arch, sha256_digest

IMAGE_REF = "busybox:latest"
EPOCH = 946684800  # 2000-01-01T00:00:00Z: a fixed time stamp, so the digest is reproducible
CREATED = "2000-01-01T00:00:00Z"
INSTALL_HINT = "install it with: sudo apt-get install busybox-static"

DIRECTORIES = {  # path: mode
    "bin": 0o755, "dev": 0o755, "etc": 0o755, "home": 0o755, "proc": 0o555,
    "root": 0o700, "sbin": 0o755, "sys": 0o555, "tmp": 0o1777, "usr": 0o755,
    "usr/bin": 0o755, "usr/sbin": 0o755, "var": 0o755, "var/tmp": 0o1777,
}
FILES = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n"
                  "daemon:x:1:1:daemon:/usr/sbin:/bin/false\n"
                  "nobody:x:65534:65534:nobody:/home:/bin/false\n",
    "etc/group": "root:x:0:\ndaemon:x:1:\ntty:x:5:\nnogroup:x:65534:\n",
}


def find_busybox() -> Path:
    """The host's busybox: ``$SANDBOX_BUSYBOX``, else the first static one on the usual paths."""
    candidates = [os.environ.get("SANDBOX_BUSYBOX"), "/bin/busybox", "/usr/bin/busybox",
                  shutil.which("busybox")]
    for candidate in filter(None, candidates):
        if os.access(candidate, os.X_OK) and is_static(Path(candidate)):
            return Path(candidate)
    raise MissingFeature(f"no statically linked busybox was found; {INSTALL_HINT}")


def is_static(path: Path) -> bool:
    """True if the ELF file has no program interpreter, i.e. needs no shared libraries.

    A dynamically linked program names its loader (``/lib64/ld-linux-x86-64.so.2``)
    in a PT_INTERP program header; a static one has none.  See elf(5).
    """
    with open(path, "rb") as f:
        header = f.read(64)
        if header[:4] != b"\x7fELF" or header[4] != 2:  # 64-bit ELF only
            return False
        little = header[5] == 1
        order = "little" if little else "big"
        phoff = int.from_bytes(header[32:40], order)
        phentsize = int.from_bytes(header[54:56], order)
        phnum = int.from_bytes(header[56:58], order)
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    PT_INTERP = 3
    return all(int.from_bytes(table[i:i + 4], order) != PT_INTERP
               for i in range(0, len(table), phentsize))


def applets(busybox: Path) -> list[str]:
    """Every tool this busybox provides, as paths: ``bin/sh``, ``usr/bin/wc``, ..."""
    out = subprocess.run([str(busybox), "--list-full"], capture_output=True, text=True,
                         check=True).stdout
    return sorted({line.strip() for line in out.splitlines() if line.strip()})


def tar_entry(name: str, kind: bytes, mode: int, linkname: str = "") -> tarfile.TarInfo:
    """A tar header with nothing in it that depends on when or by whom it was made."""
    ti = tarfile.TarInfo(name)
    ti.type, ti.mode, ti.mtime, ti.linkname = kind, mode, EPOCH, linkname
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    return ti


def add_file(tar: tarfile.TarFile, name: str, data: bytes, mode: int = 0o644) -> None:
    """Add a regular file with ``data`` to ``tar``, reproducibly."""
    ti = tar_entry(name, tarfile.REGTYPE, mode)
    ti.size = len(data)
    tar.addfile(ti, io.BytesIO(data))


def layer_tar(busybox: Path) -> bytes:
    """The busybox root filesystem as an uncompressed, reproducible tar archive."""
    buf = io.BytesIO()
    entries = {name: tar_entry(name, tarfile.DIRTYPE, mode) for name, mode in DIRECTORIES.items()}
    for applet in applets(busybox):
        if applet == "bin/busybox":
            continue
        parent = applet.rpartition("/")[0]
        if parent and parent not in entries:
            entries[parent] = tar_entry(parent, tarfile.DIRTYPE, 0o755)
        entries[applet] = tar_entry(applet, tarfile.SYMTYPE, 0o777, "/bin/busybox")
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name in sorted(entries):
            tar.addfile(entries[name])
        add_file(tar, "bin/busybox", busybox.read_bytes(), 0o755)
        for name, text in sorted(FILES.items()):
            add_file(tar, name, text.encode())
    return buf.getvalue()


def reproducible_gzip(data: bytes) -> bytes:
    """gzip with nothing in the header that depends on when or where it ran (RFC 1952).

    The header holds a modification time (set to 0) and an "operating system"
    byte, which Python versions fill differently (3 or 255): fixed to 255, "unknown".
    """
    compressed = bytearray(gzip.compress(data, compresslevel=6, mtime=0))
    compressed[9] = 255
    return bytes(compressed)


def build(store: Store, busybox: Path | None = None) -> str:
    """Build ``busybox:latest`` into the store and return its manifest digest."""
    busybox = busybox or find_busybox()
    tar = layer_tar(busybox)
    layer = store.put_blob(reproducible_gzip(tar), MEDIA_LAYER_GZIP)
    version = subprocess.run([str(busybox)], capture_output=True, text=True).stdout.split("\n")[0]
    config = {
        "created": CREATED,
        "architecture": oci_arch(),
        "os": "linux",
        "config": {"Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                   "Cmd": ["sh"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(tar)]},
        "history": [{"created": CREATED,
                     "created_by": f"sandbox: busybox from {busybox} ({version.strip()})"}],
    }
    return store.write_image(config, [layer], IMAGE_REF).manifest_digest
