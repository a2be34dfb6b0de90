"""COPY and ADD as build steps: where the files come from, the step's key, its layer.

    COPY app.py /app/                 from the build context (through .dockerignore)
    COPY --from=builder /out/app /    from an earlier stage's files
    COPY --from=busybox /bin/sh /     from an image's files
    COPY <<EOF /etc/motd              from a heredoc in the Dockerfile itself
    ADD site.tar.gz /srv/             a local archive is unpacked
    ADD https://host/file /srv/       a URL is downloaded (never unpacked)

The step's cache key holds the *checksum* of what it copies — names, content,
modes, owners — not the files' times: ``touch app.py`` changes nothing, and the
step stays cached (:func:`sandbox.builder.copying.checksum`).  The layer itself
is written by :func:`sandbox.builder.copying.write_copy_layer`.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from ..errors import UsageError
from ..paths import ensure
from . import cache


def copy_step(stage_build, command, vertex) -> None:
    """Carry out one COPY or ADD of ``stage_build``'s stage."""
    from .copying import checksum, is_url, resolve_chown, write_copy_layer
    expand = stage_build.expander(command)
    add = command.keyword == "ADD"
    from_ = expand(command.from_) if getattr(command, "from_", None) else None
    sources = [expand(s) for s in command.sources] if not command.heredocs else [
        d.name for d in command.heredocs]
    dest = expand(command.dest)
    chown = expand(command.chown) if command.chown else None
    chmod = expand(command.chmod) if command.chmod else None
    mode = _chmod(chmod)
    scratch = _heredoc_context(stage_build, command, expand) if command.heredocs else None
    try:
        if scratch is not None:
            tree, where, keep_owner = _plain_tree(scratch), "the Dockerfile's heredocs", False
        else:
            tree, where, keep_owner = source_tree(stage_build, from_, command)
        # ADD https://...: downloaded first, since its bytes are part of the step's key.
        urls = [s for s in sources if add and is_url(s)]
        if urls:
            scratch = scratch or _scratch_dir(stage_build, "download")
            fetched = {url: _fetch(url, scratch, command, vertex) for url in urls}
            sources = [fetched.get(s, s) for s in sources]
        paths = [s for s in sources if isinstance(s, str)]
        described = " ".join([command.keyword] + _flags(from_, chown, chmod, command)
                             + [getattr(s, "url", s) for s in sources] + [dest]) + " # buildkit"
        key = cache.step_key(stage_build.result.key, described,
                             checksum(tree, paths, where=where) if paths else "",
                             [s.digest for s in sources if not isinstance(s, str)], chown, chmod)

        def make_layer():
            target = stage_build.tree()
            owner = resolve_chown(chown, target) if chown else None
            return stage_build.put_layer(lambda out: write_copy_layer(
                out, tree, sources, dest, workdir=stage_build.inner.get("WorkingDir") or "/",
                target=target, chown=owner, chmod=mode, keep_owner=keep_owner, add=add,
                where=where))
        stage_build.remember_or_reuse(key, described, make_layer, vertex)
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)


def _fetch(url: str, into: Path, command, vertex):
    """ADD's download, checked against ``--checksum`` when the Dockerfile gives one."""
    from .copying import download
    vertex.note(f"downloading {url}")
    got = download(url, into)
    wanted = getattr(command, "checksum", None)
    if wanted and got.digest != wanted:
        raise UsageError(f"digest mismatch for {url}: --checksum says {wanted}, "
                         f"the download is {got.digest}")
    return got


def source_tree(stage_build, from_: str | None, command):
    """(tree, where, keep_owner): the files a COPY or a bind mount reads."""
    from .copying import LayeredTree
    build = stage_build.build
    if from_ is None:
        if build.context is None:
            raise UsageError(f"{command.keyword} needs a build context, and `build -` has none "
                             "(give a folder: sandbox build -f - .)")
        return build.context, "the build context", False
    index = build.stage_by_name(from_, stage_build.stage.index)
    if index is not None:
        result = build.stage_result(index)
        return LayeredTree(stage_build.lower_dirs(result)), f"stage {from_}", True
    from ..engine import lifecycle
    image = lifecycle.get_image(build.root, from_, store=build.store)
    return (LayeredTree(lifecycle.lower_dirs(build.root, image, build.rootless, None,
                                             build.store)), f"image {from_}", True)


def _plain_tree(directory: Path):
    from .copying import ContextTree
    from .dockerignore import Matcher
    return ContextTree(directory, Matcher([]))


def _scratch_dir(stage_build, what: str) -> Path:
    return ensure(stage_build.build.root / "tmp" /
                  f"build-{os.getpid()}-{what}-{os.urandom(4).hex()}")


def _heredoc_context(stage_build, command, expand) -> Path:
    """``COPY <<EOF /dest``: each heredoc becomes a file named by its delimiter; its body is
    expanded unless the delimiter was quoted (``<<'EOF'``)."""
    directory = _scratch_dir(stage_build, "heredoc")
    for doc in command.heredocs:
        body = expand(doc.content) if doc.expand else doc.content
        (directory / doc.name).write_text(body)
    return directory


def _chmod(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        mode = int(text, 8)
    except ValueError:
        raise UsageError(f"invalid chmod parameter: {text!r} is not an octal mode "
                         "such as 0755") from None
    if mode > 0o7777:
        raise UsageError(f"invalid chmod parameter: {text!r} is beyond 7777")
    return mode


def _flags(from_, chown, chmod, command) -> list[str]:
    shown = []
    for name, value in (("from", from_), ("chown", chown), ("chmod", chmod)):
        if value:
            shown.append(f"--{name}={value}")
    if getattr(command, "link", False):
        shown.append("--link")
    return shown
