"""What each ``sandbox`` verb does.  Each ``cmd_<verb>`` gets the positional
arguments and the parsed flags, prints what Docker would print, and returns
the exit code."""

from __future__ import annotations

import json
import os
import shlex
import signal
import sys
import time

from ..engine import lifecycle
from ..engine.records import UNKNOWN_EXIT, Container, all_containers, lookup
from ..errors import Conflict, NotATerminal, SandboxError, UsageError
from ..humanize import ago, duration, parse_iso, size, table
from ..paths import state_root
from ..engine.runtime import Stdio, exec_into, start
from ..terminal import (DEFAULT_DETACH_KEYS, FORWARDED, Console, SignalForwarder, attach,
                        parse_detach_keys, relay)


def _root():
    return state_root()


# --- run, create, start ----------------------------------------------------------
def _create(args, env, name, workdir, user, hostname, entrypoint, interactive, tty, rm,
            memory, memory_swap, cpus, cpu_shares, pids_limit, volume, tmpfs, network,
            cap_add, cap_drop, privileged, security_opt, read_only, uidmap, gidmap, init,
            stop_signal, stop_timeout, log_opt, restart, mount=(), volumes_from=(), env_file=(),
            publish=(), publish_all=False, add_host=(), dns=(), ip=None, network_alias=(),
            health_cmd=None, health_interval=None, health_retries=None, health_timeout=None,
            health_start_period=None, health_start_interval=None, no_healthcheck=False,
            label=()):
    from ..isolation.cgroups import parse_limits
    from ..isolation.mounts import parse_all
    from ..engine.security import decide
    restart_policy = log_opts = None  # None: the defaults (no restart; 10m x 3), no import
    if restart != "no":
        from ..engine.restart import parse as parse_restart
        restart_policy = parse_restart(restart, auto_remove=rm)
    if log_opt:
        from ..engine.jsonlog import parse_opts
        log_opts = parse_opts(log_opt)
    userns = None
    if uidmap or gidmap:
        from ..isolation.userns import parse as parse_userns
        userns = parse_userns(uidmap, gidmap)
    healthcheck = None
    if no_healthcheck or any(v is not None for v in (
            health_cmd, health_interval, health_retries, health_timeout, health_start_period,
            health_start_interval)):
        from ..engine.health import from_flags
        healthcheck = from_flags(health_cmd, health_interval, health_timeout, health_retries,
                                 health_start_period, health_start_interval, no_healthcheck)
    security = decide(_comma_list(cap_add), _comma_list(cap_drop), privileged, security_opt,
                      read_only)
    limits = parse_limits(memory, memory_swap, cpus, cpu_shares, pids_limit)
    mounts = parse_all(volume, tmpfs, mount)
    env = _with_env_files(env, env_file)
    image, cmd = args[0], args[1:]
    notices: list[str] = []
    container = lifecycle.create_container(
        _root(), image, cmd, env=env, name=name, workdir=workdir, user=user,
        hostname=hostname, entrypoint=shlex.split(entrypoint) if entrypoint is not None else None,
        tty=tty, interactive=interactive, auto_remove=rm, limits=limits, mounts=mounts,
        security=security, userns=userns, notices=notices, init=init, volumes_from=volumes_from,
        stop_signal=stop_signal, stop_timeout=stop_timeout,
        log=lambda line: print(line, file=sys.stderr, flush=True), log_opts=log_opts,
        restart=restart_policy, network=network, publish=publish, publish_all=publish_all,
        dns=_comma_list(dns), add_hosts=add_host, ip=ip, network_aliases=network_alias,
        healthcheck=healthcheck, labels=parse_labels(label))
    if notices:
        print(f"sandbox: notice: rootless unpacking left out {len(notices)} thing(s) a user "
              f"may not create, e.g. {notices[0]}", file=sys.stderr)
    return container


def _with_env_files(env: list[str], env_files: list[str]) -> list[str]:
    """``--env-file``'s variables first, then ``-e``'s, which win (Docker's order)."""
    if not env_files:
        return list(env)
    from ..engine.envfile import read
    return [e for path in env_files for e in read(path)] + list(env)


def parse_labels(items: list[str]) -> dict[str, str]:
    """``--label a=1 --label b`` → {"a": "1", "b": ""}, as Docker reads them."""
    labels = {}
    for item in items:
        key, _, value = item.partition("=")
        if not key:
            raise UsageError(f"invalid label '{item}': empty name")
        labels[key] = value
    return labels


def _comma_list(values: list[str]) -> list[str]:
    """``--cap-add A,B --cap-add C`` → [A, B, C], as Docker's list flags read them."""
    return [v for value in values for v in value.split(",") if v]


def cmd_create(args, **flags) -> int:
    container = _create(args, **flags)
    print(container.id)
    return 0


def cmd_run(args, detach, detach_keys, **flags) -> int:
    keys = parse_detach_keys(detach_keys or DEFAULT_DETACH_KEYS)
    if flags["tty"] and flags["interactive"] and not detach:
        check_terminal()  # first: nothing is created for a run that cannot be attached
    container = _create(args, **flags)
    try:
        if detach:
            lifecycle.start_detached(container)
            print(container.id)
            return 0
        if container.spec.tty or container.spec.restart:  # the monitor must outlive us
            return start_and_attach(container, flags["interactive"], keys)
        return run_attached(container, interactive=flags["interactive"])
    except SandboxError:
        if flags["rm"] and not container.running:  # --rm: nothing is left, even on failure
            lifecycle.remove(container, force=True, volumes=True)
        raise


def check_terminal() -> None:
    """``-it`` relays a terminal: with a pipe or a file on stdin there is none to relay."""
    if not os.isatty(0):
        raise NotATerminal("the input device is not a TTY")


def run_attached(container: Container, interactive: bool) -> int:
    """Run in the foreground: the container's output is ours, our signals are its."""
    return _attached(lambda stdio: start(container, stdio, detach=False), container.spec.tty,
                     interactive)


def start_and_attach(container: Container, interactive: bool, keys: bytes) -> int:
    """``run -it``, ``start -ai`` (and any ``--restart`` one in the foreground): start it
    detached, with us as its first attached client.

    The monitor, not this command, holds the container's terminal, so that
    detaching (Ctrl-P Ctrl-Q) leaves it running; we are connected before it
    starts, so that not one byte of its output is missed.  Docker does the
    same: attach first, then start.
    """
    import socket
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    with SignalForwarder(() if container.spec.tty else FORWARDED) as forwarder:
        try:
            lifecycle.start_detached(container, client=theirs.fileno())
        finally:
            theirs.close()
        forwarder.aim(container.pid)
        code = attach_stream(ours, container, interactive, stdin_once=True, keys=keys,
                             forwarder=forwarder)
    return 0 if code is None else code  # detached: Docker's run and start say nothing


def attach_stream(sock, container: Container, interactive: bool, stdin_once: bool,
                  keys: bytes, forwarder) -> int | None:
    """Relay until the container exits (its exit code) or we detach (None)."""
    code = attach(sock, container.spec.tty, interactive, stdin_once, keys, forwarder)
    if code == -1:  # the monitor died: what the record says, if anything
        code = lifecycle.wait_recorded(container).get("ExitCode", 255)
    return code


def _attached(launch, tty: bool, interactive: bool) -> int:
    """Start something in the foreground, relay its terminal (with -t), return its exit code."""
    console = Console() if tty else None
    null = os.open(os.devnull, os.O_RDONLY)
    if console:
        stdio = Stdio(null, null, null, console=console.child_fd)
    else:
        stdio = Stdio(0 if interactive else null, 1, 2)
    with SignalForwarder() as forwarder:
        try:
            started = launch(stdio)
        finally:
            os.close(null)
            if console:
                console.close_child_end()
        forwarder.target(started)
        if started.error:
            started.wait()
            raise started.as_error()
        if not console:
            return forwarder.wait(started)
        master = console.receive()
        try:
            relay(master, started, interactive, forwarder)
        finally:
            os.close(master)
        return forwarder.wait(started)


def cmd_start(args, attach, interactive, detach_keys) -> int:
    keys = parse_detach_keys(detach_keys or DEFAULT_DETACH_KEYS)
    if attach and len(args) > 1:
        raise UsageError("you cannot start and attach multiple containers at once")
    for ref in args:
        container = lookup(_root(), ref)
        if container.running:
            print(ref)
            continue
        container.write_state(RestartCount=0, StoppedByUser=False)  # a start by hand: afresh
        if attach and (container.spec.tty or container.spec.restart):
            if interactive:
                check_terminal()
            return start_and_attach(container, interactive, keys)
        if attach:
            return run_attached(container, interactive)
        lifecycle.start_detached(container)
        print(ref)
    return 0


def cmd_attach(args, detach_keys, no_stdin, sig_proxy) -> int:
    """``docker attach``: become a client of the container's monitor (see sandbox.engine.monitor)."""
    keys = parse_detach_keys(detach_keys or DEFAULT_DETACH_KEYS)
    container = lookup(_root(), args[0])
    if not container.running:
        raise Conflict("You cannot attach to a stopped container, start it first")
    stdin = container.spec.interactive and not no_stdin
    if stdin and container.spec.tty:
        check_terminal()
    sock = lifecycle.connect(container)
    # Docker proxies signals only without a terminal; with one, Ctrl-C is a byte.
    proxied = FORWARDED if sig_proxy and not container.spec.tty else ()
    with SignalForwarder(proxied) as forwarder:
        forwarder.aim(container.pid)
        code = attach_stream(sock, container, stdin, False, keys, forwarder)
    if code is None:
        print("read escape sequence", file=sys.stderr)
        return 0
    return code


# --- ps ---------------------------------------------------------------------------
def status_text(state: dict, paused: bool = False) -> str:
    """Docker's STATUS column: ``Up 5 seconds``, ``Up 5 seconds (Paused)``,
    ``Up 5 seconds (healthy)``, ``(health: starting)``, ``(unhealthy)``,
    ``Exited (0) 5 seconds ago``, ``Created``."""
    status = state.get("Status")
    if status == "running":
        up = "Up " + duration(time.time() - parse_iso(state["StartedAt"]))
        if paused:
            return up + " (Paused)"
        health = (state.get("Health") or {}).get("Status")  # with a healthcheck: Docker's words
        if health:
            return f"{up} (health: starting)" if health == "starting" else f"{up} ({health})"
        return up
    if status == "restarting":
        return f"Restarting ({state.get('ExitCode')}) {ago(state['FinishedAt'])}"
    if status == "exited":
        code = state.get("ExitCode")
        shown = "unknown" if code == UNKNOWN_EXIT else code
        return f"Exited ({shown}) {ago(state['FinishedAt'])}"
    return status.capitalize() if status else "Unknown"


def _command_text(argv: list[str], full: bool) -> str:
    text = '"' + " ".join(argv) + '"'
    return text if full or len(text) <= 20 else text[:19] + "…"


def cmd_ps(args, all, quiet, no_trunc, filter=()) -> int:
    from ..engine import filters
    wanted = filters.parse(filter)
    rows = []
    for c in all_containers(_root()):
        state = c.status()
        if not all and state.get("Status") != "running" and "status" not in wanted:
            continue  # Docker: a status filter looks at every container, as -a does
        if wanted and not filters.keeps(c, state, wanted, _ps_status(c, state)):
            continue
        cid = c.id if no_trunc else c.short_id
        if quiet:
            print(cid)
            continue
        rows.append([cid, c.spec.image, _command_text(c.spec.cmd, no_trunc),
                     ago(c.config["Created"]),
                     status_text(state, lifecycle.is_paused(c, state)),
                     _ports_column(state), c.name])
    if not quiet:
        print(table(rows, ["CONTAINER ID", "IMAGE", "COMMAND", "CREATED", "STATUS", "PORTS",
                           "NAMES"]))
    return 0


def _ps_status(c: Container, state: dict) -> str:
    return "paused" if lifecycle.is_paused(c, state) else state.get("Status", "")


def _ports_column(state: dict) -> str:
    if not state.get("Ports") or state.get("Status") != "running":
        return ""
    from ..network.ports import ps_column
    return ps_column(state["Ports"])


def cmd_port(args) -> int:
    """``docker port``: ``80/tcp -> 0.0.0.0:8080``, one line per published port."""
    from ..network.ports import port_lines
    container = lookup(_root(), args[0])
    state = container.status()
    ports = state.get("Ports") or {} if state.get("Status") == "running" else {}
    lines = port_lines(ports, args[1] if len(args) > 1 else None)
    if len(args) > 1 and not lines:
        raise SandboxError(f"Error: No public port '{args[1] if '/' in args[1] else args[1] + '/tcp'}'"
                           f" published for {args[0]}")
    for line in lines:
        print(line)
    return 0


# --- exec -------------------------------------------------------------------------
def cmd_exec(args, interactive, tty, env, workdir, user, env_file=()) -> int:
    container = lookup(_root(), args[0])
    if not container.running:
        raise Conflict(f"container {container.id} is not running")
    lifecycle.refuse_if_paused(container)
    env = lifecycle.pass_through(_with_env_files(env, env_file))
    return _attached(lambda stdio: exec_into(container, args[1:], stdio, env, user, workdir),
                     tty, interactive)


# --- stop, kill, rm, prune -------------------------------------------------------
parse_signal = lifecycle.parse_signal  # ``TERM``, ``SIGTERM`` or ``15`` → 15


def _each(args, action) -> int:
    """Apply ``action`` to each named container; report failures and go on, as Docker does."""
    code = 0
    for ref in args:
        try:
            action(lookup(_root(), ref))
            print(ref)
        except SandboxError as err:
            print(f"sandbox: {err}", file=sys.stderr)
            code = 1
    return code


def cmd_stop(args, time, signal) -> int:
    """-t and -s win over the container's --stop-timeout and --stop-signal."""
    sig = parse_signal(signal) if signal else None
    return _each(args, lambda c: lifecycle.stop(c, timeout=time, sig=sig))


def cmd_restart(args, time, signal) -> int:
    sig = parse_signal(signal) if signal else None
    return _each(args, lambda c: lifecycle.restart(c, timeout=time, sig=sig))


def cmd_pause(args) -> int:
    return _each(args, lifecycle.pause)


def cmd_unpause(args) -> int:
    return _each(args, lifecycle.unpause)


def cmd_wait(args) -> int:
    """Each container's exit code on a line of its own, in the order given (``docker wait``)."""
    code = 0
    for ref in args:
        try:
            print(lifecycle.wait(lookup(_root(), ref)), flush=True)
        except SandboxError as err:
            print(f"sandbox: {err}", file=sys.stderr)
            code = 1
    return code


def cmd_rename(args) -> int:
    old, new = args
    if not old or not new:
        raise UsageError("Neither old nor new names may be empty")
    lifecycle.rename(lookup(_root(), old), new)
    return 0


def cmd_top(args) -> int:
    """The container's processes as the host sees them: host ``ps`` limited to its pids."""
    from ..engine.top import top
    titles, rows = top(lifecycle.container_pids(lookup(_root(), args[0])), args[1:])
    print(top_table(titles, rows))
    return 0


def top_table(titles: list[str], rows: list[list[str]]) -> str:
    """Docker's ``top`` layout: its tabwriter with cells at least 20 wide, 3 spaces apart."""
    widths = [max([20] + [len(r[i]) + 3 for r in [titles] + rows]) for i in range(len(titles))]
    return "\n".join("".join(cell.ljust(w) for cell, w in zip(row[:-1], widths)) + row[-1]
                     for row in [titles] + rows)


def cmd_kill(args, signal) -> int:
    sig = parse_signal(signal)
    return _each(args, lambda c: lifecycle.kill(c, sig))


def cmd_rm(args, force, volumes) -> int:
    def remove(c):
        if not lifecycle.remove(c, force, volumes=volumes):
            raise SandboxError(f"No such container: {c.id}")
    return _each(args, remove)


def cmd_prune(args, force) -> int:
    if not force:
        print("WARNING! This will remove all stopped containers.\n"
              "Are you sure you want to continue? [y/N] ", end="", flush=True)
        answer = sys.stdin.readline().strip().lower()
        if answer not in ("y", "yes"):
            return 0
    removed, reclaimed = lifecycle.prune(_root())
    if removed:
        print("Deleted Containers:")
        print("\n".join(removed))
        print()
    print(f"Total reclaimed space: {size(reclaimed)}")
    return 0


# --- logs -------------------------------------------------------------------------
def cmd_logs(args, follow, since, tail, timestamps, until) -> int:
    """``docker logs``: the container's json-file log (see sandbox.engine.jsonlog), stdout lines to
    our stdout, stderr lines to our stderr."""
    from ..engine import jsonlog
    container = lookup(_root(), args[0])
    now = time.time_ns()
    since_ns = jsonlog.parse_time(since, now, "--since") if since else None
    until_ns = jsonlog.parse_time(until, now, "--until") if until else None
    if tail != "all" and not (tail.isdigit() or tail.lstrip("-").isdigit()):
        raise UsageError(f"invalid value for --tail: {tail!r}: use a number or \"all\"")
    entries = jsonlog.between(jsonlog.read(container.dir), since_ns, until_ns)
    if tail != "all" and int(tail) >= 0:
        entries = entries[len(entries) - int(tail):] if int(tail) else []
    _print_entries(entries, timestamps)
    if follow and until_ns is None:
        _follow(container, timestamps)
    return 0


def _print_entries(entries: list[dict], timestamps: bool) -> None:
    for e in entries:
        out = sys.stderr.buffer if e.get("stream") == "stderr" else sys.stdout.buffer
        text = e.get("log", "")
        if timestamps and e.get("time"):
            text = e["time"] + " " + text
        out.write(text.encode())
    sys.stdout.buffer.flush()
    sys.stderr.buffer.flush()


def _follow(container: Container, timestamps: bool) -> None:
    """``-f``: print lines as the monitor appends them, across rotations, until it exits."""
    from ..engine.jsonlog import log_path, parse_lines
    path = log_path(container.dir)
    f, inode = _open_at_end(path)
    while True:
        running = container.running
        data = f.read() if f else b""
        cut = data.rfind(b"\n") + 1  # whole lines only; the rest next time
        if cut < len(data):
            f.seek(cut - len(data), os.SEEK_CUR)
        _print_entries(parse_lines(data[:cut]), timestamps)
        try:
            now_inode = os.stat(path).st_ino
        except FileNotFoundError:
            now_inode = None
        if now_inode != inode:  # rotated (the old file is read to its end above): the new one
            if f:
                f.close()
            f, inode = (open(path, "rb"), now_inode) if now_inode else (None, None)
            continue
        if not running:
            break
        time.sleep(0.1)
    if f:
        f.close()


def _open_at_end(path):
    try:
        f = open(path, "rb")
    except FileNotFoundError:
        return None, None
    f.seek(0, os.SEEK_END)
    return f, os.fstat(f.fileno()).st_ino


# --- inspect ----------------------------------------------------------------------
def container_json(c: Container) -> dict:
    """``docker inspect``'s shape, with the fields this runtime has."""
    from ..engine.jsonlog import DEFAULT_OPTS, log_path
    from ..isolation.mounts import mount_json
    state = c.status()
    spec = c.spec
    status = state.get("Status", "unknown")
    paused = lifecycle.is_paused(c, state)
    config = {"Hostname": c.config["Hostname"], "User": spec.user, "Tty": spec.tty,
              "OpenStdin": spec.interactive, "Env": spec.env, "Cmd": spec.cmd,
              "Image": spec.image, "WorkingDir": spec.workdir,
              "Labels": {**_image_labels(c), **spec.labels}}
    if spec.stop_signal:  # Docker shows them only when they were set
        config["StopSignal"] = spec.stop_signal
    if spec.stop_timeout is not None:
        config["StopTimeout"] = spec.stop_timeout
    if spec.healthcheck:
        config["Healthcheck"] = spec.healthcheck
    health = {"Health": state["Health"]} if "Health" in state else {}  # Docker: only with one
    return {
        "Id": c.id,
        "Created": c.config["Created"],
        "Path": spec.cmd[0] if spec.cmd else "",
        "Args": spec.cmd[1:],
        "State": {"Status": "paused" if paused else status, "Running": status == "running",
                  "Paused": paused,
                  "Restarting": status == "restarting" or bool(state.get("Restarting")),
                  "OOMKilled": state.get("OOMKilled", False),
                  "Dead": False, "Pid": state.get("Pid", 0),
                  "ExitCode": state.get("ExitCode", 0), "Error": state.get("Error", ""),
                  "StartedAt": state.get("StartedAt", "0001-01-01T00:00:00Z"),
                  "FinishedAt": state.get("FinishedAt", "0001-01-01T00:00:00Z"), **health},
        "Image": spec.image_id,
        "Name": "/" + c.name,
        "LogPath": str(log_path(c.dir)),
        "RestartCount": state.get("RestartCount", 0),
        "HostConfig": {"AutoRemove": spec.auto_remove, "NetworkMode": spec.network or "none",
                       "Init": True if spec.init else None,
                       "RestartPolicy": spec.restart or {"Name": "no", "MaximumRetryCount": 0},
                       "LogConfig": {"Type": "json-file",
                                     "Config": spec.log_opts or dict(DEFAULT_OPTS)},
                       "PortBindings": _port_bindings(spec.ports), "Dns": spec.dns,
                       "ExtraHosts": spec.extra_hosts or None},
        "NetworkSettings": _network_settings(spec, state),
        "Mounts": [mount_json(m) for m in spec.mounts
                   if m["type"] != "tmpfs" or m.get("mount")],  # --tmpfs: not in Docker's list
        "GraphDriver": {"Name": "overlay", "Data": {
            "LowerDir": ":".join(spec.lower_dirs), "UpperDir": str(c.dir / "upper"),
            "WorkDir": str(c.dir / "work"), "MergedDir": str(c.dir / "rootfs")}},
        "Config": config,
        "Rootless": spec.rootless,
    }


def _image_labels(c: Container) -> dict:
    """The image's labels, which the container's own override (Docker's merge); {} if the
    image has been removed since."""
    try:
        image = lifecycle.store_for(c.root).get(c.spec.image_id)
    except SandboxError:
        return {}
    return dict(image.config.get("config", {}).get("Labels") or {})


def _port_bindings(ports: list[dict]) -> dict:
    bindings: dict = {}
    for p in ports:
        bindings.setdefault(f"{p['ContainerPort']}/{p['Proto']}", []).append(
            {"HostIp": p["HostIp"], "HostPort": p["HostPort"]})
    return bindings


def _network_settings(spec, state: dict) -> dict:
    """Docker's NetworkSettings: the primary network's address at the top, then each network."""
    plugged = state.get("Networks") or {}
    primary = plugged.get(spec.network) or {} if spec.network == "bridge" else {}
    return {"Ports": state.get("Ports") or {}, "IPAddress": primary.get("IPAddress", ""),
            "Gateway": primary.get("Gateway", ""), "IPPrefixLen": primary.get("IPPrefixLen", 0),
            "MacAddress": primary.get("MacAddress", ""),
            "Networks": plugged or ({spec.network: {}} if spec.network else {})}


def render_format(template: str, obj: dict) -> str:
    """A small part of Go's text/template: ``{{.A.B}}`` and ``{{json .A}}``."""
    import re

    def value(path: str):
        current = obj
        for key in filter(None, path.strip().lstrip(".").split(".")):
            current = current.get(key) if isinstance(current, dict) else None
        return current

    def substitute(match):
        expr = match.group(1).strip()
        if expr.startswith("json "):
            return json.dumps(value(expr[5:]))
        v = value(expr)
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, (dict, list)):
            return json.dumps(v)
        return "<no value>" if v is None else str(v)

    return re.sub(r"\{\{(.*?)\}\}", substitute, template)


def cmd_inspect(args, format) -> int:
    found, code = [], 0
    for ref in args:
        try:
            found.append(container_json(lookup(_root(), ref)))
        except SandboxError:
            try:
                from ..engine.imagetools import image_json
                found.append(image_json(lifecycle.store_for(_root()).get(ref)))
            except SandboxError:
                print(f"sandbox: No such object: {ref}", file=sys.stderr)
                code = 1
    if format:
        for obj in found:
            print(render_format(format, obj))
    else:
        print(json.dumps(found, indent=4))
    return code


# --- stats ------------------------------------------------------------------------
def cmd_stats(args, no_stream, all) -> int:
    """Docker's ``stats`` columns; without --no-stream, refreshed until Ctrl-C.

    A container without a cgroup (rootless, where this user may not make one)
    gets Docker's "--" for numbers it cannot read, and one line says why.
    """
    if args:
        containers = [lookup(_root(), ref) for ref in args]
    else:
        containers = [c for c in all_containers(_root()) if all or c.running]
    header = ["CONTAINER ID", "NAME", "CPU %", "MEM USAGE / LIMIT", "MEM %", "PIDS"]
    while True:
        running = [c for c in containers if c.running]
        measured = {r["id"]: [r["id"][:12], r["name"], f"{r['cpu_percent']:.2f}%",
                              f"{size(r['memory'], binary=True)} / "
                              f"{size(r['memory_limit'], binary=True)}",
                              f"{r['memory_percent']:.2f}%", str(r["pids"])]
                    for r in lifecycle.stats(running, interval=0 if no_stream else 1.0)}
        unmeasured = [c for c in running if c.id not in measured]
        rows = [measured.get(c.id) or [c.short_id, c.name, "--", "-- / --", "--", "--"]
                for c in running]
        if not no_stream:
            print("\033[2J\033[H", end="")  # clear the screen, as docker stats does
        print(table(rows, header), flush=True)
        if unmeasured:
            from ..isolation.cgroups import why_none
            names = ", ".join(c.name for c in unmeasured)
            print(f"sandbox: no numbers for {names}: the kernel counts CPU, memory and "
                  f"processes per cgroup, and {'it has' if len(unmeasured) == 1 else 'they have'}"
                  f" none; {why_none()}", file=sys.stderr, flush=True)
        if no_stream or not any(c.running for c in containers):
            return 0


# --- cp ---------------------------------------------------------------------------
def cmd_cp(args, archive, follow_link, quiet) -> int:
    """``docker cp``: see :mod:`sandbox.engine.copying`.  Any failure exits 1, as Docker's does
    (:func:`sandbox.cli.exit_code`)."""
    from ..engine.copying import cp

    def stop(signum, _frame):  # `kill` or `timeout`: unwind, so that no half copy stays
        raise SystemExit(128 + signum)
    signal.signal(signal.SIGTERM, stop)
    notices = cp(args[0], args[1], follow=follow_link, keep_ids=archive, root=_root())
    if notices:
        print(f"sandbox: notice: {len(notices)} thing(s) could not be copied as they were, "
              f"e.g. {notices[0]}", file=sys.stderr)
    return 0


# --- doctor, version --------------------------------------------------------------
def cmd_doctor(args) -> int:
    from ..checks import doctor
    report = doctor()
    print(report)
    return 0 if report.ok else 1


def cmd_version(args) -> int:
    from .. import __version__
    print(f"sandbox version {__version__}")
    return 0
