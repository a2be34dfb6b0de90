"""``.env`` files as Docker Compose reads them: ``KEY=VALUE`` lines, quotes, comments.

    # a comment                    (skipped)
    export HOST=localhost          "export " is allowed and dropped
    PORT = 8000   # the port       unquoted: trimmed, " #" starts a comment
    GREETING='hello $NAME'         single quotes: taken literally
    BANNER="line one\\nline two"    double quotes: \\n \\t \\\\ \\" \\$ ... then ${VAR} expanded
    URL="http://${HOST}:${PORT}"   variables from the caller, then from lines above
    KEY: value                     YAML style also works
    INHERITED                      a name alone: copied from the caller's environment, if set

A quoted value may span several lines.  These are compose-go's rules
(``dotenv/parser.go``, itself a port of Ruby's dotenv); python-dotenv's
differ in small ways (escapes in single quotes, "export", inline comments),
so the course reads ``.env`` files with this module.  The tables of
tests/test_compose_dotenv.py come from compose-go's ``dotenv`` tests.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Callable, Mapping

from .errors import ComposeError
from .interpolation import InvalidTemplate, MissingRequired, substitute

EXPORT = re.compile(r"export[ \t\v\f\r\x85\xa0]+")
# The escapes a double-quoted value understands (echo's, as POSIX lists them), and \$ (a literal $).
ESCAPE = re.compile(r"\\(?:[abcfnrtv$\"\\]|0\d{0,3})")
ESCAPES = {"a": "\a", "b": "\b", "c": "\\c", "f": "\f", "n": "\n", "r": "\r", "t": "\t", "v": "\v",
           '"': '"', "\\": "\\", "$": "$$"}  # "$$" so that interpolation leaves a literal "$"
SPACE = " \t\v\f\r\x85\xa0"  # white space that is not a line break


class DotenvError(ValueError):
    """A line that is not ``KEY=VALUE``: names the line."""


def parse(text: str, lookup: Callable[[str], "str | None"] | Mapping | None = None,
          defined: dict[str, str] | None = None) -> dict[str, str]:
    """The variables a ``.env`` text defines, in order.

    ``lookup`` gives the caller's variables: they win over earlier lines when a
    value says ``${VAR}``, and they fill in a name written alone.  ``defined``
    holds what earlier files defined; it is updated and returned.
    """
    if isinstance(lookup, Mapping):
        lookup = lookup.get
    reader = _Reader(text.removeprefix("\ufeff"), lookup or (lambda name: None), defined)
    return reader.read()


class _Reader:
    """Reads statements one after the other, keeping the line number for errors."""

    def __init__(self, text: str, lookup, defined: dict | None):
        self.rest = text
        self.line = 1
        self.lookup = lookup
        self.found: dict[str, str] = {} if defined is None else defined

    def read(self) -> dict[str, str]:
        while self._skip_blanks_and_comments():
            key, inherited = self._key()
            if inherited:
                value = self.lookup(key)
                if value is not None:
                    self.found[key] = value
                continue
            self.found[key] = self._value()
        return self.found

    def _skip_blanks_and_comments(self) -> bool:
        """Move to the next statement; False at the end of the text."""
        while True:
            stripped = self.rest.lstrip()
            self.line += self.rest[:len(self.rest) - len(stripped)].count("\n")
            self.rest = stripped
            if not self.rest:
                return False
            if self.rest[0] != "#":
                return True
            newline = self.rest.find("\n")
            if newline < 0:
                self.rest = ""
                return False
            self.rest = self.rest[newline:]

    def _key(self) -> tuple[str, bool]:
        """The name before ``=`` or ``:``; a name alone on its line is inherited."""
        if EXPORT.match(self.rest):
            self.rest = self.rest[EXPORT.match(self.rest).end():]
        for i, char in enumerate(self.rest):
            if char in SPACE:
                continue
            if char in "=:\n":
                key = self.rest[:i].rstrip()
                if " " in key:
                    raise DotenvError(f"line {self.line}: key cannot contain a space")
                self.rest = self.rest[i + 1:].lstrip(SPACE)
                if char == "\n":
                    self.line += 1
                return key, char == "\n"
            if not (char.isalnum() or char in "_.-[]"):
                first_line = self.rest.split("\n", 1)[0]
                raise DotenvError(f"line {self.line}: unexpected character {char!r} in variable name {first_line!r}")
        key = self.rest.rstrip()  # the last line, a name alone without a line break
        if " " in key:
            raise DotenvError(f"line {self.line}: key cannot contain a space")
        self.rest = ""
        return key, True

    def _value(self) -> str:
        if self.rest[:1] in ("'", '"'):
            return self._quoted(self.rest[0])
        value, _, self.rest = self.rest.partition("\n")
        self.line += 1
        value = value.split(" #", 1)[0].rstrip()  # "a#b" keeps its #, "a # b" does not
        return self._expand(value)

    def _quoted(self, quote: str) -> str:
        chars, escaped = [], False
        for i in range(1, len(self.rest)):
            char = self.rest[i]
            self.line += char == "\n"
            if char == quote and not escaped:
                self.rest = self.rest[i + 1:]
                value = "".join(chars)
                # Inside single quotes everything is literal (but \' does not end them).
                return self._expand(_unescape(value)) if quote == '"' else value
            if char == "\\" and not escaped:
                escaped = True
                continue
            if escaped and char != quote:
                chars.append("\\")
            escaped = False
            chars.append(char)
        first_line = self.rest.split("\n", 1)[0]
        raise DotenvError(f"line {self.line}: unterminated quoted value {first_line}")

    def _expand(self, value: str) -> str:
        def lookup(name):
            from_caller = self.lookup(name)
            return from_caller if from_caller is not None else self.found.get(name)
        try:
            return substitute(value, lookup)
        except (InvalidTemplate, MissingRequired) as error:
            raise DotenvError(f"line {self.line}: {error}") from None


def _unescape(value: str) -> str:
    def one(match: re.Match) -> str:
        code = match.group()[1:]
        if code.startswith("0"):
            # \0123 is octal 123, "S"; anything but three octal digits stays as written (as in Go).
            digits = code[1:]
            return chr(int(digits, 8)) if re.fullmatch("[0-7]{3}", digits) else match.group()
        return ESCAPES[code]
    return ESCAPE.sub(one, value)


def read(files: list[Path], environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The variables of several ``.env`` files, later files winning (compose-go's GetEnvFromFile).

    ``${VAR}`` in a value looks in ``environ`` first, then in what the files
    already defined.
    """
    environ = environ or {}
    found: dict[str, str] = {}
    for file in files:
        file = Path(file).absolute()
        if not file.exists():
            raise ComposeError(f"couldn't find env file {file}", file)
        if file.is_dir():
            raise ComposeError(f"{file} is a directory, not an env file", file)
        try:
            # One dictionary for all files: a value reads what this file and earlier files defined.
            parse(file.read_text(encoding="utf-8"), environ.get, found)
        except DotenvError as error:
            raise ComposeError(str(error), file) from None
    # compose-go drops keys that start with a digit (``456 = ABC``): no shell could use them.
    return {key: value for key, value in found.items() if not key[:1].isdigit()}
