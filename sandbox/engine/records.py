"""Containers on disk: create a record, find it by name or id, read its true state, remove it.

A container is a directory under ``<state root>/containers/<id>``:
``config.json`` says what was asked for and changes only with ``rename``; ``state.json``
says what is happening and is rewritten atomically by whoever changes it
(the monitor process when the container starts and exits, ``stop`` and
``rm`` when they find the monitor gone).  ``health.json``, for a container
with a healthcheck, is the monitor's alone (:mod:`sandbox.engine.health`): its
results come often, and a file of their own never overwrites another writer's state.

The state file can be stale: if the monitor was killed, nobody wrote down
the exit.  :func:`Container.status` therefore checks the recorded pid (and
its start time) against /proc, so ``ps`` always tells the truth.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..kernel import procfs
from ..errors import Conflict, ContainerNotFound, SandboxError
from ..humanize import now_iso, random_name
from ..paths import SHARED_DIR, SHARED_FILE, containers_dir, ensure, prepare_root, rmtree, write_atomic

UNKNOWN_EXIT = -1  # the monitor died before it could record the exit code
HEALTH_FILE = "health.json"


class Spec:
    """What a container is asked to run: the parts of ``docker run``'s flags this runtime uses.

    (A plain class rather than a dataclass: importing dataclasses costs more
    than the rest of ``sandbox run``'s Python start-up.)
    """

    def __init__(self, image: str, image_id: str = "", lower_dirs: list[str] = (),
                 cmd: list[str] = (), env: list[str] = (), workdir: str = "/", user: str = "",
                 tty: bool = False, interactive: bool = False, auto_remove: bool = False,
                 rootless: bool = False, limits: dict | None = None,
                 mounts: list[dict] = (), security: dict | None = None,
                 userns: dict | None = None, init: bool = False,
                 stop_signal: str | None = None, stop_timeout: int | None = None,
                 log_opts: dict | None = None, restart: dict | None = None,
                 network: str | None = None, networks: dict | None = None,
                 ports: list[dict] = (), dns: list[str] = (), extra_hosts: list[str] = (),
                 healthcheck: dict | None = None, labels: dict | None = None):
        self.image = image                    # as the user wrote it
        self.image_id = image_id              # the config digest it resolved to
        self.lower_dirs = list(lower_dirs)    # unpacked layers, topmost first (overlayfs order)
        self.cmd = list(cmd)                  # ENTRYPOINT + CMD, as execve(2) gets it
        self.env = list(env)                  # NAME=value, the image's first, then -e
        self.workdir = workdir
        self.user = user
        self.tty = tty
        self.interactive = interactive
        self.auto_remove = auto_remove        # --rm
        self.rootless = rootless              # started by a user without root: a user namespace
        self.limits = dict(limits or {})      # cgroup limits: memory, cpus, pids_limit, ...
        self.mounts = list(mounts)            # -v, --mount, --tmpfs, volumes: see sandbox.isolation.mounts
        self.security = security              # capabilities, seccomp, ...: see sandbox.engine.security
        self.userns = userns                  # --uidmap: {"uid", "gid", "size"}; see sandbox.isolation.userns
        self.init = init                      # --init: PID 1 is a reaper (sandbox.engine.init)
        self.stop_signal = stop_signal        # --stop-signal, as given ("SIGUSR1"); None: SIGTERM
        self.stop_timeout = stop_timeout      # --stop-timeout in seconds; None: stop's 10
        self.log_opts = log_opts              # --log-opt max-size, max-file: see sandbox.engine.jsonlog
        self.restart = restart                # --restart: {"Name", "MaximumRetryCount"}; sandbox.engine.restart
        # Networks (sandbox.network.networks, sandbox.network.wiring): --network's mode ("none", "host",
        # "bridge", "container:NAME", a network's name; None: a container made before
        # networks existed, which has only lo), the networks it is plugged into at start
        # (name → {"Aliases", "IPv4Address"}), -p/-P (sandbox.network.ports.parse), --dns, --add-host.
        self.network = network
        self.networks = dict(networks or {})
        self.ports = list(ports)
        self.dns = list(dns)
        self.extra_hosts = list(extra_hosts)
        # HEALTHCHECK and --health-*, merged, in Docker's shape ({"Test": ["CMD-SHELL", "..."],
        # "Interval": ns, ...}; Test ["NONE"]: disabled); run by the monitor: sandbox.engine.health.
        self.healthcheck = healthcheck
        self.labels = dict(labels or {})      # --label: metadata for finding it (compose's labels)

    @property
    def own_netns(self) -> bool:
        """Whether init makes its own network namespace with only ``lo`` (``--network none``);
        otherwise the monitor hands it one (sandbox.network.wiring) or it stays in the host's."""
        return self.network in (None, "none")

    @property
    def in_user_namespace(self) -> bool:
        """Rootless, or root with ``--uidmap``: its root is not the host's root."""
        return self.rootless or bool(self.userns)


class Container:
    """One container's directory, with its config and its state."""

    def __init__(self, root: Path, cid: str):
        self.root = root
        self.id = cid
        self.dir = root / "containers" / cid
        try:
            self.config = json.loads((self.dir / "config.json").read_text())
        except FileNotFoundError:
            raise ContainerNotFound(f"No such container: {cid}") from None

    # --- identity -----------------------------------------------------------
    @property
    def name(self) -> str:
        return self.config["Name"]

    @property
    def short_id(self) -> str:
        return self.id[:12]

    @property
    def spec(self) -> Spec:
        return Spec(**self.config["Spec"])

    @property
    def lower_dirs(self) -> list[str]:
        """The overlay's read-only layers, topmost first: the container's init layer
        (its mount points), then the image's layers."""
        return [str(self.dir / "init")] + self.spec.lower_dirs

    # --- state --------------------------------------------------------------
    @property
    def state(self) -> dict:
        try:
            return json.loads((self.dir / "state.json").read_text())
        except FileNotFoundError:
            return {"Status": "removed"}

    def write_state(self, **changes) -> dict:
        state = self.state
        state.update(changes)
        write_atomic(self.dir / "state.json", json.dumps(state))
        return state

    def status(self) -> dict:
        """The recorded state, corrected by what /proc says now; with a healthcheck, its
        ``Health`` too (:meth:`health`)."""
        state = self._checked_state()
        if self.config["Spec"].get("healthcheck"):  # a dict lookup: nothing read without one
            health = self.health
            if health is not None:
                if state.get("Status") != "running":
                    # Docker: "unhealthy when the monitor has stopped" (container/health.go)
                    health["Status"] = "unhealthy"
                state["Health"] = health
        return state

    def _checked_state(self) -> dict:
        state = self.state
        if state.get("Status") == "running" and not procfs.is_alive(state.get("Pid"),
                                                                  state.get("PidStart")):
            state = self._reread_or_mark_dead()
        elif state.get("Status") == "restarting" and not procfs.is_alive(
                state.get("MonitorPid"), state.get("MonitorStart")):
            state = self.state  # its monitor died waiting to restart it (or just restarted it)
            if state.get("Status") == "restarting":
                state = self.write_state(Status="exited", Error="the monitor process died")
        return state

    def _reread_or_mark_dead(self) -> dict:
        """The container's process is gone.  If its monitor is gone too, nobody will
        record the exit, so record it here, with an unknown exit code."""
        state = self.state
        if state.get("Status") != "running":
            return state  # the monitor recorded the exit meanwhile
        run = state.get("Pid"), state.get("PidStart")
        monitor = state.get("MonitorPid"), state.get("MonitorStart")
        if procfs.is_alive(*monitor):
            procfs.wait_gone(*monitor, 2)
            state = self.state
            if (state.get("Status") != "running" or (state.get("Pid"), state.get("PidStart")) != run
                    or procfs.is_alive(*monitor)):
                # recorded meanwhile; or a restart policy began the next run (a new Pid); or
                # the monitor is alive and busy, and will record it: never "died" while alive
                return state
        return self.write_state(Status="exited", ExitCode=UNKNOWN_EXIT, Pid=0,
                                FinishedAt=now_iso(), Error="the monitor process died")

    @property
    def health(self) -> dict | None:
        """Docker's State.Health: {"Status", "FailingStreak", "Log"}; None before the first start
        (or without a healthcheck)."""
        try:
            return json.loads((self.dir / HEALTH_FILE).read_text())
        except FileNotFoundError:
            return None

    def write_health(self, health: dict) -> None:
        """Only the container's monitor calls this (and the start, before the monitor runs)."""
        write_atomic(self.dir / HEALTH_FILE, json.dumps(health))

    @property
    def running(self) -> bool:
        return self.status().get("Status") == "running"

    @property
    def pid(self) -> int:
        """The container's process 1, as the host numbers it."""
        return self.state.get("Pid", 0)


# --- the collection ------------------------------------------------------------
def create(root: Path, spec: Spec, name: str | None, hostname: str | None = None) -> Container:
    """Claim a name, write a new container's record, and return it.

    The name is claimed with O_CREAT|O_EXCL on ``names/<name>``: of two
    processes asking for one name at once, exactly one succeeds.  The record
    is private (0700, 0600: see :mod:`sandbox.paths`); only the layers that
    become the container's ``/`` and the files mounted into its /etc are not.
    """
    prepare_root(root)
    cid = os.urandom(32).hex()  # 64 hex digits, like Docker's ids
    if name is not None:
        _check_name(name)
    claimed = _claim_name(root, name, cid)
    cdir = containers_dir(root) / cid
    try:
        ensure(cdir / "upper", SHARED_DIR)  # the container's "/": its mode is the mode of / inside
        ensure(cdir / "work")
        ensure(cdir / "rootfs")
        _make_init_layer(cdir / "init")
        if spec.userns:
            _hand_over(root, cdir, spec.userns)
        hostname = hostname or cid[:12]  # Docker's default hostname: the short id
        config = {"Id": cid, "Name": claimed, "Created": now_iso(), "Hostname": hostname,
                  "Spec": spec.__dict__}
        _write_etc_files(cdir, hostname, spec)
        write_atomic(cdir / "state.json", json.dumps({"Status": "created"}))
        write_atomic(cdir / "config.json", json.dumps(config, indent=2))
    except BaseException:
        rmtree(cdir)
        _release_name(root, claimed, cid)
        raise
    return Container(root, cid)


def _hand_over(root: Path, cdir: Path, userns: dict) -> None:
    """What a remapped container's root (host uid ``userns["uid"]``) must reach, and own.

    It walks from the state root to its directory (search permission only)
    and owns the overlay's upper and work directories: its writes land there.
    """
    from ..paths import TRAVERSABLE_DIR, open_to_remapped
    open_to_remapped(root)
    os.chmod(cdir, TRAVERSABLE_DIR)
    for d in ("upper", "work"):
        os.chown(cdir / d, userns["uid"], userns["gid"])


INIT_DIRS = ("dev", "proc", "sys", "etc")
INIT_FILES = ("etc/hostname", "etc/hosts", "etc/resolv.conf")


def _make_init_layer(init: Path) -> None:
    """The container's own bottom-most writable-free layer: the mount points it needs.

    /proc, /sys, /dev and the three /etc files are mounted over at start.
    Their mount points must exist; made in the upper directory, they would
    show up in ``diff`` and be baked into a ``commit``.  Docker keeps them
    in an "init" layer between the image and the container; so does this.

    Its directories are 0755: as the topmost lower layer, init's ``etc`` is the
    container's /etc (overlayfs(5) shows the topmost layer's mode), which a
    process running as ``-u nobody`` must pass through.
    """
    ensure(init, SHARED_DIR)
    for d in INIT_DIRS:
        ensure(init / d, SHARED_DIR)
    for f in INIT_FILES:
        write_atomic(init / f, b"", SHARED_FILE)


def _write_etc_files(cdir: Path, hostname: str, spec: Spec | None = None) -> None:
    """The three files Docker bind-mounts over the image's /etc: who am I, who is who, whom to ask.

    Until the container starts, its own name resolves to a loopback address
    (with a network, the monitor rewrites hosts with its address:
    sandbox.network.wiring); resolv.conf is the host's, made fit for the container's
    network (sandbox.network.netconfig).  They are 0644, unlike the rest of the record:
    a container process running as another user (``-u nobody``) reads them
    through their bind mounts.
    """
    spec = spec or Spec("")
    write_atomic(cdir / "hostname", hostname + "\n", SHARED_FILE)
    try:
        resolv = Path("/etc/resolv.conf").read_text()
    except OSError:
        resolv = ""
    if spec.network in (None, "none") and not (spec.extra_hosts or spec.dns):
        # Only lo: the host's resolv.conf as it is (the grader's containers never load
        # the network modules).
        write_atomic(cdir / "hosts", "127.0.0.1\tlocalhost\n"
                                     "::1\tlocalhost ip6-localhost ip6-loopback\n"
                                     f"127.0.1.1\t{hostname}\n", SHARED_FILE)
        write_atomic(cdir / "resolv.conf", resolv, SHARED_FILE)
        return
    from ..network.netconfig import hosts, resolv_conf
    write_atomic(cdir / "hosts", hosts(hostname, None, spec.extra_hosts), SHARED_FILE)
    resolv = resolv_conf(resolv, spec.network or "none", spec.dns,
                         _dns_gateway(cdir.parent.parent, spec))
    write_atomic(cdir / "resolv.conf", resolv, SHARED_FILE)


def _dns_gateway(root: Path, spec: Spec) -> str | None:
    """On a user network, the nameserver is its gateway (sandbox.network.dns answers there)."""
    user = [n for n in spec.networks if n != "bridge"]
    if not user:
        return None
    import json as _json
    try:
        record = _json.loads((root / "networks" / user[0] / "network.json").read_text())
    except (OSError, ValueError):
        return None
    return record["IPAM"]["Config"][0]["Gateway"]


def _check_name(name: str) -> None:
    import re
    if not re.fullmatch(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*", name):
        raise SandboxError(f'Invalid container name ({name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] '
                           "are allowed")


def _claim_name(root: Path, name: str | None, cid: str) -> str:
    names = ensure(root / "names")
    for _ in range(100):
        candidate = name or random_name()
        try:
            fd = os.open(names / candidate, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            if name:
                holder = (names / candidate).read_text().strip()
                raise Conflict(f'The container name "/{name}" is already in use by container '
                               f'"{holder}". You have to remove (or rename) that container '
                               "to be able to reuse that name.") from None
            continue
        with os.fdopen(fd, "w") as f:
            f.write(cid)
        return candidate
    raise SandboxError("could not find a free random container name; pass --name")


def rename(container: Container, new_name: str) -> None:
    """``docker rename``: claim the new name, write it into the record, release the old one.

    The new name is claimed first (O_EXCL, as for ``--name``), so a name in
    use is refused before anything changes; the old name is released last.
    """
    if not new_name:
        raise SandboxError("Neither old nor new names may be empty")
    _check_name(new_name.lstrip("/"))
    new_name = new_name.lstrip("/")
    if new_name == container.name:
        raise SandboxError("Renaming a container with the same name as its current name")
    old = container.name
    claimed = _claim_name(container.root, new_name, container.id)
    try:
        config = dict(container.config, Name=claimed)
        write_atomic(container.dir / "config.json", json.dumps(config, indent=2))
    except BaseException:
        _release_name(container.root, claimed, container.id)
        raise
    container.config = config
    _release_name(container.root, old, container.id)


def _release_name(root: Path, name: str, cid: str) -> None:
    path = root / "names" / name
    try:
        if path.read_text().strip() == cid:
            path.unlink()
    except FileNotFoundError:
        pass


def all_containers(root: Path) -> list[Container]:
    """Every container, newest first."""
    found = []
    try:
        entries = os.listdir(containers_dir(root))
    except FileNotFoundError:
        return []
    for cid in entries:
        try:
            found.append(Container(root, cid))
        except ContainerNotFound:
            continue  # being created or removed right now
    return sorted(found, key=lambda c: c.config["Created"], reverse=True)


def lookup(root: Path, ref: str) -> Container:
    """Find a container by name, full id, or unique id prefix (as Docker does)."""
    if not ref:
        raise ContainerNotFound("No such container: (empty name)")
    name_file = root / "names" / ref.lstrip("/")
    if "/" not in ref.lstrip("/") and name_file.is_file():
        try:
            return Container(root, name_file.read_text().strip())
        except ContainerNotFound:
            pass
    if all(c in "0123456789abcdef" for c in ref):
        try:
            matches = [cid for cid in os.listdir(containers_dir(root)) if cid.startswith(ref)]
        except FileNotFoundError:
            matches = []
        if len(matches) == 1:
            return Container(root, matches[0])
        if len(matches) > 1:
            raise Conflict(f"multiple IDs found with provided prefix: {ref}")
    raise ContainerNotFound(f"No such container: {ref}")


def remove_files(root: Path, container: Container) -> bool:
    """Delete a stopped container's directory and release its name.

    The directory is first renamed away, which only one process can do: when
    two ``rm`` race, one removes the container and the other is told it is
    gone.  Returns False if another process got there first.
    """
    cgroup = container.state.get("Cgroup")  # left behind if the monitor died
    if container.state.get("RootlessNetwork"):  # so is a rootless network helper
        from ..network.rootless_net import detach
        detach(container, container.state)
    trash = ensure(root / "tmp") / f"removing-{os.getpid()}-{container.id}"
    try:
        os.rename(container.dir, trash)
    except FileNotFoundError:
        return False
    try:  # the name as it is now: `rename` may have changed it since ``container`` was read
        name = json.loads((trash / "config.json").read_text())["Name"]
    except (OSError, ValueError, KeyError):
        name = container.name
    _release_name(root, name, container.id)
    _remove_cgroup(cgroup)
    rmtree(trash)
    return True


def _remove_cgroup(paths: dict | None) -> None:
    if not paths:
        return
    from ..isolation.cgroups import from_paths
    cgroup = from_paths(paths)
    if cgroup is not None:
        try:
            cgroup.remove()
        except OSError:
            pass
