"""Expanding a Dockerfile word: quotes, escapes and ``$VARIABLES``, as BuildKit's shell lexer.

``ENV``, ``COPY``, ``WORKDIR``, ``EXPOSE`` and their friends expand their
arguments before the builder sees them.  No shell runs for this: BuildKit has
its own small lexer that imitates sh(1), and this module is that lexer.  It
reads a word one character at a time, and four characters change what
happens next:

    a plain character ─────────────── kept
    \\ (or ` by the escape directive)  the next character is kept as it is
    ' ... '                            everything kept, even $ and \\
    " ... "                            kept, but $ still expands, and \\ escapes " $ \\
    $NAME  ${NAME}  ${NAME<op>word}    replaced by the variable's value

    ${V:-word}  ${V-word}    V's value, or word if V is unset (":" also if it is empty)
    ${V:+word}  ${V+word}    word if V is set (":" and not empty), else nothing
    ${V:?msg}   ${V?msg}     V's value, or fail with msg
    ${V#pat}    ${V##pat}    V without its shortest / longest prefix matching pat
    ${V%pat}    ${V%%pat}    V without its shortest / longest suffix matching pat
    ${V/pat/r}  ${V//pat/r}  V with the first / every match of pat replaced by r

Patterns know two globs, ``*`` (any text) and ``?`` (one character), and no
``[...]`` classes.  ``word`` is itself a word: it may hold quotes and other
``${...}``, which is why the lexer calls itself to read it.

:meth:`Lexer.process_words` also splits the result into words at white
space, as sh does after expansion (EXPOSE uses it): quoted text and escaped
characters never split, a variable's value does.

Sources: BuildKit ``frontend/dockerfile/shell/lex.go`` (``Lex``,
``ProcessWord``, ``ProcessWords``, ``ProcessWordWithMatches``) and its tests;
the Dockerfile reference, "Environment replacement".
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping

from ..errors import SandboxError

EOF = ""  # what peek() and next() return once the word is read
SPECIAL_PARAMETERS = ("@", "*", "#", "?", "-", "$", "!", "0")  # sh's $@, $#, ...: never set here
HEREDOC_SPACE = (" ", "\t", "\r")


class ExpansionError(SandboxError):
    """A word could not be expanded: names the word, as BuildKit shows it, and the fault.

    ``word`` and ``fault`` are kept apart so that the builder can say which
    Dockerfile line held the word.
    """

    def __init__(self, word: str, fault: str):
        self.word = word
        self.fault = fault
        # json.dumps quotes as Go's %q does for everything a Dockerfile holds.
        super().__init__(f"failed to process {json.dumps(word, ensure_ascii=False)}: {fault}")

    def __reduce__(self):
        # So the error can travel from a build's child process back to the caller (pickle).
        return (type(self), (self.word, self.fault))


class _Fault(Exception):
    """What went wrong inside a word; :class:`ExpansionError` adds which word."""


class _BadPattern(ValueError):
    """A ``#``, ``%`` or ``/`` pattern with an escape the pattern language does not have."""


class Environment:
    """The variables a word may use.

    Made from a mapping ``{name: value}`` or from an image config's ``Env``
    list of ``"NAME=VALUE"``, where a later entry wins and an entry without
    ``=`` sets the name to the empty string (BuildKit's ``EnvsFromSlice``).
    Names are case-sensitive, as on Linux; ``ignore_case`` gives Windows's
    rule, where ``$path`` finds ``PATH``.
    """

    def __init__(self, env: Mapping[str, str] | Iterable[str] = (), *, ignore_case: bool = False):
        self.ignore_case = ignore_case
        if isinstance(env, Mapping):
            pairs = env.items()
        else:
            pairs = [entry.split("=", 1) if "=" in entry else (entry, "") for entry in env]
        self._values = {self._key(name): value for name, value in pairs}

    def _key(self, name: str) -> str:
        return name.upper() if self.ignore_case else name

    def get(self, name: str) -> str | None:
        """The variable's value, or None when it is not set (set and empty is ``""``)."""
        return self._values.get(self._key(name))


def as_environment(env) -> Environment:
    """Accept an :class:`Environment`, a mapping or an ``Env`` list."""
    return env if isinstance(env, Environment) else Environment(env)


class Lexer:
    """BuildKit's ``shell.Lex``: expands words with one escape character.

    ``escape`` is ``\\`` or, after a ``# escape=``` `` directive, a backtick
    (so that Windows paths keep their backslashes).

    The options are BuildKit's, for its other uses of the lexer (the
    parser's heredoc detection, the names shown for RUN steps):

    - ``raw_quotes``: keep the quote characters in the result;
    - ``raw_escapes``: keep the escape characters in the result;
    - ``skip_process_quotes``: quotes are ordinary characters;
    - ``skip_unset_env``: leave ``$NAME`` / ``${NAME...}`` as written when NAME is unset.
    """

    def __init__(self, escape: str = "\\", *, raw_quotes: bool = False, raw_escapes: bool = False,
                 skip_process_quotes: bool = False, skip_unset_env: bool = False):
        self.escape = escape
        self.raw_quotes = raw_quotes
        self.raw_escapes = raw_escapes
        self.skip_process_quotes = skip_process_quotes
        self.skip_unset_env = skip_unset_env

    def process_word(self, word: str, env) -> str:
        """One word, quotes removed and variables expanded: ``"$HOME"/bin`` → ``/root/bin``."""
        return self._expand(word, env).text

    def process_words(self, word: str, env) -> list[str]:
        """The expanded text split into words as sh would: ``a "b c" $V`` → ``a``, ``b c``, ..."""
        return self._expand(word, env).words

    def process_word_with_matches(self, word: str, env) -> tuple[str, set[str], set[str]]:
        """The expanded word, the names it used that were set, and those that were not.

        The builder warns about the unset ones (BuildKit's UndefinedVar check).
        """
        done = self._expand(word, env)
        return done.text, done.matched, done.unmatched

    def _expand(self, word: str, env) -> _WordExpansion:
        expansion = _WordExpansion(self, word, as_environment(env))
        try:
            expansion.run()
        except _Fault as fault:
            raise ExpansionError(word, str(fault)) from None
        return expansion


def expand(word: str, env, escape: str = "\\") -> str:
    """Expand one word with the default options: ``Lexer(escape).process_word(word, env)``."""
    return Lexer(escape).process_word(word, env)


class _WordExpansion:
    """One pass over one word: a cursor, the variables, and the names looked up so far."""

    def __init__(self, lexer: Lexer, word: str, env: Environment):
        self.lexer = lexer
        # Go's text/scanner, which BuildKit reads words with, skips a leading byte order mark.
        self.source = word[1:] if word.startswith("\ufeff") else word
        self.position = 0
        self.env = env
        self.matched: set[str] = set()
        self.unmatched: set[str] = set()
        self.text = ""
        self.words: list[str] = []

    def run(self) -> None:
        self.text, self.words = self.expand_until(EOF, self.lexer.raw_escapes)

    def peek(self) -> str:
        return self.source[self.position:self.position + 1]

    def next(self) -> str:
        ch = self.peek()
        self.position += len(ch)
        return ch

    def lookup(self, name: str) -> str | None:
        value = self.env.get(name)
        (self.unmatched if value is None else self.matched).add(name)
        return value

    # ── the state machine ──────────────────────────────────────────────────

    def expand_until(self, stop: str, raw_escapes: bool) -> tuple[str, list[str]]:
        """Read up to ``stop`` (consumed) or the end: the text, and the text split into words.

        BuildKit's ``processStopOn``.  ``stop`` is ``}`` for the word inside
        ``${V:-word}``, ``/`` for a replacement's pattern, EOF for the whole word.
        """
        text, words = [], _Words()
        while self.peek() != EOF:
            ch = self.peek()
            if stop != EOF and ch == stop:
                self.next()
                return "".join(text), words.finish()
            if ch == "$":
                value = self.dollar()
                words.add_text(value)  # a variable's value splits at white space
            elif ch in ("'", '"') and not self.lexer.skip_process_quotes:
                value = self.single_quoted() if ch == "'" else self.double_quoted(raw_escapes)
                words.add_raw(value)
            elif ch == "<":
                value = self.heredoc_start()
                words.add_raw(value)
            else:
                value = self.plain_or_escaped(words, raw_escapes)
            text.append(value)
        if stop != EOF:
            raise _Fault(f"unexpected end of statement while looking for matching {stop}")
        return "".join(text), words.finish()

    def plain_or_escaped(self, words: _Words, raw_escapes: bool) -> str:
        """One character, or an escape and the character it keeps (never splits a word)."""
        ch = self.next()
        if ch != self.lexer.escape:
            words.add_char(ch)
            return ch
        kept = ch if raw_escapes else ""
        # At the end of the word there is nothing to keep: a trailing escape is dropped.
        text = kept + self.next()
        words.add_raw(text)
        return text

    def single_quoted(self) -> str:
        """``'...'``: every character as it is; there is no way to escape a ``'`` inside."""
        quote = self.next()
        text = [quote] if self.lexer.raw_quotes else []
        while (ch := self.next()) != "'":
            if ch == EOF:
                raise _Fault("unexpected end of statement while looking for matching single-quote")
            text.append(ch)
        if self.lexer.raw_quotes:
            text.append(ch)
        return "".join(text)

    def double_quoted(self, raw_escapes: bool) -> str:
        """``"..."``: ``$`` expands; the escape character escapes only ``"``, ``$`` and itself.

        Any other ``\\x`` stays ``\\x``, as in sh(1), "Double Quotes".
        """
        quote = self.next()
        text = [quote] if self.lexer.raw_quotes else []
        while True:
            ch = self.peek()
            if ch == EOF:
                raise _Fault("unexpected end of statement while looking for matching double-quote")
            if ch == '"':
                self.next()
                if self.lexer.raw_quotes:
                    text.append(ch)
                return "".join(text)
            if ch == "$":
                text.append(self.dollar())
                continue
            ch = self.next()
            if ch == self.lexer.escape:
                if raw_escapes:
                    text.append(ch)
                following = self.peek()
                if following == EOF:
                    continue  # the loop then fails on the missing quote
                if following in ('"', "$", self.lexer.escape):
                    ch = self.next()
            text.append(ch)

    def heredoc_start(self) -> str:
        """``<`` is itself; ``<<`` keeps the blanks after it, so ``<< EOF`` stays one word.

        The parser finds heredocs in the words this returns (BuildKit's
        ``processPossibleHeredoc``).
        """
        self.next()
        if self.peek() != "<":
            return "<"
        self.next()
        text = "<<"
        while self.peek() in HEREDOC_SPACE:
            text += self.next()
        return text

    # ── variables ──────────────────────────────────────────────────────────

    def name(self) -> str:
        """A variable's name: letters, digits and ``_``; or digits only ($1); or one of $@ $# ..."""
        ch = self.peek()
        if ch != EOF and ch.isdecimal():
            digits = ""
            while self.peek() != EOF and self.peek().isdecimal():
                digits += self.next()
            return digits
        if ch in SPECIAL_PARAMETERS:
            return self.next()
        name = ""
        while _is_name_char(self.peek()):
            name += self.next()
        return name

    def dollar(self) -> str:
        """``$NAME`` or ``${...}``: the value.  A ``$`` not followed by a name is itself."""
        self.next()
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value = self.lookup(name)
            if value is None:
                return "$" + name if self.lexer.skip_unset_env else ""
            return value
        self.next()
        if self.peek() == EOF:
            raise _Fault("syntax error: missing '}'")
        if self.peek() in ("{", "}", ":"):  # ${{x}, ${}, ${:-x}
            raise _Fault("syntax error: bad substitution")
        name = self.name()
        operator = self.next()
        if operator == "}":
            value = self.lookup(name)
            if value is None:
                return "${" + name + "}" if self.lexer.skip_unset_env else ""
            return value
        if operator == EOF:
            raise _Fault("syntax error: missing '}'")
        if operator == "/":
            return self.replaced(name)
        if operator == ":":
            operator += self.next()  # ":-", ":+", ":?"; anything else fails below
        elif operator not in ("-", "+", "?", "#", "%"):
            raise _Fault(f"unsupported modifier ({operator}) in substitution")
        return self.modified(name, operator)

    def word_to_closing_brace(self, raw_escapes: bool) -> str:
        try:
            return self.expand_until("}", raw_escapes)[0]
        except _Fault:
            if self.peek() == EOF:
                raise _Fault("syntax error: missing '}'") from None
            raise

    def modified(self, name: str, operator: str) -> str:
        """``${NAME<operator>word}`` for the operators ``-  +  ?  #  ##  %  %%`` and ``:-  :+  :?``."""
        empty_is_unset = operator.startswith(":")
        kind = operator[1:] if empty_is_unset else operator
        # A pattern keeps its escapes: \* must still mean a star, not a glob.
        is_pattern = kind in ("#", "%")
        if empty_is_unset and is_pattern:
            raise _Fault(f"unsupported modifier ({operator}) in substitution")
        word = self.word_to_closing_brace(raw_escapes=is_pattern)
        value = self.lookup(name)
        if value is None and self.lexer.skip_unset_env:
            return "${" + name + operator + word + "}"
        missing = value is None or (empty_is_unset and value == "")
        if kind == "-":
            return word if missing else value
        if kind == "+":
            return "" if missing else word
        if kind == "?":
            if missing:
                raise _Fault(f"{name}: {word or _why_missing(value)}")
            return value
        if is_pattern:
            return _trimmed(value or "", kind, word)
        raise _Fault(f"unsupported modifier ({operator}) in substitution")

    def replaced(self, name: str) -> str:
        """``${NAME/pattern/replacement}``, or ``${NAME//pattern/replacement}`` for every match."""
        every = self.peek() == "/"
        if every:
            self.next()
        try:
            pattern = self.expand_until("/", raw_escapes=True)[0]
        except _Fault:
            if self.peek() == EOF:
                raise _Fault("syntax error: missing '/' in ${}") from None
            raise
        replacement = self.word_to_closing_brace(raw_escapes=True)
        value = self.lookup(name)
        if value is None and self.lexer.skip_unset_env:
            # As BuildKit writes it back: ${V//p/r} comes back as ${V/p/r}.
            return "${" + name + "/" + pattern + "/" + replacement + "}"
        regex = _pattern_or_fault(pattern, greedy=True, anchored=False)
        if every:
            return _replace_every(regex, value or "", replacement)
        match = regex.search(value or "")
        if match is None:
            return value or ""
        return match.string[:match.start()] + replacement + match.string[match.end():]


def _why_missing(value: str | None) -> str:
    return "is not allowed to be unset" if value is None else "is not allowed to be empty"


def _is_name_char(ch: str) -> bool:
    # Go's unicode.IsLetter and IsDigit: any script's letters, decimal digits only.
    return ch != EOF and (ch.isalpha() or ch.isdecimal() or ch == "_")


def _is_space(ch: str) -> bool:
    # Go's unicode.IsSpace; Python's isspace also counts the separators \x1c-\x1f.
    return ch.isspace() and ch not in "\x1c\x1d\x1e\x1f"


class _Words:
    """The expanded text cut into words at unquoted white space (ProcessWords).

    BuildKit shares one buffer between a word and the words nested in its
    ``${V:-...}``, so there ``a${V:-b}`` splits into ``b`` alone; each word
    here has its own, and gives ``ab`` as sh does.
    """

    def __init__(self):
        self.words: list[str] = []
        self.current = ""

    def add_char(self, ch: str) -> None:
        """An unquoted character: white space ends the current word, and is dropped."""
        if not _is_space(ch):
            self.current += ch
        elif self.current:
            self.words.append(self.current)
            self.current = ""

    def add_text(self, text: str) -> None:
        for ch in text:
            self.add_char(ch)

    def add_raw(self, text: str) -> None:
        """Quoted or escaped text: part of the current word, white space included."""
        self.current += text

    def finish(self) -> list[str]:
        if self.current:
            self.words.append(self.current)
            self.current = ""
        return self.words


# ── patterns: * and ? as regular expressions ─────────────────────────────────


def _pattern_regex(pattern: str, greedy: bool, anchored: bool) -> re.Pattern:
    """A ``#``/``%``/``/`` pattern as a regular expression (BuildKit's convertShellPatternToRegex).

    ``*`` is any text, the shortest unless ``greedy``; ``?`` is one
    character; ``\\*``, ``\\?`` and ``\\\\`` are the characters themselves;
    ``\\}`` and ``\\/`` were escaped only to get past the ``${...}`` reader.
    """
    parts = ["^"] if anchored else []
    i = 0
    while i < len(pattern):
        ch = pattern[i]
        i += 1
        if ch == "*":
            parts.append(".*" if greedy else ".*?")
        elif ch == "?":
            parts.append(".")
        elif ch == "\\":
            following = pattern[i:i + 1]
            if following in ("}", "/"):
                continue
            if following not in ("*", "?", "\\"):
                raise _BadPattern(f"invalid escape '\\{following or chr(0xFFFD)}'")
            parts.append(re.escape(following))
            i += 1
        else:
            parts.append(re.escape(ch))
    return re.compile("".join(parts))


def _pattern_or_fault(pattern: str, greedy: bool, anchored: bool) -> re.Pattern:
    try:
        return _pattern_regex(pattern, greedy, anchored)
    except _BadPattern as err:
        raise _Fault(f"invalid pattern ({pattern}) in substitution: {err}") from None


def _trimmed(value: str, operator: str, word: str) -> str:
    """``#``/``##`` remove a matching prefix, ``%``/``%%`` a suffix; doubled means longest."""
    greedy = word.startswith(operator)
    pattern = word[1:] if greedy else word
    if operator == "#":
        return _without_prefix(value, _pattern_or_fault(pattern, greedy, anchored=True))
    # A regular expression finds the leftmost match only: to find a suffix,
    # reverse the value and the pattern, and look for a prefix.
    _pattern_or_fault(pattern, greedy, anchored=True)  # so an error shows the pattern as written
    reversed_regex = _pattern_or_fault(_reverse_pattern(pattern), greedy, anchored=True)
    return _without_prefix(value[::-1], reversed_regex)[::-1]


def _without_prefix(value: str, anchored: re.Pattern) -> str:
    match = anchored.search(value)
    return value[match.end():] if match else value


def _reverse_pattern(pattern: str) -> str:
    """The pattern backwards, each escape still before what it escapes: ``a\\*c`` → ``c\\*a``."""
    pieces, i = [], 0
    while i < len(pattern):
        size = 2 if pattern[i] == "\\" and i + 1 < len(pattern) else 1
        pieces.append(pattern[i:i + size])
        i += size
    return "".join(reversed(pieces))


def _replace_every(regex: re.Pattern, value: str, replacement: str) -> str:
    """Every match replaced, as Go's ``Regexp.ReplaceAllString`` does.

    Two of Go's rules differ from Python's ``re.sub``: an empty match right
    after a match is not replaced (``*`` on ``abc`` gives one replacement,
    not two), and the replacement is a template where ``$0`` is the match
    and ``$1``, ``$name`` ... are empty (the pattern has no groups).
    """
    out, last_end = [], 0
    for match in regex.finditer(value):
        if match.start() == match.end() == last_end and last_end != 0:
            continue
        out.append(value[last_end:match.start()])
        out.append(_go_template(replacement, match.group(0)))
        last_end = match.end()
    out.append(value[last_end:])
    return "".join(out)


def _go_template(template: str, matched: str) -> str:
    """Go's ``Regexp.Expand`` for a pattern without groups: ``$$`` is ``$``, ``$0`` the match."""
    out, i = [], 0
    while (dollar := template.find("$", i)) >= 0:
        out.append(template[i:dollar])
        i = dollar + 1
        if template[i:i + 1] == "$":
            out.append("$")
            i += 1
            continue
        braced = template[i:i + 1] == "{"
        start = end = i + braced
        while end < len(template) and _is_name_char(template[end]):
            end += 1
        closed = not braced or template[end:end + 1] == "}"
        if end == start or not closed:
            out.append("$")  # not a reference: the $ is text
            continue
        if template[start:end] == "0":
            out.append(matched)
        i = end + braced
    out.append(template[i:])
    return "".join(out)
