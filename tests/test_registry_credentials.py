"""Registry credentials go only where they belong (go-containerregistry's rule).

An ``Authorization`` header, Basic or Bearer, goes to the host it was issued for and
nowhere else: not to blob storage the registry redirects to, not to an upload
Location on another host, not to a token server or a mirror in plain HTTP on another
machine; a Docker Hub mirror gets the credentials stored for its own host, never
Docker Hub's.  The registry's redirects to itself keep the header.

Real programs only: Debian's docker-registry on 127.0.0.1, a ``Front`` before it,
and ``Elsewhere``, a recording server on 127.0.0.2 that plays blob storage.  Every
``sandbox`` command here runs under a guard, an audit hook (PEP 578) that ends it
with status 97 before it looks up or connects to any host that is not this machine:
so names like ``mirror.invalid`` prove that a refusal came before the network.
"""

from __future__ import annotations

import base64
import json
import os
import re
import ssl
import subprocess
import sys
import threading
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import SimpleNamespace

import pytest

from conftest import fails_with_one_sentence

pytest.register_assert_rewrite("registry_fixture")  # imported here before pytest_plugins loads it
from registry_fixture import Elsewhere, Front, StateRoot, forward_as  # noqa: E402
from sandbox.content.registry.push import push  # noqa: E402
from sandbox.content.store import Store  # noqa: E402

# the fixtures registry, auth_registry, front, fresh_root
pytest_plugins = ("registry_fixture",)

REPO = Path(__file__).resolve().parent.parent
OFFLINE = 97  # the guard's exit status: something tried to reach another machine
INSECURE_FIX = '"insecure-registries" in daemon.json or SANDBOX_INSECURE_REGISTRIES'
GUARD = r'''
import ipaddress, os, sys

def _here(host):
    if isinstance(host, bytes):
        host = host.decode()
    if host is None or host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False

def _guard(event, args):
    if event in ("socket.getaddrinfo", "socket.gethostbyname", "socket.gethostbyname_ex",
                 "socket.gethostbyaddr"):
        host = args[0]
    elif event == "socket.connect" and isinstance(args[1], tuple) and isinstance(args[1][0], str):
        host = args[1][0]
    else:
        return
    if not _here(host):
        os.write(2, f"NETWORK: {event} {host}\n".encode())
        os._exit(97)

sys.addaudithook(_guard)
'''
RUN_SANDBOX = 'import runpy\nrunpy.run_module("sandbox", run_name="__main__", alter_sys=True)\n'


# --- helpers ------------------------------------------------------------------------------
def guarded(root: StateRoot, *args, env=None, code: str = RUN_SANDBOX, input=None):
    """``sandbox ARGS`` (or ``code``) in ``root``, under the guard: exit 97 at the first
    lookup of, or connection to, a host that is not this machine."""
    return subprocess.run([sys.executable, "-c", GUARD + code, *args], input=input,
                          capture_output=True, text=True, timeout=120, cwd=REPO,
                          env={**os.environ, **root.env, **(env or {})})


def offline(root: StateRoot, *args, env=None, check=False, code: str = RUN_SANDBOX):
    """``guarded``, asserting that nothing tried to leave this machine."""
    r = guarded(root, *args, env=env, code=code)
    assert r.returncode != OFFLINE, r.stderr
    if check and r.returncode != 0:
        raise AssertionError(f"{' '.join(args)} exited {r.returncode}:\n{r.stdout}\n{r.stderr}")
    return r


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def store_credentials(root: StateRoot, host: str, user: str, password: str) -> None:
    """Add credentials for a host (``docker.io``, ``127.0.0.1:5000``) to the root's
    auth.json, as ``sandbox login`` writes them."""
    path = root.path / "auth.json"
    data = json.loads(path.read_text()) if path.exists() else {"auths": {}}
    data["auths"][host] = {"auth": basic(user, password)[6:]}
    path.write_text(json.dumps(data))


def pushed_digest(stdout: str) -> str:
    return re.search(r"^\S+: digest: (sha256:[0-9a-f]{64}) size: \d+$", stdout, re.M).group(1)


def blob_path(path: str) -> bool:
    return "/blobs/sha256:" in urllib.parse.urlsplit(path).path


@pytest.fixture(scope="module")
def publisher():
    """A state root of its own with busybox built, which pushes what the tests pull."""
    root = StateRoot()
    root.sandbox("run", "--rm", "busybox", "true", check=True)
    yield root
    root.remove()


@pytest.fixture(params=["basic", "bearer"])
def protected(request, publisher):
    """A registry that wants credentials, busybox at ``creds/bb:1`` behind a Front:

    basic   the real registry's htpasswd checks the password (the front passes it on);
    bearer  the front asks for tokens as Docker Hub does, before an open registry.

    ``forward(handler)`` answers as that registry would; ``storage_auth`` is what blob
    storage uses to reach the registry's data (its own access, not the learner's).
    """
    user, password = "learner", "s3cret"
    if request.param == "basic":
        upstream, user, password = request.getfixturevalue("auth_registry")
        publisher.sandbox("login", "-u", user, "-p", password, upstream, check=True)
        storage_auth = basic(user, password)

        def forward(handler):
            return forward_as(handler, upstream, handler.headers.get("Authorization"))
    else:
        upstream, storage_auth = request.getfixturevalue("registry"), None

        def forward(handler):
            return handler.forward()
    publisher.sandbox("tag", "busybox", f"{upstream}/creds/bb:1", check=True)
    digest = pushed_digest(publisher.sandbox("push", f"{upstream}/creds/bb:1", check=True).stdout)
    image = Store(publisher.path).get("busybox")
    front = Front(upstream)
    if request.param == "bearer":
        front.require_bearer({user: password})
    yield SimpleNamespace(front=front, upstream=upstream, user=user, password=password,
                          scheme=request.param, forward=forward, storage_auth=storage_auth,
                          name=f"{front.host}/creds/bb:1", digest=digest,
                          blobs={image.layers[0]["digest"], image.id})
    front.close()


# --- a blob served from another host ------------------------------------------------------
def test_a_redirect_to_another_host_carries_no_credentials(protected, fresh_root):
    """The registry sends blob GETs to storage on another host (307), as Docker Hub sends
    them to its CDN, and redirects manifest GETs to itself once: the storage sees no
    Authorization, the registry sees it on every request, the redirect to itself too."""
    p = protected
    storage = Elsewhere(p.upstream, p.storage_auth)

    def redirect(handler):
        authorized = bool(handler.headers.get("Authorization"))
        if authorized and handler.command == "GET" and blob_path(handler.path):
            handler.reply(307, [("Location", f"http://{storage.host}{handler.path}")], b"")
        elif authorized and "/manifests/" in handler.path and "hop=" not in handler.path:
            handler.reply(307, [("Location", handler.path + "?hop=1")], b"")  # to itself
        else:
            handler.reply(*p.forward(handler))
        return True
    p.front.hook = redirect
    try:
        offline(fresh_root, "login", "-u", p.user, "-p", p.password, p.front.host, check=True)
        r = offline(fresh_root, "pull", p.name, check=True)
    finally:
        storage.close()
    assert f"Digest: {p.digest}" in r.stdout.splitlines()
    assert p.blobs <= fresh_root.blobs()

    fetched = {path.rsplit("/", 1)[1] for _, path, _ in storage.seen}
    assert fetched == p.blobs  # every blob came from the storage...
    assert [auth for *_, auth in storage.seen] == [""] * len(storage.seen)  # ...without a secret
    at_registry = [auth for _, path, auth in p.front.seen if blob_path(path)]
    assert at_registry and all(auth for auth in at_registry)
    to_itself = [auth for _, path, auth in p.front.seen if path.endswith("?hop=1")]
    assert to_itself and all(auth.startswith(p.scheme.title()) for auth in to_itself)


# --- an upload Location on another host ---------------------------------------------------
def test_an_upload_location_on_another_host_gets_no_credentials(protected, fresh_root):
    """The registry answers the upload POST with a Location on blob storage; the storage
    records what it gets and passes it on to the registry with its own access."""
    p = protected
    storage = Elsewhere(p.upstream, p.storage_auth)

    def elsewhere(location: str) -> str:
        absolute = urllib.parse.urljoin(f"http://{p.front.host}/", location)
        return urllib.parse.urlsplit(absolute)._replace(netloc=storage.host).geturl()

    def move_uploads(handler):
        status, headers, body = p.forward(handler)
        if handler.command == "POST" and status == 202:
            headers = [(k, elsewhere(v) if k.lower() == "location" else v) for k, v in headers]
        handler.reply(status, headers, body)
        return True
    p.front.hook = move_uploads
    fresh_root.sandbox("run", "--rm", "busybox", "true", check=True)
    store = Store(fresh_root.path)
    try:
        offline(fresh_root, "login", "-u", p.user, "-p", p.password, p.front.host, check=True)
        name = f"{p.front.host}/creds/up:1"
        fresh_root.sandbox("tag", "busybox", name, check=True)
        r = offline(fresh_root, "push", name, check=True)
        assert pushed_digest(r.stdout) == store.get("busybox").manifest_digest
        puts = [auth for method, path, auth in storage.seen if method == "PUT"]
        assert len(puts) == 2  # the layer and the config, each in one PUT

        # in chunks: each PATCH answered with the next Location, on the storage again
        chunked = f"{p.front.host}/creds/chunked:1"
        fresh_root.sandbox("tag", "busybox", chunked, check=True)
        lines = []
        assert push(fresh_root.path, store, chunked, log=lines.append, chunk_size=64 * 1024) \
            == store.get("busybox").manifest_digest
    finally:
        storage.close()
    patches = [path for method, path, _ in storage.seen if method == "PATCH"]
    assert len(patches) > 2
    assert [auth for *_, auth in storage.seen] == [""] * len(storage.seen)
    posts = [auth for method, _, auth in p.front.seen if method == "POST"]
    assert posts and all(auth.startswith(p.scheme.title()) for auth in posts)


# --- a token server in plain HTTP on another machine --------------------------------------
def test_a_plain_http_token_server_elsewhere_is_refused_before_any_connection(front,
                                                                              fresh_root):
    realm = "http://token.invalid/token"

    def challenge(handler):
        handler.reply_json(401, {"errors": [{"code": "UNAUTHORIZED", "message": "log in"}]},
                           [("WWW-Authenticate", f'Bearer realm="{realm}",service="x"')])
        return True
    front.hook = challenge
    r = offline(fresh_root, "login", "-u", "learner", "-p", "s3cret", front.host)
    fails_with_one_sentence(r, f"asks for a token from {realm}", "refused",
                            f"add token.invalid to {INSECURE_FIX}")
    assert not (fresh_root.path / "auth.json").exists()

    store_credentials(fresh_root, front.host, "learner", "s3cret")  # stored: still sent nowhere
    r = offline(fresh_root, "pull", f"{front.host}/creds/bb:1")
    fails_with_one_sentence(r, realm, "refused")
    assert front.seen and [auth for *_, auth in front.seen] == [""] * len(front.seen)


# --- mirrors ------------------------------------------------------------------------------
@pytest.mark.parametrize("scheme", ["basic", "bearer"])
def test_a_mirror_gets_its_own_credentials_never_docker_hubs(registry, publisher, scheme):
    """Two mirrors: the first wants a password, the second is open.  With only Docker
    Hub's credentials stored, the first is asked with none and the second serves; with
    the first mirror's own stored too, the first gets those and serves."""
    publisher.sandbox("tag", "busybox", f"{registry}/library/hello:latest", check=True)
    digest = pushed_digest(publisher.sandbox("push", f"{registry}/library/hello:latest",
                                             check=True).stdout)
    locked, spare = Front(registry), Front(registry)
    mirror_user, mirror_password = "mirror-user", "mirror-pw"
    if scheme == "bearer":
        locked.require_bearer({mirror_user: mirror_password})
    else:
        def require_basic(handler):
            if handler.headers.get("Authorization") == basic(mirror_user, mirror_password):
                return False
            handler.reply_json(401, {"errors": [{"code": "UNAUTHORIZED", "message": "log in"}]},
                               [("WWW-Authenticate", 'Basic realm="mirror"')])
            return True
        locked.hook = require_basic
    env = {"SANDBOX_REGISTRY_MIRRORS": f"http://{locked.host},http://{spare.host}"}
    roots = [StateRoot(), StateRoot()]
    try:
        hub_only, both = roots
        store_credentials(hub_only, "docker.io", "hub-user", "hub-password")
        r = offline(hub_only, "pull", "hello", env=env, check=True)
        assert f"Digest: {digest}" in r.stdout.splitlines()
        assert locked.seen and [auth for *_, auth in locked.seen] == [""] * len(locked.seen)
        assert [t["user"] for t in locked.token_requests] == [None] * len(locked.token_requests)
        assert any("/manifests/" in path for _, path, _ in spare.seen)  # the open one served

        store_credentials(both, "docker.io", "hub-user", "hub-password")
        offline(both, "login", "-u", mirror_user, "-p", mirror_password, locked.host, check=True)
        locked.seen.clear(), spare.seen.clear(), locked.token_requests.clear()
        r = offline(both, "pull", "hello", env=env, check=True)
        assert f"Digest: {digest}" in r.stdout.splitlines()
        assert spare.seen == []  # the locked mirror served it
        sent = {auth for *_, auth in locked.seen if auth}
        # the mirror's password (to the token server, for bearer), never Docker Hub's
        assert {auth for auth in sent if auth.startswith("Basic ")} == \
            {basic(mirror_user, mirror_password)}
        if scheme == "bearer":
            assert {t["user"] for t in locked.token_requests} == {mirror_user}
            assert any(auth.startswith("Bearer ") for auth in sent)
    finally:
        for root in roots:
            root.remove()
        locked.close()
        spare.close()


def test_a_plain_http_mirror_on_another_machine_is_refused_without_network(fresh_root):
    mirror = "http://mirror.invalid"
    daemon = fresh_root.path / "daemon.json"
    for env in ({"SANDBOX_REGISTRY_MIRRORS": mirror}, {}):
        if not env:  # the same setting in daemon.json
            daemon.write_text(json.dumps({"registry-mirrors": [mirror + "/"]}))
        r = offline(fresh_root, "pull", "hello", env=env)
        fails_with_one_sentence(r, f"the registry mirror {mirror} uses plain HTTP",
                                f"add mirror.invalid to {INSECURE_FIX}")
    # run pulls a missing image by itself: Docker's note, then the same sentence
    r = offline(fresh_root, "run", "--rm", "hello")
    assert r.returncode != 0 and r.stderr.splitlines()[-1].startswith("sandbox: ")
    assert f"the registry mirror {mirror} uses plain HTTP" in r.stderr.splitlines()[-1]

    # listed as insecure, the mirror is used: the guard stops its first lookup
    r = guarded(fresh_root, "pull", "hello", env={"SANDBOX_INSECURE_REGISTRIES": "mirror.invalid"})
    assert r.returncode == OFFLINE and "mirror.invalid" in r.stderr, r.stderr
    daemon.unlink()

    r = offline(fresh_root, "pull", "hello",
                env={"SANDBOX_REGISTRY_MIRRORS": "mirror.invalid:5000"})
    fails_with_one_sentence(r, "the registry mirror 'mirror.invalid:5000' is not a URL",
                            "https://host[:port]")
    assert fresh_root.blobs() == set() and fresh_root.tags() == []


# --- from HTTPS down to plain HTTP --------------------------------------------------------
FETCH = '''
import hashlib, sys
from sandbox.content.registry.transport import PlainHTTPRefused, Transport
base, digest, insecure = sys.argv[1], sys.argv[2], sys.argv[3:]
transport = Transport(base, "creds/bb", ("learner", "s3cret"), insecure=insecure)
with transport.request("GET", f"blobs/{digest}") as response:
    print("sha256:" + hashlib.sha256(response.read()).hexdigest())
try:
    transport.request("GET", "blobs/sha256:" + "0" * 64).close()
except PlainHTTPRefused as err:
    print(err)
try:  # an upload Location that steps down: refused before anything is sent
    transport.request("PUT", "", data=b"", url="http://cdn.invalid/upload?_state=x").close()
except PlainHTTPRefused as err:
    print(err)
'''


class HttpsRegistry:
    """An HTTPS server on 127.0.0.1 (a certificate made for the test, trusted through
    SSL_CERT_FILE) that wants Basic credentials and answers every GET with a redirect
    that ``route(path)`` chooses; ``seen`` records (path, Authorization)."""

    def __init__(self, workdir: Path, route):
        self.cert, key = workdir / "cert.pem", workdir / "key.pem"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days",
                        "1", "-keyout", key, "-out", self.cert, "-subj", "/CN=127.0.0.1",
                        "-addext", "subjectAltName=IP:127.0.0.1"], check=True,
                       capture_output=True, timeout=60)
        self.seen, wanted = [], basic("learner", "s3cret")
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_GET(self):
                auth = self.headers.get("Authorization", "")
                outer.seen.append((self.path, auth))
                if auth != wanted:
                    self.send_response(401)
                    self.send_header("WWW-Authenticate", 'Basic realm="tls"')
                else:
                    self.send_response(307)
                    self.send_header("Location", route(self.path))
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert, key)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.base = f"https://127.0.0.1:{self.server.server_port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)


def test_https_redirects_keep_credentials_home_and_never_step_down_to_plain_http(
        registry, publisher, fresh_root, tmp_path):
    """From an HTTPS registry: a redirect to itself keeps Authorization, one to blob storage
    on this machine (plain HTTP is allowed here) drops it, and one to plain HTTP on another
    machine is refused before any lookup, unless that host is listed as insecure."""
    publisher.sandbox("tag", "busybox", f"{registry}/creds/bb:1", check=True)
    publisher.sandbox("push", f"{registry}/creds/bb:1", check=True)
    layer = Store(publisher.path).get("busybox").layers[0]["digest"]
    storage = Elsewhere(registry)

    def route(path):
        if path.endswith("0" * 64):
            return "http://cdn.invalid/blob"  # plain HTTP, another machine
        if not path.endswith("?hop=1"):
            return path + "?hop=1"  # to itself
        return f"http://{storage.host}{path.split('?')[0]}"  # plain HTTP, this machine
    https = HttpsRegistry(tmp_path, route)
    env = {"SSL_CERT_FILE": str(https.cert)}
    try:
        r = offline(fresh_root, https.base, layer, env=env, code=FETCH)
        listed = guarded(fresh_root, https.base, layer, "cdn.invalid", env=env, code=FETCH)
    finally:
        https.close()
        storage.close()
    assert r.returncode == 0, r.stderr
    fetched, redirect, upload = r.stdout.splitlines()
    assert fetched == layer
    assert redirect.startswith(f"{https.base} redirected to plain HTTP at http://cdn.invalid,")
    assert upload.startswith(f"{https.base} gave an upload location on plain HTTP at "
                             "http://cdn.invalid,")
    assert f"add cdn.invalid to {INSECURE_FIX}" in redirect and "_state" not in upload
    assert [auth for path, auth in https.seen if path.endswith("?hop=1")] == \
        [basic("learner", "s3cret")] * 2  # once in each run
    assert storage.seen and [auth for *_, auth in storage.seen] == [""] * len(storage.seen)
    assert listed.returncode == OFFLINE and "cdn.invalid" in listed.stderr, listed.stderr
