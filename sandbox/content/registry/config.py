"""Which URL to use for a registry, and with which credentials: Docker's daemon settings.

- **Mirrors** (``registry-mirrors`` in Docker's daemon.json): pulls of Docker Hub
  images try each mirror first, then Docker Hub itself.  An instructor can run one
  registry as a pull-through cache for a whole classroom.  A mirror in plain HTTP
  must be on this machine or listed as insecure, or it is refused.
- **Insecure registries** (``insecure-registries``): plain HTTP is used only for
  localhost, 127.0.0.0/8, ::1, and registries listed as insecure; HTTPS everywhere else.
- **Credentials** (``docker login``): stored in ``<state root>/auth.json`` in the format
  of Docker's config.json (``{"auths": {"host": {"auth": base64("user:password")}}}``),
  readable by the owner only.  Each host's credentials go to that host only: a
  mirror gets those stored for the mirror's own host, never Docker Hub's (Docker
  has sent Docker Hub's to mirrors, moby/moby#42022, and not the mirror's own,
  moby/moby#30880); transport.py keeps them from redirects to other hosts.

Settings come from ``<state root>/daemon.json`` and from the environment
(``SANDBOX_REGISTRY_MIRRORS``, ``SANDBOX_INSECURE_REGISTRIES``: comma-separated).
"""

from __future__ import annotations

import base64
import json
import os
import urllib.parse
from pathlib import Path

from ..settings import daemon_json
from .transport import PlainHTTPRefused, RegistryError, insecure_fix, plain_http_allowed

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "https://registry-1.docker.io"


def _listed(root: Path, key: str, env: str) -> list[str]:
    """A list setting (``registry-mirrors``): daemon.json's entries, then the environment's.

    Read by :func:`sandbox.content.settings.daemon_json`, which refuses a daemon.json that is not
    JSON rather than pull as if it said nothing.
    """
    values = list(daemon_json(root).get(key, []))
    values += [v.strip() for v in os.environ.get(env, "").split(",") if v.strip()]
    return values


def insecure_registries(root: Path) -> tuple[str, ...]:
    """The hosts listed as insecure (``host`` or ``host:port``), which may use plain HTTP."""
    return tuple(_listed(root, "insecure-registries", "SANDBOX_INSECURE_REGISTRIES"))


def is_insecure(root: Path, host: str) -> bool:
    """Plain HTTP allowed?  Loopback always (as Docker), listed registries too."""
    return plain_http_allowed(host, insecure_registries(root))


def mirrors(root: Path) -> list[str]:
    """Docker Hub's mirrors, in order, each checked before anything is sent to it."""
    insecure = insecure_registries(root)
    return [_checked_mirror(m.rstrip("/"), insecure)
            for m in _listed(root, "registry-mirrors", "SANDBOX_REGISTRY_MIRRORS")]


def _checked_mirror(url: str, insecure: tuple[str, ...]) -> str:
    """A mirror is a URL (Docker's ValidateMirror), in plain HTTP only where that is allowed."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise RegistryError(f"the registry mirror {url!r} is not a URL: write it as "
                            "https://host[:port] in \"registry-mirrors\" in daemon.json or in "
                            "SANDBOX_REGISTRY_MIRRORS")
    if parts.scheme == "http" and not plain_http_allowed(parts.netloc, insecure):
        raise PlainHTTPRefused(f"the registry mirror {url} uses plain HTTP but is neither this "
                               "machine nor a listed insecure registry, so anyone on the way "
                               "could read or change what it serves: use https://, or, if you "
                               f"trust that network, {insecure_fix(parts.netloc)}")
    return url


def registry_url(root: Path, registry: str) -> str:
    """The registry's own base URL, never a mirror: where push and login go."""
    if registry == DOCKER_HUB:
        return DOCKER_HUB_API
    return ("http://" if is_insecure(root, registry) else "https://") + registry


def endpoints(root: Path, registry: str) -> list[str]:
    """The base URLs to pull from, in order: Docker Hub's mirrors first."""
    if registry == DOCKER_HUB:
        return mirrors(root) + [DOCKER_HUB_API]
    return [registry_url(root, registry)]


# --- credentials -----------------------------------------------------------------
def _auth_file(root: Path) -> Path:
    return root / "auth.json"


def credentials_for(root: Path, registry: str, base: str) -> tuple[str, str] | None:
    """The credentials to send to ``base``, one of the ``endpoints`` of ``registry``.

    A mirror gets those stored for its own host (``sandbox login 127.0.0.1:5000``),
    never Docker Hub's: they are Docker Hub's password, not the mirror's.
    """
    if registry == DOCKER_HUB and base != DOCKER_HUB_API:
        return credentials(root, urllib.parse.urlsplit(base).netloc)
    return credentials(root, registry)


def credentials(root: Path, registry: str) -> tuple[str, str] | None:
    """The user name and password stored for ``registry`` (a host), or None."""
    try:
        auths = json.loads(_auth_file(root).read_text()).get("auths", {})
    except (FileNotFoundError, ValueError):
        return None
    entry = next((auths[key] for key in _keys(registry) if key in auths), {})
    if "auth" not in entry:
        return None
    user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
    return user, password


def _keys(registry: str) -> list[str]:
    """The keys an auths file may have for ``registry``: ours (``docker.io``), and for Docker
    Hub also the one Docker's own config.json uses (``https://index.docker.io/v1/``) and
    Docker Hub's other names, so that a config.json copied from Docker works."""
    keys = [registry, f"https://{registry}"]
    if registry == DOCKER_HUB:
        from ..reference import HUB_ALIASES
        keys += ["https://index.docker.io/v1/", *HUB_ALIASES,
                 *(f"https://{alias}" for alias in HUB_ALIASES)]
    return keys


def save_credentials(root: Path, registry: str, user: str, password: str) -> None:
    path = _auth_file(root)
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        data = {}
    data.setdefault("auths", {})[registry] = {
        "auth": base64.b64encode(f"{user}:{password}".encode()).decode()}
    root.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".auth.{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)


def forget_credentials(root: Path, registry: str) -> bool:
    path = _auth_file(root)
    try:
        data = json.loads(path.read_text())
    except (FileNotFoundError, ValueError):
        return False
    found = data.get("auths", {}).pop(registry, None) is not None
    if found:
        save_all = path.with_name(f".auth.{os.getpid()}")
        fd = os.open(save_all, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump(data, f, indent=2)
        os.replace(save_all, path)
    return found
