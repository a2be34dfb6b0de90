"""sandbox.compose.interpolation: ${VAR} in compose files.

The tables are compose-go's ``template/template_test.go`` (compose-spec/compose-go
e70e961), ported; then the tree walk: errors name the file, the path and the variable.
"""

import pytest

from sandbox.compose.errors import ComposeError
from sandbox.compose.interpolation import InvalidTemplate, MissingRequired, interpolate, substitute

DEFAULTS = {"FOO": "first", "BAR": "", "JSON": '{"json":2}'}

CASES = [
    ("$${foo}", "${foo}"),
    ("foo", "foo"),
    ("a $ string", "a $ string"), ("^REGEX$", "^REGEX$"), ("$}", "$}"), ("$", "$"),
    ("$FOO-bar", "first-bar"),
    ("This ${missing} var", "This  var"), ("This ${BAR} var", "This  var"),
    ("This $FOO var", "This first var"), ("This ${FOO} var", "This first var"),
    ("ok ${missing:-def}", "ok def"), ("ok ${missing-def}", "ok def"),
    ("${A:+${A},}B", "B"), ("${A:-${B}}", ""),
    ("ok ${BAR:-def}", "ok def"), ("ok ${FOO:-def}", "ok first"), ("ok ${BAR-def}", "ok "),
    ("ok ${UNSET_VAR:+presence_value}", "ok "), ("ok ${UNSET_VAR+presence_value}", "ok "),
    ("ok ${FOO:+presence_value}", "ok presence_value"), ("ok ${FOO+presence_value}", "ok presence_value"),
    ("ok ${BAR+presence_value}", "ok presence_value"), ("ok ${BAR:+presence_value}", "ok "),
    ("ok ${BAR:-/non:-alphanumeric}", "ok /non:-alphanumeric"),
    # TestInterpolationExternalInterference
    ("-ok ${BAR:-defaultValue}", "-ok defaultValue"), ("+ok ${UNSET:-${BAR-defaultValue}}", "+ok "),
    ("-ok ${FOO:-defaultValue}", "-ok first"), (":-ok ${UNSET-defaultValue}", ":-ok defaultValue"),
    (":-ok ${BAR-defaultValue}", ":-ok "), (":?ok ${BAR-defaultValue}", ":?ok "),
    (":?ok ${BAR:-defaultValue}", ":?ok defaultValue"), (":+ok ${BAR:-defaultValue}", ":+ok defaultValue"),
    ("+ok ${BAR-defaultValue}", "+ok "), ("?ok ${BAR:-defaultValue}", "?ok defaultValue"),
    # TestDefaultsWithNestedExpansion
    ("ok ${UNSET_VAR-$FOO}", "ok first"), ("ok ${UNSET_VAR-${FOO}}", "ok first"),
    ("ok ${UNSET_VAR-${FOO} ${FOO}}", "ok first first"), ("ok ${BAR:-$FOO}", "ok first"),
    ("ok ${BAR:-${FOO}}", "ok first"), ("ok ${BAR:-${FOO} ${FOO}}", "ok first first"),
    ("ok ${BAR+$FOO}", "ok first"), ("ok ${BAR+$FOO ${FOO:+second}}", "ok first second"),
    # TestDefaultsForMandatoryVariables
    ("ok ${FOO:?err}", "ok first"), ("ok ${FOO?err}", "ok first"), ("ok ${BAR?err}", "ok "),
    # TestPrecedence
    ("${UNSET_VAR-myerror?msg}", "myerror?msg"), ("${FOO?bar-baz}", "first"),
    ("${BAR:-default_value_for_empty_var}", "default_value_for_empty_var"),
    ("${UNSET_VAR-default_value_for_unset_var}", "default_value_for_unset_var"),
    ("ok ${SUBDOMAIN:-redis}.${FOO:?}", "ok redis.first"),
    # TestNoValueWithCurlyBracesDefault, TestValueWithCurlyBracesDefault
    ('ok ${missing:-{"json":1}}', 'ok {"json":1}'), ('ok ${missing-{"json":1}}', 'ok {"json":1}'),
    ('ok ${JSON:-{"json":1}}', 'ok {"json":2}'), ('ok ${JSON-{"json":1}}', 'ok {"json":2}'),
]


@pytest.mark.parametrize("template,expected", CASES, ids=[c[0] for c in CASES])
def test_substitute(template, expected):
    assert substitute(template, DEFAULTS) == expected


@pytest.mark.parametrize("template", ["${", "${}", "${ }", "${ foo}", "${foo }", "${foo!}"])
def test_invalid(template):
    with pytest.raises(InvalidTemplate, match="invalid interpolation format"):
        substitute(template, DEFAULTS)


REQUIRED = [
    ("not ok ${UNSET_VAR:?Mandatory Variable Unset}", "required variable UNSET_VAR is missing a value: Mandatory Variable Unset"),
    ("not ok ${BAR:?Mandatory Variable Empty}", "required variable BAR is missing a value: Mandatory Variable Empty"),
    ("not ok ${UNSET_VAR:?}", "required variable UNSET_VAR is missing a value"),
    ("not ok ${UNSET_VAR?Mandatory Variable Unset}", "required variable UNSET_VAR is missing a value: Mandatory Variable Unset"),
    ("not ok ${UNSET_VAR?}", "required variable UNSET_VAR is missing a value"),
    ("not ok ${UNSET_VAR:?Mandatory Variable ${FOO}}", "required variable UNSET_VAR is missing a value: Mandatory Variable first"),
    ("not ok ${UNSET_VAR?Mandatory Variable ${FOO}}", "required variable UNSET_VAR is missing a value: Mandatory Variable first"),
    ("${UNSET_VAR?bar-baz}", "required variable UNSET_VAR is missing a value: bar-baz"),
]


@pytest.mark.parametrize("template,message", REQUIRED, ids=[r[0] for r in REQUIRED])
def test_required(template, message):
    with pytest.raises(MissingRequired) as caught:
        substitute(template, DEFAULTS)
    assert str(caught.value) == message


def test_lazy_required_message_is_not_read():
    assert substitute("${A?${B}}", {"A": "value"}) == "value"


# --- the tree walk --------------------------------------------------------------------------

def test_every_string_value_but_no_key():
    tree = {"services": {"${FOO}": {"image": "${FOO}:${TAG:-latest}", "command": ["echo", "$$HOME", "$FOO"]}}}
    assert interpolate(tree, DEFAULTS) == {
        "services": {"${FOO}": {"image": "first:latest", "command": ["echo", "$HOME", "first"]}}}


def test_errors_name_file_path_and_variable():
    tree = {"services": {"db": {"image": "${DB_IMAGE:?set it}"}}}
    with pytest.raises(ComposeError) as caught:
        interpolate(tree, {}, "compose.yaml")
    assert str(caught.value) == "compose.yaml: services.db.image: required variable DB_IMAGE is missing a value: set it"
    assert caught.value.path == "services.db.image" and caught.value.exit_code == 1
    with pytest.raises(ComposeError, match=r"compose.yaml: services.web.ports\[0\]: invalid interpolation format"):
        interpolate({"services": {"web": {"ports": ["${"]}}}, {}, "compose.yaml")


def test_typed_values_are_cast_back():
    tree = {"services": {"w": {"deploy": {"replicas": "${N}"}, "read_only": "${RO}", "ports": [{"target": "${T}"}],
                               "healthcheck": {"retries": "${N}"}, "image": "${N}"}},
            "volumes": {"v": {"external": "${RO}"}}}
    out = interpolate(tree, {"N": "3", "RO": "true", "T": "80"})
    assert out["services"]["w"]["deploy"]["replicas"] == 3
    assert out["services"]["w"]["read_only"] is True
    assert out["services"]["w"]["ports"][0]["target"] == 80
    assert out["services"]["w"]["image"] == "3"
    assert out["volumes"]["v"]["external"] is True
    with pytest.raises(ComposeError, match=r"services.w.deploy.replicas: 'x' is not a valid int"):
        interpolate({"services": {"w": {"deploy": {"replicas": "$N"}}}}, {"N": "x"})
