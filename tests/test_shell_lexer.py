"""Word expansion for ``sandbox build``: BuildKit's own test tables, run against our lexer.

Two corpora (../shared/conformance, from moby/buildkit frontend/dockerfile/shell),
read exactly as BuildKit's lex_test.go reads them:

- ``envVarTest``: ``PLATFORM|input|expected``, one ``process_word`` each
  (``error`` = must fail), with PWD=/home SHELL=bash KOREAN=한국어 NULL= ;
  A = every platform, U = unix, W = windows (variable names ignore case);
- ``wordsTest``: ``input | w1,w2``, one ``process_words`` each, where the
  ``ENV`` lines above a case make up its environment.

Below them, the tables of lex_test.go's other tests, ported.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from sandbox.builder.shell import Environment, ExpansionError, Lexer, _reverse_pattern, expand
from sandbox.errors import SandboxError

CONFORMANCE = Path(__file__).resolve().parents[2] / "shared" / "conformance"
if not CONFORMANCE.is_dir():
    CONFORMANCE = Path("/work/shared/conformance")
SHELL_CORPUS = CONFORMANCE / "buildkit-dockerfile-parser" / "frontend" / "dockerfile" / "shell"
ABSENT = f"BuildKit's shell test tables are absent ({SHELL_CORPUS}): see ../shared/conformance"

ENV_VAR_TEST_ENV = ["PWD=/home", "SHELL=bash", "KOREAN=한국어", "NULL="]


def _lines(name: str):
    """(line number, line), as Go's bufio.Scanner gives them: no final empty line."""
    return enumerate((SHELL_CORPUS / name).read_text(encoding="utf-8").splitlines(), start=1)


def _env_var_cases() -> list:
    """envVarTest as TestShellParser4EnvVars reads it: '#' lines, then blank ones, are skipped."""
    if not (SHELL_CORPUS / "envVarTest").exists():
        return [pytest.param("A", "", "", marks=pytest.mark.skip(reason=ABSENT), id="absent")]
    cases = []
    for number, line in _lines("envVarTest"):
        if line.startswith("#") or not line.strip():
            continue
        platform, source, expected = (part.strip() for part in line.strip().split("|"))
        assert platform in ("A", "U", "W"), f"envVarTest line {number}: bad platform {platform!r}"
        cases.append(pytest.param(platform, source, expected, id=f"L{number}:{platform}|{source}"))
    return cases


def _words_cases() -> list:
    """wordsTest as TestShellParser4Words reads it: each case gets the ENV lines above it."""
    if not (SHELL_CORPUS / "wordsTest").exists():
        return [pytest.param("", [], [], marks=pytest.mark.skip(reason=ABSENT), id="absent")]
    cases, env = [], []
    for number, line in _lines("wordsTest"):
        if line.startswith("#"):
            continue
        if line.startswith("ENV "):
            env.append(line[3:].lstrip(" "))  # trailing spaces are part of the value
            continue
        source, expected = line.split("|")  # exactly one | per case, as lex_test.go insists
        cases.append(pytest.param(source.strip(), expected.lstrip(" ").split(","), list(env),
                                  id=f"L{number}:{source.strip()}"))
    return cases


ENV_VAR_CASES = _env_var_cases()
WORDS_CASES = _words_cases()


@pytest.mark.parametrize("platform, source, expected", ENV_VAR_CASES)
def test_envVarTest(platform, source, expected):
    # Windows differs from unix only in that variable names ignore case ($pwd is $PWD).
    env = Environment(ENV_VAR_TEST_ENV, ignore_case=platform == "W")
    if expected == "error":
        with pytest.raises(ExpansionError):
            Lexer("\\").process_word(source, env)
    else:
        assert Lexer("\\").process_word(source, env) == expected


@pytest.mark.parametrize("source, expected, env", WORDS_CASES)
def test_wordsTest(source, expected, env):
    try:
        words = Lexer("\\").process_words(source, env)
    except ExpansionError:
        words = ["error"]  # how lex_test.go spells a failure in this table
    assert words == expected


def test_the_corpora_hold_every_case():
    """A reader that skipped lines would still pass: count them (README: 230 and 24)."""
    if not SHELL_CORPUS.is_dir():
        pytest.skip(ABSENT)
    assert len(ENV_VAR_CASES) == 230
    assert [p.values[0] for p in ENV_VAR_CASES].count("W") == 2
    assert len(WORDS_CASES) == 24


# ── TestShellParserMandatoryEnvVars ──────────────────────────────────────────

SET, EMPTY, UNSET = ["VAR=plain", "ARG=x"], ["VAR=", "ARG=x"], ["ARG=x"]


@pytest.mark.parametrize("word, env, expected", [
    ("${VAR:?message here$ARG}", SET, "plain"),
    ("${VAR:?message here$ARG}", EMPTY, ExpansionError),
    ("${VAR:?message here$ARG}", UNSET, ExpansionError),
    ("${VAR?message here$ARG}", SET, "plain"),
    ("${VAR?message here$ARG}", EMPTY, ""),
    ("${VAR?message here$ARG}", UNSET, ExpansionError),
])
def test_mandatory_variables(word, env, expected):
    if expected is ExpansionError:
        with pytest.raises(ExpansionError, match="VAR: message herex"):
            expand(word, env)
    else:
        assert expand(word, env) == expected


@pytest.mark.parametrize("word, env, message", [
    ("${X:?}", {}, 'failed to process "${X:?}": X: is not allowed to be unset'),
    ("${X:?}", {"X": ""}, 'failed to process "${X:?}": X: is not allowed to be empty'),
    ("a${X?set X to the version}", {}, 'failed to process "a${X?set X to the version}": '
                                       "X: set X to the version"),
    ("${X", {}, "failed to process \"${X\": syntax error: missing '}'"),
    ("${}", {}, 'failed to process "${}": syntax error: bad substitution'),
    ("${X:=a}", {}, 'failed to process "${X:=a}": unsupported modifier (:=) in substitution'),
    ("${X:#a}", {}, 'failed to process "${X:#a}": unsupported modifier (:#) in substitution'),
    ("${X/a}", {}, "failed to process \"${X/a}\": syntax error: missing '/' in ${}"),
    ("${X#\\x}", {"X": "x"}, "failed to process \"${X#\\\\x}\": invalid pattern (\\x) in "
                             "substitution: invalid escape '\\x'"),
    ("a'b", {}, 'failed to process "a\'b": unexpected end of statement while looking for '
                "matching single-quote"),
    ('"ab', {}, 'failed to process "\\"ab": unexpected end of statement while looking for '
                "matching double-quote"),
])
def test_errors_are_one_sentence_naming_the_word(word, env, message):
    with pytest.raises(ExpansionError) as caught:
        expand(word, env)
    assert str(caught.value) == message
    assert isinstance(caught.value, SandboxError)
    assert caught.value.word == word


def test_an_expansion_error_survives_pickling():
    """A build step's error may travel from a child process back to the caller."""
    with pytest.raises(ExpansionError) as caught:
        expand("${X:?}", {})
    copy = pickle.loads(pickle.dumps(caught.value))
    assert (str(copy), copy.word, copy.fault) == (str(caught.value), "${X:?}",
                                                  "X: is not allowed to be unset")


# ── TestProcessWithMatches and TestProcessWithMatchesPlatform ────────────────

XB = {"FOO": "xxx", "BAR": ""}

# (word, env, expected or ExpansionError, names set, names unset)
WITH_MATCHES = [
    ("x", {"DUMMY": "dummy"}, "x", set(), set()),
    ("x ${UNUSED}", {"DUMMY": "dummy"}, "x ", set(), {"UNUSED"}),
    ("x ${FOO}", {"FOO": "y"}, "x y", {"FOO"}, set()),
    ("${FOO-aaa} ${BAR-bbb} ${BAZ-ccc}", XB, "xxx  ccc", {"FOO", "BAR"}, {"BAZ"}),
    ("${FOO:-aaa} ${BAR:-bbb} ${BAZ:-ccc}", XB, "xxx bbb ccc", {"FOO", "BAR"}, {"BAZ"}),
    ("${FOO:-}", XB, "xxx", {"FOO"}, set()),
    ("${FOO:-}", {}, "", set(), {"FOO"}),
    ("${FOO+aaa} ${BAR+bbb} ${BAZ+ccc}", XB, "aaa bbb ", {"FOO", "BAR"}, {"BAZ"}),
    ("${FOO:+aaa} ${BAR:+bbb} ${BAZ:+ccc}", XB, "aaa  ", {"FOO", "BAR"}, {"BAZ"}),
    ("${FOO?aaa}", XB, "xxx", {"FOO"}, set()),
    ("${BAR?bbb}", XB, "", {"BAR"}, set()),
    ("${BAZ?ccc}", XB, ExpansionError, None, None),
    ("${FOO:?aaa}", XB, "xxx", {"FOO"}, set()),
    ("${BAR:?bbb}", XB, ExpansionError, None, None),
    ("${BAZ:?ccc}", XB, ExpansionError, None, None),
    ("${BAZ:?}", XB, ExpansionError, None, None),
    ("${FOO=aaa}", XB, ExpansionError, None, None),
    ("${FOO=:aaa}", XB, ExpansionError, None, None),
    ("${FOO=}", {}, ExpansionError, None, None),
    # regular expressions' special characters are plain in a pattern; } must be escaped
    ("${FOO#()[]{\\}^$.\\*\\?|\\\\}", {"FOO": "()[]{}^$.*?|\\x"}, "x", {"FOO"}, set()),
    ("${FOO%%\\**}", {"FOO": "xx**"}, "xx", {"FOO"}, set()),
    ("${FOO#*x*y}", {"FOO": "xxyy"}, "y", {"FOO"}, set()),
    ("${FOO#*}", {"FOO": "xxyy"}, "xxyy", {"FOO"}, set()),
    ("${FOO#$BAR}", {"FOO": "xxyy", "BAR": "x"}, "xyy", {"FOO", "BAR"}, set()),
    ("${FOO#$BAR}", {"FOO": "xxyy", "BAR": ""}, "xxyy", {"FOO", "BAR"}, set()),
    ("${FOO#}", {"FOO": "xxyy"}, "xxyy", {"FOO"}, set()),
    ("${FOO##*x}", {"FOO": "xxyy"}, "yy", {"FOO"}, set()),
    ("${FOO##}", {"FOO": "xxyy"}, "xxyy", {"FOO"}, set()),
    ("${FOO#?\\?}", {"FOO": "???y"}, "?y", {"FOO"}, set()),
    ("${ABC:-.}${FOO%x}${ABC:-.}", {"FOO": "xxyy"}, ".xxyy.", {"FOO"}, {"ABC"}),
    ("${FOO%%\\**\\*}", {"FOO": "a***yy*"}, "a", {"FOO"}, set()),
    ("${FOO%}", {"FOO": "xxyy"}, "xxyy", {"FOO"}, set()),
    ("${FOO%%$BAR}", {"FOO": "xxyy", "BAR": ""}, "xxyy", {"FOO", "BAR"}, set()),
    ("${FOO:#}", {}, ExpansionError, None, None),
    ("${FOO:##}", {}, ExpansionError, None, None),
    ("${FOO:%}", {}, ExpansionError, None, None),
    ("${FOO:%%}", {}, ExpansionError, None, None),
    # wildcards in a replacement's pattern
    ("${FOO/$NEEDLE/.} - ${FOO//$NEEDLE/.}", {"FOO": "/foo*/*/*.txt", "NEEDLE": "\\*/"},
     "/foo.*/*.txt - /foo..*.txt", {"FOO", "NEEDLE"}, set()),
    # / inside patterns
    ("${FOO/$NEEDLE/} - ${FOO//$NEEDLE/}", {"FOO": "/tmp/tmp/bar.txt", "NEEDLE": "/tmp"},
     "/tmp/bar.txt - /bar.txt", {"FOO", "NEEDLE"}, set()),
    ("${FOO/$NEEDLE/$REPLACEMENT} - ${FOO//$NEEDLE/$REPLACEMENT}",
     {"FOO": "/a/foo/b/c.txt", "NEEDLE": "/?/", "REPLACEMENT": "/"},
     "/foo/b/c.txt - /foo/c.txt", {"FOO", "NEEDLE", "REPLACEMENT"}, set()),
    ("${FOO/$NEEDLE/$REPLACEMENT}",
     {"FOO": "http://google.de", "NEEDLE": "http://", "REPLACEMENT": "https://"},
     "https://google.de", {"FOO", "NEEDLE", "REPLACEMENT"}, set()),
    # escaped separators: the pattern loses its escape, the replacement keeps it
    ("${FOO//\\//\\/}", {"FOO": "/tmp/foo.txt"}, "\\/tmp\\/foo.txt", {"FOO"}, set()),
    # partial input: not promised behaviour in BuildKit, but it must not crash
    ("${FOO/$BAR/ww}", {"FOO": "xxyy", "BAR": ""}, "wwxxyy", {"FOO", "BAR"}, set()),
    ("${FOO//ww}", {"FOO": "xxyy"}, ExpansionError, None, None),
    ("${FOO//}", {"FOO": "xxyy"}, ExpansionError, None, None),
    ("${FOO///}", {"FOO": "xxyy"}, "xxyy", {"FOO"}, set()),
    ("${FOO///}", {}, "", set(), {"FOO"}),
]


@pytest.mark.parametrize("word, env, expected, matched, unmatched", WITH_MATCHES,
                         ids=[f"{i}:{case[0]}" for i, case in enumerate(WITH_MATCHES)])
def test_process_word_with_matches(word, env, expected, matched, unmatched):
    lexer = Lexer("\\")
    if expected is ExpansionError:
        with pytest.raises(ExpansionError):
            lexer.process_word_with_matches(word, env)
        return
    assert lexer.process_word_with_matches(word, env) == (expected, matched, unmatched)


RELEASE = ("something-${VERSION}.${TARGETOS}-${TARGETARCH}"
           "${TARGETVARIANT:+-${TARGETVARIANT}}.tar.gz")


@pytest.mark.parametrize("env, expected", [
    ({"TARGETARCH": "arm", "TARGETVARIANT": "v7"}, "something-v1.2.3.linux-arm-v7.tar.gz"),
    ({"TARGETARCH": "arm64", "TARGETVARIANT": ""}, "something-v1.2.3.linux-arm64.tar.gz"),
    ({"TARGETARCH": "arm64"}, "something-v1.2.3.linux-arm64.tar.gz"),
])
def test_a_release_file_name_per_platform(env, expected):
    env = {"VERSION": "v1.2.3", "TARGETOS": "linux", **env}
    assert Lexer("\\").process_word_with_matches(RELEASE, env)[0] == expected


# ── TestGetEnv: an image's Env list, where the last entry for a name wins ───

@pytest.mark.parametrize("env, name, expected", [
    ([], "foo", None),
    (["foo"], "foo", ""),  # an entry without = sets the name, empty
    (["foo="], "foo", ""),
    (["foo=bar"], "foo", "bar"),
    (["foo=bar", "car=hat"], "car", "hat"),
    (["foo=bar", "car=hat", "car=bike"], "car", "bike"),
    (["a=b=c"], "a", "b=c"),
    (["FOO=bar"], "foo", None),  # names are case-sensitive, as on Linux
])
def test_environment_from_an_env_list(env, name, expected):
    assert Environment(env).get(name) == expected


def test_an_env_list_and_a_mapping_expand_alike():
    assert expand("$A-${B}", ["A=1", "B=2", "A=3"]) == expand("$A-${B}", {"A": "3", "B": "2"})
    assert expand("$A-${B}", Environment({"a": "1", "B": "2"}, ignore_case=True)) == "1-2"


# ── TestReversePattern: a suffix is found by reversing value and pattern ───

@pytest.mark.parametrize("pattern, expected", [
    ("a\\*c", "c\\*a"),
    ("\\\\\\ab", "b\\a\\\\"),
    ("ab\\", "\\ba"),
    ("👽\\🚀🖖", "🖖\\🚀👽"),
    ("\\\\b", "b\\\\"),
])
def test_reverse_pattern_keeps_each_escape_before_its_character(pattern, expected):
    assert _reverse_pattern(pattern) == expected


# ── TestConvertShellPatternToRegex, through expansions ──────────────────────

@pytest.mark.parametrize("word, value, expected", [
    ("${V#*}", "abc", "abc"),         # * is shortest after #
    ("${V##*}", "abc", ""),           # and longest after ##
    ("${V#?}", "abc", "bc"),
    ("${V#\\*}", "*abc", "abc"),
    ("${V%.*}", "archive.tar.gz", "archive.tar"),
    ("${V%%.*}", "archive.tar.gz", "archive"),
    ("${V##*/}", "/usr/local/bin/tool", "tool"),
    ("${V#(()[]{\\}^$.\\*\\?|\\\\}", "(()[]{}^$.*?|\\rest", "rest"),
    ("${V#👽?}", "👽🚀🖖", "🖖"),     # ? is one character, not one byte
])
def test_patterns_have_two_globs_and_no_other_special_characters(word, value, expected):
    assert expand(word, {"V": value}) == expected


@pytest.mark.parametrize("pattern", ["\\", "\\x", "\\\\\\"])
@pytest.mark.parametrize("word", ["${V#$P}", "${V%$P}", "${V/$P/x}"])
def test_an_unknown_escape_in_a_pattern_is_an_error(word, pattern):
    # the pattern comes from a variable: typed in the word, a lone \ would escape the }
    with pytest.raises(ExpansionError, match="invalid escape"):
        expand(word, {"V": "v", "P": pattern})


# ── Go's ReplaceAllString, which ${V//p/r} uses ──────────────────────────────

@pytest.mark.parametrize("word, env, expected", [
    ("${V//*/R}", {"V": "abc"}, "R"),      # re.sub would give RR: Go skips the empty match after
    ("${V/*/R}", {"V": "abc"}, "R"),
    ("${V//o/$R}", {"V": "foo", "R": "[$0]"}, "f[o][o]"),  # $0 is the match in Go's template
    ("${V/o/$R}", {"V": "foo", "R": "[$0]"}, "f[$0]o"),    # the first-match form takes it as is
    ("${V//o/$R}", {"V": "foo", "R": "$$-$1-${x}-$"}, "f$---$$---$"),  # $$ is $
])
def test_replace_every_match_as_go_does(word, env, expected):
    assert expand(word, env) == expected


# ── process_words: how EXPOSE and the parser's heredoc finder see a line ─────

@pytest.mark.parametrize("source, env, expected", [
    ("80 ${MORE}", {"MORE": "81/tcp  82/udp"}, ["80", "81/tcp", "82/udp"]),
    ('a "" b', {}, ["a", "b"]),                       # an empty quoted word is no word
    ("cat <<  EOF >out", {}, ["cat", "<<  EOF", ">out"]),  # << keeps its blanks
    ("a\\ b c", {}, ["a b", "c"]),
    # BuildKit today would give ["b", "c"]: its nested ${...} word clears the outer one
    ("a${X:-b c}", {}, ["ab", "c"]),
])
def test_process_words(source, env, expected):
    assert Lexer().process_words(source, env) == expected


# ── the escape directive: ` instead of \ (Windows paths) ─────────────────────

@pytest.mark.parametrize("source, expected", [
    ("C:\\Users\\$NAME", "C:\\Users\\me"),
    ("`$NAME", "$NAME"),
    ('"a`"b"', 'a"b'),
    ('"a`tb"', "a`tb"),          # inside quotes only " $ and ` are escaped
    ("a`", "a"),
    ("a``b", "a`b"),
    ("'a`b'", "a`b"),
])
def test_the_backtick_escape(source, expected):
    assert Lexer("`").process_word(source, {"NAME": "me"}) == expected


# ── the options BuildKit's parser and RUN's step names use ───────────────────

def test_the_heredoc_finders_options_keep_the_line_as_written():
    lexer = Lexer(raw_quotes=True, raw_escapes=True, skip_unset_env=True)
    line = "cat <<'EOF' \"$X\" ${Y:-z} \\$W ${V/a/b}"
    assert lexer.process_words(line, {}) == ["cat", "<<'EOF'", '"$X"', "${Y:-z}", "\\$W",
                                             "${V/a/b}"]


def test_skip_unset_env_expands_only_what_is_set():
    lexer = Lexer(raw_quotes=True, skip_unset_env=True)
    assert lexer.process_word("echo $SET ${UNSET} '$SET'", {"SET": "1"}) == "echo 1 ${UNSET} '$SET'"


def test_skip_process_quotes_treats_quotes_as_characters():
    lexer = Lexer(skip_process_quotes=True)
    assert lexer.process_word("'$X' \"$X\"", {"X": "1"}) == "'1' \"1\""
