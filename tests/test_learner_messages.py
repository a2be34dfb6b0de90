"""What a learner is told when something is not here yet, or cannot be measured: one
sentence that says why, and where (or how) to get it."""

from __future__ import annotations

import pytest

from conftest import IS_ROOT, fails_with_one_sentence, root_only, rootless_only, sandbox


def test_a_verb_of_a_later_chapter_says_which_chapter_brings_it(monkeypatch, capsys):
    """The table is empty now that compose is here; the sentence is still the one a
    learner would get for a verb still to come."""
    from sandbox import chapters
    from sandbox.cli import main
    monkeypatch.setattr(chapters, "CHAPTERS", {"swarm": ("13", "Orchestration")})
    monkeypatch.setattr(chapters, "VERBS", ("swarm",))
    assert main(["swarm", "init"]) == 1
    err = capsys.readouterr().err
    assert err == "sandbox: `sandbox swarm` is not here yet: chapter 13 (Orchestration) brings it\n"


@pytest.mark.parametrize("flags, needle", [
    (["-p", "99999:80"], "invalid -p 99999:80: host port 99999 is not between 1 and 65535"),
    (["--publish", "abc"], "invalid -p abc: container port 'abc' is not a number"),
    (["--publish=80/sctp"], "invalid -p 80/sctp: protocol 'sctp' is not tcp or udp"),
    (["-p8000-8002:80-81"], "the host and container port ranges are not the same size"),
])
@pytest.mark.parametrize("verb", ["run", "create"])
def test_a_bad_publish_gets_one_sentence_and_nothing_is_made(verb, flags, needle, name):
    """Chapter 09 is here: -p is read as Docker reads it, and bad input names the flag."""
    r = sandbox(verb, "--name", name, *flags, "busybox", "true")
    fails_with_one_sentence(r, needle)
    assert "unknown shorthand flag" not in r.stderr
    assert sandbox("inspect", name).returncode != 0  # nothing was created


@pytest.mark.parametrize("verb", ["network", "build", "compose"])
def test_chapters_that_are_here_have_left_the_table(verb):
    from sandbox.chapters import CHAPTERS, VERBS
    assert verb not in CHAPTERS and verb not in VERBS


def test_volume_is_not_claimed_here():
    """``volume`` is another part's work: no chapter message for it from this table."""
    from sandbox.chapters import CHAPTERS, VERBS
    assert "volume" not in CHAPTERS and "volume" not in VERBS


def test_exec_into_a_stopped_container_and_start_of_a_running_one_as_docker(name):
    sandbox("create", "--name", name, "busybox", "sleep", "300", check=True)
    cid = sandbox("inspect", "-f", "{{.Id}}", name, check=True).stdout.strip()
    # Docker: "Error response from daemon: container <full id> is not running"
    fails_with_one_sentence(sandbox("exec", name, "true"), f"container {cid} is not running")
    sandbox("start", name, check=True)
    r = sandbox("start", name)  # Docker: starting a running container prints its name
    assert (r.returncode, r.stdout, r.stderr) == (0, f"{name}\n", "")
    sandbox("rm", "-f", name, check=True)


def test_stats_of_a_running_container_shows_numbers_or_says_why_not(name):
    sandbox("run", "-d", "--name", name, "busybox", "sleep", "300", check=True)
    try:
        r = sandbox("stats", "--no-stream", name, check=True)
    finally:
        sandbox("rm", "-f", name)
    lines = r.stdout.splitlines()
    assert lines[0].split()[:3] == ["CONTAINER", "ID", "NAME"]
    assert len(lines) == 2 and lines[1].split()[1] == name, r.stdout
    if "--" in lines[1].split():
        assert not IS_ROOT
        said = r.stderr.splitlines()
        assert len(said) == 1 and said[0].startswith(f"sandbox: no numbers for {name}: "), said
        assert "cgroup" in said[0] and (" run as root" in said[0] or "delegate" in said[0])
    else:
        assert r.stderr == ""
        assert lines[1].split()[-1] == "1"  # one process: sleep


@rootless_only
def test_stats_rootless_on_this_hybrid_machine_says_why(name):
    """This CI machine mounts cgroup v1 controllers, which a user cannot be given."""
    from sandbox.isolation.cgroups import for_container
    from sandbox.errors import MissingFeature
    try:
        for_container("probe")
    except MissingFeature:
        pass
    else:
        pytest.skip("this user may make cgroups here: stats has numbers")
    sandbox("run", "-d", "--name", name, "busybox", "sleep", "300", check=True)
    try:
        r = sandbox("stats", "--no-stream")
    finally:
        sandbox("rm", "-f", name)
    assert f"no numbers for {name}" in r.stderr and r.returncode == 0


@root_only
def test_root_where_cgroups_are_read_only_gets_one_sentence(name):
    """Root inside another (unprivileged) container, where /sys/fs/cgroup is read-only: a
    root container needs its cgroup (Docker's device rules), so the run stops with one
    sentence that says why, instead of mkdir's EROFS as a traceback, and --rm leaves nothing."""
    import os
    import subprocess
    import sys
    from sandbox.isolation import cgroups
    from sandbox.kernel import syscalls as sc
    hierarchies = [m.path for m in cgroups.mounts()]
    if os.path.ismount("/sys/fs/cgroup") and "/sys/fs/cgroup" not in hierarchies:
        hierarchies.append("/sys/fs/cgroup")  # the tmpfs that holds v1's hierarchies

    def read_only_cgroups():  # in the child, before exec: a mount namespace of its own
        sc.unshare(sc.CLONE_NEWNS)
        sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)
        for path in hierarchies:
            sc.mount(None, path, None, sc.MS_REMOUNT | sc.MS_BIND | sc.MS_RDONLY)

    r = subprocess.run([sys.executable, "-m", "sandbox", "run", "--rm", "--name", name,
                        "busybox", "true"], capture_output=True, text=True, timeout=60,
                       env=os.environ, preexec_fn=read_only_cgroups)
    fails_with_one_sentence(r, "cannot make the container's cgroup", "Read-only file system",
                            "sandbox doctor")
    assert r.returncode == 125
    assert sandbox("inspect", name).returncode != 0  # --rm: nothing is left
