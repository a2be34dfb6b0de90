"""Shared fixtures: a state root for the whole run, and a way to call the `sandbox` command.

Container tests run for real (namespaces, overlayfs, pivot_root).  They run
as root and again, in CI, as an unprivileged user; tests that only make sense
for one of the two say so with the ``root_only`` / ``rootless_only`` marks.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

# `pytest tests/...` run by hand gets a state root of its own, removed at the end
# (./course test passes one, and removes it itself).
MADE_STATE_ROOT = None
if not os.environ.get("SANDBOX_ROOT"):
    MADE_STATE_ROOT = os.environ["SANDBOX_ROOT"] = tempfile.mkdtemp(prefix="sandbox-pytest-")

IS_ROOT = os.geteuid() == 0
root_only = pytest.mark.skipif(not IS_ROOT, reason="needs root (runs in the root pass)")
rootless_only = pytest.mark.skipif(IS_ROOT, reason="rootless behaviour (runs in the rootless pass)")


def sandbox(*args, input=None, timeout=60, check=False, env=None) -> subprocess.CompletedProcess:
    """Run the `sandbox` command line as a learner would, capturing its output."""
    result = subprocess.run([sys.executable, "-m", "sandbox", *args], input=input,
                            capture_output=True, text=True, timeout=timeout,
                            env=None if env is None else {**os.environ, **env})
    if check and result.returncode != 0:
        raise AssertionError(f"sandbox {' '.join(args)} exited {result.returncode}:\n"
                             f"{result.stdout}\n{result.stderr}")
    return result


def fails_with_one_sentence(r, *needles):
    """Non-zero exit, and exactly one line on stderr: ``sandbox: <what went wrong>``."""
    assert r.returncode != 0, (r.returncode, r.stdout, r.stderr)
    lines = r.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("sandbox: "), r.stderr
    for needle in needles:
        assert needle in lines[0], r.stderr


def wait_for(predicate, timeout: float = 10, step: float = 0.02):
    """Poll until ``predicate()`` is truthy or ``timeout`` seconds passed; its last value."""
    import time
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(step)


def errno_of(call, *args) -> int:
    """``call(*args)``'s errno, or 0 if it succeeded: for tables of expected refusals."""
    try:
        call(*args)
        return 0
    except OSError as err:
        return err.errno


@pytest.fixture(scope="session")
def state_root() -> Path:
    return Path(os.environ["SANDBOX_ROOT"])


@pytest.fixture(scope="session", autouse=True)
def busybox_image(state_root):
    """Build the base image once for the whole run."""
    sandbox("run", "--rm", "busybox", "true", check=True)


@pytest.fixture
def name(request) -> str:
    """A container name unique to the test."""
    import re
    # Also a valid image name (tests commit containers under their own name):
    # lowercase components that do not end with a separator.
    cleaned = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower())
    return ("t-" + cleaned)[:40].strip("-")


# Container cgroups of this run that were empty after some test, and which test that was:
# the session ends with the ones still there (tests/conftest.py, pytest_sessionfinish).
EMPTY_CGROUPS: dict[str, str] = {}


def empty_container_cgroups() -> set[str]:
    """``sandbox/<container id>`` cgroups of this user with no process in them, below this
    process's own cgroup in each hierarchy (where the containers it starts get theirs)."""
    from sandbox.isolation import cgroups
    found = set()
    try:
        paths = cgroups.container_cgroups()
    except OSError:
        return found
    for child in paths:
        try:
            if os.stat(child).st_uid != os.geteuid():
                continue  # another user's (the other pass, run alongside)
            if not open(os.path.join(child, "cgroup.procs")).read().strip():
                found.add(child)
        except OSError:
            continue
    return found


@pytest.fixture(autouse=True)
def no_cgroup_left_unnamed(request):
    """Note which test was running when a container cgroup first stood empty."""
    before = empty_container_cgroups()
    yield
    for path in empty_container_cgroups() - before:
        EMPTY_CGROUPS.setdefault(path, request.node.nodeid)


def pytest_sessionfinish(session, exitstatus):
    """Fail the run if a container cgroup it saw standing empty is still there (after the
    moment a removal takes), naming the test after which it first stood empty."""
    import time
    deadline = time.monotonic() + 3
    left = {p: t for p, t in EMPTY_CGROUPS.items() if os.path.isdir(p)}
    while left and time.monotonic() < deadline:
        time.sleep(0.2)
        left = {p: t for p, t in left.items() if os.path.isdir(p)}
    if left:
        lines = "\n".join(f"  {p}  (empty since {t})" for p, t in sorted(left.items()))
        print(f"\ncontainer cgroups left behind by this run:\n{lines}")
        session.exitstatus = 1
    _remove_made_state_root()


def _remove_made_state_root() -> None:
    """The state root made above, unless something is still mounted below it (then it stays,
    to be looked at: removing through a mount would remove what is mounted)."""
    if not MADE_STATE_ROOT or not os.path.isdir(MADE_STATE_ROOT):
        return
    from sandbox.checks import mount_table
    from sandbox.paths import rmtree
    with open("/proc/self/mountinfo") as f:
        if any(point.startswith(MADE_STATE_ROOT + "/") for point, _ in mount_table(f.read())):
            print(f"\nmounts are left below {MADE_STATE_ROOT}: it stays")
            return
    try:
        rmtree(MADE_STATE_ROOT)
    except OSError as err:
        print(f"\ncould not remove {MADE_STATE_ROOT}: {err}")


@pytest.fixture(autouse=True)
def no_container_left(state_root):
    """After each test: no container of this run is still running, and the test removed what it made."""
    yield
    from sandbox.engine.records import all_containers
    left = [c for c in all_containers(state_root)]
    for c in left:
        sandbox("rm", "-f", c.id)
    assert not left, f"the test left containers behind: {[c.name for c in left]}"
