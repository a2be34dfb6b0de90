"""Pull, push, login and logout against a real registry (Debian's docker-registry 2.8).

Everything runs on 127.0.0.1: this machine has no internet, so Docker Hub is
replaced by local registries (a mirror, a token server the tests serve).  Each
failure must be one sentence on stderr, and must leave no half-written blob,
no scratch file and no tag behind.
"""

from __future__ import annotations

import base64
import json
import math
import os
import re
import shutil
import stat
import subprocess
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import IS_ROOT, fails_with_one_sentence, sandbox

pytest.register_assert_rewrite("registry_fixture")  # imported here before pytest_plugins loads it
from registry_fixture import (StateRoot, free_port, put_manifest, remove_tree,  # noqa: E402
                              sha256, upload_blob)
from sandbox.content.registry.pull import this_platform
from sandbox.content.registry.push import push
from sandbox.content.store import Store

# the fixtures registry, auth_registry, front, fresh_root
pytest_plugins = ("registry_fixture",)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
PATH_ENV = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


# --- helpers ------------------------------------------------------------------------------
def need(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        pytest.skip(f"{tool} is not installed (Debian: apt-get install {tool})")
    return path


def pushed_digest(stdout: str) -> str:
    """``1: digest: sha256:… size: 422``, Docker's last line of a push."""
    return re.search(r"^\S+: digest: (sha256:[0-9a-f]{64}) size: \d+$", stdout, re.M).group(1)


def assert_nothing_partial(root: StateRoot, blobs_before: set[str], tags_before: list,
                           bad: str | None = None):
    """After a failed pull: no scratch file, no new tag, and every blob in the store is whole
    (it hashes to its name).  Blobs that did arrive whole before the failure (the config is
    fetched before the layers) may stay, as in Docker's content store; the bad one may not."""
    assert root.scratch() == [], root.scratch()
    assert root.tags() == tags_before
    for digest in root.blobs() - blobs_before:
        data = (root.path / "oci" / "blobs" / "sha256" / digest[7:]).read_bytes()
        assert sha256(data) == digest, f"{digest} is partial or corrupt"
    if bad:
        assert bad not in root.blobs()


@pytest.fixture
def scratch_dir():
    path = Path(tempfile.mkdtemp(prefix="sandbox-registry-scratch-"))
    yield path
    remove_tree(path)


@pytest.fixture(scope="module")
def publisher():
    """A state root of its own, with busybox built, that pushes what the tests pull: the
    suite's shared state root gets no registry tags."""
    root = StateRoot()
    root.sandbox("run", "--rm", "busybox", "true", check=True)
    yield root
    root.remove()


@pytest.fixture(scope="module")
def demo(registry, publisher):
    """busybox pushed as HOST/demo/busybox:1 and HOST/demo/other:1."""
    names = [f"{registry}/demo/busybox:1", f"{registry}/demo/other:1"]
    digests = []
    for name in names:
        publisher.sandbox("tag", "busybox", name, check=True)
        digests.append(pushed_digest(publisher.sandbox("push", name, check=True).stdout))
    assert digests[0] == digests[1]
    image = Store(publisher.path).get("busybox")
    return SimpleNamespace(name=names[0], other=names[1], digest=digests[0],
                           layer=image.layers[0]["digest"], config=image.id)


# --- the flow -----------------------------------------------------------------------
def test_push_then_skopeo_sees_the_image(registry, state_root):
    """sandbox run --rm busybox true && sandbox tag busybox HOST/me/bb:1 &&
    sandbox push HOST/me/bb:1 && skopeo inspect --tls-verify=false docker://HOST/me/bb:1"""
    skopeo = need("skopeo")
    name = f"{registry}/me/bb:1"
    sandbox("run", "--rm", "busybox", "true", check=True)
    sandbox("tag", "busybox", name, check=True)
    try:
        r = sandbox("push", name, check=True)
        image = Store(state_root).get("busybox")
        lines = r.stdout.splitlines()
        assert lines[0] == f"The push refers to repository [{registry}/me/bb]"
        assert f"{image.layers[0]['digest'][7:19]}: Pushed" in lines
        digest = pushed_digest(r.stdout)
        assert digest == image.manifest_digest
        again = sandbox("push", name, check=True).stdout
        assert f"{image.layers[0]['digest'][7:19]}: Layer already exists" in again
        seen = json.loads(subprocess.run(
            [skopeo, "inspect", "--tls-verify=false", f"docker://{name}"], check=True,
            capture_output=True, text=True, timeout=30).stdout)
        assert seen["Digest"] == digest
        assert seen["Layers"] == [image.layers[0]["digest"]]
        assert f"{seen['Os']}/{seen['Architecture']}" == this_platform()
    finally:
        sandbox("rmi", name)


def test_pull_prints_the_digest_then_skips_what_it_has(demo, fresh_root):
    short = demo.layer[7:19]
    r = fresh_root.sandbox("pull", demo.name, check=True)
    lines = r.stdout.splitlines()
    assert lines[0] == "1: Pulling from demo/busybox"
    assert f"{short}: Pull complete" in lines
    assert f"Digest: {demo.digest}" in lines
    assert f"Status: Downloaded newer image for {demo.name}" in lines
    assert lines[-1] == demo.name
    assert r.stderr == ""  # no progress bars when stderr is not a terminal

    again = fresh_root.sandbox("pull", demo.name, check=True).stdout.splitlines()
    assert f"{short}: Already exists" in again and f"{short}: Pull complete" not in again
    assert f"Status: Image is up to date for {demo.name}" in again

    # the same layers under a new name: nothing to download, but the tag is new
    other = fresh_root.sandbox("pull", demo.other, check=True).stdout.splitlines()
    assert f"{short}: Already exists" in other
    assert f"Status: Downloaded newer image for {demo.other}" in other
    by_digest = f"{demo.name.rsplit(':', 1)[0]}@{demo.digest}"
    pinned = fresh_root.sandbox("pull", by_digest, check=True).stdout.splitlines()
    assert f"Status: Image is up to date for {by_digest}" in pinned


def test_run_pulls_a_missing_image_by_itself(demo, fresh_root):
    r = fresh_root.sandbox("run", "--rm", demo.other, "echo", "ok", check=True)
    assert r.stdout == "ok\n"
    assert f"Unable to find image '{demo.other}' locally" in r.stderr
    assert demo.other.rsplit("/", 1)[0].split("/", 1)[1] in fresh_root.sandbox(
        "images", check=True).stdout


def test_a_mirror_serves_docker_hub_images(registry, publisher, fresh_root):
    """Docker Hub cannot be reached from here: a pull of ``ubuntu`` succeeds only if the
    mirror (SANDBOX_REGISTRY_MIRRORS, or registry-mirrors in daemon.json) served it."""
    publisher.sandbox("tag", "busybox", f"{registry}/library/ubuntu:latest", check=True)
    expected = pushed_digest(publisher.sandbox("push", f"{registry}/library/ubuntu:latest",
                                               check=True).stdout)
    r = fresh_root.sandbox("pull", "ubuntu", check=True,
                           env={"SANDBOX_REGISTRY_MIRRORS": f"http://{registry}/"})
    lines = r.stdout.splitlines()
    assert lines[:2] == ["Using default tag: latest", "latest: Pulling from library/ubuntu"]
    assert f"Digest: {expected}" in lines
    assert "Status: Downloaded newer image for ubuntu:latest" in lines
    assert lines[-1] == "docker.io/library/ubuntu:latest"
    assert json.loads(fresh_root.sandbox("image", "inspect", "ubuntu", check=True).stdout)[0][
        "RepoTags"] == ["ubuntu:latest"]

    (fresh_root.path / "daemon.json").write_text(
        json.dumps({"registry-mirrors": [f"http://{registry}"]}))
    again = fresh_root.sandbox("pull", "docker.io/library/ubuntu:latest", check=True).stdout
    assert "Status: Image is up to date for ubuntu:latest" in again


# --- other tools read what sandbox writes, and the other way round --------------------------
def _umoci(*args, cwd: Path):
    subprocess.run(["umoci", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


def test_an_image_built_by_umoci_and_pushed_by_skopeo_runs(registry, fresh_root, scratch_dir):
    skopeo, _ = need("skopeo"), need("umoci")
    from sandbox.content.busybox import find_busybox
    rootless = [] if IS_ROOT else ["--rootless"]
    _umoci("init", "--layout", "layout", cwd=scratch_dir)
    _umoci("new", "--image", "layout:t", cwd=scratch_dir)
    _umoci("unpack", *rootless, "--image", "layout:t", "bundle", cwd=scratch_dir)
    rootfs = scratch_dir / "bundle" / "rootfs"
    (rootfs / "bin").mkdir()
    shutil.copy(find_busybox(), rootfs / "bin" / "busybox")
    os.chmod(rootfs / "bin" / "busybox", 0o755)
    (rootfs / "hello").write_text("made by umoci\n")
    _umoci("repack", "--image", "layout:t", "bundle", cwd=scratch_dir)
    _umoci("config", "--image", "layout:t", "--config.cmd", "/bin/busybox",
           "--config.cmd", "cat", "--config.cmd", "/hello", cwd=scratch_dir)
    name = f"{registry}/umoci/img:1"
    subprocess.run([skopeo, "copy", "--dest-tls-verify=false", "oci:layout:t",
                    f"docker://{name}"], cwd=scratch_dir, check=True, capture_output=True,
                   timeout=60)

    r = fresh_root.sandbox("run", "--rm", name, check=True)
    assert r.stdout == "made by umoci\n"


def test_an_image_pushed_by_sandbox_is_unpacked_by_skopeo_and_umoci(demo, scratch_dir):
    skopeo, _ = need("skopeo"), need("umoci")
    from sandbox.content.busybox import find_busybox
    subprocess.run([skopeo, "copy", "--src-tls-verify=false", f"docker://{demo.name}",
                    f"oci:{scratch_dir}/layout:t"], check=True, capture_output=True, timeout=60)
    index = json.loads((scratch_dir / "layout" / "index.json").read_text())
    assert index["manifests"][0]["digest"] == demo.digest  # skopeo kept the bytes as pushed
    _umoci("unpack", *([] if IS_ROOT else ["--rootless"]), "--image", "layout:t", "bundle",
           cwd=scratch_dir)
    rootfs = scratch_dir / "bundle" / "rootfs"
    assert (rootfs / "bin" / "busybox").read_bytes() == find_busybox().read_bytes()
    assert os.path.lexists(rootfs / "bin" / "sh")


# --- chunked upload -------------------------------------------------------------------------
def test_a_layer_larger_than_the_chunk_size_goes_up_in_chunks(registry, publisher, front,
                                                              fresh_root):
    container = "t-registry-chunked-upload"
    name = f"{front.host}/chunked/img:1"
    publisher.sandbox("run", "--name", container, "busybox", "sh", "-c",
                      "head -c 300000 /dev/urandom > /random", check=True)
    try:
        publisher.sandbox("commit", container, name, check=True)
    finally:
        publisher.sandbox("rm", container, check=True)
    store = Store(publisher.path)
    image = store.get(name)
    chunk = 64 * 1024
    assert image.layers[-1]["size"] > 4 * chunk
    lines = []
    digest = push(publisher.path, store, name, log=lines.append, chunk_size=chunk)
    assert digest == image.manifest_digest and lines[-1].startswith("1: digest: ")

    patches = [path for method, path, _ in front.seen if method == "PATCH"]
    assert len(patches) >= sum(math.ceil(layer["size"] / chunk) for layer in image.layers)

    pulled = f"{registry}/chunked/img:1"  # the same storage, straight from the registry
    r = fresh_root.sandbox("pull", pulled, check=True)
    assert f"Digest: {digest}" in r.stdout.splitlines()
    for layer in image.layers:
        assert (fresh_root.path / "oci/blobs/sha256" / layer["digest"][7:]).read_bytes() == \
            store.blob_path(layer["digest"]).read_bytes()
    assert fresh_root.sandbox("run", "--rm", pulled, "wc", "-c", "/random",
                              check=True).stdout.split() == ["300000", "/random"]


# --- basic authentication (htpasswd) --------------------------------------------------------
def test_login_push_pull_logout_with_a_password(auth_registry, fresh_root):
    host, user, password = auth_registry
    name = f"{host}/me/bb:1"
    fresh_root.sandbox("run", "--rm", "busybox", "true", check=True)
    fresh_root.sandbox("tag", "busybox", name, check=True)
    auth_file = fresh_root.path / "auth.json"

    fails_with_one_sentence(fresh_root.sandbox("push", name), f"sandbox login {host}")
    fails_with_one_sentence(fresh_root.sandbox("pull", name), f"sandbox login {host}")
    wrong = fresh_root.sandbox("login", "-u", user, "-p", "WRONG", host)
    fails_with_one_sentence(wrong, "refused", repr(user))
    assert "Login Succeeded" not in wrong.stdout and not auth_file.exists()

    r = fresh_root.sandbox("login", "-u", user, "-p", password, host, check=True)
    assert r.stdout == "Login Succeeded\n"
    assert stat.S_IMODE(auth_file.stat().st_mode) == 0o600
    stored = json.loads(auth_file.read_text())["auths"][host]["auth"]
    assert base64.b64decode(stored).decode() == f"{user}:{password}"
    assert pushed_digest(fresh_root.sandbox("push", name, check=True).stdout) == \
        Store(fresh_root.path).get("busybox").manifest_digest
    assert "Status: Image is up to date" in fresh_root.sandbox("pull", name, check=True).stdout

    assert fresh_root.sandbox("logout", host, check=True).stdout == \
        f"Removing login credentials for {host}\n"
    assert host not in json.loads(auth_file.read_text())["auths"]
    fails_with_one_sentence(fresh_root.sandbox("pull", name), f"sandbox login {host}")
    assert fresh_root.sandbox("logout", host).stdout == f"Not logged in to {host}\n"

    # Docker also takes a URL, and the password on stdin
    r = fresh_root.sandbox("login", "-u", user, "--password-stdin", f"http://{host}/",
                           input=password + "\n", check=True)
    assert r.stdout == "Login Succeeded\n"
    assert fresh_root.sandbox("logout", f"http://{host}", check=True).stdout.startswith(
        "Removing login credentials for ")
    assert host not in json.loads(auth_file.read_text())["auths"]


# --- bearer tokens (Docker Hub's flow) ------------------------------------------------------
def test_bearer_tokens_as_docker_hub_asks_for_them(demo, front, fresh_root):
    """Docker Hub's dance, with a token server this test serves (Docker Hub is unreachable):
    401 + ``WWW-Authenticate: Bearer realm=…,service=…,scope=…`` → GET realm (basic auth)
    → ``{"token": …}`` → the same request with ``Authorization: Bearer …``.  The front
    answers 401 to any request without a token it issued, and forwards the others to
    the real docker-registry behind it."""
    front.require_bearer({"learner": "s3cret"})
    host = front.host
    name = f"{host}/demo/busybox:1"
    fails_with_one_sentence(fresh_root.sandbox("pull", name), "anonymous",
                            f"sandbox login {host}")
    fails_with_one_sentence(fresh_root.sandbox("login", "-u", "learner", "-p", "nope", host),
                            f"http://{host}/token", "refused", "'learner'")
    assert fresh_root.sandbox("login", "-u", "learner", "-p", "s3cret", host,
                              check=True).stdout == "Login Succeeded\n"
    assert front.token_requests[-1] == {"service": "sandbox-test", "account": "learner",
                                        "user": "learner"}  # /v2/ asks for no scope

    front.seen.clear()
    front.token_requests.clear()
    r = fresh_root.sandbox("pull", name, check=True)
    assert f"Digest: {demo.digest}" in r.stdout
    manifest = "/v2/demo/busybox/manifests/1"
    assert front.seen[0] == ("GET", manifest, "")  # no token yet → 401
    assert front.token_requests == [{"service": "sandbox-test", "account": "learner",
                                     "user": "learner",
                                     "scope": "repository:demo/busybox:pull"}]
    assert front.seen[2][:2] == ("GET", manifest) and front.seen[2][2].startswith("Bearer ")

    fresh_root.sandbox("run", "--rm", "busybox", "true", check=True)
    fresh_root.sandbox("tag", "busybox", f"{host}/me/tokened:1", check=True)
    fresh_root.sandbox("push", f"{host}/me/tokened:1", check=True)
    assert "repository:me/tokened:pull,push" in [t.get("scope") for t in front.token_requests]
    fresh_root.sandbox("logout", host, check=True)


@pytest.mark.parametrize("status", [401, 403])
def test_a_token_server_that_refuses_says_so_in_one_sentence(front, fresh_root, status):
    front.require_bearer({"learner": "s3cret"}, refuse_with=status)
    r = fresh_root.sandbox("login", "-u", "learner", "-p", "wrong", front.host)
    fails_with_one_sentence(r, f"the token server http://{front.host}/token refused",
                            f"status {status}")
    assert not (fresh_root.path / "auth.json").exists()


# --- faults ---------------------------------------------------------------------------------
def test_an_unknown_repository_or_tag(registry, demo, fresh_root):
    for name in (f"{registry}/demo/busybox:nope", f"{registry}/nobody/here:1"):
        fails_with_one_sentence(fresh_root.sandbox("pull", name), f"manifest for {name} not found")
    assert fresh_root.blobs() == set() and fresh_root.scratch() == [] and fresh_root.tags() == []
    # run: Docker's note first, then why the pull failed, in one sentence
    r = fresh_root.sandbox("run", "--rm", f"{registry}/nobody/here:1")
    assert r.returncode != 0
    note, error = r.stderr.splitlines()
    assert note == f"Unable to find image '{registry}/nobody/here:1' locally"
    assert error.startswith("sandbox: ") and \
        f"manifest for {registry}/nobody/here:1 not found" in error


def test_a_layer_whose_bytes_do_not_match_its_digest(demo, front, fresh_root):
    def corrupt(handler):
        if handler.command == "GET" and handler.path.endswith(f"/blobs/{demo.layer}"):
            status, headers, body = handler.forward()
            body = bytearray(body)
            body[len(body) // 2] ^= 0xFF
            handler.reply(status, headers, bytes(body))
            return True
    front.hook = corrupt
    r = fresh_root.sandbox("pull", f"{front.host}/demo/busybox:1")
    fails_with_one_sentence(r, f"the blob {demo.layer}", "corrupt", f"http://{front.host}")
    assert_nothing_partial(fresh_root, set(), [], demo.layer)


def test_a_layer_the_registry_does_not_have(demo, front, fresh_root):
    def lost(handler):
        if handler.path.endswith(f"/blobs/{demo.layer}"):
            handler.reply_json(404, {"errors": [{"code": "BLOB_UNKNOWN",
                                                 "message": "blob unknown to registry"}]})
            return True
    front.hook = lost
    r = fresh_root.sandbox("pull", f"{front.host}/demo/busybox:1")
    fails_with_one_sentence(r, f"names the blob {demo.layer}", "demo/busybox", "BLOB_UNKNOWN")
    assert_nothing_partial(fresh_root, set(), [], demo.layer)


def _dropping(layer: str, times: int):
    """A hook that sends half of the layer, then hangs up: the first ``times`` times."""
    calls = []

    def drop(handler):
        if handler.command == "GET" and handler.path.endswith(f"/blobs/{layer}"):
            calls.append(1)
            if len(calls) <= times:
                status, headers, body = handler.forward()
                handler.reply(status, headers, body, cut=len(body) // 2)
                return True
    drop.calls = calls
    return drop


def test_a_connection_that_drops_once_is_retried(demo, front, fresh_root):
    front.hook = _dropping(demo.layer, times=1)
    r = fresh_root.sandbox("pull", f"{front.host}/demo/busybox:1", check=True)
    assert f"Digest: {demo.digest}" in r.stdout
    assert len(front.hook.calls) == 2
    assert fresh_root.scratch() == [] and demo.layer in fresh_root.blobs()


def test_a_connection_that_always_drops_fails_cleanly(demo, front, fresh_root):
    front.hook = _dropping(demo.layer, times=99)
    r = fresh_root.sandbox("pull", f"{front.host}/demo/busybox:1")
    fails_with_one_sentence(r, "failed after 3 attempts", "connection", demo.layer[:19])
    assert len(front.hook.calls) == 3
    assert_nothing_partial(fresh_root, set(), [], demo.layer)


@pytest.mark.parametrize("status", [500, 404, 200])
def test_an_html_page_where_json_was_expected(demo, front, fresh_root, status):
    """A proxy or captive portal answers with its own page instead of the registry's JSON."""
    def html(handler):
        if "/manifests/" in handler.path:
            handler.reply(status, [("Content-Type", "text/html; charset=utf-8")],
                          b"<!DOCTYPE html>\n<html><body><h1>Sign in to the Wi-Fi</h1>\n"
                          b"</body></html>\n")
            return True
    front.hook = html
    r = fresh_root.sandbox("pull", f"{front.host}/demo/busybox:1")
    fails_with_one_sentence(r, "HTML page", f"http://{front.host}", "JSON" if status != 200
                            else "manifest")
    assert_nothing_partial(fresh_root, set(), [])
    assert fresh_root.blobs() == set()


def test_a_registry_that_is_down(fresh_root):
    host = f"127.0.0.1:{free_port()}"  # nothing listens there
    for verb in ("pull", "push"):
        if verb == "push":
            fresh_root.sandbox("run", "--rm", "busybox", "true", check=True)
            fresh_root.sandbox("tag", "busybox", f"{host}/x:1", check=True)
        fails_with_one_sentence(fresh_root.sandbox(verb, f"{host}/x:1"),
                                f"cannot reach the registry at http://{host}")
    assert fresh_root.scratch() == []


# --- an index of platforms ------------------------------------------------------------------
def test_an_index_offers_one_image_per_platform(registry, publisher, fresh_root):
    here = this_platform().split("/")[1]
    there = "arm64" if here != "arm64" else "amd64"
    busybox = Store(publisher.path).get("busybox")
    layer_bytes = Store(publisher.path).read_blob(busybox.layers[0]["digest"])
    layer = upload_blob(registry, "multi", layer_bytes, busybox.layers[0]["mediaType"])
    entries, configs = [], {}
    for arch in (here, there):
        config = json.dumps({"architecture": arch, "os": "linux",
                             "config": {"Env": [PATH_ENV], "Cmd": ["sh"]},
                             "rootfs": {"type": "layers", "diff_ids": busybox.diff_ids}}).encode()
        configs[arch] = upload_blob(registry, "multi", config, OCI_CONFIG)["digest"]
        manifest = put_manifest(registry, "multi", {
            "schemaVersion": 2, "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": configs[arch], "size": len(config)},
            "layers": [layer]})
        entries.append({**manifest, "platform": {"os": "linux", "architecture": arch}})
    index = put_manifest(registry, "multi", {"schemaVersion": 2, "mediaType": OCI_INDEX,
                                             "manifests": entries}, tag="1")
    name = f"{registry}/multi:1"

    def inspect():
        found = json.loads(fresh_root.sandbox("image", "inspect", name, check=True).stdout)[0]
        return found["Architecture"], found["Id"]

    r = fresh_root.sandbox("pull", name, check=True)
    assert f"Digest: {index['digest']}" in r.stdout  # what the tag points at, as Docker says
    assert inspect() == (here, configs[here])
    assert fresh_root.sandbox("run", "--rm", name, "echo", "ok", check=True).stdout == "ok\n"

    r = fresh_root.sandbox("pull", "--platform", f"linux/{there}", name, check=True)
    assert f"Status: Downloaded newer image for {name}" in r.stdout
    assert inspect() == (there, configs[there])

    tags = fresh_root.tags()
    r = fresh_root.sandbox("pull", "--platform", "linux/s390x", name)
    fails_with_one_sentence(r, f"{name} has no image for linux/s390x; it offers "
                               f"linux/{here}, linux/{there}")
    assert fresh_root.tags() == tags and fresh_root.scratch() == []
