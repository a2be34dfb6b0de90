"""The course as an image (deploy/): built by `sandbox build`, pushed, and run by podman.

deploy/make-base.sh makes the base (Debian by mmdebstrap, `sandbox import`ed) and the
wheelhouse; `sandbox build -f deploy/Dockerfile .` makes the image; it is pushed to the
tests' registry, pulled from there by podman (another engine, another store) and run:
the package, JupyterLab, jupyterhub-singleuser and busybox answer, the entrypoint gives
the learner their notebooks, and a course container runs inside it with the
settings deploy/z2jh-values.yaml asks for (and not without an unmasked /proc).

The build is slow when cold (the base about 3 minutes from Debian's mirror, the
packages 2.5 minutes): the base's tar is kept in ~/.cache/sandbox-course between
runs, and the build cache of the run's store makes a second build take seconds.  The
values are checked offline: loaded, read for what the image needs, and validated against
the chart's own schema where ../shared/z2jh/ holds it.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from conftest import IS_ROOT, REPO, sandbox

pytest_plugins = ("registry_fixture",)

DEPLOY = REPO / "deploy"
VALUES = DEPLOY / "z2jh-values.yaml"
IMAGE = "course-image:test"


def values() -> dict:
    return yaml.safe_load(VALUES.read_text())


def requirement_names(lines) -> dict[str, str]:
    """``{"jupyterlab": "jupyterlab>=4", ...}`` from requirement lines (comments skipped)."""
    found = {}
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if line:
            found[re.split(r"[<>=!~ \[]", line, maxsplit=1)[0].lower()] = line
    return found


# --- the files, read ---------------------------------------------------------------------
def test_the_image_installs_the_course_extra_of_pyproject():
    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"][
        "optional-dependencies"]["course"]
    image = requirement_names((DEPLOY / "requirements.txt").read_text().splitlines())
    ours = {"jupyterhub", "setuptools"}  # jupyterhub-singleuser, z2jh's command; the build's
    assert requirement_names(extra) == {k: v for k, v in image.items() if k not in ours}
    assert ours <= set(image)


def test_the_context_keeps_the_venv_git_and_caches_out():
    from sandbox.builder.dockerignore import Matcher, read_patterns
    matcher = Matcher(read_patterns(REPO, DEPLOY / "Dockerfile"))
    for path in (".venv/bin/python", ".git/HEAD", "sandbox/__pycache__/api.cpython-311.pyc",
                 "notebooks/.ipynb_checkpoints/x.ipynb", "sandbox.egg-info/PKG-INFO"):
        assert matcher.excluded(path), path
    for path in ("sandbox/api.py", "pyproject.toml", "README.md", "deploy/wheels/x.whl",
                 "deploy/requirements.txt", "notebooks/00_setup_check.ipynb",
                 "exercises/01_files_and_processes.ipynb", "deploy/course-entrypoint.sh"):
        assert not matcher.excluded(path), path


def test_the_values_give_the_pod_what_the_course_needs():
    single = values()["singleuser"]
    assert single["image"]["name"] and single["image"]["tag"]
    command = single["cmd"] if isinstance(single["cmd"], str) else single["cmd"][0]
    assert command == "jupyterhub-singleuser"
    assert single["extraPodConfig"]["hostUsers"] is False
    pod = single["extraPodConfig"]["securityContext"]
    assert pod["seccompProfile"]["type"] == "Unconfined"
    assert pod["appArmorProfile"]["type"] == "Unconfined"
    container = values()["hub"]["config"]["KubeSpawner"]["container_security_context"]
    assert container["runAsUser"] == single["uid"] == 1000  # jovyan: rootless containers
    assert "capabilities" not in container  # a user namespace gives them, in it only
    assert container["procMount"] == "Unmasked"
    # the containers' state on a volume, where the image says it is
    mounts = {m["mountPath"] for m in single["storage"]["extraVolumeMounts"]}
    state = re.search(r"^ENV SANDBOX_ROOT=(\S+)$", (DEPLOY / "Dockerfile").read_text(), re.M)
    assert state and str(Path(state.group(1)).parent) in mounts


def test_every_security_setting_says_what_it_buys_and_costs():
    text = VALUES.read_text()
    settings = ["hostUsers:", "seccompProfile:", "appArmorProfile:", "emptyDir:",
                "procMount:", "privileged: true"]
    for setting in settings:
        key = re.search(rf"^[ #]*{re.escape(setting)}", text, re.M)  # the key, not a mention
        before = text[:key.start()]
        comment = before[max(before.rfind("Buys:"), before.rfind("buys:")):]
        assert comment.lower().startswith("buys:") and "Costs" in comment, \
            f"{setting}: the comment above it must say what it buys and what it costs"


def chart_files() -> Path:
    for shared in (REPO.parent / "shared", Path("/work/shared")):
        if (shared / "z2jh" / "values.schema.yaml").is_file():
            return shared / "z2jh"
    pytest.skip("the chart's values.yaml and values.schema.yaml are not in ../shared/z2jh/ "
                "(copy them there from the jupyterhub Helm chart to validate against them)")


def helm_merge(defaults, ours):
    """Helm's merge of a values file over the chart's: maps merge key by key, the rest is replaced."""
    if isinstance(defaults, dict) and isinstance(ours, dict):
        return {k: helm_merge(defaults.get(k), ours[k]) if k in ours else defaults[k]
                for k in {**defaults, **ours}}
    return ours


def test_the_values_are_valid_for_the_chart():
    import jsonschema
    chart = chart_files()
    merged = helm_merge(yaml.safe_load((chart / "values.yaml").read_text()), values())
    schema = yaml.safe_load((chart / "values.schema.yaml").read_text())
    errors = [f"{e.json_path}: {e.message}" for e in jsonschema.Draft7Validator(schema).iter_errors(merged)]
    assert not errors, errors


# --- built, pushed, run by podman ---------------------------------------------------------
def run(command, timeout=300, **kwargs):
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, **kwargs)


@pytest.fixture(scope="module")
def built_image():
    """deploy/make-base.sh, then `sandbox build -t course-image:test -f deploy/Dockerfile .`."""
    if not os.environ.get("SANDBOX_TEST_COURSE_IMAGE"):
        pytest.skip("building the course image takes 6 to 9 minutes, more than the suite's "
                    "20-minute budget allows: SANDBOX_TEST_COURSE_IMAGE=1 ./course test "
                    "-k course_image runs it")
    if not IS_ROOT:
        pytest.skip("the course image is built in the root pass (mmdebstrap needs root or "
                    "a user namespace of its own, and podman a store of root's)")
    if shutil.which("mmdebstrap") is None:
        pytest.skip("mmdebstrap is not installed: ./course test installs it (Debian's mmdebstrap)")
    env = {**os.environ, "PYTHONPATH": str(REPO), "PYTHON": sys.executable,
           "SANDBOX": f"{sys.executable} -m sandbox"}
    made = run(["bash", str(DEPLOY / "make-base.sh")], timeout=900, env=env, cwd=REPO)
    assert made.returncode == 0, made.stderr[-3000:]
    built = run([sys.executable, "-m", "sandbox", "build", "-t", IMAGE, "-f",
                 "deploy/Dockerfile", "."], timeout=1200, env=env, cwd=REPO)
    assert built.returncode == 0, built.stderr[-3000:]
    yield IMAGE
    sandbox("rmi", "-f", IMAGE)


@pytest.fixture(scope="module")
def podman(tmp_path_factory):
    """podman with a store of its own in a temporary folder, reset afterwards."""
    binary = shutil.which("podman")
    if binary is None:
        pytest.skip("podman is not installed: ./course test installs it (Debian's podman)")
    store = tmp_path_factory.mktemp("podman")
    command = [binary, "--root", str(store / "root"), "--runroot", str(store / "run"),
               "--storage-driver", "vfs", "--cgroup-manager", "cgroupfs",
               "--events-backend", "none",
               # runc: crun refuses hybrid cgroup hierarchies (this CI machine's)
               "--runtime", shutil.which("runc") or "runc"]
    yield command
    run(command + ["system", "reset", "-f"], timeout=600)  # vfs: a full copy per layer


# podman raises RLIMIT_NOFILE and NPROC by default, which needs CAP_SYS_RESOURCE (a CI
# container may not have it): ask for limits below the host's instead.
LIMITS = ["--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"]


@pytest.fixture(scope="module")
def pulled(built_image, registry, podman):
    """The image pushed to the tests' registry by sandbox, and pulled from there by podman."""
    name = f"{registry}/course/lab:test"
    sandbox("tag", built_image, name, check=True)
    try:
        sandbox("push", name, check=True, timeout=600)
    finally:
        sandbox("rmi", name)
    got = run(podman + ["pull", "--tls-verify=false", name], timeout=600)
    assert got.returncode == 0, got.stderr
    return name


@pytest.mark.slow
def test_the_course_image_runs_under_podman(pulled, podman):
    script = ("python -c 'import sandbox; print(sandbox.__version__)'; jupyter lab --version; "
              "jupyterhub-singleuser --version; busybox echo busybox-ok; id -un; "
              "ls $HOME/notebooks | head -1")
    ran = run(podman + ["run", "--rm", "--network", "none", *LIMITS, pulled, "sh", "-c", script])
    assert ran.returncode == 0, ran.stderr
    version, lab, hub, box, user, notebook = ran.stdout.split()
    from sandbox import __version__
    assert version == __version__
    assert re.fullmatch(r"4\.\d+\.\d+", lab), lab
    assert re.fullmatch(r"5\.\d+\.\d+", hub), hub  # z2jh 4.x's hub is JupyterHub 5
    assert (box, user, notebook) == ("busybox-ok", "jovyan", "00_setup_check.ipynb")


# What deploy/z2jh-values.yaml asks of Kubernetes, asked of podman: jovyan, no capability
# added, no_new_privs, no seccomp filter, no AppArmor profile, /proc unmasked.
AS_THE_VALUES_SAY = ["--security-opt", "seccomp=unconfined", "--security-opt",
                     "apparmor=unconfined", "--security-opt", "no-new-privileges"]
INNER_RUN = ["sandbox", "run", "--rm", "--network", "none", "busybox",
             "sh", "-c", "echo inside $(hostname) pid $$"]


@pytest.mark.slow
def test_a_course_container_runs_inside_the_image_as_the_values_allow(pulled, podman):
    """The course's own `sandbox run` inside the image (busybox from busybox-static)."""
    ran = run(podman + ["run", "--rm", "--network", "none", *LIMITS, *AS_THE_VALUES_SAY,
                        "--security-opt", "unmask=ALL", pulled, *INNER_RUN], timeout=300)
    assert ran.returncode == 0, ran.stderr
    assert re.fullmatch(r"inside \S+ pid 1\n", ran.stdout), ran.stdout


@pytest.mark.slow
def test_without_an_unmasked_proc_a_course_container_cannot_start(pulled, podman):
    """Why procMount: Unmasked is in the values: the kernel refuses the container's /proc."""
    ran = run(podman + ["run", "--rm", "--network", "none", *LIMITS, *AS_THE_VALUES_SAY,
                        pulled, *INNER_RUN], timeout=300)
    assert ran.returncode != 0
    assert "mount('proc'" in ran.stderr and "EPERM" in ran.stderr, ran.stderr
