"""The container lifecycle: create, start, stop, kill, remove, prune.

    create ──▶ created ──start──▶ running ──(exits, stop, kill)──▶ exited ──rm──▶ gone
                                     ▲                               │
                                     └──────────── start ────────────┘

This module decides *what* happens; :mod:`sandbox.runtime` makes the
processes, and :mod:`sandbox.containers` keeps the records.  The command line
and the Python API both call these functions.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

from . import procfs, runtime
from .records import Container, Spec, all_containers, create, remove_files
from .errors import Conflict, ImageNotFound, SandboxError
from .paths import is_root, prepare_root, rmtree, write_atomic
from .store import Image, Store, normalize_ref


def store_for(root: Path) -> Store:
    """The image store under ``root``, made (private to this user) if it is not there yet."""
    prepare_root(root)  # first: a state root of another user is refused before anything is written
    return Store(root).init()


def get_image(root: Path, ref: str, pull_missing: bool = True, log=None,
              store: Store | None = None) -> Image:
    """Find an image in the store; if it is missing, pull it (as ``docker run`` does).

    ``busybox`` is the exception: it is built from the host's busybox the first
    time, so the course works offline.
    """
    store = store or store_for(root)
    try:
        return store.get(ref)
    except ImageNotFound as missing:
        if normalize_ref(ref) != "busybox:latest":
            if not pull_missing or ref.startswith("sha256:"):
                raise
            if log:
                log(f"Unable to find image '{normalize_ref(ref)}' locally")
            from .registry import pull
            from .registry.transport import RegistryError
            try:
                return pull(root, store, ref, progress=log is not None, log=log or _quiet)
            except RegistryError as err:
                if log:  # the "Unable to find image" line is already on the screen
                    raise ImageNotFound(f"cannot pull {normalize_ref(ref)}: {err}") from None
                raise ImageNotFound(f"{missing}, and pulling it failed: {err}") from None
    from . import busybox  # tarfile, gzip, subprocess: only needed the first time
    busybox.build(store)
    return store.get(ref)


def _quiet(*_args) -> None:
    pass


def lower_dirs(root: Path, image: Image, rootless: bool,
               notices: list[str] | None = None, store: Store | None = None) -> list[str]:
    """The image's layers, unpacked, topmost first: overlayfs's ``lowerdir`` order.

    ``notices`` collects what unpacking had to leave out (rootless: device
    nodes, setuid bits), for the caller to tell the user.  A diff_id names a
    directory only as a checked digest (the store checked the config when it
    read it; ``hex_part`` checks again, last); a layer is unpacked under the
    limits of ``daemon.json`` and kept only if it hashes to its diff_id.
    """
    from .digests import hex_part
    store = store or store_for(root)
    name = image.ref or image.id
    dirs, limits = [], None
    for i, (diff_id, layer) in enumerate(zip(image.diff_ids, image.layers)):
        unpacked = root / "layers" / hex_part(diff_id)
        if not unpacked.is_dir():
            from .layers import unpacked_layer  # tarfile and friends: only when unpacking
            from .settings import layer_limits
            limits = limits or layer_limits(root)  # daemon.json: read once, and only if needed
            unpacked = unpacked_layer(root / "layers", root / "tmp", diff_id,
                                      store.blob_path(layer["digest"]), rootless, notices,
                                      limits, f"image {name}: layers[{i}]")
        dirs.append(str(unpacked))
    return list(reversed(dirs))


def create_container(root: Path, image_ref: str, cmd: list[str] | None = None,
                     env: list[str] | None = None, name: str | None = None,
                     workdir: str | None = None, user: str | None = None,
                     hostname: str | None = None, entrypoint: list[str] | None = None,
                     tty: bool = False, interactive: bool = False,
                     auto_remove: bool = False, limits=None, mounts: list[dict] = (),
                     security: dict | None = None, userns: dict | None = None,
                     notices: list[str] | None = None, log=None, log_opts: dict | None = None,
                     restart: dict | None = None) -> Container:
    """``docker create``: resolve the image, unpack its layers, write the container's record.

    ``limits`` (:class:`sandbox.cgroups.Limits`) are checked first: a limit this
    user cannot enforce is an error, never silently ignored.  ``security`` is
    :func:`sandbox.security.decide`'s record (Docker's defaults when None); its
    seccomp filter is compiled now and kept beside the container's config.
    """
    if limits:
        from .cgroups import check
        check(limits)
    from . import security as sec
    store = store_for(root)  # first: another user's root is refused before anything is written
    security = security or sec.default()
    # A bad profile fails here, before a container is made.
    program = sec.seccomp_program(security, root / "cache" / "seccomp")
    image = get_image(root, image_ref, log=log, store=store)
    config = image.config.get("config", {})
    rootless = not is_root()
    argv = _command(config, cmd or [], entrypoint)
    spec = Spec(image=image_ref, image_id=image.id,
                lower_dirs=lower_dirs(root, image, rootless, notices, store), cmd=argv,
                env=list(config.get("Env") or []) + pass_through(env or []),
                workdir=workdir or config.get("WorkingDir") or "/",
                user=user if user is not None else config.get("User", ""),
                tty=tty, interactive=interactive, auto_remove=auto_remove, rootless=rootless,
                limits=limits.as_dict() if limits else None, mounts=mounts,
                security=security, userns=userns, log_opts=log_opts, restart=restart)
    container = create(root, spec, name, hostname)
    if program is not None:
        write_atomic(container.dir / sec.SECCOMP_FILE, program)
    return container


def _command(config: dict, cmd: list[str], entrypoint: list[str] | None) -> list[str]:
    """ENTRYPOINT + CMD, where a command given on the command line replaces the image's CMD."""
    entry = entrypoint if entrypoint is not None else list(config.get("Entrypoint") or [])
    argv = entry + (cmd or ([] if entrypoint is not None else list(config.get("Cmd") or [])))
    if not argv:
        raise SandboxError("no command specified")
    return argv


def pass_through(env: list[str]) -> list[str]:
    """``-e NAME`` without a value takes NAME's value from the caller, or nothing if unset."""
    out = []
    for item in env:
        if "=" in item:
            out.append(item)
        elif item in os.environ:
            out.append(f"{item}={os.environ[item]}")
    return out


def start_detached(container: Container, client: int = -1) -> None:
    """Start in the background and return at once: the monitor holds the container's streams.

    Its output goes to its log (:mod:`sandbox.jsonlog`), its input (``-i``)
    and its terminal (``-t``) stay open with the monitor, for ``attach``.
    ``client``: a connected socket the monitor serves as an attached client
    from the first byte on (``run -it``, ``start -a``).
    """
    started = runtime.start(container, runtime.Stdio(client=client), detach=True)
    if started.error:
        raise started.as_error()


def restart_now(root: str, cid: str) -> None:
    """Start a ``--restart`` container again (run by its last monitor, after the back-off)."""
    try:
        container = Container(Path(root), cid)
    except SandboxError:
        return  # removed meanwhile
    state = container.state
    if state.get("StoppedByUser") or state.get("Status") != "restarting":
        return
    container.write_state(RestartCount=state.get("RestartCount", 0) + 1)
    try:
        start_detached(container)
    except SandboxError as err:
        container.write_state(Status="exited", Error=str(err))


def connect(container: Container):
    """A socket connected to the container's monitor, for ``attach`` (see :mod:`sandbox.monitor`)."""
    import socket
    from .monitor import socket_address
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dir_fd = os.open(container.dir, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        sock.connect(socket_address(dir_fd))
    except OSError as err:
        sock.close()
        raise Conflict(f"cannot attach to container {container.name}: its monitor does not "
                       f"answer ({err.strerror}); it was started by an older sandbox or its "
                       "monitor was killed: 'sandbox rm -f' it and run it again") from None
    finally:
        os.close(dir_fd)
    return sock


def ensure_startable(container: Container) -> None:
    if container.running:
        raise Conflict(f"container {container.name} is already running")


def stats(containers: list[Container], interval: float = 0.0) -> list[dict]:
    """``docker stats``: CPU %, memory and pids of running containers, from their cgroups.

    CPU % is the CPU time the container used as a share of one CPU (so 2 busy
    CPUs show 200 %), as Docker shows it: over the last ``interval`` seconds,
    or, with ``interval=0``, averaged since the container started (one
    reading, no waiting: what ``--no-stream`` shows).  All containers are
    sampled together, so 20 containers cost one interval, not 20.
    """
    import time
    from .cgroups import from_paths
    from .humanize import parse_iso
    groups = [(c, from_paths(c.state.get("Cgroup"))) for c in containers]
    groups = [(c, g) for c, g in groups if g is not None]
    if interval:
        first = [(g.stats(), time.monotonic()) for _, g in groups]
        time.sleep(interval)
    else:  # "before" is the start: no CPU used yet
        first = [({"cpu_ns": 0}, time.monotonic() - (time.time() - parse_iso(
            c.state["StartedAt"]))) for c, _ in groups]
    rows = []
    for (c, g), (before, t0) in zip(groups, first):
        now, t1 = g.stats(), time.monotonic()
        limit = now["memory_limit"] or _host_memory()
        if limit >= 1 << 60:  # v1 writes "no limit" as a huge number
            limit = _host_memory()
        rows.append({"id": c.id, "name": c.name,
                     "cpu_percent": 100 * (now["cpu_ns"] - before["cpu_ns"]) / 1e9 / (t1 - t0),
                     "memory": now["memory"], "memory_limit": limit,
                     "memory_percent": 100 * now["memory"] / limit, "pids": now["pids"]})
    return rows


def _host_memory() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")


def stop(container: Container, timeout: float = 10, sig: int = signal.SIGTERM) -> None:
    """``docker stop``: send SIGTERM (or the given signal), wait, then SIGKILL.

    The container's process 1 receives only the signals it has a handler for
    (pid_namespaces(7)): a shell that traps TERM exits; ``sleep`` ignores it and
    is killed when the time is up.  Returns once the exit has been recorded.
    Docker treats stopping a stopped container as success; this course says
    so instead, because a learner who stops the wrong container wants to know.
    """
    state = container.status()
    if state.get("Status") not in ("running", "restarting"):
        raise Conflict(f"container {container.name} is not running")
    container.write_state(StoppedByUser=True)  # first: its restart policy must not start it again
    if state.get("Status") == "running":
        _signal(state, sig)
        if not procfs.wait_gone(state["Pid"], state.get("PidStart"), timeout):
            _signal(state, signal.SIGKILL)
            procfs.wait_gone(state["Pid"], state.get("PidStart"), None)
    state = wait_recorded(container)
    if state.get("Status") == "running":  # it was being restarted as we stopped it: once more
        stop(container, timeout, sig)


def kill(container: Container, sig: int = signal.SIGKILL) -> None:
    """``docker kill``: send one signal to the container's process 1."""
    state = container.status()
    if state.get("Status") != "running":
        raise Conflict(f"Cannot kill container: {container.name}: container "
                       f"{container.short_id} is not running")
    _signal(state, sig)
    if sig == signal.SIGKILL:
        procfs.wait_gone(state["Pid"], state.get("PidStart"), None)
        wait_recorded(container)


def _signal(state: dict, sig: int) -> None:
    if procfs.is_alive(state.get("Pid"), state.get("PidStart")):
        try:
            os.kill(state["Pid"], sig)
        except ProcessLookupError:
            pass


def wait_recorded(container: Container, timeout: float = 5) -> dict:
    """After the container's process is gone, wait for its monitor to write the exit down."""
    state = container.state
    monitor = state.get("MonitorPid")
    if monitor and procfs.is_alive(monitor, state.get("MonitorStart")):
        procfs.wait_gone(monitor, state.get("MonitorStart"), timeout)
    return container.status()  # records an unknown exit if the monitor had died


def remove(container: Container, force: bool = False) -> bool:
    """``docker rm``: remove a stopped container; ``force`` kills a running one first.

    Returns False if the container was already gone.  A ``--rm`` container
    that ``force`` killed is removed by its own monitor, which may win the race
    to the directory: that counts as removed.
    """
    killed = False
    status = container.status().get("Status")
    if status in ("running", "restarting"):
        if not force:
            raise Conflict(f"You cannot remove a {status} container {container.id}. Stop the "
                           "container before attempting removal or force remove")
        stop(container, timeout=0, sig=signal.SIGKILL)  # and no restart after it
        killed = True
    return remove_files(container.root, container) or killed


def prune(root: Path) -> list[str]:
    """``docker container prune``: remove every container that is not running, and stale scratch files."""
    removed = []
    for container in all_containers(root):
        if not container.running and remove_files(root, container):
            removed.append(container.id)
    _clean_scratch(root)
    return removed


def _clean_scratch(root: Path) -> None:
    """Remove scratch entries whose writer is gone (a crashed unpack or removal)."""
    tmp = root / "tmp"
    if not tmp.is_dir():
        return
    for entry in os.listdir(tmp):
        pid = _pid_in_name(entry)
        if pid and procfs.start_time(pid) is None:
            rmtree(tmp / entry)


def _pid_in_name(entry: str) -> int:
    """Scratch entries are named ``<kind>-<pid of the writer>-<what>``."""
    parts = entry.split("-")
    return int(parts[1]) if len(parts) > 2 and parts[1].isdigit() else 0
