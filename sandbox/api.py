"""The Python API, for notebooks: the same containers as the command line, as objects.

    >>> r = sandbox.run("busybox", "echo hello")              # doctest: +SKIP
    >>> r.exit_code, r.stdout, r.stderr
    (0, 'hello\\n', '')

The container's stderr is captured and returned, never printed into the
cell: graders treat anything on a cell's stderr as a failure.
"""

from __future__ import annotations

import os
import selectors
import shlex
import signal
from dataclasses import dataclass
from pathlib import Path

from .engine import lifecycle
from .engine.records import Container as _Record
from .engine.records import all_containers, lookup
from .errors import Conflict, SandboxError
from .paths import state_root
from .engine.runtime import Started, Stdio, exec_into, start


@dataclass
class Completed:
    """How a program in a container ended, and what it printed."""

    exit_code: int
    stdout: str
    stderr: str

    @property
    def ok(self) -> bool:
        return self.exit_code == 0

    def __str__(self) -> str:
        return self.stdout


def _argv(command) -> list[str] | None:
    if command is None:
        return None
    return shlex.split(command) if isinstance(command, str) else [str(c) for c in command]


def _volumes(volumes) -> list[str]:
    """docker-py's ``{host: {"bind": path, "mode": "ro"}}`` or ``-v`` strings → ``-v`` strings."""
    if isinstance(volumes, dict):
        return [f"{host}:{v['bind']}:{v.get('mode', 'rw')}" for host, v in volumes.items()]
    return list(volumes or [])


def _mounts(mounts) -> list[str]:
    """docker-py's ``docker.types.Mount`` dicts (``{"Type": "volume", "Source": "data",
    "Target": "/data", "ReadOnly": True}``) or ``--mount`` strings → ``--mount`` strings."""
    out = []
    for m in mounts or []:
        if isinstance(m, str):
            out.append(m)
            continue
        fields = [f"type={m.get('Type', 'volume')}", f"target={m['Target']}"]
        fields += [f"source={m['Source']}"] if m.get("Source") else []
        fields += ["readonly"] if m.get("ReadOnly") else []
        fields += ["volume-nocopy"] if (m.get("VolumeOptions") or {}).get("NoCopy") else []
        tmpfs = m.get("TmpfsOptions") or {}
        fields += [f"tmpfs-size={tmpfs['SizeBytes']}"] if tmpfs.get("SizeBytes") else []
        fields += [f"tmpfs-mode={tmpfs['Mode']:o}"] if tmpfs.get("Mode") else []
        out.append(",".join(fields))
    return out


def _env(environment) -> list[str]:
    if environment is None:
        return []
    if isinstance(environment, dict):
        return [f"{k}={v}" for k, v in environment.items()]
    return list(environment)


def _capture(started: Started, out_r: int, err_r: int, stdin_data: bytes | None = None,
             stdin_w: int | None = None) -> Completed:
    """Read the program's stdout and stderr until both close, then collect its exit code."""
    chunks = {out_r: [], err_r: []}
    with selectors.DefaultSelector() as sel:
        for fd in (out_r, err_r):
            sel.register(fd, selectors.EVENT_READ)
        if stdin_w is not None:
            if stdin_data:
                os.write(stdin_w, stdin_data)  # small inputs; large ones would need a writer loop
            os.close(stdin_w)
        while sel.get_map():
            for key, _ in sel.select():
                data = os.read(key.fd, 65536)
                if data:
                    chunks[key.fd].append(data)
                else:
                    sel.unregister(key.fd)
                    os.close(key.fd)
    code = started.wait()
    stdout = b"".join(chunks[out_r]).decode(errors="replace")
    stderr = b"".join(chunks[err_r]).decode(errors="replace")
    if started.error:
        stderr += f"sandbox: {started.error}\n"
        code = started.error_code or code
    return Completed(code, stdout, stderr)


def _run_captured(launch, input: str | bytes | None) -> Completed:
    """Start something with pipes for its stdio and capture what it prints."""
    in_r, in_w = os.pipe() if input is not None else (os.open(os.devnull, os.O_RDONLY), None)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    try:
        started = launch(Stdio(in_r, out_w, err_w))
    except BaseException:
        for fd in (in_r, in_w, out_r, out_w, err_r, err_w):
            if fd is not None:
                os.close(fd)
        raise
    for fd in (in_r, out_w, err_w):
        os.close(fd)
    data = input.encode() if isinstance(input, str) else input
    return _capture(started, out_r, err_r, data, in_w)


class Container:
    """A container, as a notebook sees it.  Use it in a ``with`` block to remove it at the end."""

    def __init__(self, record: _Record):
        self._record = record

    def __repr__(self) -> str:
        return f"<Container {self.short_id} {self.name!r} {self.status}>"

    # --- what it is ---------------------------------------------------------
    @property
    def id(self) -> str:
        return self._record.id

    @property
    def short_id(self) -> str:
        return self._record.short_id

    @property
    def name(self) -> str:
        return self._record.name

    @property
    def status(self) -> str:
        """``created``, ``running``, ``exited`` (or ``removed``)."""
        return self._record.status()["Status"]

    @property
    def pid(self) -> int:
        """The host's pid of the container's process 1 (0 when not running)."""
        return self._record.status().get("Pid", 0)

    @property
    def exit_code(self) -> int | None:
        state = self._record.status()
        return state.get("ExitCode") if state.get("Status") == "exited" else None

    @property
    def ports(self) -> dict:
        """docker-py's ``container.ports``: {"80/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8080"}]}."""
        state = self._record.status()
        return state.get("Ports") or {} if state.get("Status") == "running" else {}

    @property
    def ip_address(self) -> str:
        """The container's address on its first network ("" without one, or stopped)."""
        plugged = self._record.status().get("Networks") or {}
        return next((n.get("IPAddress", "") for n in plugged.values()), "")

    @property
    def dir(self) -> Path:
        """The container's directory on the host (upper/, rootfs/, logs, state)."""
        return self._record.dir

    def stats(self) -> dict:
        """CPU %, memory and pids now (``docker stats``): CPU over the last 0.2 s."""
        rows = lifecycle.stats([self._record], interval=0.2)
        if not rows:
            raise Conflict(f"container {self.name} has no cgroup to read (not running, or "
                           "this user may not use cgroups)")
        return rows[0]

    @property
    def cgroup(self):
        """The running container's cgroup (:mod:`sandbox.isolation.cgroups`): ``.dirs`` or ``.dir``, its files."""
        from .isolation.cgroups import from_paths
        return from_paths(self._record.status().get("Cgroup"))

    @property
    def health(self) -> str | None:
        """``starting``, ``healthy`` or ``unhealthy`` (docker-py's ``container.health``);
        None for a container without a healthcheck, or not started yet."""
        return (self._record.status().get("Health") or {}).get("Status")

    @property
    def oom_killed(self) -> bool:
        return bool(self._record.status().get("OOMKilled"))

    @property
    def cgroup_evidence(self) -> dict:
        """The kernel's memory files as they were when the container exited
        (memory.events on v2; memory.failcnt and memory.oom_control on v1)."""
        return self._record.status().get("CgroupEvidence", {})

    def inspect(self) -> dict:
        from .cli.commands import container_json
        return container_json(self._record)

    # --- what it does -------------------------------------------------------
    def exec(self, command, environment=None, workdir: str | None = None,
             user: str | None = None, input: str | bytes | None = None) -> Completed:
        """Run a command inside the running container (``docker exec``)."""
        if not self._record.running:
            raise Conflict(f"container {self.name} is not running")
        lifecycle.refuse_if_paused(self._record)
        argv = _argv(command)
        return _run_captured(lambda stdio: exec_into(self._record, argv, stdio, _env(environment),
                                                     user, workdir), input)

    def logs(self, stream: str = "stdout") -> str:
        """What the container has printed so far on ``stdout`` or ``stderr`` (its json-file log)."""
        from .engine.jsonlog import read
        return "".join(e["log"] for e in read(self._record.dir) if e.get("stream") == stream)

    def start(self) -> "Container":
        lifecycle.ensure_startable(self._record)
        lifecycle.start_detached(self._record)
        return self

    def wait(self, timeout: float | None = None) -> int | None:
        """Wait for the container to exit; return its exit code (None on timeout).

        Works for a container removed on exit (``remove=True``) too: see lifecycle.wait."""
        if self._record.status().get("Status") == "created":
            return None
        return lifecycle.wait(self._record, timeout)

    def stop(self, timeout: float | None = None) -> None:
        """``docker stop``: the stop signal, then SIGKILL after ``timeout`` seconds
        (default: the container's ``stop_timeout``, else 10)."""
        lifecycle.stop(self._record, timeout)

    def restart(self, timeout: float | None = None) -> "Container":
        """``docker restart``: stop it (as :meth:`stop`) if it runs, then start it again."""
        lifecycle.restart(self._record, timeout)
        return self

    def pause(self) -> None:
        """Freeze every process of the container (``docker pause``: the cgroup freezer)."""
        lifecycle.pause(self._record)

    def unpause(self) -> None:
        lifecycle.unpause(self._record)

    @property
    def paused(self) -> bool:
        return lifecycle.is_paused(self._record)

    def rename(self, name: str) -> None:
        """``docker rename``: the container keeps its id, hostname and everything else."""
        lifecycle.rename(self._record, name)

    def top(self, ps_args: str | None = None) -> dict:
        """``docker top``, as docker-py returns it: {"Titles": [...], "Processes": [[...], ...]}."""
        from .engine.top import top
        titles, rows = top(lifecycle.container_pids(self._record),
                           ps_args.split() if ps_args else [])
        return {"Titles": titles, "Processes": rows}

    def kill(self, sig: int = signal.SIGKILL) -> None:
        lifecycle.kill(self._record, sig)

    def remove(self, force: bool = False, v: bool = False) -> None:
        """``docker rm``; ``v=True`` (docker-py's name for ``-v``) removes its anonymous volumes."""
        lifecycle.remove(self._record, force, volumes=v)

    def __enter__(self) -> "Container":
        return self

    def __exit__(self, *exc) -> None:
        try:
            self.remove(force=True)
        except SandboxError:
            pass


def create(image: str, command=None, *, name: str | None = None, environment=None,
           workdir: str | None = None, user: str | None = None, hostname: str | None = None,
           entrypoint=None, remove: bool = False, memory=None, memory_swap=None, cpus=None,
           cpu_shares=None, pids_limit=None, volumes=None, tmpfs=None,
           network: str | None = None, cap_add=(), cap_drop=(), privileged: bool = False,
           security_opt=(), read_only: bool = False, uidmap: str | None = None,
           gidmap: str | None = None, init: bool = False, stop_signal: str | None = None,
           stop_timeout: int | None = None, mounts=None,
           volumes_from=None, ports=None, publish_all_ports: bool = False, dns=None,
           extra_hosts=None, network_aliases=None, ip: str | None = None,
           healthcheck: dict | None = None, labels=None) -> Container:
    """Create a container without starting it (``docker create``).

    The limits take the command line's values: ``memory="64m"``, ``cpus=0.5``,
    ``pids_limit=20``, ``cpu_shares=512``, ``memory_swap="128m"``.  ``volumes``
    takes ``-v``'s strings (``["/srv/data:/data:ro"]``, ``["cache:/cache"]``) or
    docker-py's dict (``{"/srv/data": {"bind": "/data", "mode": "ro"}}``, where the
    key may be a volume's name); ``mounts`` takes ``--mount``'s strings or docker-py's
    ``Mount`` dicts; ``volumes_from`` takes ``["other:ro"]``; ``tmpfs`` takes
    ``--tmpfs``'s strings (``["/tmp:size=64m"]``).  The security flags are
    docker-py's: ``cap_add=["NET_ADMIN"]``, ``cap_drop=["ALL"]``,
    ``privileged=True``, ``security_opt=["seccomp=unconfined"]``, ``read_only=True``.
    ``init=True`` makes process 1 a reaper that passes signals on (``--init``);
    ``stop_signal="SIGUSR1"`` and ``stop_timeout=3`` are what ``stop`` uses.
    Networks take docker-py's names: ``network="web"``, ``ports={"80/tcp": 8080}``,
    ``publish_all_ports=True``, ``dns=["9.9.9.9"]``, ``extra_hosts={"db": "10.0.0.5"}``,
    ``network_aliases=["db"]``, ``ip="172.30.0.5"``.
    ``healthcheck`` is docker-py's: ``{"test": ["CMD", "test", "-f", "/ready"],
    "interval": 200_000_000, "retries": 2}`` (durations in nanoseconds; a string test
    is run by ``/bin/sh -c``; ``{"test": ["NONE"]}`` turns the image's off).
    ``labels`` takes docker-py's dict (``{"team": "web"}``) or a list of names (each
    set to "").
    """
    from .isolation.cgroups import parse_limits
    from .isolation.mounts import parse_all
    from .engine.security import decide
    userns = None
    if uidmap or gidmap:
        from .isolation.userns import parse as parse_userns
        userns = parse_userns(uidmap, gidmap)
    security = decide(_strings(cap_add), _strings(cap_drop), privileged,
                      _strings(security_opt), read_only)
    limits = parse_limits(memory, memory_swap, cpus, cpu_shares, pids_limit)
    parsed = parse_all(_volumes(volumes), list(tmpfs or []), _mounts(mounts))
    record = lifecycle.create_container(
        state_root(), image, _argv(command), env=_env(environment), name=name, workdir=workdir,
        user=user, hostname=hostname, entrypoint=_argv(entrypoint), auto_remove=remove,
        limits=limits, mounts=parsed, security=security, userns=userns, init=init,
        stop_signal=stop_signal, stop_timeout=stop_timeout,
        volumes_from=_strings(volumes_from), network=network, publish=_publish(ports),
        publish_all=publish_all_ports, dns=_strings(dns), add_hosts=_extra_hosts(extra_hosts),
        network_aliases=_strings(network_aliases), ip=ip, healthcheck=_healthcheck(healthcheck),
        labels=_labels(labels))
    return Container(record)


def _labels(labels) -> dict:
    """docker-py's ``labels={"a": "1"}`` or ``labels=["a"]`` (each name with an empty value)."""
    if isinstance(labels, dict):
        return {str(k): str(v) for k, v in labels.items()}
    return {name: "" for name in _strings(labels)}


def _healthcheck(check: dict | None) -> dict | None:
    """docker-py's ``healthcheck`` dict (``test``, ``interval``, ``timeout``, ``retries``,
    ``start_period``, ``start_interval``; Docker's capitalised keys work too) as Docker's
    HealthConfig."""
    if check is None:
        return None
    fields = {"test": "Test", "interval": "Interval", "timeout": "Timeout", "retries": "Retries",
              "start_period": "StartPeriod", "start_interval": "StartInterval"}
    unknown = set(check) - set(fields) - set(fields.values())
    if unknown:
        raise SandboxError(f"healthcheck: unknown key(s) {sorted(unknown)}; use "
                           f"{', '.join(fields)}")
    config = {docker: check.get(py, check.get(docker)) for py, docker in fields.items()}
    test = config["Test"]
    config["Test"] = ["CMD-SHELL", test] if isinstance(test, str) else list(test or [])
    return {key: value for key, value in config.items() if value or key == "Test"}


def _publish(ports) -> list[str]:
    """docker-py's ``ports={"80/tcp": 8080, "53/udp": ("127.0.0.1", 5353), "81": None}``, or
    ``-p``'s strings (``["8080:80"]``)."""
    if not ports:
        return []
    if not isinstance(ports, dict):
        return _strings(ports)
    out = []
    for inside, outside in ports.items():
        inside = str(inside)
        for host in outside if isinstance(outside, list) else [outside]:
            if host is None:
                out.append(inside)
            elif isinstance(host, tuple):
                out.append(f"{host[0]}:{host[1] if len(host) > 1 else ''}:{inside}")
            else:
                out.append(f"{host}:{inside}")
    return out


def _extra_hosts(hosts) -> list[str]:
    """docker-py's ``extra_hosts={"db": "10.0.0.5"}``, or ``--add-host``'s strings."""
    if isinstance(hosts, dict):
        return [f"{name}:{ip}" for name, ip in hosts.items()]
    return _strings(hosts)


def _strings(value) -> list[str]:
    """A flag that takes a list also takes one string: ``cap_add="NET_ADMIN"``."""
    return [value] if isinstance(value, str) else list(value or [])


def run(image: str, command=None, *, detach: bool = False, remove: bool | None = None,
        name: str | None = None, environment=None, workdir: str | None = None,
        user: str | None = None, hostname: str | None = None, entrypoint=None,
        input: str | bytes | None = None, memory=None, memory_swap=None, cpus=None,
        cpu_shares=None, pids_limit=None, volumes=None, tmpfs=None, network=None,
        cap_add=(), cap_drop=(), privileged: bool = False, security_opt=(),
        read_only: bool = False, uidmap: str | None = None, gidmap: str | None = None,
        init: bool = False, stop_signal: str | None = None, stop_timeout: int | None = None,
        mounts=None, volumes_from=None, ports=None, publish_all_ports: bool = False,
        dns=None, extra_hosts=None, network_aliases=None, ip: str | None = None,
        healthcheck: dict | None = None, labels=None):
    """Run a command in a new container (``docker run``).

    In the foreground (the default) it waits and returns :class:`Completed`,
    and removes the container afterwards (``remove=False`` keeps it, like
    ``docker run`` without ``--rm``).  With ``detach=True`` it returns a
    running :class:`Container` at once.
    """
    if remove is None:
        remove = not detach
    container = create(image, command, name=name, environment=environment, workdir=workdir,
                       user=user, hostname=hostname, entrypoint=entrypoint, remove=remove,
                       memory=memory, memory_swap=memory_swap, cpus=cpus,
                       cpu_shares=cpu_shares, pids_limit=pids_limit, volumes=volumes,
                       tmpfs=tmpfs, network=network, cap_add=cap_add, cap_drop=cap_drop,
                       privileged=privileged, security_opt=security_opt, read_only=read_only,
                       uidmap=uidmap, gidmap=gidmap, init=init, stop_signal=stop_signal,
                       stop_timeout=stop_timeout, mounts=mounts,
                       volumes_from=volumes_from, ports=ports,
                       publish_all_ports=publish_all_ports, dns=dns, extra_hosts=extra_hosts,
                       network_aliases=network_aliases, ip=ip, healthcheck=healthcheck,
                       labels=labels)
    if detach:
        try:
            lifecycle.start_detached(container._record)
        except BaseException:
            lifecycle.remove(container._record, force=True, volumes=remove)
            raise
        return container
    try:
        done = _run_captured(lambda stdio: start(container._record, stdio, detach=False), input)
    except BaseException:
        if remove and not container._record.running:
            lifecycle.remove(container._record, force=True, volumes=True)
        raise
    if remove and container._record.state.get("Status") == "created":
        # The start failed before a monitor took the container over (it removes it otherwise).
        lifecycle.remove(container._record, force=True, volumes=True)
    return done


def get(name_or_id: str) -> Container:
    """A container by name or id prefix."""
    return Container(lookup(state_root(), name_or_id))


def containers(all: bool = False) -> list[Container]:
    """Running containers (``docker ps``), or all of them (``docker ps -a``)."""
    found = [Container(r) for r in all_containers(state_root())]
    return found if all else [c for c in found if c.status == "running"]


def images() -> list:
    return lifecycle.store_for(state_root()).images()


def pull(name: str, platform: str | None = None, progress: bool = True, quiet: bool = False):
    """Pull an image from its registry (``docker pull``); return it.

    Progress bars are tqdm.auto's: widgets in a notebook, never the cell's stderr.
    """
    from .content.registry import pull as _pull
    return _pull(state_root(), lifecycle.store_for(state_root()), name, platform=platform,
                 progress=progress and not quiet, log=(lambda *_: None) if quiet else print)


def push(name: str, quiet: bool = False) -> str:
    """Push a local image to the registry its name points at (``docker push``); return its digest."""
    from .content.registry import push as _push
    return _push(state_root(), lifecycle.store_for(state_root()), name,
                 log=(lambda *_: None) if quiet else print)


def cp(source: str, destination: str, archive: bool = False,
       follow_link: bool = False) -> list[str]:
    """Copy into or out of a container (``docker cp``): one side is ``"NAME:/path"``.

    ``cp("web:/etc/hosts", "hosts")``, ``cp("conf/.", "web:/etc/app")``; returns
    what could not be copied as it was (owners a rootless container cannot keep).
    """
    from .engine.copying import cp as _cp
    return _cp(source, destination, follow=follow_link, keep_ids=archive, root=state_root())


def build(path: str | None = ".", tag=None, dockerfile: str | None = None,
          fileobj: str | None = None, buildargs: dict | None = None, target: str | None = None,
          nocache: bool = False, pull: bool = False, labels: dict | None = None,
          network_mode: str | None = None, rm: bool = True, forcerm: bool = False,
          quiet: bool = False, progress: str = "plain"):
    """Build an image from a Dockerfile (``docker build``); return it.

    docker-py's names: ``build("app", tag="app:1", buildargs={"V": "2"}, nocache=True)``;
    ``tag`` may be a list of names; ``fileobj`` is the Dockerfile's text itself (with
    ``path=None``, a build with no context, as ``docker build -``).  The progress is
    printed in BuildKit's plain style, to stdout (the cell's output, never its stderr);
    ``quiet=True`` prints nothing unless the build fails.
    """
    import sys
    from .builder.build import Options, build as _build
    from .builder.progress import Progress
    tags = [tag] if isinstance(tag, str) else list(tag or [])
    context = Path(path) if path is not None else None
    dockerfile_path = None
    if dockerfile is not None:
        dockerfile_path = Path(dockerfile)
        if context is not None and not dockerfile_path.is_absolute():
            dockerfile_path = context / dockerfile_path
    options = Options(context=context, dockerfile=dockerfile_path, dockerfile_text=fileobj,
                      tags=tags, build_args={k: str(v) for k, v in (buildargs or {}).items()},
                      target=target, no_cache=nocache, pull=pull, labels=dict(labels or {}),
                      network=network_mode, keep_containers=not rm and not forcerm)
    shown = Progress(lambda text: print(text, end="", file=sys.stdout),
                     "quiet" if quiet else progress)
    try:
        return _build(state_root(), options, shown)
    except BaseException:
        if quiet:
            print("\n".join(shown.held))
        raise


def prune_builds() -> tuple[int, int]:
    """Forget the build cache (``docker builder prune``): (steps forgotten, bytes freed)."""
    from .builder.cache import prune as _prune
    return _prune(lifecycle.store_for(state_root()))


def prune() -> list[str]:
    """Remove every stopped container and leftovers of crashed runs."""
    return lifecycle.prune(state_root())[0]


# --- volumes (docker-py's client.volumes: create, get, list, prune; remove) ------------
def create_volume(name: str | None = None, driver_opts: dict | None = None,
                  labels: dict | None = None) -> dict:
    """``docker volume create``: the volume's record (``Name``, ``Mountpoint``, ...)."""
    from .engine import volumes
    from .paths import prepare_root
    return volumes.create(prepare_root(state_root()), name, labels=labels,
                          options=driver_opts)[0]


def get_volume(name: str) -> dict:
    from .engine import volumes
    return volumes.get(state_root(), name)


def list_volumes() -> list[dict]:
    from .engine import volumes
    return volumes.all_volumes(state_root())


def remove_volume(name: str) -> None:
    """``docker volume rm``: refused (:class:`Conflict`) while a container uses it."""
    from .engine import volumes
    volumes.remove(state_root(), name)


def prune_volumes(all: bool = False) -> list[str]:
    """``docker volume prune [-a]``: the names of the unused volumes removed."""
    from .engine import volumes
    return volumes.prune(state_root(), all=all)


# --- compose (docker compose's verbs, for a notebook) ------------------------------------------
class ComposeProject:
    """A compose project in a notebook: ``up()``, ``ps()``, ``logs()``, ``down()``, ``config()``.

    Progress lines go to the cell's output (stdout), never its stderr.
    """

    def __init__(self, project):
        self._project = project

    def __repr__(self) -> str:
        return f"<ComposeProject {self.name!r} services={list(self._project.services)}>"

    @property
    def name(self) -> str:
        return self._project.name

    def up(self, *services: str, build: bool = False, wait: bool = False,
           force_recreate: bool = False, remove_orphans: bool = False,
           scale: dict | None = None) -> "ComposeProject":
        """``compose up -d``: build or pull, make the networks and volumes, start the services."""
        self._project.up(services, detach=True, build=build, wait=wait,
                         force_recreate=force_recreate, remove_orphans=remove_orphans,
                         scale=scale)
        return self

    def down(self, volumes: bool = False, remove_orphans: bool = False) -> None:
        """``compose down [-v]``: containers, networks, and with ``volumes`` the volumes too."""
        self._project.down(volumes=volumes, remove_orphans=remove_orphans)

    def ps(self, all: bool = False) -> list[Container]:
        """The project's containers (running ones, or ``all``), as :class:`Container` objects."""
        return [Container(c) for c in self._project.containers(oneoff=None)
                if all or c.running]

    def logs(self, *services: str) -> str:
        """What the services' containers printed, each line prefixed ``name  | ``."""
        from .engine.jsonlog import read
        found = self._project.containers(services, oneoff=None)
        width = max((len(c.name) for c in found), default=0)
        return "".join(f"{c.name:<{width + 1}} | {e.get('log', '')}" for c in found
                       for e in read(c.dir))

    def config(self) -> dict:
        """The normalized model (what ``sandbox compose config`` prints)."""
        return self._project.model


def compose_project(path_or_files=".", project_name: str | None = None,
                    profiles=None) -> ComposeProject:
    """A compose project from a directory (its ``compose.yaml``), a file, or a list of files."""
    from .compose.loader import load
    from .compose.progress import Progress
    from .compose.project import Project
    paths = [path_or_files] if isinstance(path_or_files, (str, os.PathLike)) else path_or_files
    paths = [Path(p) for p in paths]
    directory = paths[0] if len(paths) == 1 and paths[0].is_dir() else None
    loaded = load(files=None if directory else paths, project_name=project_name,
                  project_directory=directory, profiles=_strings(profiles))
    return ComposeProject(Project(state_root(), loaded, Progress(write=print),
                                  build_output=lambda text: print(text, end="")))
