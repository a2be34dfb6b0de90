"""The image and registry verbs: images, diff, commit, rmi, tag, history, save, load,
import, export, pull, push, login, logout.

Kept apart from the container verbs so that ``sandbox pull`` or ``sandbox
images`` never import the runtime (ctypes, namespaces): each verb starts faster.
"""

from __future__ import annotations

import os
import sys

from ..errors import SandboxError, UsageError
from ..humanize import ago, size, table
from ..paths import state_root
from ..engine.records import lookup


def _root():
    return state_root()


def _store():
    from ..content.store import Store
    return Store(_root()).init()


# --- layers and images: diff, commit, rmi, tag, history, save, load, import, export -------
def cmd_diff(args) -> int:
    from ..engine.imagetools import diff
    for kind, path in diff(lookup(_root(), args[0])):
        print(kind, path)
    return 0


def cmd_commit(args, message, author) -> int:
    from ..engine.imagetools import commit
    container = lookup(_root(), args[0])
    image = commit(_store(), container, args[1] if len(args) > 1 else None,
                   message or "", author or "")
    print(image.id)
    return 0


def cmd_rmi(args, force) -> int:
    from ..engine.imagetools import rmi
    store, code = _store(), 0
    for name in args:
        try:
            for line in rmi(_root(), store, name, force):
                print(line)
        except SandboxError as err:
            print(f"sandbox: {err}", file=sys.stderr)
            code = 1
    return code


def cmd_tag(args) -> int:
    from ..engine.imagetools import tag
    tag(_store(), args[0], args[1])
    return 0


def cmd_history(args, no_trunc) -> int:
    from ..engine.imagetools import history
    from ..engine.imagetools import require_image
    image = require_image(_store(), args[0])
    rows = []
    for i, step in enumerate(history(image)):
        created_by = step["created_by"]
        if not no_trunc and len(created_by) > 45:
            created_by = created_by[:44] + "…"
        rows.append([image.short_id if i == 0 else "<missing>",
                     ago(step["created"]) if step["created"] else "", created_by,
                     size(step["size"]), step["comment"]])
    print(table(rows, ["IMAGE", "CREATED", "CREATED BY", "SIZE", "COMMENT"]))
    return 0


def _binary_output(path):
    """A file to write a tar to: -o PATH, or stdout when it is not a terminal (as Docker)."""
    if path:
        return open(path, "wb")
    if sys.stdout.isatty():
        raise UsageError("refusing to write a tar archive to a terminal: use -o FILE or a "
                         "redirect")
    return os.fdopen(os.dup(1), "wb")


def cmd_save(args, output) -> int:
    from ..content.archive import save
    from ..engine.imagetools import require_image
    store = _store()
    images = [require_image(store, name) for name in args]
    if not output:
        with _binary_output(None) as out:
            save(store, images, args, out)
        return 0
    partial = f"{output}.partial-{os.getpid()}"  # renamed into place only when complete
    try:
        with open(partial, "wb") as out:
            save(store, images, args, out)
        os.replace(partial, output)
    finally:
        if os.path.exists(partial):
            os.unlink(partial)
    return 0


def _input_file(path):
    """A file to read a tar from: -i PATH, or stdin copied to a scratch file (tar needs to seek)."""
    from pathlib import Path
    if path and path != "-":
        return Path(path), None
    import tempfile
    scratch = tempfile.NamedTemporaryFile(prefix="sandbox-load-", delete=False)
    with scratch:
        while chunk := sys.stdin.buffer.read(1 << 20):
            scratch.write(chunk)
    return Path(scratch.name), scratch.name


def cmd_load(args, input, quiet) -> int:
    from ..content.archive import load
    path, scratch = _input_file(input)
    try:
        if not path.exists():
            raise SandboxError(f"open {path}: no such file or directory")
        loaded = load(_store(), path)
    finally:
        if scratch:
            os.unlink(scratch)
    if not quiet:
        for name in loaded:
            print(f"Loaded image: {name}" if not name.startswith("sha256:")
                  else f"Loaded image ID: {name}")
    return 0


def cmd_import(args) -> int:
    from ..content.archive import import_rootfs
    path, scratch = _input_file(args[0])
    try:
        if not path.exists():
            raise SandboxError(f"open {path}: no such file or directory")
        image = import_rootfs(_store(), path,
                              args[1] if len(args) > 1 else None,
                              shown_as="-" if scratch else str(path))
    finally:
        if scratch:
            os.unlink(scratch)
    print(image.id)
    return 0


def cmd_export(args, output) -> int:
    from ..content.archive import export
    container = lookup(_root(), args[0])
    with _binary_output(output) as out:
        out.flush()
        export(container, out.fileno())
    return 0


# --- registries: pull, push, login, logout ------------------------------------------------
def cmd_pull(args, platform, quiet) -> int:
    from ..content.registry import pull
    image = pull(_root(), _store(), args[0], platform=platform,
                 progress=not quiet, log=(lambda *_: None) if quiet else print)
    print(_full_name(args[0]) if not quiet else image.id)
    return 0


def _full_name(name: str) -> str:
    from ..content.reference import parse
    return str(parse(name))


def cmd_push(args, quiet) -> int:
    from ..content.registry import push
    push(_root(), _store(), args[0], log=(lambda *_: None) if quiet else print)
    return 0


def cmd_login(args, username, password, password_stdin) -> int:
    from ..content.registry import login
    server = args[0] if args else "docker.io"
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    if not username or password is None:
        raise UsageError("give both -u USER and -p PASSWORD (or --password-stdin)")
    login(_root(), server, username, password)
    print("Login Succeeded")
    return 0


def cmd_logout(args) -> int:
    from ..content.registry import logout, server_name
    server = server_name(args[0]) if args else "docker.io"
    if logout(_root(), server):
        print(f"Removing login credentials for {server}")
    else:
        print(f"Not logged in to {server}")
    return 0


def cmd_images(args, quiet) -> int:
    images = _store().images()
    if quiet:
        for image in images:
            print(image.short_id)
        return 0
    rows = []
    for image in images:
        repo, _, tag = (image.ref or "<none>:<none>").rpartition(":")
        rows.append([repo, tag, image.short_id, ago(image.config.get("created") or
                                                    "1970-01-01T00:00:00Z"), size(image.size)])
    print(table(rows, ["REPOSITORY", "TAG", "IMAGE ID", "CREATED", "SIZE"]))
    return 0
