"""The instructions that change only an image's config, not its files.

An image config (OCI image spec, config.md) holds, besides the list of layers,
what ``docker run`` starts with: ``Env``, ``Cmd``, ``Entrypoint``,
``WorkingDir``, ``User``, ``ExposedPorts``, ``Volumes``, ``Labels``,
``StopSignal``, ``Healthcheck``, ``OnBuild``, ``Shell``.  Ten of a
Dockerfile's instructions do nothing but set one of these:

    instruction          config field              layer?
    ───────────────────  ────────────────────────  ──────────────────────────
    ENV A=1              Env ["A=1", ...]           no
    LABEL k=v            Labels {"k": "v"}          no
    MAINTAINER name      author (and a label)       no
    EXPOSE 80            ExposedPorts {"80/tcp"}    no
    VOLUME /data         Volumes {"/data": {}}      no
    USER app             User "app"                 no
    CMD / ENTRYPOINT     Cmd / Entrypoint           no
    SHELL ["bash","-c"]  Shell                      no
    STOPSIGNAL / HEALTHCHECK / ONBUILD              no
    WORKDIR /app         WorkingDir                 only if /app must be made

Each function here takes the config's ``config`` object and the command's
already expanded values, and changes the object.  They are pure, so the rules
(Docker's rules for CMD and ENTRYPOINT above all) are tested without a kernel.
"""

from __future__ import annotations

import json
import posixpath

DEFAULT_SHELL = ["/bin/sh", "-c"]
MAINTAINER_LABEL = "org.opencontainers.image.authors"


def set_env(config: dict, pairs: list[tuple[str, str]]) -> None:
    """ENV: each NAME=value replaces an earlier NAME, or is added at the end."""
    env = list(config.get("Env") or [])
    for name, value in pairs:
        env = [e for e in env if e.split("=", 1)[0] != name] + [f"{name}={value}"]
    config["Env"] = env


def env_dict(config: dict) -> dict[str, str]:
    """The config's Env as a mapping (a later entry wins)."""
    return dict(e.split("=", 1) if "=" in e else (e, "") for e in config.get("Env") or [])


def set_labels(config: dict, pairs: list[tuple[str, str]]) -> None:
    config["Labels"] = {**(config.get("Labels") or {}), **dict(pairs)}


def expose(config: dict, ports: list[str]) -> None:
    """EXPOSE 80 8443/tcp 53/udp 8000-8002: each port gets a protocol (tcp by default);
    a range exposes each port in it, as Docker does (nat.ParsePortSpecs)."""
    exposed = dict(config.get("ExposedPorts") or {})
    for spec in ports:
        number, _, proto = spec.partition("/")
        proto = (proto or "tcp").lower()
        first, _, last = number.partition("-")
        if not first.isdigit() or (last and not last.isdigit()):
            raise ValueError(f"invalid containerPort: {spec}")
        for port in range(int(first), int(last or first) + 1):
            exposed[f"{port}/{proto}"] = {}
    config["ExposedPorts"] = exposed


def add_volumes(config: dict, paths: list[str]) -> None:
    volumes = dict(config.get("Volumes") or {})
    for path in paths:
        if not path.strip():
            raise ValueError("VOLUME specified can not be an empty string")
        volumes[path] = {}
    config["Volumes"] = volumes


def workdir(config: dict, path: str) -> str:
    """WORKDIR: a relative path is taken from the previous WORKDIR; returns the new one."""
    new = posixpath.normpath(posixpath.join(config.get("WorkingDir") or "/", path))
    config["WorkingDir"] = new
    return new


def shell_or_exec(config: dict, script: str | None, argv: list[str] | None) -> list[str]:
    """The argv of a shell-form (``CMD echo hi``) or exec-form (``CMD ["echo","hi"]``)
    instruction: the shell form runs in the stage's SHELL, ``/bin/sh -c`` by default."""
    if argv is not None:
        return list(argv)
    return list(config.get("Shell") or DEFAULT_SHELL) + [script or ""]


def set_cmd(config: dict, argv: list[str], stage: dict) -> None:
    """CMD.  ``stage["cmd_set"]`` remembers that this stage set CMD itself (see set_entrypoint)."""
    config["Cmd"] = argv
    stage["cmd_set"] = True


def set_entrypoint(config: dict, argv: list[str], stage: dict) -> None:
    """ENTRYPOINT.  Docker's rule: "If CMD is defined from the base image, setting
    ENTRYPOINT will reset CMD to an empty value" (Dockerfile reference, ENTRYPOINT)."""
    config["Entrypoint"] = argv
    if not stage.get("cmd_set"):
        config["Cmd"] = None


def set_healthcheck(config: dict, test: list[str], interval: int, timeout: int,
                    start_period: int, start_interval: int, retries: int) -> None:
    """HEALTHCHECK [options] CMD ... (durations in nanoseconds, as Docker keeps them), or NONE."""
    check = {"Test": test}
    for key, value in (("Interval", interval), ("Timeout", timeout),
                       ("StartPeriod", start_period), ("StartInterval", start_interval),
                       ("Retries", retries)):
        if value:
            check[key] = value
    config["Healthcheck"] = check


def add_onbuild(config: dict, expression: str) -> None:
    config["OnBuild"] = list(config.get("OnBuild") or []) + [expression]


def set_maintainer(image_config: dict, name: str) -> None:
    """MAINTAINER (deprecated): the image's ``author``, as Docker sets it, and the OCI
    label that the Dockerfile reference recommends instead."""
    image_config["author"] = name
    set_labels(image_config.setdefault("config", {}), [(MAINTAINER_LABEL, name)])


def cmd_entrypoint_table(entrypoints: list, cmds: list) -> list[list[str]]:
    """The argv a container starts with, for each CMD (rows) and ENTRYPOINT (columns): the
    Dockerfile reference's table "Understand how CMD and ENTRYPOINT interact", computed.

    Each CMD or ENTRYPOINT is ``None`` (not set), a shell-form string or an exec-form
    list.  The argv is ENTRYPOINT + CMD, always; where the reference's table shows a
    shell-form ENTRYPOINT ignoring CMD, the CMD's words are still there, after the
    script, where ``sh -c`` takes them as ``$0``, ``$1``... and the script never reads them.
    """
    def argv(value) -> list[str]:
        if value is None:
            return []
        return shell_or_exec({}, value, None) if isinstance(value, str) else list(value)

    return [[json.dumps(argv(entry) + argv(cmd)) if argv(entry) + argv(cmd)
             else "error, not allowed" for entry in entrypoints] for cmd in cmds]
