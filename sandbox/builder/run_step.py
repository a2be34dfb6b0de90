"""RUN: a command in a container on the image so far; what it wrote becomes a layer.

A RUN step is ``docker run`` followed by ``docker commit``, nothing more:

    image so far ──▶ container (overlay: the image's layers below, an empty upper)
                        │  /bin/sh -c "apt-get install ..."   ← output streamed to the build
                        ▼
                     upper directory: what the command added, changed, deleted
                        │  changes.layer_tar (whiteouts back to .wh. files)
                        ▼
                     a new layer in the store; the container is removed

The container is a real sandbox container: the stage's ENV and build arguments
as its environment, its WORKDIR and USER, the default seccomp profile and
capabilities, its own network namespace (``--network``).  It runs without the
image's VOLUMEs: BuildKit keeps what a RUN writes under a VOLUME, and so does
this builder.
"""

from __future__ import annotations

import os
import selectors
from pathlib import Path

from ..content import changes
from ..content.store import MEDIA_LAYER_TAR, Image, Store
from ..engine import lifecycle
from ..engine.runtime import Stdio, start
from ..errors import SandboxError


class StepFailed(SandboxError):
    """A RUN that exited with a code other than 0 (BuildKit's wording)."""

    exit_code = 1

    def __init__(self, argv: list[str], code: int):
        self.argv, self.code = argv, code
        shown = " ".join(argv)
        super().__init__(f'process "{shown}" did not complete successfully: exit code: {code}')


def run(root: Path, store: Store, image: Image, argv: list[str], env: list[str], workdir: str,
        user: str, network: str | None, mounts: list[dict], log, keep: bool = False) -> dict | None:
    """Run ``argv`` in a container on ``image``; return the new layer's descriptor, or None
    if the command changed no file (BuildKit adds no layer then).

    ``log`` receives each line the command prints, as it prints it.  The container
    is removed afterwards, whether the command succeeded or not, unless ``keep``
    (``build --rm=false``).
    """
    container = lifecycle.create_container(
        root, "build", argv, env=env, workdir=workdir, user=user, entrypoint=[],
        network=network, mounts=mounts, image=_without_volumes(image),
        healthcheck={"Test": ["NONE"]})  # Docker's withoutHealthcheck: no probes in a RUN
    try:
        code = _run_streaming(container, log)
        if code != 0:
            raise StepFailed(argv, code)
        return _layer_from(store, container)
    finally:
        if not keep:
            lifecycle.remove(container, force=True)


def _without_volumes(image: Image) -> Image:
    """The image as a build container sees it: its VOLUMEs are not mounted during a build."""
    config = dict(image.config)
    config["config"] = {k: v for k, v in (config.get("config") or {}).items() if k != "Volumes"}
    return Image(image.ref, image.manifest_digest, image.manifest, config)


def _run_streaming(container, log) -> int:
    """Start the container with pipes for its output; pass each line to ``log``."""
    devnull = os.open(os.devnull, os.O_RDONLY)
    out_r, out_w = os.pipe()
    try:
        started = start(container, Stdio(devnull, out_w, out_w), detach=False)
    finally:
        os.close(devnull)
        os.close(out_w)
    try:
        _forward_lines(out_r, log)
    finally:
        os.close(out_r)
    code = started.wait()
    if started.error:
        raise started.as_error()
    return code


def _forward_lines(fd: int, log) -> None:
    """Read until the container's last process closes its output; log whole lines."""
    pending = b""
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while True:
            sel.select()
            data = os.read(fd, 65536)
            if not data:
                break
            pending += data
            *lines, pending = pending.split(b"\n")
            for line in lines:
                log(line.decode(errors="replace").rstrip("\r"))
    if pending:
        log(pending.decode(errors="replace"))


def _layer_from(store: Store, container) -> dict | None:
    """The container's upper directory as a layer in the store (as ``commit`` makes one)."""
    upper = container.dir / "upper"
    if not any(os.scandir(upper)):
        return None
    scratch = store.tmp / f"build-{os.getpid()}-{container.short_id}.tar"
    try:
        with open(scratch, "wb") as out:
            changes.layer_tar(upper, out, container.spec.rootless)
        with open(scratch, "rb") as src:
            return store.put_blob_stream(src, MEDIA_LAYER_TAR)
    finally:
        scratch.unlink(missing_ok=True)
