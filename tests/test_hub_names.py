"""Docker Hub's three names (docker.io, index.docker.io, registry.hub.docker.com) are one
registry: one image in the store, one mirror serving them all, one login.

This machine has no internet: the tests' real registry plays the Docker Hub mirror, so a
pull that succeeds was served by the mirror.
"""

from __future__ import annotations

import base64
import json

import pytest

pytest.register_assert_rewrite("registry_fixture")
from conftest import sandbox  # noqa: E402
from registry_fixture import StateRoot  # noqa: E402
from sandbox.content.registry import server_name  # noqa: E402
from sandbox.content.registry.config import credentials, credentials_for  # noqa: E402

pytest_plugins = ("registry_fixture",)

SPELLINGS = ["registry.hub.docker.com/library/hubname", "index.docker.io/hubname",
             "docker.io/library/hubname", "hubname"]


@pytest.fixture(scope="module")
def on_the_mirror(registry):
    """busybox pushed to the test registry as library/hubname:latest."""
    publisher = StateRoot()
    publisher.sandbox("run", "--rm", "busybox", "true", check=True)
    publisher.sandbox("tag", "busybox", f"{registry}/library/hubname:latest", check=True)
    publisher.sandbox("push", f"{registry}/library/hubname:latest", check=True)
    yield registry
    publisher.remove()


@pytest.mark.parametrize("spelling", SPELLINGS)
def test_every_name_of_docker_hub_pulls_from_its_mirror_into_one_image(on_the_mirror,
                                                                       fresh_root, spelling):
    (fresh_root.path / "daemon.json").write_text(
        json.dumps({"registry-mirrors": [f"http://{on_the_mirror}"]}))
    r = fresh_root.sandbox("pull", spelling, check=True)
    lines = r.stdout.splitlines()
    assert "latest: Pulling from library/hubname" in lines
    assert lines[-1] == "docker.io/library/hubname:latest"
    listed = fresh_root.sandbox("images", check=True).stdout.splitlines()
    assert [line.split()[:2] for line in listed[1:]] == [["hubname", "latest"]]
    # the other spellings now name the image already here
    for other in SPELLINGS:
        again = fresh_root.sandbox("pull", other, check=True).stdout
        assert "Status: Image is up to date for hubname:latest" in again
        assert fresh_root.sandbox("image", "inspect", other, check=True).returncode == 0


def test_run_by_another_name_of_docker_hub_uses_the_mirror(on_the_mirror, fresh_root):
    r = fresh_root.sandbox("run", "--rm", "registry.hub.docker.com/library/hubname", "echo",
                           "ok", check=True,
                           env={"SANDBOX_REGISTRY_MIRRORS": f"http://{on_the_mirror}"})
    assert r.stdout == "ok\n"


@pytest.mark.parametrize("server", ["docker.io", "index.docker.io", "registry.hub.docker.com",
                                    "https://index.docker.io/v1/", "registry-1.docker.io"])
def test_login_names_docker_hub_one_way(server):
    assert server_name(server) == "docker.io"


def test_one_login_for_every_name(tmp_path):
    """``logout registry.hub.docker.com`` forgets what ``login`` stored for docker.io, and a
    config.json copied from Docker (its key is https://index.docker.io/v1/) is read too."""
    auth = base64.b64encode(b"me:secret").decode()
    (tmp_path / "auth.json").write_text(json.dumps(
        {"auths": {"https://index.docker.io/v1/": {"auth": auth}}}))
    assert credentials(tmp_path, "docker.io") == ("me", "secret")
    assert credentials_for(tmp_path, "docker.io", "https://registry-1.docker.io") == \
        ("me", "secret")
    # a mirror never gets Docker Hub's password
    assert credentials_for(tmp_path, "docker.io", "http://127.0.0.1:5000") is None
    (tmp_path / "auth.json").write_text(json.dumps({"auths": {"docker.io": {"auth": auth}}}))
    out = sandbox("logout", "registry.hub.docker.com", check=True,
                  env={"SANDBOX_ROOT": str(tmp_path)}).stdout
    assert out == "Removing login credentials for docker.io\n"
    assert credentials(tmp_path, "docker.io") is None
