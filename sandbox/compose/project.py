"""What ``sandbox compose`` does to a project: up, down, and the verbs between.

    up:   images (build or pull) ─▶ networks ─▶ volumes ─▶ containers, created in
          dependency order ─▶ started in dependency order, each after its
          ``depends_on`` conditions hold ─▶ (foreground) every container's logs, until
          they all exit or Ctrl-C stops the project
    down: containers (dependents first) ─▶ networks ─▶ with -v, volumes

Everything is made with the same engine as ``sandbox run``, ``network create`` and
``volume create``; what compose adds is the bookkeeping, done Docker Compose v2's way
(``pkg/compose/convergence.go``, ``down.go``): every container, network and volume
carries ``com.docker.compose.*`` labels (:mod:`.names`), and is found again by them,
never from a file of compose's own.  A container keeps the hash of the configuration
it was made from (:mod:`.confighash`): a second ``up`` leaves a container whose
service is unchanged running, and recreates the others.
"""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from ..engine import filters, lifecycle
from ..engine import volumes as volume_store
from ..engine.records import Container
from ..errors import Conflict, NotFound, SandboxError, UsageError
from ..kernel import procfs
from ..network import networks
from . import conditions, convert, names, order
from .confighash import service_hash
from .progress import Progress


class ServiceError(SandboxError):
    """A service that could not be built, created or started: the sentence names it."""


class Project:
    """A loaded compose project (the loader's ``Project``), acted on in the state root ``root``."""

    def __init__(self, root: Path, project, progress: Progress | None = None,
                 build_output=None):
        self.root = Path(root)
        self.project = project
        self.name = project.name
        self.model = project.model
        self.services: dict[str, dict] = project.model.get("services") or {}
        self.progress = progress or Progress()
        self.build_output = build_output or (lambda text: sys.stderr.write(text))

    # --- finding what the project has --------------------------------------------------
    def containers(self, services=(), oneoff: bool | None = False,
                   running_only: bool = False) -> list[Container]:
        """The project's containers (by label), by service in start order, then by number."""
        found = filters.labelled(self.root, {names.PROJECT: self.name})
        found = [c for c in found
                 if (not services or _service(c) in services)
                 and (oneoff is None or (c.spec.labels.get(names.ONEOFF) == "True") == oneoff)
                 and (not running_only or c.running)]
        rank = {n: i for i, n in enumerate(order.start_order(self.services))}
        return sorted(found, key=lambda c: (rank.get(_service(c), -1), _service(c),
                                            _number(c), c.config["Created"]))

    def container_for(self, service: str, index: int = 1) -> Container:
        """Replica ``index`` of ``service`` (``exec``, ``port``): it must exist."""
        self._known(service)
        for c in self.containers([service]):
            if _number(c) == index:
                return c
        raise ServiceError(f'service "{service}" is not running' if index == 1 else
                           f'service "{service}" has no container number {index}')

    def _known(self, *wanted: str) -> None:
        for name in wanted:
            if name not in self.services:
                disabled = getattr(self.project, "disabled", {}) or {}
                why = " (it is in a profile that is not enabled)" if name in disabled else ""
                raise UsageError(f"no such service: {name}{why}")

    # --- up -----------------------------------------------------------------------------
    def up(self, services=(), detach: bool = True, build: bool = False,
           no_build: bool = False, force_recreate: bool = False, no_recreate: bool = False,
           remove_orphans: bool = False, scale: dict[str, int] | None = None,
           wait: bool = False, timeout: float | None = None) -> int:
        """``compose up``: make the project's state what the file says; 0, or the exit code
        of a foreground ``up`` (130 after Ctrl-C).  ``services``: those and their
        dependencies only."""
        self._known(*services)
        selected = order.start_order(self.services, list(services) or None)
        for name in selected:
            convert.check_supported(name, self.services[name])
            missing = order.missing_dependencies(self.services, name)
            if missing:
                raise ServiceError(f'service "{name}" depends on undefined service '
                                   f'"{missing[0]}"')
        replicas = {n: self._replicas(n, scale or {}) for n in selected}
        images = {n: self._image(n, build=build, no_build=no_build) for n in selected}
        self._orphans(remove_orphans)
        self._networks(selected)
        self._volumes(selected)
        fresh: list[Container] = []
        kept: list[Container] = []
        for name in selected:
            made, unchanged = self._converge(name, images[name], replicas[name],
                                             force_recreate, no_recreate)
            fresh += made
            kept += unchanged
        follower = None if detach or wait else self._follower(fresh, kept)
        self._start(selected, fresh + kept)
        if wait:
            self._wait_ready(self.containers(selected))
        if follower is None:
            return 0
        return self._foreground(selected, follower)

    def _replicas(self, name: str, scale: dict[str, int]) -> int:
        service = self.services[name]
        count = scale.get(name, service.get("scale",
                                            (service.get("deploy") or {}).get("replicas", 1)))
        if count > 1 and service.get("container_name"):
            raise ServiceError(f'service "{name}": container_name "{service["container_name"]}" '
                               "is given, so it cannot have more than one replica")
        return int(count)

    # --- images ---------------------------------------------------------------------------
    def _image(self, name: str, build: bool = False, no_build: bool = False,
               no_cache: bool = False, pull: bool = False):
        """The service's image: built (``build:``, missing or ``--build``), else found or pulled."""
        service = self.services[name]
        ref = names.service_image(self.name, name, service)
        store = lifecycle.store_for(self.root)
        if service.get("build") and not no_build:
            try:
                if not build:
                    return store.get(ref)
            except NotFound:
                pass
            return self.build_service(name, no_cache=no_cache, pull=pull)
        try:
            return store.get(ref)
        except NotFound:
            pass
        self.progress("", name, "Pulling")
        try:
            image = lifecycle.get_image(self.root, ref, store=store)
        except SandboxError as err:
            raise ServiceError(f'service "{name}": {err}') from None
        self.progress("", name, "Pulled")
        return image

    def build_service(self, name: str, no_cache: bool = False, pull: bool = False):
        """``compose build``: the service's ``build:`` through :mod:`sandbox.builder`."""
        from ..builder.build import Options, build
        from ..builder.progress import Progress as BuildProgress
        spec = self.services[name].get("build")
        if not spec:
            raise ServiceError(f'service "{name}" has no build section')
        context = Path(spec.get("context") or self.project.working_dir)
        dockerfile = Path(spec.get("dockerfile") or "Dockerfile")
        options = Options(context=context,
                          dockerfile=dockerfile if dockerfile.is_absolute() else context / dockerfile,
                          dockerfile_text=spec.get("dockerfile_inline"),
                          tags=[names.service_image(self.name, name, self.services[name])],
                          build_args={k: str(v) for k, v in (spec.get("args") or {}).items()
                                      if v is not None},
                          target=spec.get("target"), no_cache=no_cache or bool(
                              spec.get("no_cache")), pull=pull or bool(spec.get("pull")),
                          labels=dict(spec.get("labels") or {}), network=spec.get("network"))
        self.progress("", name, "Building")
        try:
            image = build(self.root, options, BuildProgress(self.build_output, "plain"))
        except SandboxError as err:
            raise ServiceError(f'service "{name}" failed to build: {err}') from None
        self.progress("", name, "Built")
        return image

    def build(self, services=(), no_cache: bool = False, pull: bool = False) -> None:
        self._known(*services)
        for name in services or list(self.services):
            if self.services[name].get("build"):
                self.build_service(name, no_cache=no_cache, pull=pull)

    def pull(self, services=(), ignore_failures: bool = False) -> None:
        """``compose pull``: every service with an ``image:`` (built ones are skipped)."""
        from ..content.registry import pull
        self._known(*services)
        store = lifecycle.store_for(self.root)
        for name in services or list(self.services):
            service = self.services[name]
            if not service.get("image") or service.get("build"):
                continue
            self.progress("", name, "Pulling")
            try:
                pull(self.root, store, service["image"], progress=False, log=lambda *_: None)
            except Exception as err:  # a registry error has several types; all say why
                if not ignore_failures:
                    raise ServiceError(f'service "{name}": cannot pull {service["image"]}: '
                                       f"{err}") from None
                self.progress.warn(f"{name}: {err}")
                continue
            self.progress("", name, "Pulled")

    def push(self, services=()) -> None:
        """``compose push``: every service that names its image."""
        from ..content.registry import push
        self._known(*services)
        store = lifecycle.store_for(self.root)
        for name in services or list(self.services):
            image = self.services[name].get("image")
            if not image:
                continue
            self.progress("", name, "Pushing")
            push(self.root, store, image, log=lambda *_: None)
            self.progress("", name, "Pushed")

    # --- networks and volumes -------------------------------------------------------------
    def _used_networks(self, selected: list[str]) -> list[str]:
        used = []
        for name in selected:
            service = self.services[name]
            if service.get("network_mode"):
                continue
            for key in sorted(service.get("networks") or {"default": None}):
                if key not in used:
                    used.append(key)
        return used

    def _networks(self, selected: list[str]) -> None:
        declared = self.model.get("networks") or {}
        for key in self._used_networks(selected):
            config = declared.get(key)
            if config is None:
                raise ServiceError(f"network {key} is used by a service but not declared "
                                   "under the top-level `networks:`")
            real = config.get("name") or f"{self.name}_{key}"
            try:
                record = networks.lookup(self.root, real)
            except NotFound:
                record = None
            if config.get("external"):
                if record is None:
                    raise ServiceError(f'network {real} declared as external, but could not be '
                                       "found (make it with: sandbox network create " + real + ")")
                continue
            if record is not None:
                if record.get("Labels", {}).get(names.PROJECT) not in (None, self.name):
                    self.progress.warn(f"a network with name {real} exists but was not created "
                                       f"for project \"{self.name}\"")
                continue
            ipam = ((config.get("ipam") or {}).get("config") or [{}])[0]
            self.progress("Network", real, "Creating")
            networks.create(self.root, real, ipam.get("subnet"), ipam.get("gateway"),
                            bool(config.get("internal")),
                            {**(config.get("labels") or {}),
                             **names.resource_labels(self.name, names.NETWORK, key)})
            self.progress("Network", real, "Created")

    def _volumes(self, selected: list[str]) -> None:
        declared = self.model.get("volumes") or {}
        for name in selected:
            for v in self.services[name].get("volumes") or []:
                kind, source = v.get("type", "volume"), v.get("source")
                if kind == "bind" and source and not os.path.exists(source):
                    if not (v.get("bind") or {}).get("create_host_path", True):
                        raise ServiceError(f'service "{name}": bind source path does not '
                                           f"exist: {source}")
                    os.makedirs(source, exist_ok=True)  # Compose makes a missing directory
                if kind != "volume" or not source or source not in declared:
                    continue
                self._volume(source, declared[source])

    def _volume(self, key: str, config: dict) -> None:
        real = config.get("name") or f"{self.name}_{key}"
        try:
            volume_store.get(self.root, real)
            return
        except NotFound:
            if config.get("external"):
                raise ServiceError(f'external volume "{real}" not found (make it with: '
                                   f"sandbox volume create {real})") from None
        self.progress("Volume", f'"{real}"', "Creating")
        volume_store.create(self.root, real,
                       labels={**(config.get("labels") or {}),
                               **names.resource_labels(self.name, names.VOLUME, key)},
                       options=dict(config.get("driver_opts") or {}))
        self.progress("Volume", f'"{real}"', "Created")

    # --- containers -----------------------------------------------------------------------
    def _converge(self, name: str, image, replicas: int, force: bool,
                  no_recreate: bool) -> tuple[list[Container], list[Container]]:
        """Make replicas 1..N of ``name`` match the file: (containers made now, kept ones)."""
        wanted_hash = service_hash(self.services[name], image.id)
        existing = {}
        for c in self.containers([name]):
            if _number(c) in existing or _number(c) > replicas:
                self._remove_now(c)  # surplus replica (scaled down), or a duplicate
            else:
                existing[_number(c)] = c
        made, kept = [], []
        for number in range(1, replicas + 1):
            c = existing.get(number)
            if c is None:
                made.append(self._create(name, number, image, wanted_hash))
            elif (force or c.spec.labels.get(names.CONFIG_HASH) != wanted_hash) \
                    and not no_recreate:
                self.progress("Container", c.name, "Recreate")
                self._stop_together([c])
                lifecycle.remove(c, force=True, volumes=True)
                made.append(self._create(name, number, image, wanted_hash, quiet=True))
                self.progress("Container", made[-1].name, "Recreated")
            else:
                if c.running:
                    self.progress("Container", c.name, "Running")
                kept.append(c)
        return made, kept

    def _create(self, name: str, number: int, image, config_hash: str, quiet: bool = False,
                **overrides) -> Container:
        args = convert.create_arguments(self.project, name, number,
                                        names.service_image(self.name, name, self.services[name]),
                                        {names.CONFIG_HASH: config_hash, names.IMAGE: image.id},
                                        container=overrides.pop("container", None))
        args.update(overrides)
        more = args.pop("more_networks")
        if not quiet:
            self.progress("Container", args["name"], "Creating")
        try:
            container = lifecycle.create_container(self.root, image=image, **args)
        except SandboxError as err:
            raise ServiceError(f'service "{name}": cannot create container {args["name"]}: '
                               f"{err}") from None
        try:
            if more:
                from ..network.wiring import connect
                for network, wanted in more.items():
                    connect(container, network, wanted["Aliases"], wanted["IPv4Address"])
        except SandboxError as err:
            lifecycle.remove(container, force=True, volumes=True)
            raise ServiceError(f'service "{name}": cannot connect {container.name} to its '
                               f"networks: {err}") from None
        if not quiet:
            self.progress("Container", container.name, "Created")
        return container

    def _start(self, selected: list[str], wanted: list[Container]) -> None:
        """Start the stopped ones of ``wanted``, a service after its ``depends_on`` conditions."""
        by_service: dict[str, list[Container]] = {}
        for c in wanted:
            by_service.setdefault(_service(c), []).append(c)
        for name in selected:
            for dependency, how in (self.services[name].get("depends_on") or {}).items():
                if dependency not in selected:
                    continue
                conditions.wait_until(self.containers([dependency]),
                                      (how or {}).get("condition", "service_started"),
                                      self.progress, self._has_healthcheck)
            for c in by_service.get(name, []):
                if c.running:
                    continue
                self._start_one(name, c)

    def _start_one(self, name: str, c: Container) -> None:
        self.progress("Container", c.name, "Starting")
        try:
            lifecycle.start_detached(c)
        except SandboxError as err:
            raise ServiceError(f'service "{name}" failed to start: container {c.name}: '
                               f"{err}") from None
        self.progress("Container", c.name, "Started")

    def _has_healthcheck(self, c: Container) -> bool:
        """The file's healthcheck over the image's HEALTHCHECK, as the engine merged them."""
        from ..engine.health import active
        return active(c.spec.healthcheck)

    def _wait_ready(self, containers: list[Container]) -> None:
        """``up --wait``: running, and healthy if it has a check; a one-shot that exited 0 is fine."""
        for c in containers:
            if self._has_healthcheck(c):
                conditions.wait_until([c], "service_healthy", self.progress,
                                      self._has_healthcheck)
                continue
            state = c.status()
            if state.get("Status") == "exited" and state.get("ExitCode", 0) != 0:
                raise ServiceError(f"container {c.name} exited ({state.get('ExitCode')})")

    def _orphans(self, remove: bool) -> None:
        orphans = [c for c in self.containers(oneoff=False) if _service(c) not in self.services]
        if not orphans:
            return
        if not remove:
            self.progress.warn(f"Found orphan containers ({', '.join(c.name for c in orphans)}) "
                               "for this project. If you removed or renamed this service in "
                               "your compose file, you can run this command with the "
                               "--remove-orphans flag to clean it up.")
            return
        self._stop_together(orphans)
        for c in orphans:
            self._remove_now(c, stop=False)

    def _remove_now(self, c: Container, stop: bool = True, anonymous: bool = True) -> None:
        if stop:
            self._stop_together([c])
        self.progress("Container", c.name, "Removing")
        lifecycle.remove(c, force=True, volumes=anonymous)
        self.progress("Container", c.name, "Removed")

    # --- the foreground -------------------------------------------------------------------
    def _follower(self, fresh: list[Container], kept: list[Container]):
        """Before anything starts: every container's log, from its first line for those
        made now, from its end for the others (what they print from now on)."""
        from .logs import Follower, Prefixes
        watched = fresh + kept
        follower = Follower(Prefixes([c.name for c in watched], sys.stdout.isatty()))
        for c in watched:
            follower.watch(c, from_start=c in fresh)
        follower.poll()  # opens the files, at their end for the kept ones
        return follower

    def _foreground(self, selected: list[str], follower) -> int:
        """Print every container's output, prefixed, until all exit; Ctrl-C (or SIGTERM)
        stops the project, a second Ctrl-C kills it (Compose's ``Gracefully stopping...``)."""
        previous = {s: signal.signal(s, _interrupt) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            try:
                follower.follow(until_exited=True, announce_exits=True)
                return 0
            except KeyboardInterrupt:
                print("Gracefully stopping... (press Ctrl+C again to force)", file=sys.stderr,
                      flush=True)
            try:
                self.stop(selected)
            except KeyboardInterrupt:
                self.kill(selected)
            follower.poll()
            return 130
        finally:
            for s, handler in previous.items():
                signal.signal(s, handler)

    # --- down -----------------------------------------------------------------------------
    def down(self, volumes: bool = False, remove_orphans: bool = False,
             timeout: float | None = None) -> None:
        """``compose down``: the project's containers (dependents first), its networks, and
        with ``volumes`` its named volumes and every anonymous one: all found by label."""
        everything = self.containers(oneoff=None)
        orphans = [c for c in everything if _service(c) not in self.services
                   and c.spec.labels.get(names.ONEOFF) != "True"]
        if orphans and not remove_orphans and self.services:
            self.progress.warn(f"Found orphan containers ({', '.join(c.name for c in orphans)}) "
                               "for this project. If you removed or renamed this service in "
                               "your compose file, you can run this command with the "
                               "--remove-orphans flag to clean it up.")
            everything = [c for c in everything if c not in orphans]
        for level in order.stop_levels(self.services, everything, _service):
            self._stop_together(level, timeout)
            for c in level:
                self.progress("Container", c.name, "Removing")
                lifecycle.remove(c, force=True, volumes=volumes)
                self.progress("Container", c.name, "Removed")
        for record in networks.all_networks(self.root):
            if (record.get("Labels") or {}).get(names.PROJECT) != self.name:
                continue
            self.progress("Network", record["Name"], "Removing")
            try:
                networks.remove(self.root, record["Name"])
            except Conflict as err:  # an orphan left on it, or another project's container
                self.progress.warn(str(err))
                continue
            self.progress("Network", record["Name"], "Removed")
        if volumes:
            for record in list(_project_volumes(self.root, self.name)):
                self.progress("Volume", record["Name"], "Removing")
                try:
                    volume_store.remove(self.root, record["Name"])
                except Conflict as err:
                    self.progress.warn(str(err))
                    continue
                self.progress("Volume", record["Name"], "Removed")

    # --- start, stop, restart, kill, rm ----------------------------------------------------
    def start(self, services=()) -> None:
        self._known(*services)
        selected = order.start_order(self.services, list(services) or None)
        found = self.containers(selected)
        if not found:
            raise ServiceError("no containers to start (run `sandbox compose up` first)")
        self._start(selected, found)

    def stop(self, services=(), timeout: float | None = None) -> None:
        self._known(*services)
        found = self.containers(services, oneoff=None)
        for level in order.stop_levels(self.services, found, _service):
            self._stop_together(level, timeout)

    def restart(self, services=(), timeout: float | None = None) -> None:
        self.stop(services, timeout)
        self._known(*services)
        selected = list(services) or order.start_order(self.services)
        for name in order.start_order(self.services, selected):
            for c in self.containers([name]):
                self.progress("Container", c.name, "Restarting")
                lifecycle.start_detached(c)
                self.progress("Container", c.name, "Started")

    def kill(self, services=(), sig: int = signal.SIGKILL) -> None:
        for c in self.containers(services, oneoff=None, running_only=True):
            self.progress("Container", c.name, "Killing")
            try:
                lifecycle.kill(c, sig)
            except Conflict:
                continue
            self.progress("Container", c.name, "Killed")

    def stopped(self, services=()) -> list[Container]:
        """What ``compose rm`` would remove: the services' containers that are not running."""
        self._known(*services)
        return [c for c in self.containers(services) if not c.running]

    def rm(self, services=(), stop: bool = False, volumes: bool = False) -> list[Container]:
        """``compose rm``: remove stopped containers (``stop``: stop the running ones first)."""
        if stop:
            self.stop(services)
        gone = self.stopped(services)
        for c in gone:
            self.progress("Container", c.name, "Removing")
            lifecycle.remove(c, volumes=volumes)
            self.progress("Container", c.name, "Removed")
        return gone

    def _stop_together(self, found: list[Container], timeout: float | None = None) -> None:
        """Stop these containers at once: each gets its stop signal, then all are waited for
        together, and whichever outlives its time (``-t``, else ``stop_grace_period``, else
        10 s) gets SIGKILL, as ``docker stop`` does one by one."""
        running = [c for c in found if c.status().get("Status") in ("running", "restarting")]
        start = time.monotonic()
        for c in running:
            self.progress("Container", c.name, "Stopping")
            c.write_state(StoppedByUser=True)  # first: its restart policy must not start it again
            try:
                lifecycle.kill(c, lifecycle.stop_signal(c))
            except Conflict:  # restarting, or exited meanwhile: stop() sorts it out below
                pass
        for c in running:
            limit = timeout if timeout is not None else (
                c.spec.stop_timeout if c.spec.stop_timeout is not None
                else lifecycle.DEFAULT_STOP_TIMEOUT)
            state = c.state
            left = max(0.0, limit - (time.monotonic() - start))
            if state.get("Pid") and not procfs.wait_gone(state["Pid"], state.get("PidStart"),
                                                         left):
                try:
                    lifecycle.kill(c, signal.SIGKILL)
                except Conflict:
                    pass
            if c.status().get("Status") in ("running", "restarting"):
                try:
                    lifecycle.stop(c, timeout=0)
                except Conflict:
                    pass
            lifecycle.wait_recorded(c)
            self.progress("Container", c.name, "Stopped")

    # --- one-off containers (run) -----------------------------------------------------------
    def run_container(self, service: str, command: list[str] | None = None,
                      env: list[str] = (), no_deps: bool = False, remove: bool = False,
                      tty: bool = False, interactive: bool = True, user: str | None = None,
                      workdir: str | None = None, entrypoint: list[str] | None = None,
                      name: str | None = None, service_ports: bool = False) -> Container:
        """``compose run``: the service's dependencies up (unless ``no_deps``), then a new
        one-off container ``<project>-<service>-run-<12 hex>``, made but not started."""
        self._known(service)
        convert.check_supported(service, self.services[service])
        dependencies = [d for d in order.start_order(self.services, [service]) if d != service]
        if dependencies and not no_deps:
            self.up(dependencies, detach=True)
        image = self._image(service)
        self._networks([service])
        self._volumes([service])
        slug = names.oneoff_slug()
        args = convert.create_arguments(self.project, service, 1,
                                        names.service_image(self.name, service, self.services[service]),
                                        {names.ONEOFF: "True", names.SLUG: slug,
                                         names.IMAGE: image.id},
                                        container=name or names.oneoff_name(self.name, service,
                                                                            slug))
        args.pop("more_networks")
        if not service_ports:
            args["publish"] = []
        args.update(restart=None, auto_remove=remove, tty=tty, interactive=interactive,
                    env=args["env"] + list(env))
        if command:
            args["cmd"] = list(command)
        if entrypoint is not None:
            args["entrypoint"] = entrypoint
        for key, value in (("user", user), ("workdir", workdir)):
            if value is not None:
                args[key] = value
        try:
            return lifecycle.create_container(self.root, image=image, **args)
        except SandboxError as err:
            raise ServiceError(f'service "{service}": cannot create container: {err}') from None


# --- helpers ------------------------------------------------------------------------------------
def _service(c: Container) -> str:
    return c.spec.labels.get(names.SERVICE, "")


def _number(c: Container) -> int:
    try:
        return int(c.spec.labels.get(names.NUMBER, "0"))
    except ValueError:
        return 0


def _interrupt(signum, _frame):
    raise KeyboardInterrupt


def _project_volumes(root: Path, project: str) -> list[dict]:
    return [v for v in volume_store.all_volumes(root)
            if (v.get("Labels") or {}).get(names.PROJECT) == project]


def projects(root: Path) -> dict[str, dict]:
    """``compose ls``: every project with a container in this state root, by its labels:
    name → {"Status": "running(2), exited(1)", "ConfigFiles": "...", "running": 2}."""
    from ..engine.records import all_containers
    found: dict[str, dict] = {}
    for c in all_containers(root):
        labels = c.spec.labels
        if names.PROJECT not in labels:
            continue
        entry = found.setdefault(labels[names.PROJECT], {"counts": {}, "ConfigFiles":
                                                         labels.get(names.CONFIG_FILES, "")})
        status = c.status().get("Status", "unknown")
        entry["counts"][status] = entry["counts"].get(status, 0) + 1
    for entry in found.values():
        counts = entry.pop("counts")
        entry["Status"] = ", ".join(f"{s}({n})" for s, n in sorted(counts.items()))
        entry["running"] = counts.get("running", 0)
    return dict(sorted(found.items()))
