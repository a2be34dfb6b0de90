"""``.dockerignore``: which files of the build context a build may see.

    context/                      .dockerignore           what COPY sees
    ├── app.py                    *.log                   app.py
    ├── debug.log                 secrets/                (debug.log: excluded)
    ├── secrets/                  !secrets/README.md      secrets/README.md
    │   ├── key.pem                                       (key.pem: excluded)
    │   └── README.md
    └── node_modules/ ...         node_modules            (all of it: excluded)

Each line is a pattern in Go's ``filepath.Match`` syntax (:mod:`.pathmatch`),
plus ``**``, which matches any number of directories (``**/*.go``).  A path is
excluded when the *last* pattern that matches it, or one of its parent
directories, is an exclusion; a pattern starting with ``!`` is an exception
that brings the path back.  So ``secrets/`` excludes the directory and all
below it, and the later ``!secrets/README.md`` brings one file back.

Sources: moby/patternmatcher (``patternmatcher.go``: ``New``,
``MatchesOrParentMatches``; ``ignorefile/ignorefile.go``: ``ReadAll``),
BuildKit ``frontend/dockerui/config.go`` (the ``<Dockerfile>.dockerignore``
beside a Dockerfile wins), and the Docker docs, "Build context:
.dockerignore files".
"""

from __future__ import annotations

import posixpath
import re
from pathlib import Path

from ..errors import SandboxError
from .pathmatch import BadPattern, filepath_match

IGNORE_FILE = ".dockerignore"
UTF8_BOM = "\ufeff"


class DockerignoreError(SandboxError):
    """A ``.dockerignore`` pattern that cannot be read (bad syntax, a lone ``!``)."""

    exit_code = 1


def read_patterns(context: Path, dockerfile: Path | None = None) -> list[str]:
    """The patterns of the ignore file that applies to this build, cleaned as Docker cleans them.

    ``<Dockerfile>.dockerignore`` beside the Dockerfile (``-f app.Dockerfile``
    reads ``app.Dockerfile.dockerignore``) wins over ``context/.dockerignore``,
    so that two Dockerfiles sharing one context can ignore different files.
    No file means no patterns.
    """
    candidates = [Path(context) / IGNORE_FILE]
    if dockerfile is not None:
        dockerfile = Path(dockerfile)
        candidates.insert(0, dockerfile.with_name(dockerfile.name + IGNORE_FILE))
    for candidate in candidates:
        if candidate.is_file():
            # surrogateescape: file names are bytes; a pattern must compare equal to os.listdir's
            return parse_patterns(candidate.read_bytes().decode("utf-8", "surrogateescape"))
    return []


def parse_patterns(text: str) -> list[str]:
    """The lines of an ignore file as patterns (``ignorefile.ReadAll``).

    A byte-order mark is dropped; a line *starting* with ``#`` is a comment
    (before spaces are trimmed: `` #x`` is a pattern); blank lines are
    skipped; each pattern is trimmed and cleaned (``a//b/../c`` is ``a/c``),
    and a leading ``/`` is dropped: patterns are relative to the context.
    """
    patterns = []
    for line in text.removeprefix(UTF8_BOM).splitlines():
        if line.startswith("#"):
            continue
        pattern = line.strip()
        if not pattern:
            continue
        exception = pattern.startswith("!")
        if exception:
            pattern = pattern[1:].strip()
        if pattern:
            pattern = go_clean(pattern)
            if len(pattern) > 1 and pattern.startswith("/"):
                pattern = pattern[1:]
        patterns.append("!" + pattern if exception else pattern)
    return patterns


def go_clean(path: str) -> str:
    """Go's ``filepath.Clean``: posixpath.normpath, but ``""`` is ``.`` and ``//a`` is ``/a``."""
    cleaned = posixpath.normpath(path) if path else "."
    return "/" + cleaned.lstrip("/") if cleaned.startswith("//") else cleaned


class Matcher:
    """Decides, for a path of the context, whether the ignore patterns exclude it.

    Paths are relative to the context, with ``/`` between names
    (``src/main.go``).  The patterns are checked once, here: a bad one is
    refused before any file is read.
    """

    def __init__(self, patterns: list[str]):
        self.patterns = [p for p in map(_Pattern.parse, patterns) if p is not None]

    def excluded(self, relpath: str) -> bool:
        """True if the last pattern matching ``relpath`` or one of its parents excludes it."""
        path = go_clean(relpath.lstrip("/"))
        if path == ".":
            return False  # the context itself: "don't let them exclude everything"
        parts = path.split("/")
        parents = ["/".join(parts[:i]) for i in range(1, len(parts))]
        excluded = False
        for pattern in self.patterns:
            # An exclusion can only change an included path, an exception only an
            # excluded one: so the last pattern that matches decides.
            if pattern.exception != excluded:
                continue
            if pattern.matches(path) or any(pattern.matches(p) for p in parents):
                excluded = not pattern.exception
        return excluded

    def may_include_below(self, dir_relpath: str) -> bool:
        """Can an exception (``!pattern``) bring back something below this excluded directory?

        If not, a walk of the context need not look inside it
        (``node_modules``: thousands of files never read).  The answer may be
        a cautious yes; :meth:`excluded` still decides for each path.
        """
        parts = [p for p in go_clean(dir_relpath.lstrip("/")).split("/") if p not in ("", ".")]
        return any(p.exception and p.may_match_below(parts) for p in self.patterns)


class _Pattern:
    """One pattern, compiled the way patternmatcher compiles it.

    Four kinds, as patternmatcher has them, with their quirks kept (``**file``
    is "ends with file", so it matches ``dir/myfile`` too):

        exact    no wildcard                   the path is the pattern
        prefix   dir/**                        the path starts with dir/
        suffix   **/name, **name (no other     the path ends with /name, name
                 wildcard)                     (or is name)
        regex    anything else                 * is [^/]*, ? is [^/], **/ is (.*/)?
    """

    def __init__(self, text: str, exception: bool):
        self.text, self.exception = text, exception
        self.kind, self.regex = _compile(text)

    @classmethod
    def parse(cls, line: str) -> "_Pattern | None":
        line = line.strip()
        if not line:
            return None
        text = go_clean(line)
        exception = text.startswith("!")
        if exception:
            if len(text) == 1:
                raise DockerignoreError('illegal exclusion pattern: "!" (a "!" must be '
                                        'followed by the pattern it makes an exception for)')
            text = text[1:]
        try:
            filepath_match(text, ".")  # Go's syntax check, as New does
            return cls(text, exception)
        except (BadPattern, re.error) as err:
            raise DockerignoreError(f"bad .dockerignore pattern {line!r}: {err}") from None

    def matches(self, path: str) -> bool:
        if self.kind == "exact":
            return path == self.text
        if self.kind == "prefix":
            return path.startswith(self.text[:-2])
        if self.kind == "suffix":
            suffix = self.text[2:]
            return path.endswith(suffix) or (suffix.startswith("/") and path == suffix[1:])
        return self.regex.match(path) is not None

    def may_match_below(self, dir_parts: list[str]) -> bool:
        """Could this pattern match a path below the directory ``dir_parts``?"""
        segments = self.text.split("/")
        for segment, name in zip(segments, dir_parts):
            if "**" in segment:
                return True  # any depth: anything may be below
            if not filepath_match(segment, name):
                return False
        return True  # it goes deeper than the directory, or matches it or a parent


def _compile(pattern: str) -> tuple[str, re.Pattern | None]:
    """The kind of a pattern and, for the regex kind, its regular expression."""
    regex, kind, i = "^", "exact", 0
    while i < len(pattern):
        start, ch = i, pattern[i]
        i += 1
        if pattern.startswith("**", start):
            i += 1
            if pattern.startswith("/", i):
                i += 1  # "**/" is "**": any number of directories, even none
            if i == len(pattern):  # "dir/**": everything below, as .gitignore does
                if kind == "exact":
                    kind = "prefix"
                else:
                    regex, kind = regex + ".*", "regex"
            else:
                regex, kind = regex + "(.*/)?", "regex"
            if start == 0:
                kind = "suffix"
        elif ch == "*":
            regex, kind = regex + "[^/]*", "regex"
        elif ch == "?":
            regex, kind = regex + "[^/]", "regex"
        elif ch == "\\" and i < len(pattern):
            regex, kind, i = regex + re.escape(pattern[i]), "regex", i + 1
        elif ch == "[":
            cls, i = _char_class(pattern, i)
            regex, kind = regex + cls, "regex"
        else:
            regex += re.escape(ch)
    if kind != "regex":
        return kind, None
    return kind, re.compile(regex + "$", re.DOTALL)


def _char_class(pattern: str, i: int) -> tuple[str, int]:
    """``[...]`` (``i`` just after the ``[``; the syntax is already checked) as a Python class.

    A range written backwards (``[z-a]``) matches nothing in Go's Match but is an
    error in Go's regexp, which patternmatcher uses: it is refused here too.
    """
    out = "["
    if pattern.startswith("^", i):
        out, i = out + "^", i + 1
    first = True
    while first or pattern[i] != "]":
        first = False
        lo, i = _class_char(pattern, i)
        out += re.escape(lo)
        if pattern[i] == "-":
            hi, i = _class_char(pattern, i + 1)
            if hi < lo:
                raise BadPattern(f"the range {lo}-{hi} is backwards: write {hi}-{lo}")
            out += "-" + re.escape(hi)
    return out + "]", i + 1


def _class_char(pattern: str, i: int) -> tuple[str, int]:
    if pattern[i] == "\\":
        i += 1
    return pattern[i], i + 1
