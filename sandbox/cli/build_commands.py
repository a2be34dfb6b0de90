"""``sandbox build`` and ``sandbox builder prune``: Docker's flags, the builder's work.

The progress goes to stderr, as Docker's does, so that ``-q`` leaves stdout
with nothing but the image ID: ``ID=$(sandbox build -q .)``.
"""

from __future__ import annotations

import signal
import sys
from pathlib import Path

from ..errors import UsageError


def cmd_build(args, tag, file, build_arg, target, no_cache, pull, rm, force_rm, quiet,
              progress, network, label) -> int:
    from ..builder.build import build
    from ..builder.progress import Progress
    from ..paths import state_root
    options = _options(args[0], file, tag, build_arg, target, no_cache, pull, rm, force_rm,
                       network, label)
    shown = Progress(sys.stderr.write, _mode(progress, quiet))
    # SIGTERM (a CI job cancelled, `kill`) cleans up as Ctrl-C does: the build's
    # container is removed and nothing is named.
    signal.signal(signal.SIGTERM, _interrupted)
    try:
        image = build(state_root(), options, shown)
    except BaseException:
        if quiet:  # -q hides the output until something goes wrong
            sys.stderr.write("\n".join(shown.held) + "\n")
        raise
    if quiet:
        print(image.id)
    return 0


def _interrupted(signum, frame):
    raise KeyboardInterrupt


def _options(path: str, file, tags, build_args, target, no_cache, pull, rm, force_rm,
             network, labels):
    from ..builder.build import Options
    text = None
    if path == "-":
        context = None
        text = sys.stdin.read()
        if file:
            raise UsageError("-f cannot be given with `build -`: the Dockerfile is on stdin")
    else:
        context = Path(path)
        if not context.is_dir():
            raise UsageError(f'unable to prepare context: path "{path}" not found')
    dockerfile = None
    if file == "-":
        text = sys.stdin.read()
    elif file:
        dockerfile = Path(file) if Path(file).is_absolute() or Path(file).exists() \
            else context / file
    if network not in ("default", "none", "host"):
        raise UsageError(f"invalid --network {network!r}: default, none or host")
    from ..content.reference import BadReference, parse
    for tag in tags:
        try:
            parse(tag)
        except BadReference as err:
            raise UsageError(f'invalid argument "{tag}" for "-t, --tag" flag: {err}') from None
    return Options(context=context, dockerfile=dockerfile, dockerfile_text=text, tags=tags,
                   build_args=_pairs(build_args, "--build-arg", from_env=True), target=target,
                   no_cache=no_cache, pull=pull, labels=_pairs(labels, "--label"),
                   network=network, keep_containers=not rm and not force_rm)


def _pairs(items: list[str], flag: str, from_env: bool = False) -> dict[str, str]:
    """``K=V`` pairs; ``--build-arg K`` alone takes K's value from the environment, as Docker."""
    import os
    out = {}
    for item in items:
        name, eq, value = item.partition("=")
        if not name:
            raise UsageError(f"invalid {flag} {item!r}: expected NAME=VALUE")
        if not eq:
            if not from_env:
                value = ""
            elif name in os.environ:
                value = os.environ[name]
            else:
                continue
        out[name] = value
    return out


def _mode(progress: str, quiet: bool) -> str:
    if quiet:
        return "quiet"
    if progress == "auto":
        return "tty" if sys.stderr.isatty() else "plain"
    if progress not in ("plain", "tty"):
        raise UsageError(f"invalid --progress {progress!r}: auto, plain or tty")
    return progress


def cmd_builder_prune(args, force, all) -> int:
    from ..builder.cache import prune
    from ..content.store import store_for
    from ..humanize import size
    from ..paths import state_root
    steps, freed = prune(store_for(state_root()))
    print(f"Deleted build cache objects: {steps}")
    print(f"Total:\t{size(freed)}")
    return 0
