"""The grading image: an empty root filesystem that borrows the host's /usr.

Grading runs the course's own Python, the Jupyter kernel and nbclient,
which are installed on the host, not in an image.  Copying them into a layer
would cost hundreds of megabytes; instead the image holds only the skeleton
of a Debian-style root (``/bin`` is a link to ``/usr/bin``, as on every
"merged /usr" system), and the grader bind-mounts the host's ``/usr``, the
virtual environment and the ``sandbox`` package into it, read-only
(:func:`sandbox.course.grader.course_mounts`).  The layer is built the way
the busybox layer is: sorted, owned by 0:0, one time stamp, so its digest
never changes.
"""

from __future__ import annotations

import io
import tarfile

from ..content.busybox import CREATED, add_file, reproducible_gzip, tar_entry
from ..content.store import MEDIA_LAYER_GZIP, Store, oci_arch, sha256_digest

DIRECTORIES = {"dev": 0o755, "etc": 0o755, "home": 0o755, "proc": 0o555, "root": 0o700,
               "sys": 0o555, "tmp": 0o1777, "usr": 0o755, "var": 0o755, "var/tmp": 0o1777}
LINKS = {"bin": "usr/bin", "sbin": "usr/sbin", "lib": "usr/lib", "lib64": "usr/lib64"}
FILES = {
    "etc/passwd": "root:x:0:0:root:/root:/bin/sh\n"
                  "nobody:x:65534:65534:nobody:/tmp/home:/usr/sbin/nologin\n",
    "etc/group": "root:x:0:\nnogroup:x:65534:\n",
    "etc/nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
}


def layer_tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        entries = [tar_entry(name, tarfile.DIRTYPE, mode) for name, mode in DIRECTORIES.items()]
        entries += [tar_entry(name, tarfile.SYMTYPE, 0o777, target)
                    for name, target in LINKS.items()]
        for entry in sorted(entries, key=lambda e: e.name):
            tar.addfile(entry)
        for name, text in sorted(FILES.items()):
            add_file(tar, name, text.encode())
    return buf.getvalue()


def build(store: Store, ref: str) -> None:
    """Write the grading image into ``store`` under ``ref``."""
    tar = layer_tar()
    layer = store.put_blob(reproducible_gzip(tar), MEDIA_LAYER_GZIP)
    config = {
        "created": CREATED, "architecture": oci_arch(), "os": "linux",
        "config": {"Env": ["PATH=/usr/local/bin:/usr/bin:/bin", "LANG=C.UTF-8"]},
        "rootfs": {"type": "layers", "diff_ids": [sha256_digest(tar)]},
        "history": [{"created": CREATED,
                     "created_by": "sandbox: grading skeleton; /usr comes from the host"}],
    }
    store.write_image(config, [layer], ref)
