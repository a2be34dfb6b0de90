"""The Dockerfile parser (sandbox.builder.dockerfile) against BuildKit's own parser tests.

Every case of BuildKit's ``parser/testfiles`` is parsed and each node dumped
as an S-expression, compared with the case's ``result`` line by line; every
case of ``testfiles-negative`` must be refused.  The heredoc cases are ported
from ``parser_heredoc_test.go``.  Pure: no root, no containers.
"""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

from sandbox.builder.dockerfile import DockerfileError, dump, parse, parse_heredoc

_NEAR = Path(__file__).resolve().parents[2] / "shared" / "conformance"
CONFORMANCE = _NEAR if _NEAR.is_dir() else Path("/work/shared/conformance")
PARSER = CONFORMANCE / "buildkit-dockerfile-parser" / "frontend" / "dockerfile" / "parser"


def _cases(folder: str) -> list[str]:
    where = PARSER / folder
    return sorted(p.name for p in where.iterdir()) if where.is_dir() else ["(corpus absent)"]


def _corpus(folder: str, case: str) -> Path:
    path = PARSER / folder / case
    if not path.is_dir():
        pytest.skip(f"BuildKit's parser corpus is absent: no {PARSER / folder} "
                    "(see ../shared/conformance/README.md)")
    return path


def _read(path: Path) -> str:
    # Go reads bytes: a byte that is not UTF-8 must survive, and print as \xNN.
    return path.read_bytes().decode("utf-8", "surrogateescape")


def test_the_corpus_has_every_case():
    if not PARSER.is_dir():
        pytest.skip(f"BuildKit's parser corpus is absent: no {PARSER}")
    assert len(_cases("testfiles")) == 33
    assert len(_cases("testfiles-negative")) == 4


@pytest.mark.parametrize("case", _cases("testfiles"))
def test_buildkit_parse_case(case):
    folder = _corpus("testfiles", case)
    dockerfile = parse(_read(folder / "Dockerfile"), str(folder / "Dockerfile"))
    got = [dump(node) for node in dockerfile.nodes]
    want = (folder / "result").read_text().splitlines()
    assert got == want


@pytest.mark.parametrize("case", _cases("testfiles-negative"))
def test_buildkit_negative_case(case):
    folder = _corpus("testfiles-negative", case)
    with pytest.raises(DockerfileError):
        parse(_read(folder / "Dockerfile"))


def test_start_and_end_lines():
    _corpus("testfile-line", "")
    dockerfile = parse((PARSER / "testfile-line" / "Dockerfile").read_text())
    assert [(n.start_line, n.end_line) for n in dockerfile.nodes] == [(5, 5), (11, 12), (17, 31)]


# ---------------------------------------------------------------- heredocs (parser_heredoc_test.go)

HEREDOCS = """\
FROM alpine:3.6
RUN <<EMPTY
EMPTY
RUN 3<<EMPTY2
EMPTY2
RUN "<<NOHEREDOC"
RUN <<INDENT
\tfoo
\tbar
INDENT
RUN <<-UNINDENT
\tbaz
\tquux
UNINDENT
RUN <<-UNINDENT2
\tbaz
\tquux
\tUNINDENT2
RUN <<-'NOEXPAND'
\tdon't expand $NAME
NOEXPAND
RUN <<COMMENT
# internal comment
echo foo bar # trailing comment
COMMENT
RUN --mount=type=cache,target=/foo <<MOUNT
echo hello
MOUNT
COPY <<FILE1 <<FILE2 /dest
content 1
FILE1
content 2
FILE2
COPY <<X <<Y /dest
Y
X
X
Y
RUN <<COMPLEX python3
print('hello world')
COMPLEX
RUN <<eo'f'
echo foo
eof
RUN <<eo\\'f
echo foo
eo'f
RUN <<'e'o\\'f
echo foo
eo'f
RUN <<'one two'
echo bar
one two
RUN <<$EOF
$EOF
RUN <<  EOF  > foo
EOF
"""

# (name, content, expand, chomp) per instruction after FROM; content is tab-stripped for <<-.
HEREDOC_EXPECTED = [
    [("EMPTY", "", True, False)],
    [("EMPTY2", "", True, False)],
    [],
    [("INDENT", "\tfoo\n\tbar\n", True, False)],
    [("UNINDENT", "baz\nquux\n", True, True)],
    [("UNINDENT2", "baz\nquux\n", True, True)],
    [("NOEXPAND", "don't expand $NAME\n", False, True)],
    [("COMMENT", "# internal comment\necho foo bar # trailing comment\n", True, False)],
    [("MOUNT", "echo hello\n", True, False)],
    [("FILE1", "content 1\n", True, False), ("FILE2", "content 2\n", True, False)],
    [("X", "Y\n", True, False), ("Y", "X\n", True, False)],
    [("COMPLEX", "print('hello world')\n", True, False)],
    [("eof", "echo foo\n", False, False)],
    [("eo'f", "echo foo\n", True, False)],
    [("eo'f", "echo foo\n", False, False)],
    [("one two", "echo bar\n", False, False)],
    [("$EOF", "", True, False)],
    [("EOF", "", True, False)],
]


@pytest.mark.parametrize("index", range(len(HEREDOC_EXPECTED)))
def test_heredoc(index):
    node = parse(HEREDOCS).nodes[index + 1]
    got = [(h.name, h.content, h.expand, h.chomp) for h in node.heredocs]
    assert got == HEREDOC_EXPECTED[index], node.original


def test_heredoc_lines_belong_to_their_instruction():
    nodes = parse(HEREDOCS).nodes
    assert (nodes[1].start_line, nodes[1].end_line) == (2, 3)
    assert (nodes[10].start_line, nodes[10].end_line) == (29, 33)  # COPY <<FILE1 <<FILE2


def test_json_form_takes_no_heredoc():
    nodes = parse('FROM a\nRUN ["<<EOF"]\nRUN ["<<\'EOF\'"]\n').nodes
    assert [n.heredocs for n in nodes] == [[], [], []]
    assert nodes[1].json and nodes[1].next == ["<<EOF"]


def test_onbuild_carries_the_heredoc():
    node = parse("FROM a\nONBUILD RUN <<EOF\necho hi\nEOF\n").nodes[1]
    assert dump(node) == '(onbuild (run "<<EOF"))'
    assert [(h.name, h.content) for h in node.heredocs] == [("EOF", "echo hi\n")]


@pytest.mark.parametrize("word", ["<<EOF", "<<'EOF'", '<<"EOF"', "<<-EOF", "<<-'EOF'",
                                  '<<-"EOF"', '<<EO"F"', "<< EOF", "<<- EOF"])
def test_heredoc_words(word):
    heredoc = parse_heredoc(word)
    assert heredoc is not None and heredoc.name == "EOF"
    assert heredoc.chomp == word.startswith("<<-")
    assert heredoc.expand == ("'" not in word and '"' not in word)


@pytest.mark.parametrize("word", ["", "EOF", "<<", "<<-", "<EOF", "<<<EOF", "<<EOF sh"])
def test_not_heredoc_words(word):
    assert parse_heredoc(word) is None


def test_unterminated_heredoc_names_the_line():
    with pytest.raises(DockerfileError) as caught:
        parse("FROM a\nRUN <<EOF\necho hi\n", "ctx/Dockerfile")
    assert caught.value.line == 2
    assert "unterminated heredoc" in caught.value.message


# ---------------------------------------------------------------- directives, escape, continuation

def test_escape_directive_backtick():
    dockerfile = parse("# escape=`\nFROM windows\nRUN dir `\n  c:\\ \n")
    assert dockerfile.escape == "`"
    assert dump(dockerfile.nodes[1]) == '(run "dir   c:\\\\")'


def test_escape_directive_is_case_insensitive_and_spaced():
    assert parse("#  ESCAPE = `\nFROM a\n").escape == "`"


def test_directive_after_a_comment_is_a_comment():
    assert parse("# hello\n# escape=`\nFROM a\n").escape == "\\"


def test_directive_after_a_blank_line_is_a_comment():
    assert parse("\n# escape=`\nFROM a\n").escape == "\\"


def test_syntax_is_noted_and_check_ignored():
    dockerfile = parse("# syntax=docker/dockerfile:1\n# check=skip=all\nFROM a\n")
    assert dockerfile.syntax == "docker/dockerfile:1"
    assert dockerfile.syntax is not None and len(dockerfile.nodes) == 1


def test_duplicate_directive_is_an_error():
    with pytest.raises(DockerfileError) as caught:
        parse("# escape=`\n# escape=\\\nFROM a\n")
    assert caught.value.line == 2
    assert "only one escape parser directive can be used" in caught.value.message


def test_invalid_escape_token():
    with pytest.raises(DockerfileError, match="invalid escape token"):
        parse("# escape=x\nFROM a\n")


def test_comments_and_blank_lines_inside_a_continuation_are_dropped():
    dockerfile = parse("FROM a\nRUN echo hello \\\n# a comment\n\n  world\n")
    assert dump(dockerfile.nodes[1]) == '(run "echo hello   world")'
    assert dockerfile.nodes[1].end_line == 5
    assert len(dockerfile.warnings) == 1
    assert "Empty continuation line found in: RUN echo hello   world" in dockerfile.warnings[0]


def test_byte_order_mark_is_ignored():
    assert dump(parse("\ufeffFROM a\n").nodes[0]) == '(from "a")'


def test_flags_are_split_from_the_arguments():
    node = parse('FROM a\nCOPY --from=build --chown="1 2" -- --x /y\n').nodes[1]
    assert node.flags == ["--from=build", "--chown=1 2"]
    assert node.next == ["--x", "/y"]


def test_env_forms():
    nodes = parse("FROM a\nENV A b c\nENV A=1 B=\"2 3\"\n").nodes
    assert nodes[1].next == ["A", "b c", ""]
    assert nodes[2].next == ["A", "1", "=", "B", '"2 3"', "="]


def test_env_without_equals_in_the_new_form():
    with pytest.raises(DockerfileError, match="can't find = in"):
        parse("FROM a\nENV A=1 B\n")


def test_original_joins_continuation_lines():
    node = parse("FROM a\nRUN a \\\n  b\n").nodes[1]
    assert node.original == "RUN a   b"


# ---------------------------------------------------------------- errors as a learner sees them

def test_unknown_instruction_shows_file_line_and_caret():
    with pytest.raises(DockerfileError) as caught:
        parse("FROM alpine\n\n\n\n\n\n  RUNN echo hi\n", "app/Dockerfile")
    error = caught.value
    assert (error.path, error.line) == ("app/Dockerfile", 7)
    assert error.message == "unknown instruction: RUNN (did you mean RUN?)"
    assert str(error) == ("app/Dockerfile:7: unknown instruction: RUNN (did you mean RUN?)\n"
                          "   7 |   RUNN echo hi\n"
                          "     |   ^")
    assert error.exit_code == 1


def test_error_without_a_line():
    error = DockerfileError("Dockerfile", 0, "file with no instructions")
    assert str(error) == "Dockerfile: file with no instructions"


def test_error_survives_pickle():
    error = DockerfileError("Dockerfile", 3, "bad", "RUN x")
    again = pickle.loads(pickle.dumps(error))
    assert (again.path, again.line, again.message, again.source) == ("Dockerfile", 3, "bad", "RUN x")
    assert str(again) == str(error)


@pytest.mark.parametrize("text", ["", "# only\n# comments\n", "\n\n  \n"])
def test_no_instructions(text):
    with pytest.raises(DockerfileError, match="file with no instructions"):
        parse(text)


def test_non_string_json_array_names_its_line():
    with pytest.raises(DockerfileError) as caught:
        parse('FROM a\nCMD ["a", 1]\n')
    assert caught.value.line == 2
    assert caught.value.source == 'CMD ["a", 1]'
