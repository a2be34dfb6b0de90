"""Typed instructions: each parsed node becomes a command whose flags are checked.

The parser (:mod:`.dockerfile`) only split the text; here each node gets its
meaning, as BuildKit's ``instructions`` package gives it:

    node (run ["--mount=type=cache,target=/root/.cache"] "pip install x")
      └──▶ Run(script="pip install x", mounts=[{"type": "cache", "target": ...}])

and the nodes are grouped into stages, one per FROM:

    ARG VERSION=3.20          meta args: only ARG may come before the first FROM
    FROM alpine:$VERSION AS build    ─┐ Stage(base="alpine:$VERSION", name="build")
    RUN make                          ─┘   commands=[Run(...)]
    FROM scratch                     ─┐ Stage(base="scratch")
    COPY --from=build /app /app       ─┘   commands=[Copy(from_="build")]

Nothing is expanded here: ``$VERSION`` stays as written, for the builder to
expand with the shell lexer when it knows the values.  Every error names the
file and the line, in BuildKit's words where it has some.

Source: moby/buildkit ``frontend/dockerfile/instructions/`` (parse.go,
bflag.go, commands_runmount.go, commands_runnetwork.go,
commands_runsecurity.go); Docker's "Dockerfile reference".
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass, field

from .. import humanize
from .dockerfile import (Dockerfile, DockerfileError, Heredoc, Node, _levenshtein, go_quote,
                         must_parse_heredoc)


# ---------------------------------------------------------------- the commands

@dataclass
class Command:
    """What every instruction has: its keyword and where it is written."""

    keyword: str       # upper case: "RUN"
    line: int          # start line
    end_line: int
    original: str


@dataclass
class Run(Command):
    script: str | None = None          # shell form: run with the stage's SHELL
    argv: list[str] | None = None      # exec form
    json: bool = False
    heredocs: list[Heredoc] = field(default_factory=list)
    mounts: list[dict] = field(default_factory=list)
    network: str | None = None         # None: the default network
    security: str | None = None        # None: sandbox


@dataclass
class Cmd(Command):
    script: str | None = None
    argv: list[str] | None = None
    json: bool = False


@dataclass
class Entrypoint(Command):
    script: str | None = None
    argv: list[str] | None = None
    json: bool = False


@dataclass
class Env(Command):
    pairs: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Arg(Command):
    pairs: list[tuple[str, str | None]] = field(default_factory=list)  # None: no default


@dataclass
class Label(Command):
    pairs: list[tuple[str, str]] = field(default_factory=list)


@dataclass
class Expose(Command):
    ports: list[str] = field(default_factory=list)


@dataclass
class Volume(Command):
    paths: list[str] = field(default_factory=list)


@dataclass
class Workdir(Command):
    path: str = ""


@dataclass
class User(Command):
    user: str = ""


@dataclass
class Shell(Command):
    argv: list[str] = field(default_factory=list)


@dataclass
class StopSignal(Command):
    signal: str = ""


@dataclass
class Healthcheck(Command):
    test: list[str] = field(default_factory=list)  # ["NONE"], ["CMD", ...] or ["CMD-SHELL", script]
    interval: int = 0          # nanoseconds; 0 = inherit
    timeout: int = 0
    start_period: int = 0
    start_interval: int = 0
    retries: int = 0


@dataclass
class Onbuild(Command):
    expression: str = ""       # the trigger as text, e.g. "RUN echo hi"


@dataclass
class Copy(Command):
    sources: list[str] = field(default_factory=list)       # paths; heredoc sources are in heredocs
    dest: str = ""
    from_: str | None = None
    chown: str | None = None
    chmod: str | None = None
    link: bool = False
    heredocs: list[Heredoc] = field(default_factory=list)  # inline files, named by heredoc.name
    parents: bool = False
    exclude: list[str] = field(default_factory=list)


@dataclass
class Add(Command):
    sources: list[str] = field(default_factory=list)
    dest: str = ""
    chown: str | None = None
    chmod: str | None = None
    link: bool = False
    heredocs: list[Heredoc] = field(default_factory=list)
    checksum: str | None = None
    keep_git_dir: bool = False
    unpack: bool | None = None         # None: unpack local archives, as ADD always did
    exclude: list[str] = field(default_factory=list)


@dataclass
class Maintainer(Command):
    name: str = ""


@dataclass
class Stage:
    """One FROM and the commands up to the next FROM."""

    base: str            # FROM's image, unexpanded (may hold $ARG)
    name: str | None     # AS name, lower-cased
    platform: str | None  # --platform, unexpanded
    index: int
    line: int
    original: str
    commands: list[Command] = field(default_factory=list)


class _Fault(Exception):
    """A fault in one instruction; :func:`parse_instruction` adds file and line."""


# ---------------------------------------------------------------- flags (bflag.go)

class _Flags:
    """The flags an instruction takes, checked against the ones written.

    A bool flag is ``--link`` or ``--link=true|false``; a string flag needs
    ``=value``; a strings flag (``--mount``, ``--exclude``) may repeat.
    ``--`` ends the flags.
    """

    def __init__(self, keyword: str, written: list[str], **kinds: str):
        self.keyword = keyword
        self.written = written
        self.kinds = {name.rstrip("_").replace("_", "-"): kind for name, kind in kinds.items()}
        self.values: dict[str, object] = {}

    def parse(self) -> "_Flags":
        for flag in self.written:
            if flag == "--":
                break  # POSIX: what follows are operands
            name, has_value, value = flag.partition("=")
            self._set(name, name[2:], bool(has_value), value)
        return self

    def _set(self, written: str, name: str, has_value: bool, value: str) -> None:
        kind = self.kinds.get(name)
        if kind is None:
            raise _Fault(self._unknown(written, name))
        if name in self.values and kind != "strings":
            raise _Fault(f"duplicate flag specified: {written}")
        if kind == "bool":
            if has_value and value == "":
                raise _Fault(f"missing a value on flag: {written}")
            if value.lower() not in ("", "true", "false"):
                raise _Fault(f"expecting boolean value for flag {written}, not: {value}")
            self.values[name] = value.lower() != "false"
        elif not has_value:
            raise _Fault(f"missing a value on flag: {written} (write {written}=VALUE)")
        elif kind == "string":
            self.values[name] = value
        else:
            self.values.setdefault(name, []).append(value)

    def _unknown(self, written: str, name: str) -> str:
        message = f"unknown flag: {written}"
        near = _closest(name, list(self.kinds))
        if near:
            return f"{message} (did you mean --{near}?)"
        if not self.kinds:
            return f"{message}: {self.keyword} takes no flags"
        return f"{message}: {self.keyword} takes " + ", ".join(f"--{k}" for k in self.kinds)

    def get(self, name: str, default=None):
        return self.values.get(name, default)


def _closest(word: str, options: list[str]) -> str | None:
    """An option within two edits of ``word`` (BuildKit's util/suggest)."""
    best, best_distance = None, 3
    for option in options:
        distance = _levenshtein(word, option)
        if distance < best_distance:
            best, best_distance = option, distance
    return best


# ---------------------------------------------------------------- stages

def parse_stages(dockerfile: Dockerfile) -> tuple[list[Arg], list[Stage]]:
    """The ARGs before the first FROM (meta args) and the stages (parse.go's Parse)."""
    meta_args: list[Arg] = []
    stages: list[Stage] = []
    first_line_of: dict[str, int] = {}
    for node in dockerfile.nodes:
        parsed = parse_instruction(node, dockerfile)
        if isinstance(parsed, Stage):
            _check_unique(parsed, first_line_of, dockerfile, node)
            parsed.index = len(stages)
            stages.append(parsed)
        elif stages:
            stages[-1].commands.append(parsed)
        elif isinstance(parsed, Arg):
            meta_args.append(parsed)
        else:
            raise _error(dockerfile, node, "no build stage in current context: "
                         f"{parsed.keyword} must come after a FROM (only ARG may come before)")
    if not stages:
        raise DockerfileError(dockerfile.path, 0, "the Dockerfile has no FROM: no stage to build")
    return meta_args, stages


def _check_unique(stage: Stage, first_line_of: dict[str, int], dockerfile: Dockerfile,
                  node: Node) -> None:
    if stage.name is None:
        return
    if stage.name in first_line_of:
        raise _error(dockerfile, node, f"duplicate stage name {go_quote(stage.name)}: stage names must be "
                     f"unique (the first is on line {first_line_of[stage.name]})")
    first_line_of[stage.name] = stage.line


def _error(dockerfile: Dockerfile, node: Node, message: str) -> DockerfileError:
    lines = dockerfile.lines
    source = lines[node.start_line - 1] if 0 < node.start_line <= len(lines) else None
    return DockerfileError(dockerfile.path, node.start_line, message, source)


def parse_instruction(node: Node, dockerfile: Dockerfile) -> Command | Stage:
    """One node as a typed command (a :class:`Stage` for FROM); errors name the line."""
    try:
        parse = _PARSERS[node.value]
    except KeyError:
        raise _error(dockerfile, node, f"unknown instruction: {node.value.upper()}") from None
    try:
        parsed = parse(node)
    except _Fault as fault:
        raise _error(dockerfile, node, str(fault)) from None
    if isinstance(parsed, Maintainer):
        # BuildKit's MaintainerDeprecated lint: accepted, with a warning.
        dockerfile.warnings.append(f"line {node.start_line}: MAINTAINER is deprecated: "
                                   f"use LABEL org.opencontainers.image.authors=...")
    if isinstance(parsed, Onbuild) and node.child is not None:
        parse_instruction(node.child, dockerfile)  # a bad trigger fails here, not in a later build
    return parsed


def _base(node: Node) -> dict:
    return dict(keyword=node.value.upper(), line=node.start_line, end_line=node.end_line,
                original=node.original)


def _flags(node: Node, **kinds: str) -> _Flags:
    return _Flags(node.value.upper(), node.flags, **kinds).parse()


def _exactly_one(node: Node) -> str:
    _flags(node)
    if len(node.next) != 1:
        raise _Fault(f"{node.value.upper()} requires exactly one argument")
    return node.next[0]


def _at_least_one(node: Node) -> list[str]:
    if not node.next:
        raise _Fault(f"{node.value.upper()} requires at least one argument")
    return node.next


# ---------------------------------------------------------------- FROM

_STAGE_NAME = re.compile(r"[a-z][a-z0-9-_.]*\Z")


def _from(node: Node) -> Stage:
    args = node.next
    name = None
    if len(args) == 3 and args[1].lower() == "as":
        name = args[2].lower()
        if not _STAGE_NAME.match(name):
            raise _Fault(f"invalid name for build stage: {go_quote(args[2])}, name can't start with "
                         "a number or contain symbols")
    elif len(args) != 1:
        raise _Fault("FROM requires either one or three arguments (FROM image [AS name])")
    flags = _flags(node, platform="string")
    return Stage(base=args[0], name=name, platform=flags.get("platform"), index=0,
                 line=node.start_line, original=node.original.strip())


# ---------------------------------------------------------------- RUN, CMD, ENTRYPOINT, SHELL

def _command_line(node: Node) -> dict:
    """Exec form keeps the words; shell form is one script (support.go's handleJSONArgs)."""
    if node.json:
        return dict(argv=list(node.next), json=True)
    return dict(script=" ".join(node.next), json=False)


def _run(node: Node) -> Run:
    flags = _flags(node, mount="strings", network="string", security="string")
    if not node.next:
        raise _Fault("RUN requires at least one argument")
    network, security = flags.get("network"), flags.get("security")
    if network is not None and network not in ("default", "none", "host"):
        raise _Fault(f"invalid network mode {go_quote(network)}: use default, none or host")
    if security is not None and security not in ("sandbox", "insecure"):
        raise _Fault(f"security {go_quote(security)} is not valid: use sandbox or insecure")
    mounts = [parse_mount(text) for text in flags.get("mount", [])]
    return Run(**_base(node), **_command_line(node), heredocs=list(node.heredocs),
               mounts=mounts, network=network, security=security)


def _cmd(node: Node) -> Cmd:
    _flags(node)
    return Cmd(**_base(node), **_command_line(node))


def _entrypoint(node: Node) -> Entrypoint:
    _flags(node)
    return Entrypoint(**_base(node), **_command_line(node))


def _shell(node: Node) -> Shell:
    _flags(node)
    if not node.next:
        raise _Fault("SHELL requires at least one argument")
    if not node.json:
        raise _Fault('SHELL requires the arguments to be in JSON form, as SHELL ["/bin/sh", "-c"]')
    return Shell(**_base(node), argv=list(node.next))


# ---------------------------------------------------------------- RUN --mount

_MOUNT_TYPES = ("bind", "cache", "tmpfs", "secret", "ssh")
_MOUNT_KEYS = {"type": "type", "from": "from", "source": "source", "src": "source",
               "target": "target", "dst": "target", "destination": "target",
               "readonly": "readonly", "ro": "readonly", "readwrite": "readwrite",
               "rw": "readwrite", "id": "id", "sharing": "sharing", "required": "required",
               "size": "size", "mode": "mode", "uid": "uid", "gid": "gid", "env": "env"}


def parse_mount(text: str) -> dict:
    """``type=cache,target=/root/.cache`` as a dict with BuildKit's keys (commands_runmount.go).

    Values holding ``$`` stay text, for the builder to expand; the others are
    checked here.  ``readonly`` is left out when the mount did not say, and
    defaults as BuildKit's do: read-only for bind, secret and ssh mounts.
    """
    try:
        fields = next(csv.reader([text]), [])
    except csv.Error as err:
        raise _Fault(f"failed to parse csv mounts: {err}") from None
    mount: dict = {"type": "bind"}
    for item in fields:
        _mount_field(mount, item)
    _check_mount(mount)
    return mount


def _mount_field(mount: dict, item: str) -> None:
    raw_key, has_value, value = item.partition("=")
    key = _MOUNT_KEYS.get(raw_key.lower())
    if key is None:
        near = _closest(raw_key.lower(), list(_MOUNT_KEYS))
        hint = f" (did you mean {near}?)" if near else ""
        raise _Fault(f"unexpected key '{raw_key.lower()}' in '{item}'{hint}")
    if not has_value:
        if key in ("readonly", "readwrite"):
            mount["readonly"] = key == "readonly"
        elif key == "required" and mount["type"] in ("secret", "ssh"):
            mount["required"] = True
        elif key == "required":
            raise _Fault(f"unexpected key 'required' for mount type '{mount['type']}'")
        else:
            raise _Fault(f"invalid field '{item}' must be a key=value pair")
        return
    if "$" in value:
        if key == "from" and value.index("$") != len(value) - 1:
            raise _Fault("'from' doesn't support variable expansion, define alias stage instead")
        mount[key] = value  # the builder expands it
        return
    mount.update(_mount_value(mount, key, value))


def _mount_value(mount: dict, key: str, value: str) -> dict:
    kind = mount["type"]
    if key == "type":
        if value.lower() not in _MOUNT_TYPES:
            raise _Fault(f"unsupported mount type {go_quote(value)}: use " + ", ".join(_MOUNT_TYPES))
        return {"type": value.lower()}
    if key in ("readonly", "readwrite", "required"):
        if key == "required" and kind not in ("secret", "ssh"):
            raise _Fault(f"unexpected key 'required' for mount type '{kind}'")
        flag = _go_bool(value, key)
        return {"readonly": not flag} if key == "readwrite" else {key: flag}
    if key == "sharing":
        if value.lower() not in ("shared", "private", "locked"):
            raise _Fault(f"unsupported sharing value {go_quote(value)}: use shared, private or locked")
        return {"sharing": value.lower()}
    if key == "size":
        if kind != "tmpfs":
            raise _Fault(f"unexpected key 'size' for mount type '{kind}'")
        return {"size": _ram_in_bytes(value)}
    if key in ("mode", "uid", "gid"):
        base = 8 if key == "mode" else 10
        try:
            number = int(value, base)
        except ValueError:
            raise _Fault(f"invalid value {value} for {key}") from None
        if not 0 <= number < 2 ** 32:
            raise _Fault(f"invalid value {value} for {key}")
        return {key: number}
    return {key: value}


def _check_mount(mount: dict) -> None:
    kind = mount["type"]
    if kind not in ("secret", "ssh", "cache"):
        for key in ("mode", "uid", "gid"):
            if key in mount:
                raise _Fault(f"{key} not allowed for {go_quote(kind)} type mounts")
    mount.setdefault("readonly", kind not in ("cache", "tmpfs"))
    if kind == "secret":
        if "from" in mount:
            raise _Fault("secret mount should not have a from")
        if "sharing" in mount:
            raise _Fault("secret mount should not define sharing")
        if not ({"source", "target", "id"} & mount.keys()):
            raise _Fault("invalid secret mount. one of source, target required")
        if "source" in mount and "id" in mount:
            raise _Fault("both source and id can't be set")
    if "sharing" in mount and kind != "cache":
        raise _Fault(f"invalid cache sharing set for {kind} mount")


def _go_bool(value: str, key: str) -> bool:
    """Go's strconv.ParseBool."""
    if value in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if value in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise _Fault(f"invalid value for {key}: {value}")


_RAM = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgtp]?)(?:i?b)?\Z", re.IGNORECASE)


def _ram_in_bytes(value: str) -> int:
    """``64m``, ``1.5GiB``: bytes in powers of 1024 (docker/go-units' RAMInBytes)."""
    match = _RAM.match(value.strip())
    if not match:
        raise _Fault(f"invalid value for size: {value}")
    power = " kmgtp".index(match.group(2).lower() or " ")
    return int(float(match.group(1)) * 1024 ** power)


# ---------------------------------------------------------------- COPY, ADD

def _sources_and_dest(node: Node) -> tuple[list[str], str, list[Heredoc]]:
    """Paths, destination and inline files of COPY or ADD (parse.go's parseSourcesAndDest)."""
    keyword = node.value.upper()
    if len(node.next) < 2:
        raise _Fault(f"{keyword} requires at least two arguments, but only one was provided. "
                     "Destination could not be determined")
    *sources, dest = node.next
    if not node.json and must_parse_heredoc(dest):
        raise _Fault(f"{keyword} cannot accept a heredoc as a destination")
    bodies = {heredoc.name: heredoc for heredoc in node.heredocs}
    paths, inline = [], []
    for source in sources:
        word = None if node.json else must_parse_heredoc(source)
        if word is None:
            paths.append(source)
        else:
            inline.append(bodies.get(word.name, word))
    return paths, dest, inline


def _copy(node: Node) -> Copy:
    flags = _flags(node, chown="string", chmod="string", from_="string", link="bool",
                   parents="bool", exclude="strings")
    sources, dest, heredocs = _sources_and_dest(node)
    return Copy(**_base(node), sources=sources, dest=dest, from_=flags.get("from"),
                chown=flags.get("chown"), chmod=flags.get("chmod"), link=flags.get("link", False),
                heredocs=heredocs, parents=flags.get("parents", False),
                exclude=flags.get("exclude", []))


def _add(node: Node) -> Add:
    flags = _flags(node, chown="string", chmod="string", link="bool", keep_git_dir="bool",
                   checksum="string", unpack="bool", exclude="strings")
    sources, dest, heredocs = _sources_and_dest(node)
    return Add(**_base(node), sources=sources, dest=dest, chown=flags.get("chown"),
               chmod=flags.get("chmod"), link=flags.get("link", False), heredocs=heredocs,
               checksum=flags.get("checksum"), keep_git_dir=flags.get("keep-git-dir", False),
               unpack=flags.get("unpack"), exclude=flags.get("exclude", []))


# ---------------------------------------------------------------- ENV, LABEL, ARG

def _pairs(node: Node) -> list[tuple[str, str]]:
    """The parser's (name, value, "=") triplets as pairs (parse.go's parseKvps)."""
    _flags(node)
    keyword, args = node.value.upper(), _at_least_one(node)
    if len(args) % 3:
        raise _Fault(f"Bad input to {keyword}, too many arguments")
    pairs = [(args[i], args[i + 1]) for i in range(0, len(args), 3)]
    if any(not name for name, _ in pairs):
        raise _Fault(f"{keyword} names can not be blank")
    return pairs


def _env(node: Node) -> Env:
    return Env(**_base(node), pairs=_pairs(node))


def _label(node: Node) -> Label:
    return Label(**_base(node), pairs=_pairs(node))


def _arg(node: Node) -> Arg:
    _flags(node)
    pairs: list[tuple[str, str | None]] = []
    for word in _at_least_one(node):
        name, has_value, value = word.partition("=")
        if not name:
            raise _Fault("ARG names can not be blank")
        pairs.append((name, value if has_value else None))
    return Arg(**_base(node), pairs=pairs)


# ---------------------------------------------------------------- HEALTHCHECK

def _healthcheck(node: Node) -> Healthcheck:
    args = _at_least_one(node)
    kind, rest = args[0].upper(), args[1:]
    flags = _flags(node, interval="string", timeout="string", start_period="string",
                   start_interval="string", retries="string")
    if kind == "NONE":
        if rest:
            raise _Fault("HEALTHCHECK NONE takes no arguments")
        return Healthcheck(**_base(node), test=["NONE"])
    if kind != "CMD":
        raise _Fault(f'Unknown type "{args[0]}" in HEALTHCHECK (try CMD)')
    if not rest:
        raise _Fault("Missing command after HEALTHCHECK CMD")
    test = ["CMD", *rest] if node.json else ["CMD-SHELL", " ".join(rest)]
    return Healthcheck(**_base(node), test=test,
                       interval=_interval(flags, "interval"),
                       timeout=_interval(flags, "timeout"),
                       start_period=_interval(flags, "start-period"),
                       start_interval=_interval(flags, "start-interval"),
                       retries=_retries(flags.get("retries")))


def _interval(flags: _Flags, name: str) -> int:
    """A healthcheck duration in nanoseconds; 0 (inherit) when absent or zero, else >= 1ms."""
    text = flags.get(name)
    if not text:
        return 0
    nanoseconds = go_duration(text, f"--{name}")
    if nanoseconds and nanoseconds < 1_000_000:
        raise _Fault(f'Interval "{name}" cannot be less than 1ms')
    return nanoseconds


def _retries(text: str | None) -> int:
    if not text:
        return 0
    if not re.fullmatch(r"[+-]?\d+", text):
        raise _Fault(f"--retries must be a whole number, not {go_quote(text)}")
    retries = int(text)
    if retries < 0:
        raise _Fault(f"--retries cannot be negative ({retries})")
    if retries >= 2 ** 31:
        raise _Fault(f"--retries is out of range ({retries})")
    return retries


def go_duration(text: str, what: str = "duration") -> int:
    """Go's time.ParseDuration, in nanoseconds: ``30s``, ``1m30s``, ``1.5h``, ``300ms``."""
    try:
        return humanize.go_duration(text)
    except ValueError:
        raise _Fault(f"{what}: invalid duration {go_quote(text)} (write it as 30s, 1m30s, 500ms)") from None


# ---------------------------------------------------------------- the rest

def _expose(node: Node) -> Expose:
    _flags(node)
    return Expose(**_base(node), ports=sorted(_at_least_one(node)))


def _volume(node: Node) -> Volume:
    _flags(node)
    paths = [path.strip() for path in _at_least_one(node)]
    if not all(paths):
        raise _Fault("VOLUME specified can not be an empty string")
    return Volume(**_base(node), paths=paths)


def _workdir(node: Node) -> Workdir:
    return Workdir(**_base(node), path=_exactly_one(node))


def _user(node: Node) -> User:
    return User(**_base(node), user=_exactly_one(node))


def _stopsignal(node: Node) -> StopSignal:
    return StopSignal(**_base(node), signal=_exactly_one(node))


def _maintainer(node: Node) -> Maintainer:
    return Maintainer(**_base(node), name=_exactly_one(node))


def _onbuild(node: Node) -> Onbuild:
    """ONBUILD keeps its trigger as text: the image that builds FROM this one runs it."""
    _flags(node)
    if node.child is None:
        raise _Fault("ONBUILD requires at least one argument")
    trigger = node.child.value.upper()
    if trigger == "ONBUILD":
        raise _Fault("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed")
    if trigger in ("MAINTAINER", "FROM"):
        raise _Fault(f"{trigger} isn't allowed as an ONBUILD trigger")
    expression = re.sub(r"(?i)^\s*ONBUILD\s*", "", node.original)
    for heredoc in node.heredocs:  # the trigger carries its heredocs with it
        expression += "\n" + heredoc.content + heredoc.name
    return Onbuild(**_base(node), expression=expression)


_PARSERS = {
    "add": _add, "arg": _arg, "cmd": _cmd, "copy": _copy, "entrypoint": _entrypoint,
    "env": _env, "expose": _expose, "from": _from, "healthcheck": _healthcheck,
    "label": _label, "maintainer": _maintainer, "onbuild": _onbuild, "run": _run,
    "shell": _shell, "stopsignal": _stopsignal, "user": _user, "volume": _volume,
    "workdir": _workdir,
}
