"""One service of the model → the arguments of ``create_container``: what ``sandbox run`` would be typed.

    services:                              create_container(root, "nginx:1.27",
      web:                                   name="shop-web-1",
        image: nginx:1.27                    network="shop_default",
        ports: [{target: 80,                 network_aliases=["shop-web-1", "web"],
                 published: "8080"}]         publish=["8080:80/tcp"],
        environment: {MODE: prod}            env=["MODE=prod"],
        restart: unless-stopped              restart={"Name": "unless-stopped", ...},
                                             labels={"com.docker.compose.project": "shop", ...})

Nothing here touches the disk or the engine: :func:`create_arguments` is a pure
function of the model, so each mapping is a unit test.  The names follow Docker
Compose v2's ``pkg/compose/create.go`` (``getCreateConfigs``); the durations are Go's
(``time.ParseDuration``), as compose files write them.  A key the engine cannot
honour is refused by :func:`check_supported`, naming the service and the key, rather
than silently ignored.
"""

from __future__ import annotations


from .. import humanize
from ..errors import UsageError
from . import names

# The service keys this project acts on, or that change nothing for a container here
# (``expose`` is metadata; ``env_file`` is already merged into ``environment`` by the
# loader; ``links`` only adds aliases, and every service is reachable by name anyway).
SUPPORTED = {
    "image", "build", "command", "entrypoint", "environment", "env_file", "ports", "expose",
    "volumes", "networks", "depends_on", "healthcheck", "restart", "init", "user",
    "working_dir", "hostname", "container_name", "tty", "stdin_open", "cap_add", "cap_drop",
    "read_only", "privileged", "security_opt", "labels", "scale", "deploy",
    "stop_grace_period", "stop_signal", "profiles", "extra_hosts", "dns", "tmpfs",
    "mem_limit", "memswap_limit", "cpus", "cpu_shares", "pids_limit", "network_mode",
    "volumes_from", "links", "pull_policy", "logging", "platform",
}
DEPLOY_SUPPORTED = {"replicas", "resources", "restart_policy", "mode", "labels"}
LIMITS_SUPPORTED = {"cpus", "memory", "pids"}


class Unsupported(UsageError):
    """A valid compose key that this sandbox cannot honour."""


def check_supported(name: str, service: dict) -> None:
    """Refuse, in one sentence naming the service and the key, what the engine cannot do."""
    for key in service:
        if key not in SUPPORTED and not key.startswith("x-"):
            raise Unsupported(f'service "{name}": `{key}` is not supported by sandbox compose; '
                              "remove it from the file to run this project here")
    deploy = service.get("deploy") or {}
    for key in deploy:
        if key not in DEPLOY_SUPPORTED and not key.startswith("x-"):
            raise Unsupported(f'service "{name}": `deploy.{key}` is not supported by sandbox '
                              "compose (only replicas, resources.limits and restart_policy)")
    if deploy.get("mode", "replicated") != "replicated":
        raise Unsupported(f'service "{name}": `deploy.mode: {deploy["mode"]}` is not '
                          "supported: only replicated")
    resources = deploy.get("resources") or {}
    for key in resources:
        if key != "limits":
            raise Unsupported(f'service "{name}": `deploy.resources.{key}` is not supported by '
                              "sandbox compose (only resources.limits)")
    for key in resources.get("limits") or {}:
        if key not in LIMITS_SUPPORTED:
            raise Unsupported(f'service "{name}": `deploy.resources.limits.{key}` is not '
                              "supported (only cpus, memory and pids)")
    driver = (service.get("logging") or {}).get("driver", "json-file")
    if driver not in ("json-file", "local"):
        raise Unsupported(f'service "{name}": `logging.driver: {driver}` is not supported: '
                          "containers here log to json-file")
    mode = service.get("network_mode")
    if mode and mode not in ("none", "host", "bridge") and not mode.startswith(
            ("service:", "container:")):
        raise Unsupported(f'service "{name}": `network_mode: {mode}` is not supported '
                          "(none, host, bridge, service:NAME, container:NAME are)")


# --- Go durations ("1m30s") -------------------------------------------------------------
def go_duration(text, what: str = "duration") -> float:
    """``"1m30s"`` → 90.0 seconds, as Go's ``time.ParseDuration`` reads it (a number: seconds)."""
    if isinstance(text, (int, float)):
        return float(text)
    text = str(text).strip()
    if text == "":
        return 0.0
    try:
        return humanize.go_duration(text) / 1e9
    except ValueError:
        raise UsageError(f"invalid {what} {text!r}: expected a Go duration such as 30s, 1m30s "
                         "or 500ms") from None


def _ns(text, what: str) -> int:
    return int(round(go_duration(text, what) * 1e9))


# --- the parts ---------------------------------------------------------------------------
def environment(service: dict, project_env: dict[str, str]) -> list[str]:
    """``{K: V}`` → ``["K=V"]``; a null value is the caller's (the project's environment,
    else ``K`` alone, which the engine passes through from the process's, as ``-e K``)."""
    out = []
    for key, value in (service.get("environment") or {}).items():
        if value is None:
            out.append(f"{key}={project_env[key]}" if key in project_env else key)
        else:
            out.append(f"{key}={_text(value)}")
    return out


def _text(value) -> str:
    """YAML's true/false/numbers as compose writes them into the environment."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def publish(service: dict) -> list[str]:
    """Long-syntax ports → ``-p`` strings: ``[IP:][PUBLISHED:]TARGET/PROTOCOL``."""
    out = []
    for port in service.get("ports") or []:
        inside = f"{port['target']}/{port.get('protocol') or 'tcp'}"
        published = port.get("published") or ""
        if port.get("host_ip"):
            out.append(f"{port['host_ip']}:{published}:{inside}")
        elif published:
            out.append(f"{published}:{inside}")
        else:
            out.append(inside)
    return out


def mounts(project_name: str, model: dict, service_name: str, service: dict) -> list[dict]:
    """``volumes:`` and ``tmpfs:`` → the engine's mount records (:mod:`sandbox.isolation.mounts`)."""
    from ..isolation.mounts import ordered, parse_tmpfs, volume_mount
    out = []
    declared = model.get("volumes") or {}
    for v in service.get("volumes") or []:
        kind, source, target = v.get("type", "volume"), v.get("source"), v["target"]
        readonly = bool(v.get("read_only"))
        if kind == "volume":
            if source and source not in declared:
                raise UsageError(f'service "{service_name}" refers to undefined volume '
                                 f"{source}: declare it under the top-level `volumes:`")
            name = (declared[source].get("name") or f"{project_name}_{source}") if source else ""
            out.append(volume_mount(name, target, readonly,
                                    bool((v.get("volume") or {}).get("nocopy"))))
        elif kind == "bind":
            out.append({"type": "bind", "source": source, "target": target,
                        "readonly": readonly, "mode": ""})
        elif kind == "tmpfs":
            size = (v.get("tmpfs") or {}).get("size")
            mode = (v.get("tmpfs") or {}).get("mode")
            options = ",".join(filter(None, [f"size={size}" if size else "",
                                             f"mode={mode:o}" if isinstance(mode, int)
                                             else f"mode={mode or '1777'}"]))
            out.append({"type": "tmpfs", "source": "tmpfs", "target": target,
                        "readonly": readonly, "options": options + (",ro" if readonly else ""),
                        "mount": True})
        else:
            raise Unsupported(f'service "{service_name}": volume type `{kind}` at {target} is '
                              "not supported (volume, bind and tmpfs are)")
    out += [parse_tmpfs(t) for t in _strings(service.get("tmpfs"))]
    return ordered(out)


def _strings(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def networks(project_name: str, model: dict, service_name: str, service: dict,
             container: str) -> dict[str, dict]:
    """The service's project networks, by their real names: ``{"shop_default": {"Aliases":
    ["shop-web-1", "web", ...], "IPv4Address": None}}``, in compose's order (by name).

    The aliases are Compose v2's: the container's name, the service's, then the file's.
    """
    if service.get("network_mode"):
        return {}
    declared = model.get("networks") or {}
    wanted = service.get("networks") or {"default": None}
    plugged = {}
    for key in sorted(wanted):
        if key not in declared:
            raise UsageError(f'service "{service_name}" refers to undefined network {key}: '
                             "declare it under the top-level `networks:`")
        config = wanted[key] or {}
        real = declared[key].get("name") or f"{project_name}_{key}"
        plugged[real] = {"Aliases": [container, service_name] + list(config.get("aliases") or []),
                         "IPv4Address": config.get("ipv4_address")}
    return plugged


def network_mode(project_name: str, service: dict) -> str | None:
    """``network_mode:`` → ``--network``: ``service:db`` is the db's first container."""
    mode = service.get("network_mode")
    if mode and mode.startswith("service:"):
        return "container:" + names.container_name(project_name, mode.split(":", 1)[1], 1)
    return mode


def volumes_from(project_name: str, service: dict) -> list[str]:
    """``volumes_from: [db, "container:x:ro"]`` → ``--volumes-from`` of the containers."""
    out = []
    for entry in service.get("volumes_from") or []:
        if entry.startswith("container:"):
            out.append(entry.split(":", 1)[1])
        else:
            other, _, mode = entry.partition(":")
            out.append(names.container_name(project_name, other, 1) + (f":{mode}" if mode else ""))
    return out


def healthcheck(service: dict) -> dict | None:
    """``healthcheck:`` → Docker's ``HealthConfig`` (durations in nanoseconds); None: the image's."""
    check = service.get("healthcheck")
    if check is None:
        return None
    if check.get("disable"):
        return {"Test": ["NONE"]}
    config = {}
    if check.get("test"):
        test = check["test"]
        config["Test"] = ["CMD-SHELL", test] if isinstance(test, str) else list(test)
    for key, field in (("interval", "Interval"), ("timeout", "Timeout"),
                       ("start_period", "StartPeriod"), ("start_interval", "StartInterval")):
        if check.get(key) is not None:
            config[field] = _ns(check[key], f"healthcheck.{key}")
    if check.get("retries") is not None:
        config["Retries"] = int(check["retries"])
    return config


def restart_policy(service: dict) -> dict | None:
    """``restart:`` (or ``deploy.restart_policy``) → the engine's policy; None: ``no``."""
    from ..engine.restart import parse
    text = service.get("restart")
    if text is None:
        policy = (service.get("deploy") or {}).get("restart_policy") or {}
        condition = policy.get("condition")
        text = {"any": "always", "none": "no"}.get(condition, condition)
        if condition == "on-failure" and policy.get("max_attempts"):
            text = f"on-failure:{policy['max_attempts']}"
    if text in (None, "no"):
        return None
    return parse(str(text))


def limits(service: dict):
    """``mem_limit``, ``cpus``, ``pids_limit``... and ``deploy.resources.limits`` → Limits."""
    from ..isolation.cgroups import parse_limits
    deploy = ((service.get("deploy") or {}).get("resources") or {}).get("limits") or {}
    return parse_limits(memory=_given(deploy.get("memory"), service.get("mem_limit")),
                        memory_swap=_given(service.get("memswap_limit")),
                        cpus=_given(deploy.get("cpus"), service.get("cpus")),
                        cpu_shares=_given(service.get("cpu_shares")),
                        pids_limit=_given(deploy.get("pids"), service.get("pids_limit")))


def _given(*values):
    return next((str(v) for v in values if v not in (None, "", 0, "0")), None)


def extra_hosts(service: dict) -> list[str]:
    """``host=ip`` (compose's canonical form) or ``host:ip`` → ``--add-host``'s ``host:ip``."""
    out = []
    for entry in _strings(service.get("extra_hosts")):
        if "=" in entry:
            host, _, ip = entry.partition("=")
            entry = f"{host}:{ip}"
        out.append(entry)
    return out


def log_opts(service: dict) -> dict | None:
    options = (service.get("logging") or {}).get("options") or {}
    if not options:
        return None
    from ..engine.jsonlog import parse_opts
    return parse_opts([f"{k}={v}" for k, v in options.items()])


def stop_timeout(service: dict) -> int | None:
    """``stop_grace_period: 1m30s`` → ``--stop-timeout 90`` (whole seconds, as Compose does)."""
    period = service.get("stop_grace_period")
    return None if period is None else int(go_duration(period, "stop_grace_period"))


# --- the whole service ---------------------------------------------------------------------
def create_arguments(project, service_name: str, number: int, image: str,
                     extra_labels: dict[str, str] | None = None,
                     container: str | None = None) -> dict:
    """Every keyword argument of :func:`sandbox.engine.lifecycle.create_container` (but
    ``root``) for replica ``number`` of ``service_name``, plus ``"more_networks"``: the
    networks after the first (the engine plugs a container into one at create).

    ``project`` is the loader's :class:`Project` (name, working_dir, files, model,
    environment); ``image`` the image reference to run; ``extra_labels`` the config hash
    and the image id; ``container`` the name (default ``<project>-<service>-<number>``).
    """
    from ..engine.security import decide
    service = project.model["services"][service_name]
    name = container or service.get("container_name") or names.container_name(
        project.name, service_name, number)
    plugged = networks(project.name, project.model, service_name, service, name)
    first = next(iter(plugged), None)
    labels = {**(service.get("labels") or {}), **names.project_labels(project),
              names.SERVICE: service_name, names.NUMBER: str(number),
              names.ONEOFF: "False", names.DEPENDS_ON: names.depends_on_label(service),
              **(extra_labels or {})}
    return {
        "image_ref": image,
        "cmd": _argv(service.get("command")),
        "entrypoint": _argv(service.get("entrypoint")),
        "env": environment(service, project.environment),
        "name": name,
        "workdir": service.get("working_dir"),
        "user": service.get("user"),
        "hostname": service.get("hostname"),
        "tty": bool(service.get("tty")),
        "interactive": bool(service.get("stdin_open")),
        "limits": limits(service),
        "mounts": mounts(project.name, project.model, service_name, service),
        "security": decide(_strings(service.get("cap_add")), _strings(service.get("cap_drop")),
                           bool(service.get("privileged")),
                           _strings(service.get("security_opt")),
                           bool(service.get("read_only"))),
        "init": bool(service.get("init")),
        "stop_signal": service.get("stop_signal"),
        "stop_timeout": stop_timeout(service),
        "volumes_from": volumes_from(project.name, service),
        "log_opts": log_opts(service),
        "restart": restart_policy(service),
        "network": first or network_mode(project.name, service),
        "network_aliases": plugged[first]["Aliases"] if first else [],
        "ip": plugged[first]["IPv4Address"] if first else None,
        "publish": publish(service),
        "dns": _strings(service.get("dns")),
        "add_hosts": extra_hosts(service),
        "labels": labels,
        "healthcheck": healthcheck(service),
        "more_networks": {k: v for k, v in plugged.items() if k != first},
    }


def _argv(value) -> list[str] | None:
    """``command:`` is a list in the model (the loader split a string as a shell would)."""
    if value is None:
        return None
    if isinstance(value, str):
        import shlex
        return shlex.split(value)
    return [str(v) for v in value]
