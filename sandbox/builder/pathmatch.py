"""Go's ``filepath.Match``: the wildcard syntax of ``.dockerignore`` and of COPY's sources.

Docker is written in Go, so its file patterns are Go's (Go's
``path/filepath/match.go``; the Dockerfile reference, "Pattern matching"):

    *        any run of characters but /            *.go      matches  main.go
    ?        any one character but /                index.?s  matches  index.js
    [a-z]    one character in the class             a[b-d]e   matches  ace
    [^a-z]   one character not in it                a[^b-d]e  matches  aze
    \\x       the character x itself                a\\*b      matches  a*b

The whole name must match, not a part of it.  A pattern that breaks these
rules (``[`` never closed, ``[z-a-b]``, a ``\\`` at the end) is refused even
where the name would not have matched, as Go refuses it: a typo in a pattern
should say so, not silently match nothing.

Python's ``fnmatch`` differs (its ``*`` crosses ``/``, it spells negation
``[!a]``), hence this port.
"""

from __future__ import annotations

from ..errors import SandboxError


class BadPattern(SandboxError):
    """A pattern that breaks Go's ``filepath.Match`` syntax."""

    exit_code = 1


def filepath_match(pattern: str, name: str) -> bool:
    """True if ``name`` matches the whole of ``pattern``; :class:`BadPattern` if it is malformed."""
    while pattern:
        star, chunk, pattern = _scan_chunk(pattern)
        if star and not chunk:
            return "/" not in name  # a trailing * takes the rest, but not a /
        last = not pattern
        rest = _match_chunk(chunk, name)
        if star and not _fits(rest, last):
            rest = _after_star(chunk, name, last)
        if _fits(rest, last):
            name = rest
            continue
        _check_rest(pattern)  # no match: still say if the rest of the pattern is malformed
        return False
    return not name


def _fits(rest: str | None, last: bool) -> bool:
    """A chunk matched, and, if it is the pattern's last, used up the name."""
    return rest is not None and (not last or not rest)


def _after_star(chunk: str, name: str, last: bool) -> str | None:
    """Where ``chunk`` matches after a star has taken 1, 2, ... characters (never a /)."""
    for i, ch in enumerate(name):
        if ch == "/":
            return None
        rest = _match_chunk(chunk, name[i + 1:])
        if _fits(rest, last):
            return rest
    return None


def has_wildcards(path: str) -> bool:
    """True if ``path`` holds an unescaped ``*``, ``?`` or ``[`` (BuildKit's ``containsWildcards``)."""
    i = 0
    while i < len(path):
        if path[i] in "*?[":
            return True
        i += 2 if path[i] == "\\" else 1
    return False


def _scan_chunk(pattern: str) -> tuple[bool, str, str]:
    """Split off the leading stars and the chunk up to the next star outside a class."""
    stripped = pattern.lstrip("*")
    star, pattern = stripped != pattern, stripped
    in_class = False
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "\\":
            i += 1  # the escaped character is the chunk's, whatever it is
        elif ch == "[":
            in_class = True
        elif ch == "]":
            in_class = False
        elif ch == "*" and not in_class:
            break
        i += 1
    return star, pattern[:i], pattern[i:]


def _match_chunk(chunk: str, s: str) -> str | None:
    """Match a star-free chunk at the start of ``s``: what is left of ``s``, or None.

    After a mismatch the chunk is still read to its end, to find syntax errors.
    """
    failed = False
    while chunk:
        if not failed and not s:
            failed = True
        ch = chunk[0]
        if ch == "[":
            char = None
            if not failed:
                char, s = s[0], s[1:]
            chunk = chunk[1:]
            negated = chunk.startswith("^")
            if negated:
                chunk = chunk[1:]
            matched, chunk = _match_class(chunk, char)
            if matched == negated:
                failed = True
        elif ch == "?":
            if not failed:
                if s[0] == "/":
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
        else:
            if ch == "\\":
                chunk = chunk[1:]
                if not chunk:
                    raise BadPattern("syntax error in pattern: it ends with an escaping \\")
            if not failed:
                if chunk[0] != s[0]:
                    failed = True
                s = s[1:]
            chunk = chunk[1:]
    return None if failed else s


def _match_class(chunk: str, char: str | None) -> tuple[bool, str]:
    """The ranges of a ``[...]`` class (after ``[`` and ``^``): does ``char`` fall in one,
    and the chunk after the closing ``]``."""
    matched, ranges = False, 0
    while True:
        if chunk.startswith("]") and ranges:
            return matched, chunk[1:]
        lo, chunk = _class_char(chunk)
        hi = lo
        if chunk[0] == "-":
            hi, chunk = _class_char(chunk[1:])
        if char is not None and lo <= char <= hi:
            matched = True
        ranges += 1


def _class_char(chunk: str) -> tuple[str, str]:
    """One (possibly escaped) character of a class, and what follows; the class must go on."""
    if not chunk or chunk[0] in "-]":
        raise BadPattern("syntax error in pattern: a character class is empty, unclosed "
                         "or has a range with no end")
    if chunk[0] == "\\":
        chunk = chunk[1:]
        if not chunk:
            raise BadPattern("syntax error in pattern: it ends with an escaping \\")
    if len(chunk) < 2:
        raise BadPattern("syntax error in pattern: a character class is never closed with ]")
    return chunk[0], chunk[1:]


def _check_rest(pattern: str) -> None:
    while pattern:
        _, chunk, pattern = _scan_chunk(pattern)
        _match_chunk(chunk, "")
