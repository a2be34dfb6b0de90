"""``sandbox build``: a Dockerfile, step by step, into an image.

Every instruction is one of two kinds of change, and a build is a chain of them:

    FROM busybox             the base image: its layers and its config
    ENV A=1                  config only (Env)          ─┐ no layer: the image's
    WORKDIR /app             a directory, if missing     │ files are as before
    COPY app.py .            files  → one new layer      │
    RUN make                 files  → one new layer      │ (a container runs `make`;
    CMD ["./app"]            config only (Cmd)          ─┘  what it wrote is the layer)

Each step starts from its parent's result and has a key (:mod:`.cache`): the
parent's key and what the step is.  If the cache has the key, the step's result
is taken as it is (``CACHED``), and nothing runs.  The steps of a stage are run
in order; a stage that the target does not need is not built at all (BuildKit's
rule), and a stage another one needs (``FROM builder``, ``COPY --from=builder``)
is built first.

Only at the very end is the image written and named: a build that fails at any
step tags nothing, and its containers are gone (:mod:`.run_step`).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..content.store import MEDIA_LAYER_TAR, Image, normalize_ref, oci_arch, store_for
from ..errors import ImageNotFound, SandboxError
from ..humanize import now_iso, size
from ..paths import is_root
from . import cache, config_steps
from .dockerfile import DockerfileError, parse
from .instructions import parse_stages
from .progress import Progress, Vertex
from .shell import Lexer

DEFAULT_PATH = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Build arguments every build knows without an ARG line (Dockerfile reference, "Predefined
# ARGs"): usable with --build-arg, passed to RUN, and left out of the image's history.
PROXY_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY",
              "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")
HISTORY_COMMENT = "buildkit.dockerfile.v0"
# The instructions that produce a layer, and so a numbered step in BuildKit's output.
FILE_STEPS = ("RUN", "COPY", "ADD", "WORKDIR")


@dataclass
class Options:
    """What ``sandbox build`` was asked (docker build's flags)."""

    context: Path | None                  # None: ``build -`` with a Dockerfile on stdin
    dockerfile: Path | None = None        # -f; None: context/Dockerfile
    dockerfile_text: str | None = None    # -f - (or ``build -``): the Dockerfile itself
    tags: list[str] = field(default_factory=list)
    build_args: dict[str, str] = field(default_factory=dict)
    target: str | None = None
    no_cache: bool = False
    pull: bool = False
    labels: dict[str, str] = field(default_factory=dict)
    network: str | None = None            # default | none | host
    keep_containers: bool = False         # --rm=false


@dataclass
class StageResult:
    """A stage's image as the build goes: its config, its layers and its cache key."""

    config: dict
    layers: list[dict]
    key: str
    as_image: Image | None = None

    def image(self) -> Image:
        """The stage's image as an :class:`Image` (no manifest in the store names it)."""
        if self.as_image is None:
            manifest = {"schemaVersion": 2, "config": {"digest": "sha256:" + "0" * 64},
                        "layers": self.layers}
            self.as_image = Image(None, "", manifest, self.config)
        return self.as_image


def build(root: Path, options: Options, progress: Progress) -> Image:
    """Build the Dockerfile; return the image, written and tagged."""
    return Build(root, options, progress).run()


class Build:
    """One build: the Dockerfile, its stages, what is built so far."""

    def __init__(self, root: Path, options: Options, progress: Progress):
        self.root, self.options, self.progress = root, options, progress
        self.store = store_for(root)
        self.rootless = not is_root()
        self.results: dict[int, StageResult] = {}
        self.building: set[int] = set()
        self.used_args: set[str] = set()
        self.held: contextlib.ExitStack | None = None  # what the build holds until it ends
        self.holds_network = False

    def hold_network(self, network: str | None) -> None:
        """Before the first RUN on the default network: keep its bridge up until the build
        ends, rather than make and take it down for every RUN (networks.held_default)."""
        if network in (None, "default") and not self.holds_network:
            from ..network.networks import held_default
            self.held.enter_context(held_default(self.root))
            self.holds_network = True

    # --- the pipeline --------------------------------------------------------
    def run(self) -> Image:
        # 1. Read and parse everything before anything runs: a typo on the last line
        #    fails the build before the first RUN wastes a minute.
        self.dockerfile = self._read_dockerfile()
        meta_args, self.stages = parse_stages(self.dockerfile)
        self.lexer = Lexer(self.dockerfile.escape)
        self.meta = self._meta_args(meta_args)
        target = self._target_index()
        # 2. The context, as the ignore file lets the build see it.
        self.context = self._load_context()
        # 3. The target stage, and (first, on demand) every stage it needs.
        with contextlib.ExitStack() as self.held:
            result = self.stage_result(target)
        self._warn_unused_args()
        # 4. Only now is anything named.
        return self._export(result)

    def _read_dockerfile(self):
        options = self.options
        vertex = self.progress.vertex("[internal] load build definition from "
                                      f"{self._dockerfile_name()}")
        if options.dockerfile_text is not None:
            text = options.dockerfile_text
        else:
            path = options.dockerfile or (options.context / "Dockerfile")
            try:
                text = path.read_text()
            except FileNotFoundError:
                raise DockerfileError(str(path), 0, "failed to read dockerfile: no such file "
                                                    "or directory") from None
            except (IsADirectoryError, UnicodeDecodeError) as err:
                raise DockerfileError(str(path), 0, f"failed to read dockerfile: {err}") from None
        vertex.note(f"transferring dockerfile: {size(len(text.encode()))} done")
        vertex.done()
        return parse(text, self._dockerfile_name())

    def _dockerfile_name(self) -> str:
        if self.options.dockerfile is not None:
            return str(self.options.dockerfile)
        return "Dockerfile" if self.options.dockerfile_text is None else "<stdin>"

    def _meta_args(self, meta_args) -> dict[str, str | None]:
        """The ARGs before the first FROM, with the platform's predefined ones: they are
        for the FROM lines only, until a stage declares them again."""
        platform = f"linux/{oci_arch()}"
        values = {"TARGETPLATFORM": platform, "TARGETOS": "linux", "TARGETARCH": oci_arch(),
                  "TARGETVARIANT": "", "BUILDPLATFORM": platform, "BUILDOS": "linux",
                  "BUILDARCH": oci_arch(), "BUILDVARIANT": ""}
        for command in meta_args:
            for name, default in command.pairs:
                values[name] = self.arg_value(name, default, values, command)
        return values

    def arg_value(self, name: str, default: str | None, env: dict, command) -> str | None:
        if name in self.options.build_args:
            self.used_args.add(name)
            return self.options.build_args[name]
        if default is None:
            return None
        return self.expand(default, env, command)

    def _target_index(self) -> int:
        if not self.stages:
            raise DockerfileError(self.dockerfile.path, 0, "no build stage in the Dockerfile")
        wanted = self.options.target
        if wanted is None:
            return len(self.stages) - 1
        for stage in self.stages:
            if stage.name == wanted.lower():
                return stage.index
        raise DockerfileError(self.dockerfile.path, 0,
                              f'target stage "{wanted}" could not be found')

    def _load_context(self):
        if self.options.context is None:
            return None
        from .copying import ContextTree
        from .dockerignore import Matcher, read_patterns
        vertex = self.progress.vertex("[internal] load .dockerignore")
        patterns = read_patterns(self.options.context, self.options.dockerfile)
        vertex.note(f"{len(patterns)} patterns read")
        vertex.done()
        return ContextTree(self.options.context, Matcher(patterns))

    # --- stages ----------------------------------------------------------------
    def stage_result(self, index: int) -> StageResult:
        """Build stage ``index`` (once), and first the stages it names."""
        if index in self.results:
            return self.results[index]
        if index in self.building:
            stage = self.stages[index]
            raise self.error(stage.line, "circular dependency detected on stage: "
                                          f"{stage.name or index}")
        self.building.add(index)
        self.results[index] = StageBuild(self, self.stages[index]).run()
        self.building.discard(index)
        return self.results[index]

    def stage_by_name(self, name: str, before: int) -> int | None:
        """The index of the stage ``name`` (an AS name, or a number) built before ``before``."""
        for stage in self.stages[:before]:
            if stage.name is not None and stage.name == name.lower():
                return stage.index
        if name.isdigit() and int(name) < before:
            return int(name)
        return None

    def expand(self, word: str, env: dict, command) -> str:
        """``word`` with its variables expanded; an error names the command's line."""
        try:
            return self.lexer.process_word(word, env)
        except SandboxError as err:
            raise self.error(command.line, str(err)) from None

    def error(self, line: int, message: str) -> DockerfileError:
        source = self.dockerfile.lines[line - 1] if 0 < line <= len(self.dockerfile.lines) else None
        return DockerfileError(self.dockerfile.path, line, message, source)

    def _warn_unused_args(self) -> None:
        unused = sorted(set(self.options.build_args) - self.used_args - set(PROXY_ARGS))
        if unused:
            self.progress.emit(f"[Warning] One or more build-args {unused} were not consumed")

    # --- the image ----------------------------------------------------------------
    def _export(self, result: StageResult) -> Image:
        vertex = self.progress.vertex("exporting to image")
        config = copy.deepcopy(result.config)
        if self.options.labels:
            config_steps.set_labels(config.setdefault("config", {}),
                                    list(self.options.labels.items()))
        tags = self.options.tags
        image = self.store.write_image(config, result.layers, tags[0] if tags else None)
        vertex.note(f"writing image {image.id} done")
        for extra in tags[1:]:
            self.store.tag(extra, {"mediaType": image.manifest.get("mediaType"),
                                   "digest": image.manifest_digest,
                                   "size": len(self.store.read_blob(image.manifest_digest))})
        for tag in tags:
            vertex.note(f"naming to {_full_name(tag)} done")
        vertex.done()
        self.progress.finished()
        return image


def _full_name(ref: str) -> str:
    ref = normalize_ref(ref)
    first = ref.split("/", 1)[0]
    if "/" in ref and ("." in first or ":" in first or first == "localhost"):
        return ref
    return "docker.io/" + (ref if "/" in ref else "library/" + ref)


class StageBuild:
    """One stage: FROM, then each command in order."""

    def __init__(self, build: Build, stage):
        self.build, self.stage = build, stage
        self.args: dict[str, str | None] = {}   # this stage's ARGs, in scope from their line on
        self.flags: dict = {}                   # what the stage did itself (cmd_set)
        self.steps = 1 + sum(c.keyword in FILE_STEPS for c in stage.commands)
        self.step = 0

    def run(self) -> StageResult:
        self.result = self._from()
        for command in self._onbuild_triggers() + list(self.stage.commands):
            self._do(command)
        return self.result

    # --- FROM ------------------------------------------------------------------
    def _from(self) -> StageResult:
        stage, build = self.stage, self.build
        base = build.expand(stage.base, _defined(build.meta), stage)
        if stage.platform:
            platform = build.expand(stage.platform, _defined(build.meta), stage)
            if platform not in (f"linux/{oci_arch()}", "linux"):
                raise build.error(stage.line, f"platform {platform} is not this machine's "
                                               f"(linux/{oci_arch()}); sandbox builds only "
                                               "for the machine it runs on")
        named = build.stage_by_name(base, stage.index)
        shown = base if named is not None or base == "scratch" else _full_name(base)
        vertex = self._vertex(f"FROM {shown}")
        if named is not None:
            parent = build.stage_result(named)
            result = StageResult(copy.deepcopy(parent.config), list(parent.layers), parent.key)
        elif base == "scratch":
            result = StageResult(_scratch_config(), [], cache.step_key("", "FROM scratch"))
        else:
            image = self._base_image(base)
            result = StageResult(copy.deepcopy(image.config), list(image.layers),
                                 cache.step_key("", "FROM", image.id))
            _ensure_path(result.config)
        vertex.done()
        return result

    def _base_image(self, ref: str) -> Image:
        build = self.build
        try:
            if build.options.pull and normalize_ref(ref) != "busybox:latest":
                from ..content.registry import pull
                return pull(build.root, build.store, ref, progress=False, log=lambda *_: None)
            try:
                return build.store.get(ref)  # there already: no need of the engine to find it
            except ImageNotFound:
                from ..engine import lifecycle  # pulled, or busybox made from the host's
                return lifecycle.get_image(build.root, ref, store=build.store)
        except SandboxError as err:
            raise build.error(self.stage.line, str(err)) from None

    def _onbuild_triggers(self) -> list:
        """ONBUILD: the base image's triggers run first, as if written after FROM; the new
        image does not inherit them (Dockerfile reference, ONBUILD)."""
        inner = self.result.config.setdefault("config", {})
        triggers = inner.pop("OnBuild", None) or []
        if not triggers:
            return []
        from .dockerfile import parse as parse_text
        from .instructions import parse_stages as typed
        text = "FROM scratch\n" + "\n".join(triggers) + "\n"
        _, stages = typed(parse_text(text, f"ONBUILD of {self.stage.base}"))
        for command in stages[0].commands:  # errors name the FROM line
            command.line = self.stage.line
        self.steps += sum(c.keyword in FILE_STEPS for c in stages[0].commands)
        return stages[0].commands

    # --- each command --------------------------------------------------------------
    def _do(self, command) -> None:
        keyword = command.keyword
        try:
            if keyword == "ARG":
                self._arg(command)
            elif keyword in FILE_STEPS:
                self._file_step(command)
            else:
                self._config_step(command)
        except DockerfileError:
            raise
        except (SandboxError, ValueError, OSError) as err:
            raise self.build.error(command.line, str(err)) from None

    def env(self) -> dict[str, str]:
        """What ``$NAME`` means in this stage now: its ARGs, overridden by its ENV (an ENV
        always wins over an ARG of the same name, Dockerfile reference, "Using ARG")."""
        return {**_defined(self.args), **config_steps.env_dict(self.inner)}

    @property
    def inner(self) -> dict:
        return self.result.config.setdefault("config", {})

    def _arg(self, command) -> None:
        for name, default in command.pairs:
            if default is None and name in self.build.meta and name not in self.build.options.build_args:
                self.args[name] = self.build.meta[name]  # a global ARG, brought into the stage
            else:
                self.args[name] = self.build.arg_value(name, default, self.env(), command)

    def _config_step(self, command) -> None:
        described = self._apply_config(command)
        key = cache.step_key(self.result.key, described)
        self.remember_or_reuse(key, described, None)

    def _apply_config(self, command) -> str:
        """Change the config as ``command`` says; return how history describes it."""
        inner, keyword, expand = self.inner, command.keyword, self.expander(command)
        if keyword == "ENV":
            pairs = [(expand(k), expand(v)) for k, v in command.pairs]
            config_steps.set_env(inner, pairs)
            return "ENV " + " ".join(f"{k}={v}" for k, v in pairs)
        if keyword == "LABEL":
            pairs = [(expand(k), expand(v)) for k, v in command.pairs]
            config_steps.set_labels(inner, pairs)
            return "LABEL " + " ".join(f"{k}={v}" for k, v in pairs)
        if keyword == "MAINTAINER":
            config_steps.set_maintainer(self.result.config, command.name)
            return f"MAINTAINER {command.name}"
        if keyword == "EXPOSE":
            ports = [expand(p) for p in command.ports]
            config_steps.expose(inner, ports)
            return "EXPOSE " + " ".join(ports)
        if keyword == "VOLUME":
            paths = [expand(p) for p in command.paths]
            config_steps.add_volumes(inner, paths)
            return "VOLUME " + str(paths)
        if keyword == "USER":
            inner["User"] = expand(command.user)
            return f"USER {inner['User']}"
        if keyword == "STOPSIGNAL":
            inner["StopSignal"] = expand(command.signal)
            return f"STOPSIGNAL {inner['StopSignal']}"
        if keyword == "SHELL":
            inner["Shell"] = list(command.argv)
            return f"SHELL {command.argv}"
        if keyword in ("CMD", "ENTRYPOINT"):
            argv = config_steps.shell_or_exec(inner, command.script, command.argv)
            setter = config_steps.set_cmd if keyword == "CMD" else config_steps.set_entrypoint
            setter(inner, argv, self.flags)
            return f"{keyword} {json.dumps(argv)}"
        if keyword == "HEALTHCHECK":
            config_steps.set_healthcheck(inner, list(command.test), command.interval,
                                         command.timeout, command.start_period,
                                         command.start_interval, command.retries)
            return f"HEALTHCHECK {json.dumps(command.test)}"
        if keyword == "ONBUILD":
            config_steps.add_onbuild(inner, command.expression)
            return f"ONBUILD {command.expression}"
        raise self.build.error(command.line, f"{keyword} is not supported here")

    def expander(self, command):
        env = self.env()
        return lambda word: self.build.expand(word, env, command)

    # --- steps that change files -------------------------------------------------
    def _vertex(self, text: str) -> Vertex:
        self.step += 1
        label = self.stage.name or (f"stage-{self.stage.index}" if len(self.build.stages) > 1
                                    else "")
        prefix = f"{label} " if label else ""
        return self.build.progress.vertex(f"[{prefix}{self.step}/{self.steps}] {text}")

    def _file_step(self, command) -> None:
        vertex = self._vertex(" ".join(command.original.split()))
        try:
            if command.keyword == "WORKDIR":
                self._workdir(command, vertex)
            elif command.keyword == "RUN":
                self._run(command, vertex)
            else:
                self._copy(command, vertex)
        except SandboxError as err:
            vertex.error(str(err))
            raise
        vertex.done()

    def remember_or_reuse(self, key: str, described: str, make_layer, vertex=None) -> None:
        """The step's result from the cache, or made now (``make_layer``) and remembered."""
        build = self.build
        if not build.options.no_cache:
            found = cache.lookup(build.store, key)
            if found is not None:
                self.result = StageResult(found["config"], found["layers"], key)
                if vertex is not None:
                    vertex.cached()
                return
        layer = make_layer() if make_layer is not None else None
        config = self.result.config
        entry = {"created": now_iso(), "created_by": described, "comment": HISTORY_COMMENT}
        layers = list(self.result.layers)
        if layer is None:
            entry["empty_layer"] = True
        else:
            layers.append(layer)
            config.setdefault("rootfs", {"type": "layers", "diff_ids": []})
            config["rootfs"]["diff_ids"] = list(config["rootfs"].get("diff_ids") or []) + [
                layer["digest"]]
        config.setdefault("history", []).append(entry)
        config["created"] = entry["created"]
        self.result = StageResult(config, layers, key)
        cache.remember(build.store, key, config, layers, described)

    def _workdir(self, command, vertex) -> None:
        path = config_steps.workdir(self.inner, self.expander(command)(command.path))
        described = f"WORKDIR {path}"
        key = cache.step_key(self.result.key, described)

        def make_layer():
            target = self.tree()
            found = target.lstat(target.resolve(path.lstrip("/") or "."))
            if found is not None:
                return None  # it is there already (perhaps through a link): no layer
            return self.put_layer(lambda out: _directory_tar(out, path, target))
        self.remember_or_reuse(key, described, make_layer, vertex)

    def _run(self, command, vertex) -> None:
        inner = self.inner
        argv = config_steps.shell_or_exec(inner, _script(command), command.argv)
        args_env = [f"{k}={v}" for k, v in _defined(self.args).items()
                    if k not in config_steps.env_dict(inner)]
        proxies = [f"{k}={v}" for k, v in self.build.options.build_args.items()
                   if k in PROXY_ARGS]
        network = command.network or self.build.options.network
        described = "RUN " + " ".join(argv) + " # buildkit"
        # The build arguments a RUN sees are part of its key: a new --build-arg value runs it again.
        key = cache.step_key(self.result.key, described, args_env, network, command.mounts)

        def make_layer():
            from . import run_step  # the container machinery: only when a RUN runs
            from .run_mounts import run_mounts
            self.build.hold_network(network)
            with run_mounts(self, command) as mounts:
                return run_step.run(self.build.root, self.build.store, self.result.image(),
                                    argv, list(inner.get("Env") or [DEFAULT_PATH]) + args_env
                                    + proxies, inner.get("WorkingDir") or "/",
                                    inner.get("User") or "",
                                    None if network in (None, "default") else network, mounts,
                                    vertex.log, keep=self.build.options.keep_containers)
        self.remember_or_reuse(key, described, make_layer, vertex)

    def _copy(self, command, vertex) -> None:
        from .copy_step import copy_step
        copy_step(self, command, vertex)

    def tree(self):
        """The stage's files so far, read through its unpacked layers."""
        from .copying import LayeredTree
        return LayeredTree(self.lower_dirs(self.result))

    def lower_dirs(self, result: StageResult) -> list[str]:
        build = self.build
        from ..engine import lifecycle
        return lifecycle.lower_dirs(build.root, result.image(), build.rootless, None, build.store)

    def put_layer(self, write) -> dict:
        """A layer tar written by ``write(out)`` into the store."""
        store = self.build.store
        scratch = store.tmp / f"build-{os.getpid()}-{os.urandom(4).hex()}.tar"
        try:
            with open(scratch, "wb") as out:
                write(out)
            with open(scratch, "rb") as src:
                return store.put_blob_stream(src, MEDIA_LAYER_TAR)
        finally:
            scratch.unlink(missing_ok=True)


def _script(command) -> str | None:
    """A shell-form RUN's script.  Heredocs go to the shell as heredocs, as BuildKit does:
    the command line, then each body and its delimiter."""
    if command.script is None:
        return None
    if not command.heredocs:
        return command.script
    # ``RUN <<EOF`` alone: the body is the script.
    only = command.heredocs[0]
    if len(command.heredocs) == 1 and command.script.strip() in (f"<<{only.name}",
                                                                f"<<-{only.name}",
                                                                f'<<"{only.name}"',
                                                                f"<<'{only.name}'"):
        return only.content
    parts = [command.script]
    for doc in command.heredocs:
        parts.append(doc.content.rstrip("\n"))
        parts.append(doc.name)
    return "\n".join(parts)


def _directory_tar(out, path: str, target) -> None:
    """A layer that adds directory ``path`` and whichever of its parents are missing."""
    import tarfile
    with tarfile.open(fileobj=out, mode="w|", format=tarfile.PAX_FORMAT) as tar:
        parts = [p for p in path.split("/") if p]
        for i in range(1, len(parts) + 1):
            rel = "/".join(parts[:i])
            st = target.lstat(rel)
            info = tarfile.TarInfo(rel)
            info.type = tarfile.DIRTYPE
            info.mode, info.uid, info.gid = (st.st_mode & 0o7777, 0, 0) if st else (0o755, 0, 0)
            info.mtime = int(st.st_mtime) if st else 0
            tar.addfile(info)


def _ensure_path(config: dict) -> None:
    """Give a stage whose base image sets no PATH the default one, as BuildKit does
    ("make sure that PATH is always set", dockerfile2llb/convert.go): an image made by
    ``import`` has no Env at all, and ``ENV PATH=/venv/bin:$PATH`` would drop /usr/bin."""
    inner = config.setdefault("config", {})
    env = inner.get("Env") or []
    if not any(entry.startswith("PATH=") for entry in env):
        inner["Env"] = env + [DEFAULT_PATH]


def _scratch_config() -> dict:
    return {"architecture": oci_arch(), "os": "linux", "config": {"Env": [DEFAULT_PATH]},
            "rootfs": {"type": "layers", "diff_ids": []}, "history": []}


def _defined(values: dict) -> dict[str, str]:
    return {k: v for k, v in values.items() if v is not None}
