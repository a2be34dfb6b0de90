"""``sandbox compose``: Docker Compose v2's command line over :mod:`sandbox.compose`.

    sandbox compose [-f FILE]... [-p NAME] [--project-directory DIR] [--env-file FILE]
                    [--profile NAME] COMMAND [ARGS]

The global flags choose the files and the project (the loader reads them); each
command's flags are Compose v2's (``docker compose COMMAND --help``).  Errors are one
sentence, ``sandbox compose: ...``, and the exit codes are Compose's: 1 when a
command fails, the container's own code for ``run`` and ``exec``, 130 after Ctrl-C.
"""

from __future__ import annotations

import json
import os
import sys

from ..errors import SandboxError, UsageError
from .flags import Command, Flag, parse

_TIMEOUT = Flag("timeout", "t", "int", "Specify a shutdown timeout in seconds", metavar="int")

GLOBAL = Command("compose", "[OPTIONS] COMMAND", "Define and run multi-container applications",
                 [Flag("file", "f", "list", "Compose configuration files", metavar="stringArray"),
                  Flag("project-name", "p", "str", "Project name", metavar="string"),
                  Flag("project-directory", "", "str", "Specify an alternate working directory "
                       "(default: the path of the, first specified, Compose file)",
                       metavar="string"),
                  Flag("env-file", "", "list", "Specify an alternate environment file",
                       metavar="stringArray"),
                  Flag("profile", "", "list", "Specify a profile to enable",
                       metavar="stringArray"),
                  Flag("progress", "", "str", "Set type of progress output (plain, quiet)",
                       default="plain", metavar="string")],
                 interspersed=False)

COMMANDS = {c.name: c for c in [
    Command("up", "[OPTIONS] [SERVICE...]", "Create and start containers",
            [Flag("detach", "d", "bool", "Detached mode: Run containers in the background"),
             Flag("build", "", "bool", "Build images before starting containers"),
             Flag("no-build", "", "bool", "Don't build an image, even if it's policy"),
             Flag("wait", "", "bool", "Wait for services to be running|healthy. Implies "
                  "detached mode"),
             Flag("force-recreate", "", "bool", "Recreate containers even if their "
                  "configuration and image haven't changed"),
             Flag("no-recreate", "", "bool", "If containers already exist, don't recreate them"),
             Flag("remove-orphans", "", "bool", "Remove containers for services not defined "
                  "in the Compose file"),
             Flag("scale", "", "list", "Scale SERVICE to NUM instances (SERVICE=NUM)",
                  metavar="scale")]),
    Command("down", "[OPTIONS]", "Stop and remove containers, networks",
            [Flag("volumes", "v", "bool", "Remove named volumes declared in the \"volumes\" "
                  "section of the Compose file and anonymous volumes attached to containers"),
             Flag("remove-orphans", "", "bool", "Remove containers for services not defined "
                  "in the Compose file"), _TIMEOUT], max_args=0),
    Command("ps", "[OPTIONS] [SERVICE...]", "List containers",
            [Flag("all", "a", "bool", "Show all stopped containers"),
             Flag("quiet", "q", "bool", "Only display IDs"),
             Flag("services", "", "bool", "Display services")]),
    Command("logs", "[OPTIONS] [SERVICE...]", "View output from containers",
            [Flag("follow", "f", "bool", "Follow log output"),
             Flag("timestamps", "t", "bool", "Show timestamps"),
             Flag("tail", "n", "str", "Number of lines to show from the end of the logs for "
                  "each container", default="all", metavar="string"),
             Flag("no-color", "", "bool", "Produce monochrome output"),
             Flag("no-log-prefix", "", "bool", "Don't print prefix in logs")]),
    Command("exec", "[OPTIONS] SERVICE COMMAND [ARGS...]",
            "Execute a command in a running container",
            [Flag("no-TTY", "T", "bool", "Disable pseudo-TTY allocation. By default `docker "
                  "compose exec` allocates a TTY"),
             Flag("detach", "d", "bool", "Detached mode: Run command in the background"),
             Flag("env", "e", "list", "Set environment variables", metavar="stringArray"),
             Flag("workdir", "w", "str", "Path to workdir directory for this command",
                  metavar="string"),
             Flag("user", "u", "str", "Run the command as this user", metavar="string"),
             Flag("index", "", "int", "Index of the container if service has multiple "
                  "replicas", default=1, metavar="int")], min_args=2, interspersed=False),
    Command("run", "[OPTIONS] SERVICE [COMMAND] [ARGS...]",
            "Run a one-off command on a service",
            [Flag("rm", "", "bool", "Automatically remove the container when it exits"),
             Flag("detach", "d", "bool", "Run container in background and print container ID"),
             Flag("env", "e", "list", "Set environment variables", metavar="stringArray"),
             Flag("no-TTY", "T", "bool", "Disable pseudo-TTY allocation (default: auto-detected)"),
             Flag("no-deps", "", "bool", "Don't start linked services"),
             Flag("name", "", "str", "Assign a name to the container", metavar="string"),
             Flag("user", "u", "str", "Run as specified username or uid", metavar="string"),
             Flag("workdir", "w", "str", "Working directory inside the container",
                  metavar="string"),
             Flag("entrypoint", "", "str", "Override the entrypoint of the image",
                  metavar="string"),
             Flag("service-ports", "P", "bool", "Run command with all service's ports enabled "
                  "and mapped to the host")], min_args=1, interspersed=False),
    Command("build", "[OPTIONS] [SERVICE...]", "Build or rebuild services",
            [Flag("no-cache", "", "bool", "Do not use cache when building the image"),
             Flag("pull", "", "bool", "Always attempt to pull a newer version of the image")]),
    Command("pull", "[OPTIONS] [SERVICE...]", "Pull service images",
            [Flag("ignore-pull-failures", "", "bool", "Pull what it can and ignores images "
                  "with pull failures"), Flag("quiet", "q", "bool", "Pull without printing "
                                                               "progress information")]),
    Command("push", "[OPTIONS] [SERVICE...]", "Push service images"),
    Command("config", "[OPTIONS] [SERVICE...]", "Parse, resolve and render compose file in "
            "canonical format",
            [Flag("quiet", "q", "bool", "Only validate the configuration, don't print anything"),
             Flag("services", "", "bool", "Print the service names, one per line"),
             Flag("volumes", "", "bool", "Print the volume names, one per line"),
             Flag("format", "", "str", "Format the output. Values: [yaml | json]",
                  default="yaml", metavar="string")]),
    Command("convert", "[OPTIONS]", "Convert the project to another platform's objects "
            "(Kubernetes: Deployments, Services, PersistentVolumeClaims; kompose's rules)",
            [Flag("format", "", "str", "Format of the output: kubernetes", default="kubernetes",
                  metavar="string")], max_args=0),
    Command("start", "[SERVICE...]", "Start services"),
    Command("stop", "[OPTIONS] [SERVICE...]", "Stop services", [_TIMEOUT]),
    Command("restart", "[OPTIONS] [SERVICE...]", "Restart service containers", [_TIMEOUT]),
    Command("kill", "[OPTIONS] [SERVICE...]", "Force stop service containers",
            [Flag("signal", "s", "str", "SIGNAL to send to the container", default="SIGKILL",
                  metavar="string")]),
    Command("rm", "[OPTIONS] [SERVICE...]", "Removes stopped service containers",
            [Flag("force", "f", "bool", "Don't ask to confirm removal"),
             Flag("stop", "s", "bool", "Stop the containers, if required, before removing"),
             Flag("volumes", "v", "bool", "Remove any anonymous volumes attached to containers")]),
    Command("top", "[SERVICES...]", "Display the running processes"),
    Command("port", "[OPTIONS] SERVICE PRIVATE_PORT", "Print the public port for a port binding",
            [Flag("protocol", "", "str", "tcp or udp", default="tcp", metavar="string"),
             Flag("index", "", "int", "Index of the container if service has multiple replicas",
                  default=1, metavar="int")], min_args=2, max_args=2),
    Command("ls", "[OPTIONS]", "List running compose projects",
            [Flag("all", "a", "bool", "Show all stopped Compose projects"),
             Flag("quiet", "q", "bool", "Only display IDs")], max_args=0),
]}
NEEDS_NO_FILE = {"ls"}
BY_LABEL = {"down", "ps", "logs", "stop", "kill", "rm", "top", "restart", "start"}  # work with -p alone


def usage() -> str:
    width = max(len(n) for n in COMMANDS)
    return "\n".join([GLOBAL.help("sandbox"), "", "Commands:"]
                     + [f"  {n:<{width}}  {c.summary}" for n, c in COMMANDS.items()]
                     + ["", "Run 'sandbox compose COMMAND --help' for more information on a "
                            "command."])


def main(argv: list[str]) -> int:
    """``sandbox compose ...``: parse, act, and turn every error into one sentence."""
    try:
        options, rest = parse(GLOBAL, argv)
        if options.pop("help") or not rest:
            print(usage())
            return 0
        verb, rest = rest[0], rest[1:]
        command = COMMANDS.get(verb)
        if command is None:
            raise UsageError(f"unknown docker command: \"compose {verb}\"\nSee 'sandbox compose "
                             "--help'")
        values, args = parse(command, rest)
        if values.pop("help"):
            print(command.help("sandbox compose"))
            return 0
        return globals()["cmd_" + verb](options, args, **values) or 0
    except SandboxError as err:
        print(f"sandbox compose: {err}", file=sys.stderr)
        return exit_code(err)
    except KeyboardInterrupt:
        return 130


def exit_code(err: SandboxError) -> int:
    """Compose's: 1 for any failure, but a command that cannot be run (126) or found (127)
    in ``exec`` and ``run`` keeps its code, as the container's own would be."""
    return err.exit_code if err.exit_code in (126, 127) else 1


# --- the project ------------------------------------------------------------------------
def _root():
    from ..paths import prepare_root, state_root
    return prepare_root(state_root())


def load(options: dict, verb: str = ""):
    """The loader's Project for the global flags; with ``-p`` and no file, for the verbs that
    find a project by its labels (``down``, ``ps``...), an empty one of that name."""
    from pathlib import Path
    from ..compose.loader import load as load_files
    try:
        return load_files(files=[Path(f) for f in options["file"]] or None,
                          project_name=options["project_name"],
                          project_directory=options["project_directory"] and
                          Path(options["project_directory"]),
                          env_files=[Path(f) for f in options["env_file"]] or None,
                          profiles=options["profile"])
    except SandboxError as err:
        if options["project_name"] and verb in BY_LABEL and not options["file"] \
                and "no configuration file" in str(err).lower():
            return _labels_only(options["project_name"])
        raise


def _labels_only(name: str):
    from pathlib import Path
    from types import SimpleNamespace
    return SimpleNamespace(name=name, working_dir=Path.cwd(), files=[], environment={},
                           disabled={}, model={"name": name, "services": {}})


def project(options: dict, verb: str = ""):
    from ..compose.progress import Progress
    from ..compose.project import Project
    return Project(_root(), load(options, verb),
                   Progress(quiet=options.get("progress") == "quiet"))


# --- the verbs ------------------------------------------------------------------------------
def cmd_up(options, args, detach, build, no_build, wait, force_recreate, no_recreate,
           remove_orphans, scale) -> int:
    if build and no_build:
        raise UsageError("--build and --no-build are incompatible")
    if force_recreate and no_recreate:
        raise UsageError("--force-recreate and --no-recreate are incompatible")
    return project(options).up(args, detach=detach, build=build, no_build=no_build,
                               force_recreate=force_recreate, no_recreate=no_recreate,
                               remove_orphans=remove_orphans, scale=_scales(scale), wait=wait)


def _scales(items: list[str]) -> dict[str, int]:
    """``--scale web=3`` → {"web": 3}."""
    out = {}
    for item in items:
        name, eq, count = item.partition("=")
        if not eq or not count.isdigit():
            raise UsageError(f"invalid --scale {item}: expected SERVICE=NUM")
        out[name] = int(count)
    return out


def cmd_down(options, args, volumes, remove_orphans, timeout) -> int:
    project(options, "down").down(volumes=volumes, remove_orphans=remove_orphans,
                                  timeout=timeout)
    return 0


def cmd_ps(options, args, all, quiet, services) -> int:
    from ..humanize import ago, table
    from .commands import _command_text, _ports_column, status_text
    p = project(options, "ps")
    if services:
        for name in args or p.services:
            print(name)
        return 0
    found = [c for c in p.containers(args, oneoff=None) if all or c.running]
    if quiet:
        for c in found:
            print(c.id)
        return 0
    rows = []
    for c in found:
        state = c.status()
        rows.append([c.name, c.spec.image, _command_text(c.spec.cmd, False),
                     c.spec.labels.get("com.docker.compose.service", ""),
                     ago(c.config["Created"]), status_text(state),
                     _ports_column(state)])
    print(table(rows, ["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"]))
    return 0


def cmd_logs(options, args, follow, timestamps, tail, no_color, no_log_prefix) -> int:
    from ..compose.logs import Follower, Prefixes, show
    p = project(options, "logs")
    p._known(*args)
    if tail != "all" and not tail.lstrip("-").isdigit():
        raise UsageError(f"invalid value for --tail: {tail!r}: use a number or \"all\"")
    count = None if tail == "all" or int(tail) < 0 else int(tail)
    found = p.containers(args, oneoff=None)
    prefixes = Prefixes([c.name for c in found], sys.stdout.isatty() and not no_color)
    if no_log_prefix:
        prefixes.__class__ = _NoPrefixes
    show(found, prefixes, count, timestamps)
    if follow:
        follower = Follower(prefixes, timestamps)
        for c in found:
            follower.watch(c, from_start=False)
        follower.follow(until_exited=True)
    return 0


class _NoPrefixes:
    """``--no-log-prefix``: the lines as the containers printed them."""

    def __call__(self, name: str) -> str:
        return ""

    def add(self, name: str) -> None:
        pass

    def plain(self, name: str, text: str) -> str:
        return text


def cmd_exec(options, args, no_TTY, detach, env, workdir, user, index) -> int:
    from ..engine import lifecycle
    from ..engine.runtime import exec_into
    from .commands import _attached
    p = project(options, "exec")
    container = p.container_for(args[0], index)
    if not container.running:
        raise SandboxError(f'service "{args[0]}" is not running')
    lifecycle.refuse_if_paused(container)
    tty = not no_TTY and os.isatty(0) and os.isatty(1)
    env = lifecycle.pass_through(env)
    if detach:
        from ..engine.runtime import Stdio
        null = os.open(os.devnull, os.O_RDWR)
        exec_into(container, args[1:], Stdio(null, null, null), env, user, workdir)
        return 0
    return _attached(lambda stdio: exec_into(container, args[1:], stdio, env, user, workdir),
                     tty, True)


def cmd_run(options, args, rm, detach, env, no_TTY, no_deps, name, user, workdir, entrypoint,
            service_ports) -> int:
    import shlex
    from ..engine import lifecycle
    from .commands import run_attached, start_and_attach
    from ..terminal import DEFAULT_DETACH_KEYS, parse_detach_keys
    p = project(options, "run")
    tty = not no_TTY and not detach and os.isatty(0) and os.isatty(1)
    container = p.run_container(args[0], args[1:] or None, lifecycle.pass_through(env),
                                no_deps=no_deps, remove=rm and not detach, tty=tty,
                                interactive=not detach, user=user, workdir=workdir,
                                entrypoint=shlex.split(entrypoint) if entrypoint is not None
                                else None, name=name, service_ports=service_ports)
    try:
        if detach:
            lifecycle.start_detached(container)
            print(container.name)
            return 0
        if tty:
            return start_and_attach(container, True, parse_detach_keys(DEFAULT_DETACH_KEYS))
        return run_attached(container, interactive=True)
    except SandboxError:
        if rm and not container.running:
            lifecycle.remove(container, force=True, volumes=True)
        raise


def cmd_build(options, args, no_cache, pull) -> int:
    project(options).build(args, no_cache=no_cache, pull=pull)
    return 0


def cmd_pull(options, args, ignore_pull_failures, quiet) -> int:
    p = project(options)
    p.progress.quiet = p.progress.quiet or quiet
    p.pull(args, ignore_failures=ignore_pull_failures)
    return 0


def cmd_push(options, args) -> int:
    project(options).push(args)
    return 0


def cmd_config(options, args, quiet, services, volumes, format) -> int:
    loaded = load(options)
    model = loaded.model
    if quiet:
        return 0
    if services:
        for name in model.get("services") or {}:
            print(name)
        return 0
    if volumes:
        for name in model.get("volumes") or {}:
            print(name)
        return 0
    if args:
        model = dict(model, services={n: s for n, s in model["services"].items() if n in args})
    from ..compose.model import printable, to_yaml
    if format == "json":
        print(json.dumps(printable(model), indent=4))
    elif format == "yaml":
        sys.stdout.write(to_yaml(model))
    else:
        raise UsageError(f"unsupported format {format!r}: use yaml or json")
    return 0


def cmd_convert(options, args, format) -> int:
    """``compose convert --format kubernetes``: the project as Kubernetes objects, with
    what does not carry over said in comments at the top (sandbox.compose.kubernetes)."""
    from ..compose.kubernetes import manifests, to_yaml
    if format != "kubernetes":
        raise UsageError(f"unsupported format {format!r}: kubernetes (for yaml or json, "
                         "use `sandbox compose config --format`)")
    loaded = load(options)
    sys.stdout.write(to_yaml(manifests(loaded), loaded))
    return 0


def cmd_start(options, args) -> int:
    project(options, "start").start(args)
    return 0


def cmd_stop(options, args, timeout) -> int:
    project(options, "stop").stop(args, timeout)
    return 0


def cmd_restart(options, args, timeout) -> int:
    project(options, "restart").restart(args, timeout)
    return 0


def cmd_kill(options, args, signal) -> int:
    from ..engine.lifecycle import parse_signal
    project(options, "kill").kill(args, parse_signal(signal))
    return 0


def cmd_rm(options, args, force, stop, volumes) -> int:
    p = project(options, "rm")
    if stop:
        p.stop(args)
    found = p.stopped(args)
    if not found:
        print("No stopped containers", file=sys.stderr)
        return 0
    if not force and os.isatty(0):
        print("Going to remove " + ", ".join(c.name for c in found), file=sys.stderr)
        if input("? Are you sure? (y/N) ").strip().lower() not in ("y", "yes"):
            return 0
    p.rm(args, volumes=volumes)
    return 0


def cmd_top(options, args) -> int:
    from ..engine.lifecycle import container_pids
    from ..engine.top import top
    from .commands import top_table
    for c in project(options, "top").containers(args, running_only=True):
        titles, rows = top(container_pids(c), [])
        print(c.name)
        print(top_table(titles, rows))
        print()
    return 0


def cmd_port(options, args, protocol, index) -> int:
    p = project(options, "port")
    c = p.container_for(args[0], index)
    state = c.status()
    ports = state.get("Ports") or {} if state.get("Status") == "running" else {}
    wanted = args[1] if "/" in args[1] else f"{args[1]}/{protocol}"
    bindings = ports.get(wanted) or []
    if not bindings:
        raise SandboxError(f"no port {wanted} for container {c.name}")
    print(f"{bindings[0]['HostIp']}:{bindings[0]['HostPort']}")
    return 0


def cmd_ls(options, args, all, quiet) -> int:
    from ..compose.project import projects
    from ..humanize import table
    found = {n: p for n, p in projects(_root()).items() if all or p["running"]}
    if quiet:
        for name in found:
            print(name)
        return 0
    print(table([[n, p["Status"], p["ConfigFiles"]] for n, p in found.items()],
                ["NAME", "STATUS", "CONFIG FILES"]))
    return 0
