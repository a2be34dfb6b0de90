"""``--env-file``: environment variables from a file, read as Docker reads it.

    # a comment               lines starting with # (after blanks) are skipped, as are empty ones
    GREETING=hello world      NAME=VALUE: the value is taken as it is, spaces and quotes included
    HOME                      a NAME alone takes the caller's value, or is left out if unset

Docker's rules (docker/cli opts/file.go): leading whitespace is dropped, the
name may not contain blanks, a UTF-8 byte order mark at the start is
ignored.  The file's variables come before ``-e``'s, so ``-e`` wins.
"""

from __future__ import annotations

import os

from ..errors import UsageError

BOM = "\ufeff"


def read(path: str) -> list[str]:
    """The ``NAME=value`` entries of the env file at ``path``."""
    try:
        with open(path, "rb") as f:
            raw = f.read()
    except OSError as err:
        raise UsageError(f"cannot read env file {path}: {err.strerror}") from None
    entries = []
    for number, line in enumerate(raw.split(b"\n"), start=1):
        try:
            text = line.decode("utf-8").rstrip("\r")
        except UnicodeDecodeError:
            raise UsageError(f"env file {path} contains invalid utf8 bytes at line "
                             f"{number}") from None
        entry = _entry(text.removeprefix(BOM) if number == 1 else text, path, number)
        if entry is not None:
            entries.append(entry)
    return entries


def _entry(text: str, path: str, number: int) -> str | None:
    line = text.lstrip()
    if not line or line.startswith("#"):
        return None
    name, eq, value = line.partition("=")
    name = name.lstrip(" \t")
    if not name:
        raise UsageError(f"env file {path} line {number}: no variable name before '='")
    if " " in name or "\t" in name:
        raise UsageError(f"env file {path} line {number}: variable '{name}' contains whitespaces")
    if eq:
        return f"{name}={value}"
    name = line.strip()
    return f"{name}={os.environ[name]}" if name in os.environ else None
