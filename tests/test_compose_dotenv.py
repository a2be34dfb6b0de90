"""sandbox.compose.dotenv: .env files by Compose's rules.

The tables are compose-go's ``dotenv/godotenv_test.go``, ``parser_test.go`` and
``godotenv_var_expansion_test.go`` (compose-spec/compose-go e70e961), ported; its
fixture files are written out here, as the conformance corpus does not carry them.
"""

import pytest

from sandbox.compose import dotenv
from sandbox.compose.errors import ComposeError

# TestParsing: (line, key, value).
PARSING = [
    ("FOO=bar", "FOO", "bar"),
    ("FOO =bar", "FOO", "bar"),
    ("FOO= bar", "FOO", "bar"),
    ('FOO="bar"', "FOO", "bar"),
    ("FOO='bar'", "FOO", "bar"),
    ('FOO="escaped\\"bar"', "FOO", 'escaped"bar'),
    ('FOO="\\"quoted\\""', "FOO", '"quoted"'),
    ("FOO=\"'d'\"", "FOO", "'d'"),
    ("OPTION_A: 1", "OPTION_A", "1"),
    ("OPTION_A: Foo=bar", "OPTION_A", "Foo=bar"),
    ("OPTION_A=1:B", "OPTION_A", "1:B"),
    ("export OPTION_A=2", "OPTION_A", "2"),
    ("export OPTION_B='\\n'", "OPTION_B", "\\n"),
    ("export exportFoo=2", "exportFoo", "2"),
    ("exportFOO=2", "exportFOO", "2"),
    ("export_FOO =2", "export_FOO", "2"),
    ("export.FOO= 2", "export.FOO", "2"),
    ("export\tOPTION_A=2", "OPTION_A", "2"),
    ("  export OPTION_A=2", "OPTION_A", "2"),
    ("\texport OPTION_A=2", "OPTION_A", "2"),
    ('export OPTION_A="export A"', "OPTION_A", "export A"),
    ('FOO="bar\\nbaz"', "FOO", "bar\nbaz"),
    ("FOO=a\\tb", "FOO", "a\\tb"),
    ('FOO="a\\tb"', "FOO", "a\tb"),
    ('KEY="Z\\aZ\\bZ\\fZ\\nZ\\rZ\\tZ\\vZ\\\\Z\\0123Z"', "KEY", "Z\aZ\bZ\fZ\nZ\rZ\tZ\vZ\\ZSZ"),
    ("FOO.BAR=foobar", "FOO.BAR", "foobar"),
    ("FOO=foobar=", "FOO", "foobar="),
    ("FOO=bar ", "FOO", "bar"),
    ("FOO=bar # this is foo", "FOO", "bar"),
    ("FOO=bar #this is foo", "FOO", "bar"),
    ("FOO=bar #", "FOO", "bar"),
    ("FOO=123#not-an-inline-comment", "FOO", "123#not-an-inline-comment"),
    ('FOO="bar#baz"', "FOO", "bar#baz"),
    ('FOO="bar#baz"#', "FOO", "bar#baz"),
    ('FOO="bar#baz" # comment', "FOO", "bar#baz"),
    ("FOO='bar#baz' # comment", "FOO", "bar#baz"),
    ('FOO="bar#baz#bang" # comment', "FOO", "bar#baz#bang"),
    ('FOO="ba#r"', "FOO", "ba#r"),
    ("FOO='ba#r'", "FOO", "ba#r"),
    ('FOO="bar\\n\\ b\\az"', "FOO", "bar\n\\ b\az"),
    ('FOO="bar\\\\\\n\\ b\\az"', "FOO", "bar\\\n\\ b\az"),
    ('FOO="bar\\\\r\\ b\\az"', "FOO", "bar\\r\\ b\az"),
    ('FOO="bar\\nbaz\\\\"', "FOO", "bar\nbaz\\"),
    ('="value"', "", "value"),
    (" KEY =value", "KEY", "value"),
    ("   KEY=value", "KEY", "value"),
    ("\tKEY=value", "KEY", "value"),
    ('KEY="\\0123"', "KEY", "S"),
    ('KEY="\\x07"', "KEY", "\\x07"),
    ('KEY="\\u12e4"', "KEY", "\\u12e4"),
    ('KEY="\\U00101234"', "KEY", "\\U00101234"),
]


@pytest.mark.parametrize("line,key,value", PARSING, ids=[p[0] for p in PARSING])
def test_parsing(line, key, value):
    assert dotenv.parse(line)[key] == value


# TestExpanding, TestExpandIfEmptyOrUnset/IfUnset, TestErrorIfEmptyOrUnset/IfUnset.
EXPANDING = [
    ("FOO=test\nBAR=$FOO", {"FOO": "test", "BAR": "test"}),
    ("FOO=test\nBAR=${FOO}bar", {"FOO": "test", "BAR": "testbar"}),
    ("BAR=$FOO", {"BAR": ""}),
    ('FOO=test\nBAR="quote $FOO"', {"FOO": "test", "BAR": "quote test"}),
    ("BAR='quote $FOO'", {"BAR": "quote $FOO"}),
    ('FOO="foo\\$BAR"', {"FOO": "foo$BAR"}),
    ('FOO="foo\\${BAR}"', {"FOO": "foo${BAR}"}),
    ('FOO=test\nBAR="foo\\${FOO} ${FOO}"', {"FOO": "test", "BAR": "foo${FOO} test"}),
    ("EMPTY_VAR=\nTEST_VAR=Test Value\nRESULT=${UNSET_VAR:-Default Value}", {"RESULT": "Default Value"}),
    ("EMPTY_VAR=\nRESULT=${EMPTY_VAR:-Default Value}", {"RESULT": "Default Value"}),
    ("TEST_VAR=Test Value\nRESULT=${TEST_VAR:-Default Value}", {"RESULT": "Test Value"}),
    ("RESULT=${UNSET_VAR-Default Value}", {"RESULT": "Default Value"}),
    ("EMPTY_VAR=\nRESULT=${EMPTY_VAR-Default Value}", {"RESULT": ""}),
    ("TEST_VAR=Test Value\nRESULT=${TEST_VAR-Default Value}", {"RESULT": "Test Value"}),
    ("TEST_VAR=Test Value\nRESULT=${TEST_VAR:?Default Value}", {"RESULT": "Test Value"}),
    ("EMPTY_VAR=\nRESULT=${EMPTY_VAR?Test error}", {"RESULT": ""}),
]


@pytest.mark.parametrize("text,expected", EXPANDING, ids=[e[0] for e in EXPANDING])
def test_expanding(text, expected):
    found = dotenv.parse(text)
    for key, value in expected.items():
        assert found[key] == value


@pytest.mark.parametrize("text", ["RESULT=${UNSET_VAR:?Test error}", "EMPTY_VAR=\nRESULT=${EMPTY_VAR:?Test error}",
                                  "RESULT=${UNSET_VAR?Test error}"])
def test_required_variable_missing(text):
    with pytest.raises(dotenv.DotenvError, match="required variable .* is missing a value: Test error"):
        dotenv.parse(text)


def test_lookup_wins_over_the_file():
    assert dotenv.parse("TEST=$ME", {"ME": "YES"})["TEST"] == "YES"


FIXTURES = {
    "plain.env": ("OPTION_A=1\nOPTION_B=2\nOPTION_C= 3\nOPTION_D =4\nOPTION_E = 5\n456 = ABC\nOPTION_F = \n"
                  "OPTION_G=\nOPTION_H = my string # Inline comment\n",
                  {"OPTION_A": "1", "OPTION_B": "2", "OPTION_C": "3", "OPTION_D": "4", "OPTION_E": "5",
                   "OPTION_F": "", "OPTION_G": "", "OPTION_H": "my string"}),
    "exported.env": ("export OPTION_A=2\nexport OPTION_B='\\n'\n", {"OPTION_A": "2", "OPTION_B": "\\n"}),
    "equals.env": ("export OPTION_A='postgres://localhost:5432/database?sslmode=disable'\n\n",
                   {"OPTION_A": "postgres://localhost:5432/database?sslmode=disable"}),
    "quoted.env": ("OPTION_A='1'\nOPTION_B='2'\nOPTION_C=''\nOPTION_D='\\n'\nOPTION_E=\"1\"\nOPTION_F=\"2\"\n"
                   "OPTION_G=\"\"\nOPTION_H=\"\\n\"\nOPTION_I = \"echo 'asd'\" # Inline comment\n"
                   "OPTION_J = 'first line\nsecond line\nthird line\nand so on'\nOPTION_K='Let\\'s go!'\n"
                   "OPTION_Z = \"last value\"\n",
                   {"OPTION_A": "1", "OPTION_B": "2", "OPTION_C": "", "OPTION_D": "\\n", "OPTION_E": "1",
                    "OPTION_F": "2", "OPTION_G": "", "OPTION_H": "\n", "OPTION_I": "echo 'asd'",
                    "OPTION_J": "first line\nsecond line\nthird line\nand so on", "OPTION_K": "Let's go!",
                    "OPTION_Z": "last value"}),
    "unquoted.env": ('OPTION_A = "some quoted phrase"\nOPTION_B=first one with an unquoted phrase\n'
                     "OPTION_C = then another one with an unquoted phrase\n"
                     "OPTION_D = then another one with an unquoted phrase special è char\n"
                     'OPTION_E = "then another one quoted phrase"\n',
                     {"OPTION_A": "some quoted phrase", "OPTION_B": "first one with an unquoted phrase",
                      "OPTION_C": "then another one with an unquoted phrase",
                      "OPTION_D": "then another one with an unquoted phrase special è char",
                      "OPTION_E": "then another one quoted phrase"}),
    "substitutions.env": ("OPTION_A=1\nOPTION_B=${OPTION_A}\nOPTION_C=$OPTION_B\nOPTION_D=${OPTION_A}_${OPTION_B}\n"
                          "OPTION_E=${OPTION_NOT_DEFINED}\n",
                          {"OPTION_A": "1", "OPTION_B": "1", "OPTION_C": "1", "OPTION_D": "1_1", "OPTION_E": ""}),
    "utf8-bom.env": ("\ufeffOPTION_A=1\nOPTION_B=2\nOPTION_C= 3\nOPTION_D =4\nOPTION_E = 5\n",
                     {"OPTION_A": "1", "OPTION_B": "2", "OPTION_C": "3", "OPTION_D": "4", "OPTION_E": "5"}),
    "special.env": ("VAR.WITH.DOTS=dots\nVAR_WITH_UNDERSCORES=underscores\nVAR-WITH-DASHES=dashes\n",
                    {"VAR-WITH-DASHES": "dashes", "VAR.WITH.DOTS": "dots", "VAR_WITH_UNDERSCORES": "underscores"}),
    "parser_test": ("\na=b\na[1]=c\na.propertyKey=d\nárvíztűrő-TÜKÖRFÚRÓGÉP=ÁRVÍZTŰRŐ-tükörfúrógép\n",
                    {"a": "b", "a[1]": "c", "a.propertyKey": "d",
                     "árvíztűrő-TÜKÖRFÚRÓGÉP": "ÁRVÍZTŰRŐ-tükörfúrógép"}),
}


@pytest.mark.parametrize("name", sorted(FIXTURES))
def test_fixture_files(name, tmp_path):
    text, expected = FIXTURES[name]
    (tmp_path / name).write_text(text, encoding="utf-8")
    assert dotenv.read([tmp_path / name], {}) == expected


def test_substitutions_take_the_callers_value_first(tmp_path):
    """TestSubstitutionsWithEnvFilePrecedence and ...DefaultValuePrecedence."""
    (tmp_path / "s.env").write_text(FIXTURES["substitutions.env"][0])
    assert dotenv.read([tmp_path / "s.env"], {"OPTION_A": "5"}) == {
        "OPTION_A": "1", "OPTION_B": "5", "OPTION_C": "5", "OPTION_D": "5_5", "OPTION_E": ""}
    (tmp_path / "d.env").write_text("OPTION_A=${OPTION_A:-1}\nOPTION_B=${OPTION_A}\nOPTION_C=$OPTION_B\n"
                                    "OPTION_D=${OPTION_A}_${OPTION_B}\nOPTION_E=${OPTION_NOT_DEFINED}\n")
    assert dotenv.read([tmp_path / "d.env"], {"OPTION_A": "5"})["OPTION_D"] == "5_5"
    assert dotenv.read([tmp_path / "d.env"], {})["OPTION_D"] == "1_1"


def test_inherited_names(tmp_path):
    (tmp_path / "multi.env").write_text("foo=bar\nVAR_TO_BE_LOADED_FROM_OS_ENV\nbar=baz\n")
    assert dotenv.read([tmp_path / "multi.env"], {"VAR_TO_BE_LOADED_FROM_OS_ENV": "SOME_RANDOM_VALUE"}) == {
        "VAR_TO_BE_LOADED_FROM_OS_ENV": "SOME_RANDOM_VALUE", "foo": "bar", "bar": "baz"}
    (tmp_path / "missing.env").write_text("VARIABLE_NOT_FOUND\n")
    assert dotenv.read([tmp_path / "missing.env"], {}) == {}


def test_multiple_files_later_wins(tmp_path):
    """TestMultipleFiles."""
    (tmp_path / "base.env").write_text('\nENV_HOSTNAME=localhost\nENV_MY_URL="http://${ENV_HOSTNAME}"\n')
    (tmp_path / "override.env").write_text('\nENV_HOSTNAME=dev.my-company.com\nENV_MY_URL="http://${ENV_HOSTNAME}"\n')
    files = [tmp_path / "base.env", tmp_path / "override.env"]
    assert dotenv.read(files, {}) == {"ENV_HOSTNAME": "dev.my-company.com", "ENV_MY_URL": "http://dev.my-company.com"}
    assert dotenv.read(files, {"ENV_HOSTNAME": "host.local"}) == {
        "ENV_HOSTNAME": "dev.my-company.com", "ENV_MY_URL": "http://host.local"}


def test_quoted_value_over_several_lines():
    text = 'TEST_URLS="stratum+tcp://stratum.antpool.com:3333\nstratum+tcp://stratum.antpool.com:443"'
    assert dotenv.parse(text) == {"TEST_URLS": "stratum+tcp://stratum.antpool.com:3333\nstratum+tcp://stratum.antpool.com:443"}


@pytest.mark.parametrize("text", ['KEY="', 'KEY="value', 'KEY="value\\"', "KEY=\"value'", "KEY='", "KEY='value",
                                  "KEY='value\\'", "KEY='value\""])
def test_unterminated_quotes(text):
    with pytest.raises(dotenv.DotenvError, match="unterminated quoted value"):
        dotenv.parse(text)


@pytest.mark.parametrize("text", ["\n", "\r\n", "\t\t ", "# Comment", "\t # comment"])
def test_lines_to_ignore(text):
    assert dotenv.parse(text) == {}


def test_errors_name_the_line(tmp_path):
    (tmp_path / "invalid1.env").write_text('# some comments\nfoo="\n  a\n  multine\n  value\n"\nINVALID LINE\nzot=qix')
    with pytest.raises(ComposeError, match="line 7: key cannot contain a space"):
        dotenv.read([tmp_path / "invalid1.env"])
    with pytest.raises(dotenv.DotenvError, match="unexpected character '%' in variable name"):
        dotenv.parse("%!(EXTRA string)=foo")
    with pytest.raises(dotenv.DotenvError):
        dotenv.parse("lol$wut")


def test_a_directory_or_a_missing_file_is_refused(tmp_path):
    with pytest.raises(ComposeError, match="is a directory"):
        dotenv.read([tmp_path])
    with pytest.raises(ComposeError, match="couldn't find env file"):
        dotenv.read([tmp_path / "nope.env"])


def test_a_thousand_lines():
    assert len(dotenv.parse("\n".join(f"KEY{i}=VALUE{i}" for i in range(1000)))) == 1000
