"""Reading a Dockerfile into nodes, one per instruction, as BuildKit's parser does.

The parser only splits text; it neither expands ``$VAR`` nor checks flags
(that is :mod:`.instructions`' work).  A Dockerfile is read line by line:

    # escape=`                 parser directives: only at the very top
    FROM alpine                one line, one instruction
    RUN apk add \\              a line ending in the escape character goes on;
        # a comment              comments and blank lines inside it vanish
        curl
    COPY <<EOF /etc/motd       a heredoc: the lines up to "EOF" are a file
    hello
    EOF

and each instruction becomes a :class:`Node` whose arguments are split by
the rule BuildKit's dispatch table gives that instruction:

    RUN/CMD/ENTRYPOINT/SHELL   a JSON array (exec form) or the rest as one string
    COPY/ADD/VOLUME            a JSON array or whitespace-separated words
    ENV/LABEL                  name, value, "=" triplets (``ENV name value`` too)
    ARG                        words, each ``name`` or ``name=value``
    ONBUILD                    a whole instruction of its own (``Node.child``)

Source: moby/buildkit ``frontend/dockerfile/parser/`` (parser.go,
line_parsers.go, split_command.go, directives.go); Docker's "Dockerfile
reference" (parser directives, heredocs).  :func:`dump` prints a node as the
parser's own tests do, so BuildKit's test files check this module.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field

from ..errors import SandboxError

INSTRUCTIONS = ("add", "arg", "cmd", "copy", "entrypoint", "env", "expose", "from",
                "healthcheck", "label", "maintainer", "onbuild", "run", "shell",
                "stopsignal", "user", "volume", "workdir")

HEREDOC_INSTRUCTIONS = ("add", "copy", "run")  # ONBUILD too, when its trigger is one of these

# Go's unicode.IsSpace, which BuildKit uses to trim: Python's str.strip() would
# also take the ASCII separators \x1c-\x1f.
_SPACES = "\t\n\v\f\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006" \
          "\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
_WHITESPACE_RUN = re.compile(r"[\t\v\f\r ]+")  # parser.go's reWhitespace
_DIRECTIVE = re.compile(r"([a-zA-Z][a-zA-Z0-9]*)[\t\n\f\r ]*=[\t\n\f\r ]*(.+?)[\t\n\f\r ]*\Z",
                        re.DOTALL)
_HEREDOC_WORD = re.compile(r"(\d*)<<(-?)[\t\n\f\r ]*([^<]*)\Z", re.DOTALL)
_LEADING_TABS = re.compile(r"^\t+", re.MULTILINE)


class DockerfileError(SandboxError):
    """A Dockerfile that cannot be read or built, with the file and line at fault.

    ``str(error)`` is the message after ``path:line:``, then the line itself
    with a caret under its first word, as a compiler shows a syntax error.
    """

    exit_code = 1  # docker build exits 1 on a failed build

    def __init__(self, path: str, line: int, message: str, source: str | None = None):
        self.path = path
        self.line = line
        self.message = message
        self.source = source
        super().__init__(self._render())

    def __reduce__(self):
        # So the error can travel from the process that ran a step back to a notebook.
        return (type(self), (self.path, self.line, self.message, self.source))

    def _render(self) -> str:
        where = f"{self.path}:{self.line}" if self.line else self.path
        text = f"{where}: {self.message}"
        if self.source is None:
            return text
        number = f"{self.line:>4}"
        indent = len(self.source) - len(self.source.lstrip(" \t"))
        # Keep the tabs of the indentation so the caret lands under the word.
        pad = "".join(c if c == "\t" else " " for c in self.source[:indent])
        return f"{text}\n{number} | {self.source}\n{' ' * len(number)} | {pad}^"

    def __str__(self) -> str:
        return self._render()


@dataclass
class Heredoc:
    """A here-document: the lines after an instruction up to the line ``name``."""

    name: str          # the delimiter word, e.g. "EOF"
    content: str       # the body, with its final newline, tabs stripped for <<-
    expand: bool       # False when the delimiter was quoted: no $VAR expansion
    chomp: bool        # True for <<-


@dataclass
class Node:
    """One instruction as the parser split it, before any meaning is given to it."""

    value: str                  # the instruction, lower case: "run"
    next: list[str]             # arguments as BuildKit's parser splits them
    json: bool                  # exec form (a JSON array)
    flags: list[str]            # ["--from=builder", "--chown=1:1"], as written
    heredocs: list[Heredoc]
    start_line: int
    end_line: int
    original: str               # the instruction as written, continuation lines joined
    child: "Node | None" = None  # ONBUILD's own instruction


@dataclass
class Dockerfile:
    """A parsed Dockerfile: its instructions and what the directives set."""

    path: str
    nodes: list[Node]
    escape: str                 # "\\" or "`"
    syntax: str | None
    lines: list[str]            # the source lines, for error display (lines[n-1] is line n)
    warnings: list[str] = field(default_factory=list)


class _Fault(Exception):
    """A fault found while splitting one instruction; :func:`parse` adds file and line."""


# ---------------------------------------------------------------- strings as Go prints them

def _go_strip(text: str) -> str:
    return text.strip(_SPACES)


def go_quote(text: str) -> str:
    """``text`` as Go's strconv.Quote writes it: the format of BuildKit's test results."""
    out = ['"']
    for ch in text:
        code = ord(ch)
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch.isprintable():
            out.append(ch)
        elif ch in _GO_ESCAPES:
            out.append(_GO_ESCAPES[ch])
        elif 0xDC80 <= code <= 0xDCFF:  # a byte that was not UTF-8 (surrogateescape)
            out.append(f"\\x{code - 0xDC00:02x}")
        elif code < 0x20 or code == 0x7F:
            out.append(f"\\x{code:02x}")
        elif code < 0x10000:
            out.append(f"\\u{code:04x}")
        else:
            out.append(f"\\U{code:08x}")
    out.append('"')
    return "".join(out)


_GO_ESCAPES = {"\a": "\\a", "\b": "\\b", "\f": "\\f", "\n": "\\n", "\r": "\\r",
               "\t": "\\t", "\v": "\\v"}


def dump(node: Node) -> str:
    """One node as an S-expression, as BuildKit's ``Node.Dump``: ``(copy ["--from=a"] "x" "/")``."""
    return f"({_dump_inside(node)})"


def _dump_inside(node: Node) -> str:
    text = node.value.lower()
    if node.flags:
        text += " [" + " ".join(go_quote(flag) for flag in node.flags) + "]"
    for argument in node.next:
        text += " " + go_quote(argument)
    if node.child is not None:
        text += f" ({_dump_inside(node.child)})"
    return text


# ---------------------------------------------------------------- directives

class _Directives:
    """The ``# name=value`` lines at the top of the file (directives.go).

    Only ``syntax``, ``escape`` and ``check`` are directives; the first line
    that is not one (a blank line, a plain comment, an instruction) ends them,
    so ``# escape=`` after a comment is just a comment.
    """

    KNOWN = ("syntax", "escape", "check")

    def __init__(self):
        self.done = False
        self.seen: dict[str, str] = {}
        self.escape = "\\"
        self.continuation = _continuation_pattern("\\")

    def feed(self, line: str) -> bool:
        """Read one line; True if it was a directive (and so is no comment)."""
        if self.done:
            return False
        if not line.startswith("#"):
            self.done = True
            return False
        match = _DIRECTIVE.match(line[1:].lstrip(_SPACES))
        if not match or match.group(1).lower() not in self.KNOWN:
            self.done = True
            return False
        name, value = match.group(1).lower(), match.group(2)
        if name in self.seen:
            raise _Fault(f"only one {name} parser directive can be used")
        self.seen[name] = value
        if name == "escape":
            self._set_escape(value)
        return True

    def _set_escape(self, token: str) -> None:
        if token not in ("`", "\\"):
            raise _Fault(f"invalid escape token '{token}' does not match ` or \\")
        self.escape = token
        self.continuation = _continuation_pattern(token)


def _continuation_pattern(escape: str) -> re.Pattern:
    """The escape character as the last non-blank of a line: the line goes on.

    An escape character right after another one is an escaped escape, not a
    continuation (``C:\\\\``); BuildKit's pattern has the same blind spot for
    three in a row.
    """
    e = re.escape(escape)
    return re.compile(rf"([^{e}]){e}[ \t]*\Z|^{e}[ \t]*\Z")


# ---------------------------------------------------------------- lines

class _Lines:
    """The file's lines, each with its newline, and the number of the last one read."""

    def __init__(self, text: str):
        self.raw = text.split("\n")
        self.raw = [line + "\n" for line in self.raw[:-1]] + ([self.raw[-1]] if self.raw[-1] else [])
        self.number = 0

    def next(self) -> str | None:
        if self.number == len(self.raw):
            return None
        self.number += 1
        return self.raw[self.number - 1]


def _is_comment(line: str) -> bool:
    return line.lstrip(_SPACES).startswith("#")


def _trim_newline(line: str) -> str:
    return line.rstrip("\r\n")


def _clean(line: str, directives: _Directives, first: bool) -> str:
    """The line without its newline, or "" for a comment or a directive.

    The first line of an instruction loses its indentation; continuation lines
    keep theirs (BuildKit keeps it, so ``a \\`` + ``  b`` is ``a   b``).
    """
    line = _trim_newline(line)
    if first:
        line = line.lstrip(_SPACES)
    directives.feed(line)
    return "" if _is_comment(line) else line


def _continues(line: str, directives: _Directives) -> tuple[str, bool]:
    """The line without a trailing escape character, and whether the instruction goes on."""
    if directives.continuation.search(line):
        return directives.continuation.sub(r"\1", line), True
    return line, False


# ---------------------------------------------------------------- the file

def parse(text: str, path: str = "Dockerfile") -> Dockerfile:
    """Split a Dockerfile's text into nodes, one per instruction (parser.go's Parse)."""
    text = text.removeprefix("\ufeff")  # a byte-order mark
    lines = _Lines(text)
    shown = [_trim_newline(line) for line in lines.raw]
    directives = _Directives()
    nodes: list[Node] = []
    warnings: list[str] = []

    def fail(message: str, line: int) -> DockerfileError:
        source = shown[line - 1] if 0 < line <= len(shown) else None
        return DockerfileError(path, line, message, source)

    while (raw := lines.next()) is not None:
        try:
            line = _clean(raw, directives, first=True)
        except _Fault as fault:
            raise fail(str(fault), lines.number) from None
        start = lines.number
        line, goes_on = _continues(line, directives)
        if not goes_on and not line:
            continue  # a blank line, a comment or a directive
        instruction, had_empty_line = _join_continuations(line, goes_on, lines, directives)
        if had_empty_line:
            # BuildKit warns, and says these will become errors (no-empty-continuation).
            warnings.append(f"Empty continuation line found in: {instruction}")
        try:
            node = _node_from_line(instruction, directives)
            if _can_contain_heredoc(node) and "<<" in instruction:
                node.heredocs = _read_heredocs(instruction, lines)
        except _Fault as fault:
            raise fail(str(fault), start) from None
        node.start_line, node.end_line = start, lines.number
        if node.child is not None:
            node.child.start_line, node.child.end_line = start, lines.number
        nodes.append(node)

    if not nodes:
        raise DockerfileError(path, 0, "file with no instructions")
    return Dockerfile(path=path, nodes=nodes, escape=directives.escape,
                      syntax=directives.seen.get("syntax"), lines=shown, warnings=warnings)


def _join_continuations(first: str, goes_on: bool, lines: _Lines,
                        directives: _Directives) -> tuple[str, bool]:
    """The instruction's lines joined; comments and blank lines between them dropped."""
    parts = [first]
    had_empty_line = False
    while goes_on and (raw := lines.next()) is not None:
        line = _clean(raw, directives, first=False)
        if _is_comment(raw):
            continue
        if not line.lstrip(_SPACES):
            had_empty_line = True
            continue
        line, goes_on = _continues(line, directives)
        parts.append(line)
    return "".join(parts), had_empty_line


# ---------------------------------------------------------------- one instruction

def _node_from_line(line: str, directives: _Directives) -> Node:
    """Split ``KEYWORD --flags arguments`` and the arguments by the keyword's rule."""
    keyword, flags, rest = _split_command(line, directives)
    split = _DISPATCH.get(keyword.lower())
    if split is None:
        raise _Fault(_unknown_instruction(keyword))
    arguments, is_json, child = split(rest, directives)
    return Node(value=keyword.lower(), next=arguments, json=is_json, flags=flags,
                heredocs=[], start_line=0, end_line=0, original=line, child=child)


def _unknown_instruction(keyword: str) -> str:
    message = f"unknown instruction: {keyword}"
    match = _closest(keyword, [name.upper() for name in INSTRUCTIONS])
    return f"{message} (did you mean {match}?)" if match else message


def _closest(word: str, options: list[str]) -> str | None:
    """The option within two edits of ``word``, in its case (BuildKit's util/suggest)."""
    best, best_distance = None, 3
    for option in options:
        distance = _levenshtein(word.lower(), option.lower())
        if distance == 0:
            return None
        if distance < best_distance:
            best, best_distance = option, distance
    if best is None or word != word.lower():
        return best
    return best.lower()


def _levenshtein(a: str, b: str) -> int:
    row = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, cb in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (ca != cb))
    return row[-1]


def _split_command(line: str, directives: _Directives) -> tuple[str, list[str], str]:
    """``RUN --mount=x echo hi`` -> ("RUN", ["--mount=x"], "echo hi") (split_command.go)."""
    parts = _WHITESPACE_RUN.split(_go_strip(line), maxsplit=1)
    if len(parts) < 2:
        return parts[0], [], ""
    rest, flags = _extract_flags(parts[1], directives.escape)
    return parts[0], flags, _go_strip(rest)


def _extract_flags(line: str, escape: str) -> tuple[str, list[str]]:
    """The ``--name[=value]`` words at the start of the arguments, and what follows them.

    Quotes and the escape character group a flag's value (``--label="a b"``)
    and are removed; ``--`` alone ends the flags.
    """
    flags: list[str] = []
    pos = 0
    while True:
        while pos < len(line) and line[pos] in _SPACES:
            pos += 1
        if not line.startswith("--", pos):
            return line[pos:], flags
        word, pos, quoted = _flag_word(line, pos, escape)
        if word == "--":
            return line[pos:], flags
        if word or quoted:
            flags.append(word)
        if pos >= len(line):
            return "", flags


def _flag_word(line: str, pos: int, escape: str) -> tuple[str, int, bool]:
    """One flag from ``pos`` to the next unquoted blank: (word, end, had quotes)."""
    word, quote, quoted = [], None, False
    while pos < len(line):
        ch = line[pos]
        if quote is None and ch in _SPACES:
            break
        if quote is None and ch in "'\"":
            quote, quoted = ch, True
        elif quote is not None and ch == quote:
            quote = None
        elif ch == escape:
            if pos + 1 < len(line):
                pos += 1
                word.append(line[pos])
            else:
                quote = None  # an escape at the very end is dropped
        else:
            word.append(ch)
        pos += 1
    return "".join(word), pos, quoted


# ---------------------------------------------------------------- argument rules (line_parsers.go)

_Split = tuple[list[str], bool, "Node | None"]


class _NotStrings(_Fault):
    pass


def _parse_json(rest: str) -> list[str] | None:
    """The strings of a JSON array, or None if ``rest`` is no JSON array."""
    rest = rest.lstrip(_SPACES)
    if not rest.startswith("["):
        return None
    try:
        # Go's decoder knows no NaN or Infinity: such a text is no JSON at all.
        values = json.loads(rest, parse_constant=_reject)
    except ValueError:
        return None
    if not isinstance(values, list):
        return None
    if not all(isinstance(value, str) for value in values):
        raise _NotStrings("when using JSON array syntax, arrays must be comprised of strings only")
    return values


def _reject(constant: str):
    raise ValueError(constant)


def _maybe_json(rest: str, directives: _Directives) -> _Split:
    """RUN, CMD, ENTRYPOINT, SHELL: a JSON array, else the whole text as one argument."""
    if not rest:
        return [], False, None
    values = _parse_json(rest)
    if values is not None:
        return values, True, None
    return [rest], False, None


def _maybe_json_to_list(rest: str, directives: _Directives) -> _Split:
    """COPY, ADD, VOLUME: a JSON array, else the words between blanks."""
    values = _parse_json(rest)
    if values is not None:
        return values, True, None
    return _whitespace_delimited(rest, directives)


def _whitespace_delimited(rest: str, directives: _Directives) -> _Split:
    """FROM, EXPOSE: the words between blanks, quotes and all."""
    if not rest:
        return [], False, None
    return _WHITESPACE_RUN.split(rest), False, None


def _string(rest: str, directives: _Directives) -> _Split:
    """USER, WORKDIR, MAINTAINER, STOPSIGNAL: the whole text as one argument."""
    return ([rest] if rest else []), False, None


def _health(rest: str, directives: _Directives) -> _Split:
    """HEALTHCHECK: a type word (CMD, NONE), then the command as for CMD."""
    words = re.split(f"[{_SPACES}]+", rest, maxsplit=1)
    if not rest:
        return [], False, None
    command, is_json, _ = _maybe_json(words[1] if len(words) > 1 else "", directives)
    return [words[0]] + command, is_json, None


def _name_val(rest: str, directives: _Directives, keyword: str) -> _Split:
    """ENV, LABEL: ``name=value ...`` or the legacy ``name value`` (one pair, the rest is the value)."""
    words = _words(rest, directives.escape)
    if not words:
        return [], False, None
    if "=" not in words[0]:
        parts = _WHITESPACE_RUN.split(rest, maxsplit=1)
        if len(parts) < 2:
            raise _Fault(f"{keyword} must have two arguments")
        return [parts[0], parts[1], ""], False, None
    triplets: list[str] = []
    for word in words:
        if "=" not in word:
            raise _Fault(f"Syntax error - can't find = in {go_quote(word)}. "
                         "Must be of the form: name=value")
        name, value = word.split("=", 1)
        triplets += [name, value, "="]
    return triplets, False, None


def _name_or_name_val(rest: str, directives: _Directives) -> _Split:
    """ARG: words, each ``name`` or ``name=value``; split at = later (instructions)."""
    return _words(rest, directives.escape), False, None


def _sub_command(rest: str, directives: _Directives) -> _Split:
    """ONBUILD: the rest is an instruction of its own."""
    if not rest:
        return [], False, None
    return [], False, _node_from_line(rest, directives)


def _words(rest: str, escape: str) -> list[str]:
    """Words between unquoted blanks, quotes and escapes kept (line_parsers.go's parseWords)."""
    words: list[str] = []
    word: list[str] = []
    quote, blank_ok, pos = None, False, 0
    while pos < len(rest):
        ch = rest[pos]
        if quote is None and ch in _SPACES:
            if word or blank_ok:
                words.append("".join(word))
            word, blank_ok = [], False
        elif ch == escape and quote != "'":
            if pos + 1 == len(rest):
                break  # an escape at the very end is dropped
            word += [ch, rest[pos + 1]]
            pos += 1
        else:
            if quote is None and ch in "'\"":
                quote, blank_ok = ch, True
            elif ch == quote:
                quote = None
            word.append(ch)
        pos += 1
    if word or blank_ok:
        words.append("".join(word))
    return words


_DISPATCH = {
    "add": _maybe_json_to_list,
    "arg": _name_or_name_val,
    "cmd": _maybe_json,
    "copy": _maybe_json_to_list,
    "entrypoint": _maybe_json,
    "env": lambda rest, d: _name_val(rest, d, "ENV"),
    "expose": _whitespace_delimited,
    "from": _whitespace_delimited,
    "healthcheck": _health,
    "label": lambda rest, d: _name_val(rest, d, "LABEL"),
    "maintainer": _string,
    "onbuild": _sub_command,
    "run": _maybe_json,
    "shell": _maybe_json,
    "stopsignal": _string,
    "user": _string,
    "volume": _maybe_json_to_list,
    "workdir": _string,
}


# ---------------------------------------------------------------- heredocs

def _can_contain_heredoc(node: Node) -> bool:
    """RUN, COPY, ADD (or ONBUILD of one) in shell form may take heredocs."""
    target = node.child if node.value == "onbuild" and node.child is not None else node
    return target.value in HEREDOC_INSTRUCTIONS and not target.json


def _read_heredocs(line: str, lines: _Lines) -> list[Heredoc]:
    """Each ``<<NAME`` of the line, in order, takes the lines that follow up to ``NAME``."""
    heredocs = []
    try:
        words = _shell_words(line, raw=True)
    except _Fault:
        words = []  # BuildKit ignores a line its lexer cannot read: no heredocs
    for word in words:
        heredoc = parse_heredoc(word)
        if heredoc is None:
            continue
        body = []
        while True:
            raw = lines.next()
            if raw is None:
                raise _Fault(f"unterminated heredoc: no line {go_quote(heredoc.name)} ends it")
            candidate = _trim_newline(raw)
            if heredoc.chomp:
                candidate = candidate.lstrip("\t")
            if candidate == heredoc.name:
                break
            body.append(raw)
        heredoc.content = "".join(body)
        if heredoc.chomp:
            heredoc.content = _LEADING_TABS.sub("", heredoc.content)
        heredocs.append(heredoc)
    return heredocs


def parse_heredoc(word: str) -> Heredoc | None:
    """``<<EOF``, ``<<-EOF``, ``<<'EOF'``... as a Heredoc (no content yet), else None.

    A delimiter with any quote in it turns expansion off, as in sh: BuildKit
    reads the word with and without its quotes and compares the counts.
    """
    match = _HEREDOC_WORD.match(word)
    if not match or not match.group(3):
        return None
    rest = match.group(3)
    words = _shell_words(rest, raw=False)
    if len(words) != 1:
        return None
    raw_words = _shell_words(rest, raw=True, raw_escapes=False)
    name, raw_name = words[0], raw_words[0]
    expand = _quotes(name) == _quotes(raw_name)
    return Heredoc(name=name, content="", expand=expand, chomp=match.group(2) == "-")


def must_parse_heredoc(word: str) -> Heredoc | None:
    """:func:`parse_heredoc`, with None for a word whose quotes do not close."""
    try:
        return parse_heredoc(word)
    except _Fault:
        return None


def _quotes(text: str) -> int:
    return text.count("'") + text.count('"')


def _shell_words(text: str, raw: bool, raw_escapes: bool | None = None) -> list[str]:
    """Shell words with no variable expanded (BuildKit's lexer, env empty and unset kept).

    ``raw`` keeps the quotes (and, unless ``raw_escapes`` is False, the
    backslashes) in the words.  ``<<`` keeps the blanks after it in its word,
    so ``<< EOF`` is one word.  An unterminated quote is a fault.
    """
    keep_escapes = raw if raw_escapes is None else raw_escapes
    words: list[str] = []
    word: list[str] = []
    pos = 0
    while pos < len(text):
        ch = text[pos]
        if ch in "'\"":
            quoted, pos = _quoted(text, pos, raw, keep_escapes)
            word.append(quoted)
            continue
        if text.startswith("<<", pos):
            end = pos + 2
            while end < len(text) and text[end] in "\t\r ":
                end += 1
            word.append(text[pos:end])
            pos = end
            continue
        if ch == "\\":
            if keep_escapes:
                word.append(ch)
            pos += 1
            if pos < len(text):
                word.append(text[pos])
        elif ch in _SPACES:
            if word:
                words.append("".join(word))
            word = []
        else:
            word.append(ch)
        pos += 1
    if word:
        words.append("".join(word))
    return [w for w in words if w]


def _quoted(text: str, pos: int, raw: bool, keep_escapes: bool) -> tuple[str, int]:
    """A quoted part starting at ``pos``: (its text, the position after it)."""
    quote = text[pos]
    out = [quote] if raw else []
    pos += 1
    while pos < len(text) and text[pos] != quote:
        ch = text[pos]
        if quote == '"' and ch == "\\" and pos + 1 < len(text):
            if keep_escapes:
                out.append(ch)
            if text[pos + 1] in '"$\\':
                pos += 1
                ch = text[pos]
        out.append(ch)
        pos += 1
    if pos >= len(text):
        kind = "single-quote" if quote == "'" else "double-quote"
        raise _Fault(f"unexpected end of statement while looking for matching {kind}")
    if raw:
        out.append(quote)
    return "".join(out), pos + 1
