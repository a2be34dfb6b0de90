"""Typed instructions (sandbox.builder.instructions): each command, its flags, and its errors.

Cases ported from BuildKit's ``instructions/parse_test.go`` and
``bflag_test.go`` where they apply.  Pure: no root, no containers.
"""

from __future__ import annotations

import pytest

from sandbox.builder.dockerfile import DockerfileError, parse
from sandbox.builder.instructions import (Add, Arg, Cmd, Copy, Entrypoint, Env, Expose, Healthcheck,
                                        Label, Maintainer, Onbuild, Run, Shell, StopSignal, User,
                                        Volume, Workdir, go_duration, parse_mount, parse_stages)


def commands(body: str) -> list:
    """The commands of a one-stage Dockerfile ``FROM base`` + body."""
    _, stages = parse_stages(parse("FROM base\n" + body))
    return stages[0].commands


def one(body: str):
    [command] = commands(body)
    return command


def fails(body: str, *needles: str, line: int = 2) -> DockerfileError:
    """The one-sentence error of ``FROM base`` + body, at ``line``, holding every needle."""
    with pytest.raises(DockerfileError) as caught:
        parse_stages(parse("FROM base\n" + body, "Dockerfile"))
    error = caught.value
    assert error.line == line, str(error)
    for needle in needles:
        assert needle in error.message, error.message
    assert "\n" not in error.message
    assert str(error).startswith(f"Dockerfile:{line}: ")
    return error


# ---------------------------------------------------------------- stages

def test_stages_and_meta_args():
    meta, stages = parse_stages(parse(
        "ARG VERSION=3.20\nARG FLAVOUR\n"
        "FROM --platform=$BUILDPLATFORM alpine:$VERSION AS Build\nRUN make\n"
        "FROM scratch\nCOPY --from=build /app /app\n"))
    assert [a.pairs for a in meta] == [[("VERSION", "3.20")], [("FLAVOUR", None)]]
    first, second = stages
    assert (first.base, first.name, first.platform, first.index, first.line) == \
        ("alpine:$VERSION", "build", "$BUILDPLATFORM", 0, 3)
    assert (second.base, second.name, second.platform, second.index) == ("scratch", None, None, 1)
    assert [type(c) for c in first.commands] == [Run]
    assert second.commands[0].from_ == "build"


def test_arg_after_from_belongs_to_the_stage():
    meta, stages = parse_stages(parse("FROM a\nARG X\n"))
    assert meta == [] and isinstance(stages[0].commands[0], Arg)


def test_instruction_before_from():
    with pytest.raises(DockerfileError) as caught:
        parse_stages(parse("ARG A\nRUN echo\nFROM a\n"))
    assert caught.value.line == 2
    assert "no build stage in current context" in caught.value.message


def test_no_from_at_all():
    with pytest.raises(DockerfileError, match="no FROM"):
        parse_stages(parse("ARG A\n"))


@pytest.mark.parametrize("name", ["1x", "a!b", "-a", "a$b"])
def test_invalid_stage_name(name):
    fails(f"FROM a AS {name}\n", "invalid name for build stage")


def test_stage_name_is_lower_cased():
    _, stages = parse_stages(parse("FROM a AS Mixed.Case_1\n"))
    assert stages[0].name == "mixed.case_1"


def test_duplicate_stage_name():
    fails("FROM c AS b\nFROM d AS B\n", "duplicate stage name", '"b"', line=3)


@pytest.mark.parametrize("args", ["a b", "a as", "a AS b c"])
def test_from_takes_one_or_three_arguments(args):
    fails(f"FROM {args}\n", "FROM requires either one or three arguments")


def test_from_unknown_flag():
    fails("FROM --platfrom=linux/amd64 a\n", "unknown flag: --platfrom", "did you mean --platform?")


# ---------------------------------------------------------------- RUN

def test_run_shell_form():
    run = one("RUN echo $HOME && ls\n")
    assert (run.keyword, run.script, run.argv, run.json) == ("RUN", "echo $HOME && ls", None, False)
    assert (run.line, run.end_line, run.original) == (2, 2, "RUN echo $HOME && ls")


def test_run_exec_form():
    run = one('RUN ["echo", "$HOME"]\n')
    assert (run.script, run.argv, run.json) == (None, ["echo", "$HOME"], True)


def test_run_heredoc():
    run = one("RUN <<EOF\necho hi\nEOF\n")
    assert run.script == "<<EOF"
    assert [(h.name, h.content) for h in run.heredocs] == [("EOF", "echo hi\n")]
    assert run.end_line == 4


def test_run_network_and_security():
    run = one("RUN --network=none --security=insecure true\n")
    assert (run.network, run.security) == ("none", "insecure")
    assert (one("RUN true\n").network, one("RUN true\n").security) == (None, None)


def test_run_bad_network():
    fails("RUN --network=bridge true\n", "invalid network mode", '"bridge"')


def test_run_bad_security():
    fails("RUN --security=loose true\n", "security", "is not valid")


def test_run_flag_it_does_not_take():
    fails("RUN --chown=1 true\n", "unknown flag: --chown", "RUN takes --mount")


def test_run_mounts_flags_used():
    # parse_test.go's TestRunCmdFlagsUsed
    run = one("RUN --mount=type=tmpfs,target=/foo/ echo hello\n")
    assert run.mounts == [{"type": "tmpfs", "target": "/foo/", "readonly": False}]


def test_run_without_command():
    fails("RUN --network=none\n", "RUN requires at least one argument")


# ---------------------------------------------------------------- RUN --mount (commands_runmount.go)

@pytest.mark.parametrize("text, expected", [
    ("target=/src", {"type": "bind", "target": "/src", "readonly": True}),
    ("type=bind,source=.,target=/src,rw", {"type": "bind", "source": ".", "target": "/src",
                                            "readonly": False}),
    ("type=bind,from=build,src=/out,dst=/in,readonly=false",
     {"type": "bind", "from": "build", "source": "/out", "target": "/in", "readonly": False}),
    ("type=cache,target=/root/.cache,id=pip,sharing=locked,mode=0755,uid=1000,gid=1000",
     {"type": "cache", "target": "/root/.cache", "id": "pip", "sharing": "locked",
      "mode": 0o755, "uid": 1000, "gid": 1000, "readonly": False}),
    ("type=tmpfs,target=/tmp,size=64m", {"type": "tmpfs", "target": "/tmp",
                                          "size": 64 * 1024 ** 2, "readonly": False}),
    ("type=secret,id=token,required", {"type": "secret", "id": "token", "required": True,
                                       "readonly": True}),
    ("type=ssh", {"type": "ssh", "readonly": True}),
    ("TYPE=CACHE,Target=/x", {"type": "cache", "target": "/x", "readonly": False}),
    ('type=bind,"target=/a,b"', {"type": "bind", "target": "/a,b", "readonly": True}),  # CSV quotes
    ("type=cache,target=$DIR", {"type": "cache", "target": "$DIR", "readonly": False}),
])
def test_mount(text, expected):
    assert parse_mount(text) == expected


@pytest.mark.parametrize("text, needle", [
    ("type=volume,target=/x", "unsupported mount type"),
    ("type=cache,target=/x,sharing=everyone", "unsupported sharing value"),
    ("type=bind,target=/x,mode=0755", "mode not allowed"),
    ("type=bind,target=/x,uid=1", "uid not allowed"),
    ("type=bind,target=/x,size=1m", "unexpected key 'size'"),
    ("type=bind,target=/x,required", "unexpected key 'required'"),
    ("type=cache,target=/x,mode=999", "invalid value 999 for mode"),
    ("type=bind,tagret=/x", "unexpected key 'tagret'"),
    ("type=bind,target", "must be a key=value pair"),
    ("type=secret,from=x,id=a", "secret mount should not have a from"),
    ("type=secret", "one of source, target required"),
    ("type=secret,source=a,id=b", "both source and id can't be set"),
    ("type=bind,target=/x,sharing=shared", "invalid cache sharing"),
    ("type=bind,target=/x,from=$STAGE/x", "doesn't support variable expansion"),
    ("type=bind,target=/x,ro=maybe", "invalid value for readonly"),
])
def test_bad_mount(text, needle):
    fails(f"RUN --mount={text} true\n", needle)


# ---------------------------------------------------------------- CMD, ENTRYPOINT, SHELL

def test_cmd_and_entrypoint():
    cmd, entrypoint = commands('CMD ["nginx", "-g", "daemon off;"]\nENTRYPOINT exec top -b\n')
    assert isinstance(cmd, Cmd) and (cmd.argv, cmd.json) == (["nginx", "-g", "daemon off;"], True)
    assert isinstance(entrypoint, Entrypoint)
    assert (entrypoint.script, entrypoint.json) == ("exec top -b", False)


def test_cmd_empty_json():
    assert one("CMD []\n").argv == []


def test_shell_json_form():
    shell = one('SHELL ["/bin/bash", "-o", "pipefail", "-c"]\n')
    assert isinstance(shell, Shell) and shell.argv == ["/bin/bash", "-o", "pipefail", "-c"]


def test_shell_not_json():
    fails("SHELL /bin/bash -c\n", "SHELL requires the arguments to be in JSON form")


def test_shell_empty():
    fails("SHELL []\n", "SHELL requires at least one argument")


# ---------------------------------------------------------------- ENV, LABEL, ARG

def test_env_pairs_unexpanded():
    env = one('ENV A=1 B="two words" C=$A\n')
    assert isinstance(env, Env) and env.pairs == [("A", "1"), ("B", '"two words"'), ("C", "$A")]


def test_env_legacy_form():
    assert one("ENV PATH /usr/bin:$PATH\n").pairs == [("PATH", "/usr/bin:$PATH")]


def test_label():
    label = one('LABEL org.opencontainers.image.title="x" version=1\n')
    assert isinstance(label, Label)
    assert label.pairs == [("org.opencontainers.image.title", '"x"'), ("version", "1")]


def test_arg():
    arg = one("ARG A B=2 C=\n")
    assert isinstance(arg, Arg) and arg.pairs == [("A", None), ("B", "2"), ("C", "")]


@pytest.mark.parametrize("keyword", ["ENV", "LABEL", "ARG"])
def test_blank_names(keyword):
    fails(f"{keyword} =value\n", f"{keyword} names can not be blank")


@pytest.mark.parametrize("keyword", ["ENV", "LABEL", "ONBUILD", "HEALTHCHECK", "EXPOSE",
                                     "VOLUME", "ARG"])
def test_commands_at_least_one_argument(keyword):
    # parse_test.go's TestCommandsAtLeastOneArgument
    fails(f"{keyword}\n", f"{keyword} requires at least one argument")


@pytest.mark.parametrize("keyword", ["MAINTAINER", "WORKDIR", "USER", "STOPSIGNAL"])
def test_commands_exactly_one_argument(keyword):
    # parse_test.go's TestCommandsExactlyOneArgument
    fails(f"{keyword}\n", f"{keyword} requires exactly one argument")


@pytest.mark.parametrize("keyword", ["ADD", "COPY"])
def test_commands_no_destination(keyword):
    # parse_test.go's TestCommandsNoDestinationArgument
    fails(f"{keyword} arg1\n", f"{keyword} requires at least two arguments")


def test_copy_with_only_whitespace_after_it():
    # parse_test.go's copyEmptyWhitespace (its second line would be an unknown instruction here)
    fails("COPY\t\n", "COPY requires at least two arguments")


# ---------------------------------------------------------------- COPY, ADD

def test_copy_flags():
    copy = one("COPY --from=build --chown=app:app --chmod=0644 --link --parents "
               "--exclude=*.md --exclude=tests a b /dest/\n")
    assert isinstance(copy, Copy)
    assert (copy.sources, copy.dest, copy.from_, copy.chown, copy.chmod) == \
        (["a", "b"], "/dest/", "build", "app:app", "0644")
    assert (copy.link, copy.parents, copy.exclude) == (True, True, ["*.md", "tests"])


def test_copy_defaults():
    copy = one("COPY a /b\n")
    assert (copy.from_, copy.chown, copy.chmod, copy.link, copy.parents, copy.exclude) == \
        (None, None, None, False, False, [])


def test_copy_json_form():
    assert one('COPY ["my file", "/dest dir/"]\n').sources == ["my file"]


def test_copy_heredocs():
    copy = one("COPY <<one <<-two /x/\n1\none\n\t2\n\ttwo\n")
    assert copy.sources == [] and copy.dest == "/x/"
    assert [(h.name, h.content) for h in copy.heredocs] == [("one", "1\n"), ("two", "2\n")]


def test_copy_heredoc_as_destination():
    fails("COPY a <<EOF\nx\nEOF\n", "COPY cannot accept a heredoc as a destination")


def test_copy_unknown_flag_suggests():
    fails("COPY --frm=build a b\n", "unknown flag: --frm", "did you mean --from?")


def test_copy_bool_flag_value():
    assert one("COPY --link=false a b\n").link is False
    fails("COPY --link=maybe a b\n", "expecting boolean value for flag --link")
    fails("COPY --link= a b\n", "missing a value on flag: --link")


def test_string_flag_needs_a_value():
    fails("COPY --chown a b\n", "missing a value on flag: --chown")


def test_duplicate_flag():
    fails("COPY --from=a --from=b x y\n", "duplicate flag specified: --from")


def test_double_dash_ends_flags():
    copy = one("COPY --link -- --weird /dest\n")
    assert copy.link and copy.sources == ["--weird"]


def test_add_flags():
    add = one("ADD --checksum=sha256:24454f83 --keep-git-dir --chown=1:1 --link "
              "https://example.com/a.tar.gz /src/\n")
    assert isinstance(add, Add)
    assert (add.sources, add.dest, add.checksum, add.keep_git_dir, add.chown, add.link) == \
        (["https://example.com/a.tar.gz"], "/src/", "sha256:24454f83", True, "1:1", True)


def test_add_does_not_take_from():
    fails("ADD --from=build a b\n", "unknown flag: --from")


# ---------------------------------------------------------------- HEALTHCHECK

def test_healthcheck_shell():
    # parse_test.go's TestHealthCheckCmd
    check = one("HEALTHCHECK CMD hello world\n")
    assert isinstance(check, Healthcheck) and check.test == ["CMD-SHELL", "hello world"]


def test_healthcheck_exec_and_durations():
    check = one('HEALTHCHECK --interval=1m30s --timeout=3s --start-period=500ms '
                '--start-interval=1.5s --retries=3 CMD ["curl", "-f", "http://x"]\n')
    assert check.test == ["CMD", "curl", "-f", "http://x"]
    assert (check.interval, check.timeout, check.start_period, check.start_interval) == \
        (90 * 10 ** 9, 3 * 10 ** 9, 500 * 10 ** 6, 1_500_000_000)
    assert check.retries == 3


def test_healthcheck_none():
    assert one("HEALTHCHECK NONE\n").test == ["NONE"]
    fails("HEALTHCHECK NONE x\n", "HEALTHCHECK NONE takes no arguments")


def test_healthcheck_zero_means_inherit():
    check = one("HEALTHCHECK --interval=0s --retries=0 CMD true\n")
    assert (check.interval, check.retries) == (0, 0)


@pytest.mark.parametrize("flag, needle", [
    ("--interval=5", "invalid duration"),
    ("--timeout=1x", "invalid duration"),
    ("--interval=50ns", "cannot be less than 1ms"),   # TestParseOptInterval
    ("--retries=-1", "--retries cannot be negative"),
    ("--retries=three", "--retries must be a whole number"),
])
def test_healthcheck_bad_flags(flag, needle):
    fails(f"HEALTHCHECK {flag} CMD true\n", needle)


def test_healthcheck_unknown_type():
    fails("HEALTHCHECK CONNECT TCP 7000\n", 'Unknown type "CONNECT" in HEALTHCHECK')


def test_healthcheck_missing_command():
    fails("HEALTHCHECK CMD\n", "Missing command after HEALTHCHECK CMD")


@pytest.mark.parametrize("text, nanoseconds", [
    ("0", 0), ("30s", 30 * 10 ** 9), ("1m30s", 90 * 10 ** 9), ("1.5h", 5400 * 10 ** 9),
    ("300ms", 300 * 10 ** 6), ("2h45m", 9900 * 10 ** 9), ("1us", 1000), ("1µs", 1000), ("-1s", -10 ** 9),
])
def test_go_duration(text, nanoseconds):
    assert go_duration(text) == nanoseconds


# ---------------------------------------------------------------- the rest

def test_expose_sorted_as_buildkit():
    expose = one("EXPOSE 8080 443/tcp 80\n")
    assert isinstance(expose, Expose) and expose.ports == ["443/tcp", "80", "8080"]


def test_volume():
    volume = one('VOLUME ["/data", "/logs"]\n')
    assert isinstance(volume, Volume) and volume.paths == ["/data", "/logs"]
    fails('VOLUME [""]\n', "VOLUME specified can not be an empty string")


def test_workdir_user_stopsignal():
    workdir, user, signal = commands("WORKDIR /app/$NAME\nUSER app:app\nSTOPSIGNAL SIGQUIT\n")
    assert isinstance(workdir, Workdir) and workdir.path == "/app/$NAME"
    assert isinstance(user, User) and user.user == "app:app"
    assert isinstance(signal, StopSignal) and signal.signal == "SIGQUIT"


def test_flag_on_an_instruction_without_flags():
    # parse_test.go's "MAINTAINER unknown flag"
    fails("MAINTAINER --boo joe@example.com\n", "unknown flag: --boo", "takes no flags")


def test_maintainer_is_accepted_with_a_warning():
    dockerfile = parse("FROM a\nMAINTAINER joe@example.com\n")
    _, stages = parse_stages(dockerfile)
    assert isinstance(stages[0].commands[0], Maintainer)
    assert stages[0].commands[0].name == "joe@example.com"
    assert any("MAINTAINER is deprecated" in w for w in dockerfile.warnings)


def test_onbuild():
    onbuild = one("ONBUILD RUN echo hi\n")
    assert isinstance(onbuild, Onbuild) and onbuild.expression == "RUN echo hi"


def test_onbuild_with_heredoc_keeps_it():
    onbuild = one("ONBUILD RUN <<EOF\necho hi\nEOF\n")
    assert onbuild.expression == "RUN <<EOF\necho hi\nEOF"


@pytest.mark.parametrize("body, needle", [
    ("ONBUILD ONBUILD RUN touch foobar", "Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"),
    ("ONBUILD FROM scratch", "FROM isn't allowed as an ONBUILD trigger"),
    ("ONBUILD MAINTAINER me", "MAINTAINER isn't allowed as an ONBUILD trigger"),
    ("ONBUILD RUN --frm=x true", "unknown flag: --frm"),
])
def test_onbuild_errors(body, needle):
    fails(body + "\n", needle)


@pytest.mark.parametrize("keyword", ["FOO", "foo"])
def test_unknown_instruction(keyword):
    # parse_test.go's "Invalid instruction"
    fails(f"{keyword} bar\n", f"unknown instruction: {keyword}")  # as written
