"""Talking to a registry over the distribution API (OCI distribution spec, Docker registry v2).

One :class:`Transport` serves one repository on one registry.  Every request
goes through :meth:`Transport.request`, which does the authentication dance
the registry asks for, the way ``docker`` does:

    GET /v2/library/ubuntu/manifests/latest              → 401 Unauthorized
        WWW-Authenticate: Bearer realm="https://auth.docker.io/token",
                          service="registry.docker.io",scope="repository:library/ubuntu:pull"
    GET https://auth.docker.io/token?service=…&scope=…   → {"token": "…"}   (anonymous,
                                                           or with the user's password)
    GET /v2/library/ubuntu/manifests/latest
        Authorization: Bearer …                          → 200 OK

or, for a registry protected by a password file, ``WWW-Authenticate: Basic``
and the same request again with ``Authorization: Basic``.  Errors come back
as the distribution API's JSON (``{"errors": [{"code": …, "message": …}]}``)
and become one sentence; anything else (an HTML page from a proxy, a
dropped connection) is said plainly too.
"""

from __future__ import annotations

import base64
import json
from http.client import IncompleteRead
import re
import time
import urllib.error
import urllib.parse
import urllib.request

from ..errors import SandboxError


class RegistryError(SandboxError):
    """The registry refused or failed; ``status`` is the HTTP status (0 if unreachable)."""

    def __init__(self, message: str, status: int = 0, code: str = ""):
        super().__init__(message)
        self.status, self.code = status, code


class Unauthorized(RegistryError):
    """Wrong or missing credentials."""


class NotFoundInRegistry(RegistryError):
    """No such repository, tag or blob."""


def _challenge(header: str) -> tuple[str, dict]:
    """``Bearer realm="…",service="…"`` → ("bearer", {"realm": …, "service": …})."""
    scheme, _, params = header.partition(" ")
    return scheme.lower(), dict(re.findall(r'(\w+)="([^"]*)"', params))


class Transport:
    """HTTP to one repository of one registry, with authentication and readable errors."""

    def __init__(self, base_url: str, repository: str, credentials: tuple[str, str] | None = None,
                 push: bool = False, timeout: float = 30):
        self.base = base_url.rstrip("/")  # https://registry-1.docker.io or http://127.0.0.1:5000
        self.repository = repository
        self.credentials = credentials
        self.scope = (f"repository:{repository}:{'pull,push' if push else 'pull'}"
                      if repository else "")
        self.timeout = timeout
        self._auth: str | None = None  # the Authorization header once we know it
        # Redirects are followed (blobs are often served from a CDN), but our Authorization
        # header is added "unredirected", so urllib does not hand it to the CDN.
        # A proxy (http_proxy) is never used for a registry on this machine, as Docker
        # does not: 127.0.0.1 means here, not the proxy's 127.0.0.1.
        host = urllib.parse.urlsplit(self.base).hostname or ""
        self._opener = urllib.request.build_opener(
            *([urllib.request.ProxyHandler({})] if _is_loopback(host) else []))

    @property
    def host(self) -> str:
        """``127.0.0.1:5000``: the name to give ``sandbox login``."""
        return urllib.parse.urlsplit(self.base).netloc

    @property
    def what(self) -> str:
        """What the request is about, for messages: ``me/app on http://…`` or the registry."""
        return f"{self.repository} on {self.base}" if self.repository else self.base

    def _login_hint(self) -> str:
        return (f"run 'sandbox login {self.host}' again with the right password"
                if self.credentials else f"run 'sandbox login {self.host}' first")

    def url(self, path: str) -> str:
        return f"{self.base}/v2/{self.repository}/{path}" if path else f"{self.base}/v2/"

    def request(self, method: str, path: str, headers: dict | None = None, data=None,
                ok: tuple[int, ...] = (200,), url: str | None = None):
        """Send a request (authenticating if asked to) and return the open response."""
        target = url or self.url(path)
        for attempt in range(2):
            request = urllib.request.Request(target, data=data, method=method,
                                             headers=dict(headers or {}))
            if self._auth:
                request.add_unredirected_header("Authorization", self._auth)
            try:
                response = self._opener.open(request, timeout=self.timeout)
            except urllib.error.HTTPError as err:
                if err.code == 401 and attempt == 0 and self._authenticate(err):
                    if hasattr(data, "seek"):
                        data.seek(0)
                    continue
                if err.code == 401 and self._auth and self._auth.startswith("Basic "):
                    # Basic credentials sent and refused: the password is wrong (RFC 7617).
                    raise Unauthorized(f"the registry at {self.base} refused the user name and "
                                       f"password of {self.credentials[0]!r}: "
                                       f"{self._login_hint()}", 401) from None
                raise self._error(err, method, target) from None
            except (urllib.error.URLError, OSError) as err:
                reason = getattr(err, "reason", err)
                reason = getattr(reason, "strerror", None) or reason  # "[Errno -2] x" → "x"
                raise RegistryError(f"cannot reach the registry at {self.base}: {reason}") from None
            if response.status not in ok:
                raise RegistryError(f"{method} {target}: unexpected status {response.status}",
                                    response.status)
            return response
        raise Unauthorized(f"the registry refused the credentials for {self.what}: "
                           f"{self._login_hint()}", 401)

    # --- authentication -----------------------------------------------------------
    def _authenticate(self, err: urllib.error.HTTPError) -> bool:
        """Answer a 401's WWW-Authenticate challenge; True if there is something to retry with."""
        scheme, params = _challenge(err.headers.get("WWW-Authenticate", ""))
        if scheme == "basic":
            if not self.credentials:
                raise Unauthorized(f"the registry at {self.base} needs a user name and password: "
                                   f"run 'sandbox login {self.host}'", 401)
            self._auth = "Basic " + _basic(*self.credentials)
            return True
        if scheme == "bearer":
            if "realm" not in params:
                raise RegistryError(f"the registry at {self.base} asked for a bearer token but "
                                    "named no token server (no realm in WWW-Authenticate)", 401)
            self._auth = "Bearer " + self._token(params)
            return True
        return False

    def _token(self, params: dict) -> str:
        """Fetch a bearer token from the realm the registry named (the token server)."""
        query = {"service": params.get("service", ""), "scope": params.get("scope") or self.scope}
        if self.credentials:
            query["account"] = self.credentials[0]
        url = params["realm"] + "?" + urllib.parse.urlencode({k: v for k, v in query.items() if v})
        request = urllib.request.Request(url)
        if self.credentials:
            request.add_header("Authorization", "Basic " + _basic(*self.credentials))
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.load(response)
        except urllib.error.HTTPError as err:
            if err.code in (401, 403):
                whose = (f"the credentials of {self.credentials[0]!r}" if self.credentials
                         else "anonymous access")
                raise Unauthorized(f"the token server {params['realm']} refused {whose} to "
                                   f"{self.what} (status {err.code}): {self._login_hint()}",
                                   err.code) from None
            raise RegistryError(f"the token server {params['realm']} answered {err.code}",
                                err.code) from None
        except (urllib.error.URLError, OSError, ValueError) as err:
            raise RegistryError(f"cannot get a token from {params['realm']}: "
                                f"{getattr(err, 'reason', err)}") from None
        token = answer.get("token") or answer.get("access_token")
        if not token:
            raise RegistryError(f"the token server {params['realm']} sent no token")
        return token

    # --- errors -------------------------------------------------------------------
    def _error(self, err: urllib.error.HTTPError, method: str, url: str) -> RegistryError:
        """The distribution API's error JSON as one sentence, or a plain account of what came."""
        body = err.read(4096)
        kind = err.headers.get("Content-Type", "")
        try:
            errors = json.loads(body)["errors"]
            first = errors[0]
            message, code = first.get("message", ""), first.get("code", "")
        except (ValueError, KeyError, IndexError, TypeError):
            if b"<html" in body.lower() or "html" in kind:
                message, code = (f"the server at {self.base} answered with an HTML page (status "
                                 f"{err.code}) where the registry API's JSON was expected: is this "
                                 "a registry, or a proxy or captive portal in between?"), ""
            else:
                text = " ".join(body[:200].decode(errors="replace").split())  # one line
                message, code = f"the server at {self.base} answered status {err.code}: {text}", ""
        cls = Unauthorized if err.code in (401, 403) else \
            NotFoundInRegistry if err.code == 404 else RegistryError
        if cls is Unauthorized:
            hint = "" if self.credentials else f" ({self._login_hint()} if it needs a password)"
            message = f"access denied to {self.what}: {message or code}{hint}"
        elif code and code.lower() not in message.lower():
            message = f"{code}: {message}"
        return cls(message, err.code, code)


def _basic(user: str, password: str) -> str:
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def retrying(action, what: str, attempts: int = 3, delay: float = 0.5):
    """Call ``action`` again when the connection fails part-way (not when the registry says no)."""
    for attempt in range(attempts):
        try:
            return action()
        except (ConnectionError, TimeoutError, urllib.error.URLError, EOFError,
                IncompleteRead) as err:
            if attempt == attempts - 1:
                raise RegistryError(f"{what} failed after {attempts} attempts: the connection "
                                    f"broke ({err or type(err).__name__})") from None
            time.sleep(delay * (attempt + 1))


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    import ipaddress
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
