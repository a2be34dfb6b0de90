"""A real registry for the tests, and a small HTTP front that can stand before it.

``registry``        Debian's ``docker-registry`` (distribution 2.8, the code behind
                    Docker Hub's registry) on 127.0.0.1, a free port, storage in a
                    temporary folder; yields ``host:port``.
``auth_registry``   the same with an htpasswd file (basic auth, bcrypt via ``crypt``);
                    yields ``(host:port, user, password)``.
``Front``           an ``http.server`` in a thread that forwards to a registry, keeping
                    the Host header so the registry's upload URLs point at the front.  A
                    test can make it misbehave (``hook``) or ask for bearer tokens the way
                    Docker Hub does (``require_bearer``).
``StateRoot``       a fresh ``$SANDBOX_ROOT`` in a temporary folder, for pulls that must
                    start from an empty store.
``Elsewhere``       another host (127.0.0.2) playing blob storage or a CDN: it records
                    what it is sent and serves it from the registry with credentials of
                    its own (``forward_as``).

The packaged /etc/docker/registry/config.yml is never used: it listens on every
interface and wants an htpasswd file.  Everything here listens on 127.0.0.1 only
(``Elsewhere`` on 127.0.0.2, also this machine), and is stopped and removed when the
fixture ends.

A test module asks for the fixtures with ``pytest_plugins = ("registry_fixture",)``.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import http.client
import json
import os
import re
import secrets
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import warnings
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from conftest import sandbox

REGISTRY = shutil.which("docker-registry")
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "te", "trailer", "upgrade",
              "proxy-authorization", "proxy-authenticate", "content-length", "date", "server"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def bcrypt_hash(password: str) -> str:
    """An htpasswd line's hash: bcrypt, which is all docker-registry accepts (glibc's crypt)."""
    with warnings.catch_warnings():  # crypt is deprecated since 3.11, removed in 3.13
        warnings.simplefilter("ignore", DeprecationWarning)
        import crypt
    # cost 4 (rounds=16): the registry checks the hash on every request; tests need no more
    hashed = crypt.crypt(password, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16))
    if not hashed or not hashed.startswith("$2"):
        pytest.skip("this libc's crypt() cannot make bcrypt hashes, which htpasswd needs")
    return hashed


def remove_tree(path: Path) -> None:
    """rm -rf, also through the read-only folders an unpacked image may have (rootless)."""
    def make_writable(func, name, _exc):
        os.chmod(os.path.dirname(name), stat.S_IRWXU)
        if os.path.isdir(name) and not os.path.islink(name):
            os.chmod(name, stat.S_IRWXU)
        func(name)
    shutil.rmtree(path, onerror=make_writable)


# --- docker-registry ----------------------------------------------------------------------
@contextlib.contextmanager
def running_registry(htpasswd: str | None = None):
    """Start ``docker-registry serve`` on 127.0.0.1 and yield ``host:port``; stop it after."""
    if REGISTRY is None:
        pytest.skip("docker-registry is not installed (Debian: apt-get install docker-registry); "
                    "the registry tests need a real registry")
    workdir = Path(tempfile.mkdtemp(prefix="sandbox-registry-"))
    process = None
    try:
        auth = ""
        if htpasswd:
            (workdir / "htpasswd").write_text(htpasswd)
            auth = f"auth:\n  htpasswd:\n    realm: sandbox-test\n    path: {workdir}/htpasswd\n"
        for _ in range(3):  # another program may take the free port before the registry does
            port = free_port()
            config = workdir / "config.yml"
            config.write_text(
                "version: 0.1\n"
                "log:\n  level: error\n  accesslog:\n    disabled: true\n"
                f"storage:\n  filesystem:\n    rootdirectory: {workdir}/data\n"
                "  delete:\n    enabled: true\n"
                f"http:\n  addr: 127.0.0.1:{port}\n  secret: sandbox-test-secret\n" + auth)
            log = open(workdir / "registry.log", "wb")
            process = subprocess.Popen([REGISTRY, "serve", str(config)], stdout=log,
                                       stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            log.close()
            if _wait_until_answering(f"127.0.0.1:{port}", process):
                break
            _stop(process)
            process = None
        if process is None:
            pytest.fail("docker-registry did not start: "
                        + (workdir / "registry.log").read_text()[-2000:])
        yield f"127.0.0.1:{port}"
    finally:
        if process is not None:
            _stop(process)
        remove_tree(workdir)


def _wait_until_answering(host: str, process: subprocess.Popen, seconds: float = 15) -> bool:
    """GET /v2/ until it answers (200, or 401 when it wants a password)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"http://{host}/v2/", timeout=2):
                return True
        except urllib.error.HTTPError as err:
            if err.code == 401:
                return True
        except OSError:
            pass
        time.sleep(0.05)
    return False


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def registry():
    """A plain registry (no password), shared by one test module: yields ``host:port``."""
    with running_registry() as host:
        yield host


@pytest.fixture(scope="module")
def auth_registry():
    """A registry behind htpasswd basic auth: yields ``(host:port, user, password)``."""
    user, password = "learner", "correct-horse"
    with running_registry(f"{user}:{bcrypt_hash(password)}\n") as host:
        yield host, user, password


# --- raw distribution API calls (to build what sandbox cannot, like an index) -------------
def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def upload_blob(host: str, repository: str, data: bytes, media_type: str) -> dict:
    """POST /v2/<name>/blobs/uploads/ then PUT ?digest= (a monolithic upload); a descriptor."""
    request = urllib.request.Request(f"http://{host}/v2/{repository}/blobs/uploads/",
                                     data=b"", method="POST")
    with urllib.request.urlopen(request, timeout=10) as response:
        location = response.headers["Location"]
    if location.startswith("/"):
        location = f"http://{host}{location}"
    digest = sha256(data)
    separator = "&" if "?" in location else "?"
    request = urllib.request.Request(f"{location}{separator}digest={digest}", data=data,
                                     method="PUT",
                                     headers={"Content-Type": "application/octet-stream"})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201, response.status
    return {"mediaType": media_type, "digest": digest, "size": len(data)}


def put_manifest(host: str, repository: str, document: dict, tag: str | None = None) -> dict:
    """PUT /v2/<name>/manifests/<tag, or the manifest's own digest>; returns its descriptor."""
    data = json.dumps(document, indent=2).encode()
    reference = tag or sha256(data)
    request = urllib.request.Request(f"http://{host}/v2/{repository}/manifests/{reference}",
                                     data=data, method="PUT",
                                     headers={"Content-Type": document["mediaType"]})
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 201, response.status
    return {"mediaType": document["mediaType"], "digest": sha256(data), "size": len(data)}


# --- a front that can misbehave or ask for tokens -----------------------------------------
class _Handler(BaseHTTPRequestHandler):
    """One request to the front: record it, maybe answer it specially, else forward it."""

    server_version = "sandbox-test-front"

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        front: Front = self.server.front
        length = int(self.headers.get("Content-Length") or 0)
        self.body = self.rfile.read(length) if length else b""
        front.seen.append((self.command, self.path, self.headers.get("Authorization", "")))
        if front.bearer is not None:
            if self.path.startswith("/token"):
                front._answer_token(self)
                return
            if not front._token_allows(self):
                front._challenge(self)
                return
        if front.hook is not None and front.hook(self):
            return
        self.reply(*self.forward())

    do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = do_GET

    def forward(self) -> tuple[int, list[tuple[str, str]], bytes]:
        """Send this request on to the registry; return (status, headers, body)."""
        front: Front = self.server.front
        headers = {k: v for k, v in self.headers.items()
                   if k.lower() not in HOP_BY_HOP and k.lower() != "authorization"}
        if self.command in ("PUT", "POST", "PATCH"):
            headers["Content-Length"] = str(len(self.body))
        connection = http.client.HTTPConnection(front.upstream, timeout=30)
        try:
            connection.request(self.command, self.path, body=self.body or None, headers=headers)
            response = connection.getresponse()
            body = response.read()
            kept = [(k, v) for k, v in response.getheaders()
                    if k.lower() not in HOP_BY_HOP or
                    (k.lower() == "content-length" and self.command == "HEAD")]
            return response.status, kept, body
        finally:
            connection.close()

    def reply(self, status: int, headers: list[tuple[str, str]], body: bytes,
              cut: int | None = None) -> None:
        """Answer; with ``cut``, announce the whole body but send only ``cut`` bytes, then
        close the connection (a line that drops in the middle of a layer)."""
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        if self.command != "HEAD":
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body if cut is None else body[:cut])
        else:
            self.end_headers()
        self.close_connection = True

    def reply_json(self, status: int, document: dict, headers=()) -> None:
        self.reply(status, [("Content-Type", "application/json"), *headers],
                   json.dumps(document).encode())


class Front:
    """A registry front on 127.0.0.1 (``http.server`` in a thread), forwarding to ``upstream``.

    ``hook(handler)``: called for each request; return True when it has answered
    (``handler.forward()`` fetches the registry's answer, ``handler.reply()`` sends one).
    ``seen``: every (method, path, Authorization) that came in.
    """

    def __init__(self, upstream: str, address: str = "127.0.0.1"):
        self.upstream = upstream
        self.address = address
        self.hook = None
        self.seen: list[tuple[str, str, str]] = []
        self.bearer: dict | None = None
        self.token_requests: list[dict] = []
        self._grants: dict[str, set[tuple[str, str]]] = {}  # token → {(repository, action)}
        self.server = ThreadingHTTPServer((address, 0), _Handler)
        self.server.daemon_threads = True
        self.server.front = self
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def host(self) -> str:
        return f"{self.address}:{self.server.server_port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=10)

    # --- Docker Hub's token dance (the distribution spec's "Token Authentication") ---------
    def require_bearer(self, users: dict[str, str], refuse_with: int = 401) -> None:
        """Answer 401 + ``WWW-Authenticate: Bearer realm=…/token,service=…,scope=…`` unless
        the request carries a token this front issued for that repository and action.  ``/token``
        issues them to the ``users`` (basic auth); others get ``refuse_with`` (401 or 403)."""
        self.bearer = {"users": users, "refuse_with": refuse_with}

    def _answer_token(self, handler: _Handler) -> None:
        query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(handler.path).query))
        user = None
        header = handler.headers.get("Authorization", "")
        if header.startswith("Basic "):
            user, _, password = base64.b64decode(header[6:]).decode().partition(":")
            if self.bearer["users"].get(user) != password:
                user = False
        self.token_requests.append({**query, "user": user})
        if not user:
            handler.reply_json(self.bearer["refuse_with"],
                               {"details": "incorrect username or password"})
            return
        token = secrets.token_hex(16)
        grants = set()
        for scope in query.get("scope", "").split():
            kind, _, rest = scope.partition(":")
            repository, _, actions = rest.rpartition(":")
            if kind == "repository":
                grants |= {(repository, action) for action in actions.split(",")}
        self._grants[token] = grants
        handler.reply_json(200, {"token": token, "access_token": token, "expires_in": 300})

    def _token_allows(self, handler: _Handler) -> bool:
        header = handler.headers.get("Authorization", "")
        grants = self._grants.get(header.removeprefix("Bearer ")) if \
            header.startswith("Bearer ") else None
        if grants is None:
            return False
        wanted = self._wanted(handler)
        return wanted is None or wanted in grants

    @staticmethod
    def _wanted(handler: _Handler) -> tuple[str, str] | None:
        match = re.match(r"^/v2/(.+?)/(?:manifests|blobs|tags)/", handler.path)
        if not match:
            return None  # /v2/ itself: any valid token
        return match.group(1), "pull" if handler.command in ("GET", "HEAD") else "push"

    def _challenge(self, handler: _Handler) -> None:
        wanted = self._wanted(handler)
        challenge = f'Bearer realm="http://{self.host}/token",service="sandbox-test"'
        if wanted:
            actions = "pull" if wanted[1] == "pull" else "pull,push"
            challenge += f',scope="repository:{wanted[0]}:{actions}"'
        handler.reply_json(401, {"errors": [{"code": "UNAUTHORIZED",
                                             "message": "authentication required"}]},
                           [("WWW-Authenticate", challenge)])


@pytest.fixture
def front(registry):
    """A :class:`Front` before the module's registry, stopped after the test."""
    made = Front(registry)
    yield made
    made.close()


# --- fresh state roots ---------------------------------------------------------------------
class StateRoot:
    """A ``$SANDBOX_ROOT`` of its own, in a temporary folder removed afterwards."""

    def __init__(self):
        self.path = Path(tempfile.mkdtemp(prefix="sandbox-registry-root-"))
        os.chmod(self.path, 0o755)
        self.env = {"SANDBOX_ROOT": str(self.path)}

    def sandbox(self, *args, env=None, **kwargs):
        return sandbox(*args, env={**self.env, **(env or {})}, **kwargs)

    def blobs(self) -> set[str]:
        folder = self.path / "oci" / "blobs" / "sha256"
        return {"sha256:" + n for n in os.listdir(folder)} if folder.exists() else set()

    def scratch(self) -> list[str]:
        folder = self.path / "tmp"
        return sorted(os.listdir(folder)) if folder.exists() else []

    def tags(self) -> list[str]:
        try:
            index = json.loads((self.path / "oci" / "index.json").read_text())
        except FileNotFoundError:
            return []
        return [m.get("annotations", {}).get("org.opencontainers.image.ref.name")
                for m in index["manifests"]]

    def remove(self) -> None:
        from sandbox.engine.records import all_containers
        left = all_containers(self.path)
        for container in left:
            self.sandbox("rm", "-f", container.id)
        remove_tree(self.path)
        assert not left, f"the test left containers behind: {[c.name for c in left]}"


@pytest.fixture
def fresh_root():
    """An empty state root for one test: a pull from it downloads every blob."""
    root = StateRoot()
    yield root
    root.remove()


# --- another host: blob storage or a CDN ---------------------------------------------------
def forward_as(handler: _Handler, upstream: str,
               authorization: str | None) -> tuple[int, list[tuple[str, str]], bytes]:
    """``handler.forward()`` to ``upstream``, sending ``authorization`` (or none) instead of
    dropping it: for a front before a registry that checks passwords itself (htpasswd),
    or blob storage that reaches the registry with credentials of its own."""
    headers = {k: v for k, v in handler.headers.items()
               if k.lower() not in HOP_BY_HOP and k.lower() != "authorization"}
    if authorization:
        headers["Authorization"] = authorization
    if handler.command in ("PUT", "POST", "PATCH"):
        headers["Content-Length"] = str(len(handler.body))
    connection = http.client.HTTPConnection(upstream, timeout=30)
    try:
        connection.request(handler.command, handler.path, body=handler.body or None,
                           headers=headers)
        response = connection.getresponse()
        body = response.read()
        kept = [(k, v) for k, v in response.getheaders()
                if k.lower() not in HOP_BY_HOP or
                (k.lower() == "content-length" and handler.command == "HEAD")]
        return response.status, kept, body
    finally:
        connection.close()


class Elsewhere(Front):
    """Another host, as blob storage or a CDN is: a recording server on 127.0.0.2 (the whole
    of 127.0.0.0/8 is this machine on Linux, but it is not the registry's host:port).

    Every request is recorded in ``seen`` as by a :class:`Front` (method, path,
    Authorization) and served from ``upstream`` with ``authorization``, the storage's own
    access to the registry's data, never the client's.  The Host header is kept, so the
    registry's upload Locations point back here.
    """

    def __init__(self, upstream: str, authorization: str | None = None):
        super().__init__(upstream, address="127.0.0.2")
        self.hook = lambda handler: handler.reply(*forward_as(handler, upstream, authorization)) \
            or True
