"""Loading a compose project: from files on disk to one checked, normalized model.

    compose.yaml  compose.override.yaml          per file, per YAML document:
          │                │                       1 read (yamlfile.py: YAML 1.2, !reset/!override)
          └───────┬────────┘                       2 interpolate ${VAR} (interpolation.py)
                  ▼                                3 validate against the schema (schema.py)
     ┌──── for each file ────┐                     4 include: other projects, merged under this one
     │ 1 → 2 → 3 → 4 → 5 → 6 │                     5 short syntax → long syntax (canonical.py)
     └───────────┬───────────┘                     6 extends: a service built on another
                 ▼ merge (merge.py)
       normalize: env_file read, default network, names "<project>_<net>", image of a build
                 ▼
       profiles → enabled / disabled services
                 ▼
       references: depends_on, networks, volumes known; no cycle in depends_on

The order is compose-go's (``loader/loader.go``, ``loadYamlFile``): a file
is interpolated before anything reads it, ``include`` comes before
``extends`` so an included service can be extended, and references are
checked last, once profiles have said which services exist.  The loader
reads files and nothing else: no network, no container.

Sources: the Compose Specification (12-interpolation.md, 13-merge.md,
"Project name", "Profiles", "extends", "include"); compose-go's
``loader/``, ``cli/options.go`` (which files, which project name) and
``graph/`` (dependency cycles).
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Mapping

from . import canonical, dotenv, merge, schema
from .errors import ComposeError
from .interpolation import interpolate
from .model import Project
from .yamlfile import read_documents

# compose-go's cli.DefaultFileNames and DefaultOverrideFileNames, in order of preference.
FILE_NAMES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")
OVERRIDE_NAMES = ("compose.override.yml", "compose.override.yaml",
                  "docker-compose.override.yml", "docker-compose.override.yaml")
REMOTE = re.compile(r"^(?:[a-zA-Z][a-zA-Z0-9+.-]+:(?![\\/])|git@)")  # oci://, https://, git@, remote:x


# --- which files, which name ---------------------------------------------------------------

def find_files(directory: Path | str) -> list[Path]:
    """The compose file of ``directory`` (or of the nearest parent that has one), and its override.

    As ``docker compose`` without ``-f``: the first of compose.yaml, compose.yml,
    docker-compose.yml, docker-compose.yaml; then compose.override.yml (or
    .yaml, or docker-compose.override.*) from the same folder, merged after it.
    """
    folder = Path(directory).absolute()
    while True:
        found = [folder / name for name in FILE_NAMES if (folder / name).is_file()]
        if found:
            overrides = [folder / name for name in OVERRIDE_NAMES if (folder / name).is_file()]
            return found[:1] + overrides[:1]
        if folder.parent == folder:
            return []
        folder = folder.parent


def normalize_project_name(name: str) -> str:
    """compose-go's NormalizeProjectName: lowercase, only [a-z0-9_-], no leading '_' or '-'."""
    return re.sub(r"[^a-z0-9_-]", "", name.lower()).lstrip("_-")


def _checked_name(name: str, source: str) -> str:
    if normalize_project_name(name) != name or not name:
        raise ComposeError(f"invalid project name {name!r} (from {source}): use lowercase letters, digits, "
                           "'-' and '_', starting with a letter or a digit")
    return name


def _remote(reference: str, file, path) -> None:
    if REMOTE.match(reference):
        raise ComposeError(f"{reference!r} is a remote resource: remote resources are not supported offline "
                           "(copy the file next to this one)", file, path)


# --- one file, one YAML document -----------------------------------------------------------

class _Context:
    """What loading one project (or one included project) needs: its folder and its variables."""

    def __init__(self, working_dir: Path, environment: dict, home: str, including: tuple = ()):
        self.working_dir = working_dir
        self.environment = environment
        self.home = home
        self.including = including  # the files whose include: led here (to catch cycles)


def _load_files(files: list[Path], context: _Context) -> dict:
    """The merged, canonical model of a list of files (a project, or an included project)."""
    model: dict = {}
    for file in files:
        for tree, tagged in read_documents(file):
            tree = _load_document(tree, tagged, file, context)
            model = merge.merge_files(model, tree, tagged)
    return model


def _load_document(tree: dict, tagged: list, file: Path, context: _Context) -> dict:
    tree = interpolate(tree, context.environment, file)
    schema.validate(tree, file)
    tree.pop("version", None)  # obsolete: compose warns and ignores it
    included = _include(tree.pop("include", None) or [], file, context)
    tree = canonical.services(tree, context.working_dir, context.home, file)
    tree = _mark_resets(tree, tagged)
    tree = _apply_extends(tree, file, context.working_dir, context, ())
    if included:
        # The including file wins over what it includes (compose-go's importResources).
        tree = merge.merge_files(included, tree, tagged)  # !override/!reset apply to what is included too
    return tree


# --- include -------------------------------------------------------------------------------

def _include(entries: list, file: Path, context: _Context) -> dict:
    """The model of every included project, merged (Compose Specification, "include")."""
    model: dict = {}
    for i, entry in enumerate(entries):
        entry = {"path": entry} if isinstance(entry, str) else dict(entry)
        paths = [entry["path"]] if isinstance(entry["path"], str) else list(entry["path"])
        for p in paths:
            _remote(p, file, ("include", i, "path"))
        files = [Path(canonical.absolute(p, context.working_dir, context.home)) for p in paths]
        if files[0] in context.including or files[0] == file:
            chain = " -> ".join(str(f) for f in context.including + (file, files[0]))
            raise ComposeError(f"include cycle detected: {chain}", file, ("include", i))
        directory = entry.get("project_directory")
        directory = Path(canonical.absolute(directory, context.working_dir, context.home)) if directory \
            else files[0].parent
        env_files = entry.get("env_file")
        if env_files is None:
            env_files = [directory / ".env"] if (directory / ".env").is_file() else []
        else:
            env_files = [Path(canonical.absolute(f, context.working_dir, context.home))
                         for f in ([env_files] if isinstance(env_files, str) else env_files) if f != "/dev/null"]
        # The caller's variables win over the included project's .env (compose-go's ApplyInclude).
        environment = {**dotenv.read(env_files, context.environment), **context.environment}
        sub = _Context(directory, environment, context.home, context.including + (file,))
        included = _load_files(files, sub)
        _resolve_environment(included, environment)
        # An earlier include wins over a later one, as the including file wins over both.
        model = merge.merge({k: v for k, v in included.items()
                             if k in ("services", "networks", "volumes", "secrets", "configs")}, model)
    return model


# --- extends -------------------------------------------------------------------------------

def _apply_extends(tree: dict, file: Path, base_dir: Path, context: _Context, chain: tuple) -> dict:
    services = tree.get("services")
    if not isinstance(services, dict):
        return tree
    done = dict(services)
    for name in services:
        done[name] = _extend(name, done, file, base_dir, context, chain)
    return {**tree, "services": done}


def _extend(name: str, services: dict, file: Path, base_dir: Path, context: _Context, chain: tuple):
    """One service with its ``extends`` resolved (recursively); compose-go's applyServiceExtends."""
    service = services[name]
    if not isinstance(service, dict) or "extends" not in service:
        return service
    spec = service["extends"]
    spec = {"service": spec} if isinstance(spec, str) else spec
    where = ("services", name, "extends")
    link = (str(file), name)
    if link in chain:
        shown = " -> ".join(f"{Path(f).name}:{s}" for f, s in chain + (link,))
        raise ComposeError(f"Circular reference in extends: {shown}", file, where)
    if spec.get("file"):
        _remote(spec["file"], file, where + ("file",))
        other = Path(canonical.absolute(spec["file"], base_dir, context.home))
        base_services = _services_of(other, context, file, where)
        base_file, base_base_dir = other, other.parent
    else:
        base_services, base_file, base_base_dir = services, file, base_dir
    ref = spec["service"]
    if ref not in base_services:
        raise ComposeError(f"cannot extend service {ref!r}: no such service in {base_file}", file, where)
    base = _extend(ref, dict(base_services), base_file, base_base_dir, context, chain + (link,))
    own = {k: v for k, v in service.items() if k != "extends"}
    if base is None:
        return own
    base = {k: v for k, v in base.items() if k != "extends"}
    return merge.merge(merge.clear(base, service.get("x-sandbox-resets", [])), own, ("services", name))


def _services_of(other: Path, context: _Context, file, where) -> dict:
    """The canonical services of a file named by ``extends.file`` (paths relative to its folder)."""
    if not other.is_file():
        raise ComposeError(f"cannot extend from {other}: no such file", file, where + ("file",))
    services: dict = {}
    for tree, tagged in read_documents(other):
        tree = interpolate(tree, context.environment, other)
        tree = canonical.services(tree, other.parent, context.home, other)
        tree = _mark_resets(tree, tagged)
        services = merge.merge_files({"services": services}, {"services": tree.get("services") or {}},
                                     tagged)["services"]
    return services


def _mark_resets(tree: dict, tagged: list) -> dict:
    """Remember, in each service, the paths its file tagged !reset/!override (for extends merges)."""
    for name, service in (tree.get("services") or {}).items():
        mine = [p[2:] for p in tagged if len(p) > 2 and p[:2] == ("services", name)]
        if mine and isinstance(service, dict):
            service["x-sandbox-resets"] = mine
    return tree


# --- normalization -------------------------------------------------------------------------

def _resolve_environment(model: dict, environment: Mapping[str, str]) -> None:
    """env_file read into environment (environment wins); ``KEY`` alone takes the caller's value."""
    for name, service in (model.get("services") or {}).items():
        if not isinstance(service, dict):
            continue
        from_files: dict = {}
        for entry in service.pop("env_file", None) or []:
            path = Path(entry["path"])
            if not path.is_file():
                if not entry.get("required", True):
                    continue
                raise ComposeError(f"env file {path} not found (or mark it required: false)",
                                   None, ("services", name, "env_file"))
            from_files.update(dotenv.read([path], environment))
        if from_files or "environment" in service:
            merged = {**from_files, **(service.get("environment") or {})}
            service["environment"] = {k: (environment.get(k) if v is None else v) for k, v in merged.items()}


def _normalize(model: dict, name: str, file: Path) -> dict:
    """Defaults compose always prints: a network per service, full resource names, an image per build."""
    model = dict(model)
    model["name"] = name
    services = model.setdefault("services", {})
    uses_default = False
    for service_name, service in list(services.items()):
        if service is None:
            service = services[service_name] = {}
        service.pop("x-sandbox-resets", None)
        if "image" not in service and "build" not in service:
            raise ComposeError("has neither an image nor a build context: add image: or build:",
                               file, ("services", service_name))
        if "image" not in service:
            service["image"] = f"{name}-{service_name}"  # Compose v2's name for a built image
        if "network_mode" not in service and not service.get("networks"):
            service["networks"] = {"default": None}
        uses_default |= "default" in (service.get("networks") or {})
        deploy = service.get("deploy") or {}
        service["scale"] = int(deploy.get("replicas", service.get("scale", 1)))
    networks = {k: dict(v or {}) for k, v in (model.get("networks") or {}).items()}
    if uses_default:
        networks.setdefault("default", {})
    for key, network in networks.items():
        _resource(network, name, key, "bridge")
        network.setdefault("internal", False)
    model["networks"] = networks
    volumes = {k: dict(v or {}) for k, v in (model.get("volumes") or {}).items()}
    for key, volume in volumes.items():
        _resource(volume, name, key, "local")
        volume.setdefault("driver_opts", {})
    if volumes or "volumes" in model:
        model["volumes"] = volumes
    return model


def _resource(resource: dict, project: str, key: str, driver: str) -> None:
    external = resource.get("external")
    if isinstance(external, dict):  # the old `external: {name: x}` form
        resource["name"] = external.get("name", resource.get("name", key))
        external = True
    resource["external"] = bool(external)
    if "name" not in resource:
        resource["name"] = key if resource["external"] else f"{project}_{key}"
    resource.setdefault("driver", driver)
    resource.setdefault("labels", {})


# --- profiles and references ---------------------------------------------------------------

def _split_by_profiles(services: dict, profiles: list[str]) -> tuple[dict, dict]:
    """(enabled, disabled): a service with profiles runs only when one of them is active ("*" = all)."""
    enabled, disabled = {}, {}
    for name, service in services.items():
        own = service.get("profiles") or []
        active = not own or "*" in profiles or any(p in profiles for p in own)
        (enabled if active else disabled)[name] = service
    return enabled, disabled


def _check_references(model: dict, disabled: dict, file: Path) -> None:
    services = model["services"]
    for name, service in services.items():
        at = ("services", name)
        for dependency, spec in (service.get("depends_on") or {}).items():
            if dependency in services:
                continue
            if dependency in disabled:
                if not spec.get("required", True):
                    continue
                raise ComposeError(f"service {dependency!r} is disabled by its profiles "
                                   f"{disabled[dependency].get('profiles')}: enable one with --profile",
                                   file, at + ("depends_on", dependency))
            raise ComposeError(f"service {name!r} depends on undefined service {dependency!r}",
                               file, at + ("depends_on", dependency))
        for mode_key in ("network_mode", "ipc", "pid"):
            mode = service.get(mode_key)
            if isinstance(mode, str) and mode.startswith("service:") and mode[8:] not in services:
                raise ComposeError(f"service {name!r} depends on undefined service {mode[8:]!r}",
                                   file, at + (mode_key,))
        for i, source in enumerate(service.get("volumes_from") or []):
            other = source.split(":")[0]
            if not other.startswith("container") and other not in services:
                raise ComposeError(f"service {name!r} depends on undefined service {other!r}",
                                   file, at + ("volumes_from", i))
        if "network_mode" in service and service.get("networks") and "default" not in service["networks"]:
            raise ComposeError("network_mode and networks cannot be used together", file, at)
        for network in service.get("networks") or {}:
            if network not in model["networks"]:
                raise ComposeError(f"network {network!r} is not declared: add it under the top-level networks:",
                                   file, at + ("networks", network))
        for i, volume in enumerate(service.get("volumes") or []):
            if volume.get("type") == "volume" and volume.get("source") \
                    and volume["source"] not in (model.get("volumes") or {}):
                raise ComposeError(f"volume {volume['source']!r} is not declared: add it under the top-level "
                                   "volumes:", file, at + ("volumes", i))
    _check_cycles(services, file)


def _check_cycles(services: dict, file: Path) -> None:
    """No service may wait, through depends_on, for itself (compose-go's graph.InDependencyOrder)."""
    state: dict[str, str] = {}

    def visit(name: str, trail: list[str]):
        state[name] = "visiting"
        for dependency in sorted(services[name].get("depends_on") or {}):
            if dependency not in services:
                continue
            if state.get(dependency) == "visiting":
                cycle = trail[trail.index(dependency):] + [dependency]
                raise ComposeError(f"dependency cycle detected: {' -> '.join(cycle)}",
                                   file, ("services", name, "depends_on"))
            if dependency not in state:
                visit(dependency, trail + [dependency])
        state[name] = "done"

    for name in sorted(services):
        if name not in state:
            visit(name, [name])


# --- the pipeline --------------------------------------------------------------------------

def load(files: list[Path] | None = None, project_name: str | None = None, *,
         project_directory: Path | None = None, env_files: list[Path] | None = None,
         profiles: list[str] = (), environ: dict | None = None) -> Project:
    """Read, check and normalize a compose project, as ``docker compose config`` would.

    ``files``: the ``-f`` files, else COMPOSE_FILE, else :func:`find_files`.
    ``environ``: the caller's variables (``os.environ`` by default); the
    project's ``.env`` (or ``env_files``, ``--env-file``) fills in the rest.
    """
    environ = dict(os.environ if environ is None else environ)
    home = environ.get("HOME") or str(Path.home())
    start = Path(project_directory or (Path(files[0]).parent if files else Path.cwd())).absolute()
    environment = _environment(start, env_files, environ)
    files = _files(files, start, environment, project_directory)
    working_dir = Path(project_directory).absolute() if project_directory else files[0].parent
    if working_dir != start and env_files is None:
        environment = _environment(working_dir, None, environ)
    name = _project_name(project_name, files, working_dir, environment)
    environment["COMPOSE_PROJECT_NAME"] = name  # as compose-go: ${COMPOSE_PROJECT_NAME} works in files

    context = _Context(working_dir, environment, home)
    model = _load_files(files, context)
    if not model:
        raise ComposeError("empty compose file: define at least one service under services:", files[0])
    model.pop("name", None)
    _resolve_environment(model, environment)
    model = _normalize(model, name, files[0])
    active = list(profiles) or [p for p in environment.get("COMPOSE_PROFILES", "").split(",") if p]
    enabled, disabled = _split_by_profiles(model["services"], active)
    model["services"] = enabled
    _check_references(model, disabled, files[0])
    return Project(name=name, working_dir=working_dir, files=files, model=model,
                   environment=environment, disabled=disabled)


def _environment(directory: Path, env_files, environ: dict) -> dict:
    """The variables interpolation uses: the caller's over those of .env (or --env-file)."""
    if env_files is None:
        env_files = [directory / ".env"] if (directory / ".env").is_file() else []
    return {**dotenv.read([Path(f).absolute() for f in env_files], environ), **environ}


def _files(files, start: Path, environment: dict, project_directory) -> list[Path]:
    if files:
        for f in files:
            _remote(str(f), None, ())
        return [Path(f).absolute() for f in files]
    if environment.get("COMPOSE_FILE"):
        separator = environment.get("COMPOSE_PATH_SEPARATOR", os.pathsep)
        return [Path(canonical.absolute(f, start, "~")) for f in environment["COMPOSE_FILE"].split(separator) if f]
    found = find_files(start)
    if not found:
        raise ComposeError(f"no configuration file provided: no compose.yaml in {start} or its parents")
    return found


def _project_name(given: str | None, files: list[Path], working_dir: Path, environment: dict) -> str:
    """-p, else COMPOSE_PROJECT_NAME, else the files' name:, else the folder's name (Compose docs, "Project name")."""
    if given:
        return _checked_name(given, "-p")
    if environment.get("COMPOSE_PROJECT_NAME"):
        return _checked_name(environment["COMPOSE_PROJECT_NAME"], "COMPOSE_PROJECT_NAME")
    from_files = ""
    for file in files:
        for tree, _ in read_documents(file):
            if isinstance(tree.get("name"), str) and tree["name"]:
                from_files = interpolate({"name": tree["name"]}, environment, file)["name"]
    name = normalize_project_name(from_files or working_dir.name)
    if not name:
        raise ComposeError(f"project name must not be empty: the folder {working_dir} gives none; "
                           "use -p NAME or name: in the file")
    return name
