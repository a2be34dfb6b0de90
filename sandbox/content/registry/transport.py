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

Where credentials go.  An ``Authorization`` header (Basic or Bearer) is sent only
to the origin it was issued for, scheme + host + port, as go-containerregistry's
transport does (``matchesHost`` in pkg/v1/remote/transport/bearer.go, basic.go):

    GET http://127.0.0.1:5000/v2/me/app/blobs/sha256:…   Authorization: Bearer …
                                                          → 307 Location: http://cdn/…
    GET http://cdn/…                                      no Authorization → the bytes

Blob storage, a CDN, an upload ``Location`` on another host: none of them gets
the registry's token or password; the digest, not the host, vouches for the
bytes.  The registry's redirects to itself keep the header.  Plain HTTP is for
this machine and the registries listed as insecure only: a token server (realm)
or a redirect that would take us from HTTPS to plain HTTP anywhere else is
refused (:class:`PlainHTTPRefused`), before anything is sent to it.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from http.client import IncompleteRead
import re
import time
import urllib.error
import urllib.parse
import urllib.request

from ...errors import SandboxError


class RegistryError(SandboxError):
    """The registry refused or failed; ``status`` is the HTTP status (0 if unreachable)."""

    def __init__(self, message: str, status: int = 0, code: str = ""):
        super().__init__(message)
        self.status, self.code = status, code


class Unauthorized(RegistryError):
    """Wrong or missing credentials."""


class NotFoundInRegistry(RegistryError):
    """No such repository, tag or blob."""


class PlainHTTPRefused(RegistryError):
    """Plain HTTP to a host that is neither this machine nor a listed insecure registry."""


def insecure_fix(host: str) -> str:
    """The end of every plain-HTTP refusal: what to do if the learner trusts that network."""
    return f'add {host} to "insecure-registries" in daemon.json or SANDBOX_INSECURE_REGISTRIES'


def plain_http_allowed(host: str, insecure: tuple[str, ...] = ()) -> bool:
    """May ``host`` (``name``, ``name:port``, ``[::1]:port``) be spoken to in plain HTTP?

    Only this machine (localhost, 127.0.0.0/8, ::1), as Docker allows, and the hosts
    listed in ``insecure`` (Docker's ``insecure-registries``: ``host`` or ``host:port``).
    """
    return _is_loopback(urllib.parse.urlsplit("//" + host).hostname or "") or host in insecure


def _origin(url: str) -> tuple[str, str, int]:
    """``("https", "registry-1.docker.io", 443)``: what a credential is bound to (RFC 6454)."""
    parts = urllib.parse.urlsplit(url)
    default = {"http": 80, "https": 443}.get(parts.scheme, 0)
    return parts.scheme, parts.hostname or "", parts.port or default


def _site(url: str) -> str:
    """``http://cdn:8080`` from a URL: says where, without a CDN's signed query string."""
    parts = urllib.parse.urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def _refuse_step_down(source: str, target: str, insecure, how: str) -> None:
    """Refuse to go from HTTPS to plain HTTP on a host that may not have it: a blob or an
    image sent there could be read or changed on the way."""
    to = urllib.parse.urlsplit(target)
    if source.startswith("https:") and to.scheme == "http" and \
            not plain_http_allowed(to.netloc, insecure):
        raise PlainHTTPRefused(
            f"{_site(source)} {how} plain HTTP at {_site(target)}, which is neither this machine "
            "nor a listed insecure registry, so anyone on the way could read or change what is "
            f"sent: refused (if you trust that network, {insecure_fix(to.netloc)})")


class _Redirects(urllib.request.HTTPRedirectHandler):
    """Follow redirects, giving the Authorization header back only to its own origin.

    urllib drops a header added with ``add_unredirected_header`` on *every* redirect
    (``HTTPRedirectHandler.redirect_request`` copies ``req.headers`` only): to another
    host, which is what we want (a CDN must not see the token), but to the same host
    too, where the registry would then answer 401.  So it is put back when the new URL
    is on the origin it was issued for.  A step down from HTTPS to plain HTTP is refused
    unless the new host is this machine or a listed insecure registry.
    """

    def __init__(self, origin_url: str, authorization: Callable[[], str | None],
                 insecure: tuple[str, ...]):
        super().__init__()
        self.origin, self.authorization = _origin(origin_url), authorization
        self.insecure = insecure

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        try:
            _refuse_step_down(req.full_url, newurl, self.insecure, "redirected to")
        except PlainHTTPRefused:
            fp.close()
            raise
        new = super().redirect_request(req, fp, code, msg, headers, newurl)
        authorization = self.authorization()
        if new is not None and authorization and _origin(newurl) == self.origin:
            new.add_unredirected_header("Authorization", authorization)
        return new


def _opener(url: str, authorization: Callable[[], str | None],
            insecure: tuple[str, ...]) -> urllib.request.OpenerDirector:
    """An opener for requests to ``url``'s origin, following redirects by our rule.

    A proxy (http_proxy) is never used for a host on this machine, as Docker does not:
    127.0.0.1 means here, not the proxy's 127.0.0.1.
    """
    handlers = [_Redirects(url, authorization, insecure)]
    if _is_loopback(urllib.parse.urlsplit(url).hostname or ""):
        handlers.append(urllib.request.ProxyHandler({}))
    return urllib.request.build_opener(*handlers)


def _challenge(header: str) -> tuple[str, dict]:
    """``Bearer realm="…",service="…"`` → ("bearer", {"realm": …, "service": …})."""
    scheme, _, params = header.partition(" ")
    return scheme.lower(), dict(re.findall(r'(\w+)="([^"]*)"', params))


class Transport:
    """HTTP to one repository of one registry, with authentication and readable errors."""

    def __init__(self, base_url: str, repository: str, credentials: tuple[str, str] | None = None,
                 push: bool = False, timeout: float = 30, insecure: tuple[str, ...] = ()):
        self.base = base_url.rstrip("/")  # https://registry-1.docker.io or http://127.0.0.1:5000
        self.repository = repository
        self.credentials = credentials
        self.scope = (f"repository:{repository}:{'pull,push' if push else 'pull'}"
                      if repository else "")
        self.timeout = timeout
        self.origin = _origin(self.base)  # the only place self._auth is ever sent
        # Hosts that may be spoken to in plain HTTP besides this machine: the listed insecure
        # registries, and the registry itself if we already speak plain HTTP to it.
        self.insecure = tuple(insecure) + ((self.host,) if self.origin[0] == "http" else ())
        self._auth: str | None = None  # the Authorization header once we know it
        # Redirects are followed (blobs are often served from a CDN); _Redirects gives the
        # Authorization header back only to the registry's own origin.
        self._opener = _opener(self.base, lambda: self._auth, self.insecure)

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
        if url:  # an upload Location, which may name another host, even in plain HTTP
            _refuse_step_down(self.base, target, self.insecure, "gave an upload location on")
        # Authorization goes to the registry's own origin only (go-containerregistry,
        # bearer.go: "only set it when the authorization header matches the registry"):
        # an upload Location on blob storage gets none.
        home = _origin(target) == self.origin
        for attempt in range(2):
            request = urllib.request.Request(target, data=data, method=method,
                                             headers=dict(headers or {}))
            if self._auth and home:
                request.add_unredirected_header("Authorization", self._auth)
            try:
                response = self._opener.open(request, timeout=self.timeout)
            except urllib.error.HTTPError as err:
                # err.url is where the answer came from, after any redirect: a CDN's 401 is
                # not the registry asking us to log in.
                asked = _origin(err.url) == self.origin
                if err.code == 401 and attempt == 0 and asked and self._authenticate(err):
                    if hasattr(data, "seek"):
                        data.seek(0)
                    continue
                if err.code == 401 and asked and self._auth and self._auth.startswith("Basic "):
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
            self._check_realm(params["realm"])
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
        basic = "Basic " + _basic(*self.credentials) if self.credentials else None
        if basic:  # for the token server's own origin only, like the token for the registry's
            request.add_unredirected_header("Authorization", basic)
        try:
            with _opener(url, lambda: basic, self.insecure).open(
                    request, timeout=self.timeout) as response:
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

    def _check_realm(self, realm: str) -> None:
        """A token server may get the user's password: https, or plain HTTP only on this
        machine or a listed insecure registry (go-containerregistry: validateRealmURL)."""
        parts = urllib.parse.urlsplit(realm)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise RegistryError(f"the registry at {self.base} named a token server that is not "
                                f"an http:// or https:// URL ({realm!r}), so it cannot be used",
                                401)
        if parts.scheme == "http" and not plain_http_allowed(parts.netloc, self.insecure):
            raise PlainHTTPRefused(
                f"the registry at {self.base} asks for a token from {realm}, plain HTTP to a "
                "host that is neither this machine nor a listed insecure registry, where a "
                "password or token could be read on the way: refused (a token server must use "
                f"https; if you trust that network, {insecure_fix(parts.netloc)})", 401)

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
