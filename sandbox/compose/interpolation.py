"""Interpolation: ``${VAR:-default}`` in a compose file, replaced by the caller's variables.

Every string value of the file (never a key) goes through :func:`substitute`,
which reads it left to right:

    "postgres://${DB_USER:-app}@db:$PORT/$$HOME"
                └── ${NAME<op>rest} ──┘  └─$NAME┘ └$$ → a literal $

    ${V}  $V        the value of V ("" when unset)
    ${V:-d} ${V-d}  d when V is unset or empty (:-), only when unset (-)
    ${V:?e} ${V?e}  fail with "e" when V is unset or empty (:?), only when unset (?)
    ${V:+r} ${V+r}  r when V is set and not empty (:+), when set at all (+)

The text after the operator may itself hold ``${...}``: it is interpolated
only when it is used, so ``${A:-${B}}`` reads B only if A is missing.

Sources: the Compose Specification, "Interpolation" (12-interpolation.md),
and compose-go's ``template/template.go``, whose tests
tests/test_compose_interpolation.py ports.  compose-go also turns some values
back into numbers or booleans after interpolation (``loader/interpolate.go``,
``interpolateTypeCastMapping``): :func:`interpolate` does the same for the
paths in :data:`CASTS`, so ``replicas: ${N}`` is an int again.
"""

from __future__ import annotations

import re
from typing import Callable, Mapping

from .errors import ComposeError, show_path

NAME = re.compile(r"[_a-zA-Z][_a-zA-Z0-9]*")
OPERATORS = (":-", ":?", ":+", "-", "?", "+")  # two-character ones first: ":-" is not "-"


class InvalidTemplate(ValueError):
    """A ``$`` that starts a substitution the grammar does not allow (``${}``, ``${ x}``, ``${x!}``)."""

    def __init__(self, template: str):
        self.template = template
        super().__init__(f"invalid interpolation format {template!r}: you may need to escape any $ with another $")


class MissingRequired(ValueError):
    """``${V:?reason}`` (or ``${V?reason}``) found V missing."""

    def __init__(self, variable: str, reason: str):
        self.variable = variable
        self.reason = reason
        text = f"required variable {variable} is missing a value"
        super().__init__(f"{text}: {reason}" if reason else text)


Lookup = Callable[[str], "str | None"]


def substitute(template: str, lookup: Lookup | Mapping[str, str]) -> str:
    """``template`` with every ``$...`` replaced; ``lookup(name)`` is None for an unset variable."""
    if isinstance(lookup, Mapping):
        lookup = lookup.get
    out, i = [], 0
    while i < len(template):
        dollar = template.find("$", i)
        if dollar < 0:
            out.append(template[i:])
            break
        out.append(template[i:dollar])
        value, i = _one(template, dollar, lookup)
        out.append(value)
    return "".join(out)


def _one(template: str, at: int, lookup: Lookup) -> tuple[str, int]:
    """The replacement for the ``$`` at ``at``, and where reading resumes."""
    after = template[at + 1:at + 2]
    if after == "$":
        return "$", at + 2
    if after == "{":
        end = _closing_brace(template, at + 1)
        if end < 0:
            raise InvalidTemplate(template)
        return _braced(template[at + 2:end], template, lookup), end + 1
    name = NAME.match(template, at + 1)
    if name:
        return lookup(name.group()) or "", name.end()
    return "$", at + 1  # a lone "$" ("a $ string", "^REGEX$") stays as written


def _closing_brace(template: str, opening: int) -> int:
    """The index of the ``}`` that closes the ``{`` at ``opening`` (nested braces counted), or -1."""
    depth = 0
    for i in range(opening, len(template)):
        if template[i] == "{":
            depth += 1
        elif template[i] == "}":
            depth -= 1
            if depth == 0:
                return i
    return -1


def _braced(inside: str, template: str, lookup: Lookup) -> str:
    """``NAME``, or ``NAME<operator>rest``: the text between ``${`` and its ``}``."""
    name = NAME.match(inside)
    if not name:
        raise InvalidTemplate(template)
    variable, tail = name.group(), inside[name.end():]
    if not tail:
        return lookup(variable) or ""
    operator = next((op for op in OPERATORS if tail.startswith(op)), None)
    if operator is None:
        raise InvalidTemplate(template)
    rest = tail[len(operator):]
    value = lookup(variable)
    is_set, non_empty = value is not None, bool(value)
    if operator in (":-", "-"):
        wanted = non_empty if operator == ":-" else is_set
        return value if wanted else substitute(rest, lookup)
    if operator in (":+", "+"):
        present = non_empty if operator == ":+" else is_set
        return substitute(rest, lookup) if present else (value or "")
    ok = non_empty if operator == ":?" else is_set
    if not ok:
        raise MissingRequired(variable, substitute(rest, lookup))
    return value


# --- the tree walk -------------------------------------------------------------------------

def _to_bool(text: str) -> bool:
    # compose-go's toBoolean: YAML 1.2's true/false, and YAML 1.1's y/yes/on, n/no/off.
    lowered = text.lower()
    if lowered in ("true", "y", "yes", "on"):
        return True
    if lowered in ("false", "n", "no", "off"):
        return False
    raise ValueError(f"invalid boolean {text!r}")


# Paths whose interpolated string is turned back into a number or a boolean ("*" = any key).
CASTS: dict[tuple, Callable[[str], object]] = {
    ("services", "*", "cpu_count"): int, ("services", "*", "cpu_percent"): float,
    ("services", "*", "cpu_period"): int, ("services", "*", "cpu_quota"): int,
    ("services", "*", "cpu_rt_period"): int, ("services", "*", "cpu_rt_runtime"): int,
    ("services", "*", "cpus"): float, ("services", "*", "cpu_shares"): int,
    ("services", "*", "init"): _to_bool,
    ("services", "*", "depends_on", "*", "required"): _to_bool,
    ("services", "*", "depends_on", "*", "restart"): _to_bool,
    ("services", "*", "deploy", "replicas"): int,
    ("services", "*", "deploy", "update_config", "parallelism"): int,
    ("services", "*", "deploy", "update_config", "max_failure_ratio"): float,
    ("services", "*", "deploy", "rollback_config", "parallelism"): int,
    ("services", "*", "deploy", "rollback_config", "max_failure_ratio"): float,
    ("services", "*", "deploy", "restart_policy", "max_attempts"): int,
    ("services", "*", "deploy", "placement", "max_replicas_per_node"): int,
    ("services", "*", "healthcheck", "retries"): int,
    ("services", "*", "healthcheck", "disable"): _to_bool,
    ("services", "*", "oom_kill_disable"): _to_bool, ("services", "*", "oom_score_adj"): int,
    ("services", "*", "pids_limit"): int,
    ("services", "*", "ports", "[]", "target"): int,
    ("services", "*", "privileged"): _to_bool, ("services", "*", "read_only"): _to_bool,
    ("services", "*", "scale"): int, ("services", "*", "stdin_open"): _to_bool,
    ("services", "*", "tty"): _to_bool,
    ("services", "*", "ulimits", "*"): int,
    ("services", "*", "ulimits", "*", "hard"): int, ("services", "*", "ulimits", "*", "soft"): int,
    ("services", "*", "volumes", "[]", "read_only"): _to_bool,
    ("services", "*", "volumes", "[]", "volume", "nocopy"): _to_bool,
    ("networks", "*", "external"): _to_bool, ("networks", "*", "internal"): _to_bool,
    ("networks", "*", "attachable"): _to_bool, ("networks", "*", "enable_ipv4"): _to_bool,
    ("networks", "*", "enable_ipv6"): _to_bool,
    ("volumes", "*", "external"): _to_bool, ("secrets", "*", "external"): _to_bool,
    ("configs", "*", "external"): _to_bool,
}


def _cast_for(path: tuple):
    for pattern, cast in CASTS.items():
        if len(pattern) == len(path) and all(
                p == "*" and not isinstance(k, int) or p == "[]" and isinstance(k, int) or p == k
                for p, k in zip(pattern, path)):
            return cast
    return None


def interpolate(tree, lookup: Lookup | Mapping[str, str], file=None, path: tuple = ()):
    """A copy of a parsed compose file with every string value interpolated.

    Errors name the file, the path (``services.web.image``) and the variable.
    """
    if isinstance(lookup, Mapping):
        lookup = lookup.get
    if isinstance(tree, dict):
        return {key: interpolate(value, lookup, file, path + (key,)) for key, value in tree.items()}
    if isinstance(tree, list):
        return [interpolate(value, lookup, file, path + (i,)) for i, value in enumerate(tree)]
    if not isinstance(tree, str):
        return tree
    try:
        value = substitute(tree, lookup)
    except (MissingRequired, InvalidTemplate) as error:
        raise ComposeError(str(error), file, path) from None
    cast = _cast_for(path)
    if cast is None:
        return value
    try:
        return cast(value)
    except ValueError:
        raise ComposeError(f"{value!r} is not a valid {'boolean' if cast is _to_bool else cast.__name__}",
                           file, path) from None


__all__ = ["substitute", "interpolate", "InvalidTemplate", "MissingRequired", "show_path"]
