"""`sandbox build` for real: the seed's two commands, the cache, every instruction, failures.

Each build runs its RUN steps in real sandbox containers (root and rootless), so
these tests are the builder's integration folder; the parser, the lexer and the
copy rules have their own pure tests (test_dockerfile_parser.py, test_shell_lexer.py,
test_build_copying.py).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from conftest import IS_ROOT, REPO, sandbox

SEED = REPO / "notebooks" / "examples" / "seed-app"


def build(*args, cwd=None, input=None, timeout=120):
    """`sandbox build ...` run from ``cwd``, as a learner types it."""
    return subprocess.run([sys.executable, "-m", "sandbox", "build", *args], cwd=cwd,
                          input=input, capture_output=True, text=True, timeout=timeout,
                          env={**os.environ, "PYTHONPATH": str(REPO)})


def inspect(image: str) -> dict:
    return json.loads(sandbox("image", "inspect", image, check=True).stdout)[0]


def image_exists(image: str) -> bool:
    return sandbox("image", "inspect", image).returncode == 0


@pytest.fixture
def ctx(tmp_path):
    """A build context of the test's own."""
    return tmp_path


@pytest.fixture
def tag(name):
    yield name + ":test"
    sandbox("rmi", "-f", name + ":test")


@pytest.fixture(autouse=True)
def nothing_left_behind(state_root):
    """After each test: no scratch file of a build, no build container, no mount of ours."""
    yield
    tmp = state_root / "tmp"
    left = [p.name for p in tmp.iterdir() if p.name.startswith("build-")] if tmp.is_dir() else []
    assert not left, f"the build left scratch files: {left}"
    mounts = Path("/proc/self/mountinfo").read_text()
    assert str(state_root / "containers") not in mounts


def copy_seed(dest: Path) -> Path:
    shutil.copytree(SEED, dest / "seed-app")
    return dest / "seed-app"


# --- the seed's two commands ----------------------------------------------------------
def test_the_seeds_two_build_commands_work_verbatim(tmp_path):
    app = copy_seed(tmp_path)
    # A cold cache, whatever ran before in this state root (chapter 10 in the browser test
    # builds the same context): the RUN step must run, for its output to be seen.
    sandbox("builder", "prune", "-a", "-f", check=True)
    try:
        r = build("--force-rm=true", "-t", "vf_base", "-f", "base.dockerfile", ".", cwd=app)
        assert r.returncode == 0, r.stderr
        assert "naming to docker.io/library/vf_base:latest done" in r.stderr
        r = build("-t", "hello-app:1.0", ".", cwd=app)
        assert r.returncode == 0, r.stderr
        assert "installing 2 requirements" in r.stderr  # a RUN's output is shown, never hidden
        config = inspect("hello-app:1.0")["Config"]
        assert "APP_VERSION=1.0" in config["Env"]
        assert config["WorkingDir"] == "/srv"
        assert config["Entrypoint"] == ["./app/serve.sh"] and config["Cmd"] == ["8080"]
        assert config["ExposedPorts"] == {"8080/tcp": {}}
        assert config["Healthcheck"]["Test"][0] == "CMD-SHELL"
        assert config["Healthcheck"]["Interval"] == 30 * 10**9
        out = sandbox("run", "--rm", "--entrypoint", "version", "hello-app:1.0", check=True)
        assert out.stdout == "vf tools 1.0\n"
        files = sandbox("run", "--rm", "--entrypoint", "find", "hello-app:1.0", "/srv",
                        check=True).stdout.split()
        assert "/srv/app/www/index.html" in files and "/srv/deps/requirements.txt" in files
        assert "/srv/NOTES.md" not in files          # .dockerignore: *.md
        history = sandbox("history", "--no-trunc", "hello-app:1.0", check=True).stdout
        assert "RUN /bin/sh -c chmod +x app/serve.sh # buildkit" in history
        assert "COPY app/ ./app/ # buildkit" in history
    finally:
        sandbox("rmi", "-f", "hello-app:1.0")
        sandbox("rmi", "-f", "vf_base")


def test_a_second_build_is_all_cached_and_gives_the_same_image(ctx, tag):
    (ctx / "Dockerfile").write_text("FROM busybox\nENV A=1\nCOPY f /f\nRUN cat /f > /g\n"
                                    "CMD [\"cat\", \"/g\"]\n")
    (ctx / "f").write_text("one\n")
    first = build("-t", tag, str(ctx))
    assert first.returncode == 0, first.stderr
    image_id = inspect(tag)["Id"]
    os.utime(ctx / "f", (1, 1))  # touched, not changed: the cache does not care
    again = build("-t", tag, str(ctx))
    assert again.returncode == 0, again.stderr
    assert again.stderr.count("CACHED") == 2, again.stderr  # COPY and RUN
    assert inspect(tag)["Id"] == image_id
    (ctx / "f").write_text("two\n")  # changed: COPY runs again, and so does every step after it
    third = build("-t", tag, str(ctx))
    assert third.stderr.count("CACHED") == 0, third.stderr
    assert sandbox("run", "--rm", tag, check=True).stdout == "two\n"
    nocache = build("--no-cache", "-t", tag, str(ctx))
    assert nocache.returncode == 0 and "CACHED" not in nocache.stderr


def test_a_metadata_step_makes_no_layer_and_each_file_change_one(ctx, tag):
    (ctx / "Dockerfile").write_text("FROM busybox\nLABEL a=b\nENV X=1\nRUN echo hi > /hi\n"
                                    "WORKDIR /new/dir\nRUN true\nEXPOSE 80\n")
    assert build("-t", tag, str(ctx)).returncode == 0
    base = len(inspect("busybox")["RootFS"]["Layers"])
    layers = inspect(tag)["RootFS"]["Layers"]
    assert len(layers) == base + 2  # RUN echo, WORKDIR /new/dir; `RUN true` changed nothing
    history = json.loads(sandbox("image", "inspect", tag, check=True).stdout)[0]
    assert history["Config"]["WorkingDir"] == "/new/dir"


# --- instructions ----------------------------------------------------------------------
def test_build_args_env_and_their_scopes(ctx, tag):
    (ctx / "Dockerfile").write_text(
        "ARG BASE=busybox\nFROM $BASE\nARG WHO=world\nENV GREETING=\"hello ${WHO}\"\n"
        "RUN echo \"$GREETING from ${BASE:-nothing}\" > /greeting\nCMD cat /greeting\n")
    r = build("--build-arg", "WHO=course", "--build-arg", "UNUSED=1", "-t", tag, str(ctx))
    assert r.returncode == 0, r.stderr
    assert "[Warning] One or more build-args ['UNUSED'] were not consumed" in r.stderr
    # BASE is a global ARG: in the stage it is unset unless declared again.
    assert sandbox("run", "--rm", tag, check=True).stdout == "hello course from nothing\n"
    assert "GREETING=hello course" in inspect(tag)["Config"]["Env"]
    assert not any(e.startswith("WHO=") for e in inspect(tag)["Config"]["Env"])


def test_a_base_without_path_gets_the_default_one_as_buildkit_gives_it(ctx, tag, tmp_path):
    """An imported image has no Env: BuildKit sets PATH before the first step, so
    ``ENV PATH=/venv/bin:$PATH`` keeps /usr/bin (deploy/Dockerfile relies on it)."""
    rootfs = tmp_path / "rootfs.tar"
    with tarfile.open(rootfs, "w") as tar:
        info = tarfile.TarInfo("etc/hostname")
        tar.addfile(info)
    base = tag.replace(":test", "-base:test")
    sandbox("import", str(rootfs), base, check=True)
    try:
        (ctx / "Dockerfile").write_text(f"FROM {base}\nENV PATH=/venv/bin:$PATH\n")
        assert build("-q", "-t", tag, str(ctx)).returncode == 0
        assert "PATH=/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \
            in inspect(tag)["Config"]["Env"]
    finally:
        sandbox("rmi", "-f", base)


@pytest.mark.parametrize("entrypoint, cmd, args, expected", [
    (None, '["echo", "exec", "cmd"]', [], "exec cmd"),
    (None, "echo shell $HOME", [], "shell /root"),
    ('["echo", "entry"]', '["cmd"]', [], "entry cmd"),
    ('["echo", "entry"]', '["cmd"]', ["given"], "entry given"),
    ("echo shell-entry", '["ignored"]', [], "shell-entry"),
])
def test_cmd_and_entrypoint_combine_as_docker_says(ctx, tag, entrypoint, cmd, args, expected):
    lines = ["FROM busybox"]
    if entrypoint:
        lines.append(f"ENTRYPOINT {entrypoint}")
    lines.append(f"CMD {cmd}")
    (ctx / "Dockerfile").write_text("\n".join(lines) + "\n")
    assert build("-q", "-t", tag, str(ctx)).returncode == 0
    assert sandbox("run", "--rm", tag, *args, check=True).stdout == expected + "\n"


def test_entrypoint_resets_an_inherited_cmd(ctx, tag):
    (ctx / "Dockerfile").write_text('FROM busybox\nENTRYPOINT ["echo"]\n')
    assert build("-q", "-t", tag, str(ctx)).returncode == 0
    assert inspect(tag)["Config"]["Cmd"] is None  # busybox's CMD ["sh"] is gone


def test_heredocs_in_run_and_copy(ctx, tag):
    (ctx / "Dockerfile").write_text(
        "FROM busybox\nARG NAME=world\n"
        "RUN <<EOF\necho one > /one\necho two > /two\nEOF\n"
        "COPY <<GREET <<'RAW' /etc/\nhello $NAME\nGREET\nkeep $NAME\nRAW\n"
        'CMD ["sh", "-c", "cat /one /two /etc/GREET /etc/RAW"]\n')
    r = build("-t", tag, str(ctx))
    assert r.returncode == 0, r.stderr
    assert sandbox("run", "--rm", tag, check=True).stdout == \
        "one\ntwo\nhello world\nkeep $NAME\n"


def test_workdir_user_volume_stopsignal_label_shell(ctx, tag):
    (ctx / "Dockerfile").write_text(
        "FROM busybox\nWORKDIR app\nWORKDIR sub\nRUN pwd > /where\nVOLUME /data\n"
        "STOPSIGNAL SIGUSR1\nLABEL version=\"1.0\" team=course\nMAINTAINER someone\n"
        'SHELL ["/bin/sh", "-ec"]\nRUN echo "$0" > /shell\nUSER nobody\n')
    assert build("-t", tag, str(ctx)).returncode == 0
    config = inspect(tag)["Config"]
    assert config["WorkingDir"] == "/app/sub" and config["User"] == "nobody"
    assert config["Volumes"] == {"/data": {}} and config["StopSignal"] == "SIGUSR1"
    assert config["Labels"]["version"] == "1.0" and config["Labels"]["team"] == "course"
    assert config["Labels"]["org.opencontainers.image.authors"] == "someone"
    assert inspect(tag)["Author"] == "someone"
    out = sandbox("run", "--rm", "-u", "0", tag, "cat", "/where", "/shell", check=True).stdout
    assert out == "/app/sub\n/bin/sh\n"


def test_copy_rules_chown_chmod_and_a_directorys_contents(ctx, tag):
    (ctx / "src" / "deep").mkdir(parents=True)
    (ctx / "src" / "a.txt").write_text("a")
    (ctx / "src" / "deep" / "b.txt").write_text("b")
    (ctx / "x1.cfg").write_text("1")
    (ctx / "x2.cfg").write_text("2")
    (ctx / "Dockerfile").write_text(
        "FROM busybox\nCOPY src /dst\nCOPY x*.cfg /cfg/\n"
        "COPY --chown=1:2 --chmod=600 x1.cfg /owned\n")
    assert build("-t", tag, str(ctx)).returncode == 0
    out = sandbox("run", "--rm", tag, "sh", "-c",
                  "ls /dst /dst/deep /cfg; stat -c '%u:%g %a' /owned", check=True).stdout
    assert out.split() == ["/cfg:", "x1.cfg", "x2.cfg", "/dst:", "a.txt", "deep",
                           "/dst/deep:", "b.txt"] + (["1:2", "600"] if IS_ROOT else ["0:0", "600"])
    if not IS_ROOT:  # the layer itself records the owner, which a rootless run cannot show
        pass


def test_add_unpacks_a_local_archive(ctx, tag):
    payload = ctx / "payload"
    payload.mkdir()
    (payload / "inside.txt").write_text("unpacked\n")
    with tarfile.open(ctx / "site.tar.gz", "w:gz") as tar:
        tar.add(payload / "inside.txt", arcname="www/inside.txt")
    (ctx / "Dockerfile").write_text("FROM busybox\nADD site.tar.gz /srv/\nCOPY site.tar.gz /kept/\n")
    assert build("-t", tag, str(ctx)).returncode == 0
    out = sandbox("run", "--rm", tag, "sh", "-c", "cat /srv/www/inside.txt; ls /kept",
                  check=True).stdout
    assert out == "unpacked\nsite.tar.gz\n"


def test_add_downloads_a_url(ctx, tag, tmp_path_factory):
    served = tmp_path_factory.mktemp("served")
    (served / "file.txt").write_text("downloaded\n")
    server = subprocess.Popen([sys.executable, "-m", "http.server", "--bind", "127.0.0.1", "0"],
                              cwd=served, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True)
    try:
        line = server.stdout.readline()  # "Serving HTTP on 127.0.0.1 port N (http://...) ..."
        port = int(line.split(" port ")[1].split()[0])
        (ctx / "Dockerfile").write_text(f"FROM busybox\nADD http://127.0.0.1:{port}/file.txt /d/\n")
        r = build("-t", tag, str(ctx))
        assert r.returncode == 0, r.stderr
        out = sandbox("run", "--rm", tag, "sh", "-c", "cat /d/file.txt; stat -c %a /d/file.txt",
                      check=True).stdout
        assert out == "downloaded\n600\n"
    finally:
        server.kill()
        server.wait()


def test_onbuild_triggers_run_in_the_child(ctx, tag, name):
    parent = f"{name}-parent:test"
    (ctx / "Dockerfile").write_text("FROM busybox\nONBUILD RUN echo triggered > /trigger\n")
    try:
        assert build("-t", parent, str(ctx)).returncode == 0
        assert inspect(parent)["Config"]["OnBuild"] == ["RUN echo triggered > /trigger"]
        (ctx / "Dockerfile").write_text(f"FROM {parent}\n")
        assert build("-t", tag, str(ctx)).returncode == 0
        assert sandbox("run", "--rm", tag, "cat", "/trigger", check=True).stdout == "triggered\n"
        assert not inspect(tag)["Config"].get("OnBuild")
    finally:
        sandbox("rmi", "-f", parent)


def test_run_mounts_cache_and_tmpfs_are_not_in_the_layer(ctx, tag):
    (ctx / "Dockerfile").write_text(
        "FROM busybox\n"
        "RUN --mount=type=cache,target=/cache --mount=type=tmpfs,target=/scratch "
        "echo x >> /cache/count && echo y > /scratch/y && wc -l < /cache/count > /seen\n")
    assert build("-t", tag, str(ctx)).returncode == 0
    assert build("--no-cache", "-t", tag, str(ctx)).returncode == 0
    out = sandbox("run", "--rm", tag, "sh", "-c", "cat /seen; ls /cache /scratch 2>&1 | wc -l",
                  check=True).stdout.split()
    assert out[0] == "2"  # the cache directory outlived the first build


# --- stages -------------------------------------------------------------------------
def test_multi_stage_copy_from_a_stage_and_target(ctx, tag):
    (ctx / "Dockerfile").write_text(
        "FROM busybox AS builder\nRUN mkdir /out && echo built > /out/artifact\n"
        "FROM busybox AS unused\nRUN exit 1\n"
        "FROM scratch\nCOPY --from=builder /out/artifact /artifact\n"
        "COPY --from=busybox /bin/busybox /bin/cat\nCMD [\"/bin/cat\", \"/artifact\"]\n")
    r = build("-t", tag, str(ctx))
    assert r.returncode == 0, r.stderr  # the unused stage's `exit 1` never ran
    assert "[builder 2/2] RUN mkdir /out" in r.stderr
    assert sandbox("run", "--rm", tag, check=True).stdout == "built\n"
    assert len(inspect(tag)["RootFS"]["Layers"]) == 2  # smaller than busybox + a build stage
    r = build("--target", "unused", "-t", tag, str(ctx))
    assert r.returncode != 0 and "exit code: 1" in r.stderr


def test_dockerfile_from_stdin_and_without_context(tag, tmp_path):
    r = build("-t", tag, "-", input="FROM busybox\nRUN echo stdin > /s\n", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    (tmp_path / "f").write_text("ctx\n")
    r = build("-f", "-", "-t", tag, ".", input="FROM busybox\nCOPY f /f\n", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert sandbox("run", "--rm", tag, "cat", "/f", check=True).stdout == "ctx\n"


def test_quiet_prints_only_the_image_id(ctx, tag):
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo noisy\n")
    r = build("-q", "-t", tag, str(ctx))
    assert r.returncode == 0 and r.stderr == ""
    assert r.stdout.strip() == inspect(tag)["Id"]


# --- failures: the file, the line, the reason; nothing left ---------------------------------
@pytest.mark.parametrize("dockerfile, line, reason", [
    ("FROM busybox\nRUNN echo hi\n", 2, "unknown instruction: RUNN"),
    ("FROM busybox\nCOPY --frm=x a /b\n", 2, "unknown flag: --frm"),
    ("FROM busybox\nRUN echo before\nRUN exit 3\n", 3,
     'process "/bin/sh -c exit 3" did not complete successfully: exit code: 3'),
    ("FROM busybox\nCOPY missing.txt /x\n", 2, "missing.txt"),
    ("FROM busybox\nRUN true\nCOPY ${Y:?required} /\n", 3, "Y: required"),
])
def test_a_failing_dockerfile_names_file_line_and_reason(ctx, tag, dockerfile, line, reason):
    (ctx / "Dockerfile").write_text(dockerfile)
    r = build("-t", tag, str(ctx))
    assert r.returncode == 1, r.stderr
    assert "Traceback" not in r.stderr
    error = r.stderr[r.stderr.index("sandbox: "):]
    assert error.startswith(f"sandbox: Dockerfile:{line}: "), error
    assert reason in error.splitlines()[0], error
    shown = dockerfile.splitlines()[line - 1]
    assert f"{line} | {shown}" in error and "^" in error  # the line, with a caret
    assert not image_exists(tag)


def test_a_bad_flag_of_build_itself_is_one_sentence(ctx):
    r = build("--progress", "fancy", str(ctx))
    assert r.returncode == 125 and r.stderr.startswith("sandbox: invalid --progress")
    r = build("-t", "Bad:Name", str(ctx))
    assert r.returncode == 125 and "invalid argument \"Bad:Name\"" in r.stderr


def test_builder_prune_forgets_the_cache(ctx, tag):
    (ctx / "Dockerfile").write_text("FROM busybox\nRUN echo a > /a\n")
    assert build("-t", tag, str(ctx)).returncode == 0
    pruned = sandbox("builder", "prune", "-f", check=True).stdout
    assert pruned.startswith("Deleted build cache objects:")
    again = build("-t", tag, str(ctx))
    assert "CACHED" not in again.stderr


# --- the images are real OCI images -----------------------------------------------------------
def test_a_built_image_runs_under_podman(ctx, tag, tmp_path_factory):
    podman = shutil.which("podman")
    if podman is None:
        pytest.skip("podman is not installed: ./course test installs it (Debian's podman)")
    (ctx / "Dockerfile").write_text(
        "FROM busybox\nENV WHO=podman\nWORKDIR /w\nCOPY hello /w/\n"
        'RUN chmod 755 /w/hello\nCMD ["sh", "-c", "./hello $WHO"]\n')
    (ctx / "hello").write_text('#!/bin/sh\necho "hello $1 from $(pwd)"\n')
    assert build("-t", tag, str(ctx)).returncode == 0
    ours = sandbox("run", "--rm", tag, check=True).stdout
    store = tmp_path_factory.mktemp("podman")
    archive = store / "image.tar"
    sandbox("save", "-o", str(archive), tag, check=True)
    pod = [podman, "--root", str(store / "root"), "--runroot", str(store / "run"),
           "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs", "--events-backend", "none",
           # runc: crun refuses hybrid cgroup hierarchies (this CI machine's)
           "--runtime", shutil.which("runc") or "runc"]
    if not IS_ROOT:
        pod += ["--tmpdir", str(store / "tmp")]
    loaded = subprocess.run(pod + ["load", "-i", str(archive)], capture_output=True, text=True,
                            timeout=120)
    if loaded.returncode != 0 and not IS_ROOT:
        pytest.skip(f"rootless podman cannot load here: {loaded.stderr.strip()[-200:]}")
    assert loaded.returncode == 0, loaded.stderr
    # podman raises RLIMIT_NOFILE and NPROC by default, which needs CAP_SYS_RESOURCE
    # (a CI container may not have it): ask for limits below the host's instead.
    limits = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]
    ran = subprocess.run(pod + ["run", "--rm", "--network", "none", *limits, tag], capture_output=True,
                         text=True, timeout=120)
    if ran.returncode != 0 and not IS_ROOT:
        pytest.skip(f"rootless podman cannot run here: {ran.stderr.strip()[-200:]}")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout == ours == "hello podman from /w\n"
    subprocess.run(pod + ["system", "reset", "-f"], capture_output=True, timeout=120)
