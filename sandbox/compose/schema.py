"""Checking a compose file against the Compose Specification's JSON schema.

    compose.yaml ──▶ jsonschema (Draft 2020-12) ──▶ the first error, as one sentence:
                                                    compose.yaml: services.web: additional property 'imagee' is not allowed

``compose-spec.json`` next to this module is the specification's public
schema, copied unchanged from compose-spec/compose-go, ``schema/compose-spec.json``
at commit e70e961c3a3acebf0800b882f1afb3dbf1fb74a2 (the COMMIT of the course's
conformance corpus).  compose-go validates with it after interpolation
(``schema/schema.go``), and registers one custom format, ``duration``
(Go's ``time.ParseDuration``), which this module registers too.

jsonschema's own messages ("Additional properties are not allowed ('imagee'
was unexpected)") are rewritten into the loader's voice; the path is where
the error is (``services.web.ports[0]``).
"""

from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

from .canonical import Invalid, parse_duration
from .errors import ComposeError

SCHEMA = Path(__file__).with_name("compose-spec.json")
TYPE_NAMES = {"object": "a mapping", "array": "a list", "string": "a string", "number": "a number",
              "integer": "an integer", "boolean": "true or false", "null": "null"}


# The optional packages jsonschema's format checkers import when they are installed
# (Jupyter brings most of them): none is needed for the compose schema's one format.
FORMAT_PACKAGES = ("rfc3987_syntax", "rfc3987", "rfc3986_validator", "rfc3339_validator",
                   "isoduration", "fqdn", "idna", "jsonpointer", "uri_template", "webcolors")


def _jsonschema():
    """``import jsonschema``, without the seconds it can cost.

    jsonschema's format module imports every format package that is installed, and
    ``rfc3987_syntax`` builds a parser for IRIs while it is imported: 2 s of CPU at
    every ``sandbox compose``, for formats the compose schema never uses.  They are
    hidden for this one import (an ImportError makes jsonschema leave a format out)
    and put back at once, so anything later in the process can still import them.
    """
    import sys
    if "jsonschema" in sys.modules:
        return sys.modules["jsonschema"]
    hidden = [name for name in FORMAT_PACKAGES if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # None in sys.modules: importing it raises ImportError
    try:
        import jsonschema
    finally:
        for name in hidden:
            del sys.modules[name]
    return jsonschema


@lru_cache(maxsize=1)
def validator():
    """The schema's validator, built once (jsonschema is imported only when a file is checked)."""
    jsonschema = _jsonschema()

    checker = jsonschema.FormatChecker(formats=())  # the schema's one format is its own

    @checker.checks("duration", raises=Invalid)
    def is_duration(value) -> bool:
        if isinstance(value, str):
            parse_duration(value)
        return True

    schema = json.loads(SCHEMA.read_text())
    return jsonschema.Draft202012Validator(schema, format_checker=checker)


def validate(tree: dict, file) -> None:
    """Raise :class:`ComposeError` for the first way ``tree`` breaks the schema."""
    jsonschema = _jsonschema()

    error = jsonschema.exceptions.best_match(validator().iter_errors(tree))
    if error is None:
        return
    raise ComposeError(describe(error), file, tuple(error.absolute_path))


def describe(error) -> str:
    """One jsonschema error as a sentence a learner can act on."""
    kind, value = error.validator, error.instance
    if kind == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(k for k in value if k not in allowed and not k.startswith("x-"))
        patterns = error.schema.get("patternProperties", {})
        if patterns and not allowed:
            return f"{', '.join(repr(k) for k in extra)}: invalid name (letters, digits, '.', '_' and '-' only)"
        names = ", ".join(repr(k) for k in extra)
        return f"additional propert{'ies' if len(extra) > 1 else 'y'} {names} {'are' if len(extra) > 1 else 'is'} not allowed"
    if kind == "type":
        wanted = error.validator_value if isinstance(error.validator_value, list) else [error.validator_value]
        return f"must be {' or '.join(TYPE_NAMES.get(t, t) for t in wanted)}, not {value!r}"
    if kind == "enum":
        return f"{value!r} is not one of {', '.join(map(repr, error.validator_value))}"
    if kind == "required":
        missing = [k for k in error.validator_value if k not in value]
        return f"{missing[0] if missing else error.validator_value[0]!r} is required"
    if kind == "format":
        return f"{value!r} is not a valid {error.validator_value}"
    if kind in ("oneOf", "anyOf"):
        return f"{value!r} matches none of the allowed forms"
    if kind == "uniqueItems":
        return "has the same entry twice"
    return error.message
