"""The flag parser reads Docker's command lines the way Docker does (pure, no containers)."""

import pytest

from sandbox.cli import COMMANDS
from sandbox.cli.flags import parse
from sandbox.errors import UsageError


def run_flags(*argv):
    return parse(COMMANDS["run"], list(argv))


def test_combined_short_flags():
    values, args = run_flags("-it", "--rm", "busybox", "sh")
    assert values["interactive"] and values["tty"] and values["rm"]
    assert args == ["busybox", "sh"]


def test_flags_stop_at_the_image():
    values, args = run_flags("--name", "web", "busybox", "ls", "-l", "--rm")
    assert values["name"] == "web" and not values["rm"]
    assert args == ["busybox", "ls", "-l", "--rm"]


def test_values_inline_and_repeated():
    values, _ = run_flags("-eA=1", "-e", "B=2", "--env=C=3", "--name=x", "busybox")
    assert values["env"] == ["A=1", "B=2", "C=3"] and values["name"] == "x"


def test_h_is_hostname_for_run_but_help_elsewhere():
    values, _ = run_flags("-h", "myhost", "busybox")
    assert values["hostname"] == "myhost"
    values, _ = parse(COMMANDS["ps"], ["-h"])
    assert values["help"]


def test_boolean_with_value():
    values, _ = run_flags("--rm=false", "busybox")
    assert values["rm"] is False


@pytest.mark.parametrize("argv, message", [
    (["--bogus", "busybox"], "unknown flag: --bogus"),
    (["-x", "busybox"], "unknown shorthand flag: 'x' in -x"),
    (["--name"], "flag needs an argument: --name"),
    ([], '"sandbox run" requires at least 1 argument'),
])
def test_bad_flags_name_the_flag(argv, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace('"', '"')):
        run_flags(*argv)


def test_stop_time_must_be_a_number():
    with pytest.raises(UsageError, match='invalid argument "soon" for "--time"'):
        parse(COMMANDS["stop"], ["-t", "soon", "web"])
