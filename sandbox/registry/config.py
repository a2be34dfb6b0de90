"""Which URL to use for a registry, and with which credentials: Docker's daemon settings.

- **Mirrors** (``registry-mirrors`` in Docker's daemon.json): pulls of Docker Hub
  images try each mirror first, then Docker Hub itself.  An instructor can run one
  registry as a pull-through cache for a whole classroom.
- **Insecure registries** (``insecure-registries``): plain HTTP is used only for
  localhost, 127.0.0.0/8, ::1, and registries listed as insecure; HTTPS everywhere else.
- **Credentials** (``docker login``): stored in ``<state root>/auth.json`` in the format
  of Docker's config.json (``{"auths": {"host": {"auth": base64("user:password")}}}``),
  readable by the owner only.

Settings come from ``<state root>/daemon.json`` and from the environment
(``SANDBOX_REGISTRY_MIRRORS``, ``SANDBOX_INSECURE_REGISTRIES``: comma-separated).
"""

from __future__ import annotations

import base64
import ipaddress
import json
import os
from pathlib import Path

DOCKER_HUB = "docker.io"
DOCKER_HUB_API = "https://registry-1.docker.io"


def _settings(root: Path) -> dict:
    try:
        return json.loads((root / "daemon.json").read_text())
    except (FileNotFoundError, ValueError):
        return {}


def _listed(root: Path, key: str, env: str) -> list[str]:
    values = list(_settings(root).get(key, []))
    values += [v.strip() for v in os.environ.get(env, "").split(",") if v.strip()]
    return values


def mirrors(root: Path) -> list[str]:
    return [m.rstrip("/") for m in _listed(root, "registry-mirrors", "SANDBOX_REGISTRY_MIRRORS")]


def is_insecure(root: Path, host: str) -> bool:
    """Plain HTTP allowed?  Loopback always (as Docker), listed registries too."""
    name = host.rsplit(":", 1)[0].strip("[]") if not host.startswith("[") or "]:" in host \
        else host.strip("[]")
    if name == "localhost":
        return True
    try:
        if ipaddress.ip_address(name).is_loopback:
            return True
    except ValueError:
        pass
    return host in _listed(root, "insecure-registries", "SANDBOX_INSECURE_REGISTRIES")


def endpoints(root: Path, registry: str) -> list[str]:
    """The base URLs to try for a registry, in order."""
    if registry == DOCKER_HUB:
        return mirrors(root) + [DOCKER_HUB_API]
    return [("http://" if is_insecure(root, registry) else "https://") + registry]


# --- credentials -----------------------------------------------------------------
def _auth_file(root: Path) -> Path:
    return root / "auth.json"


def credentials(root: Path, registry: str) -> tuple[str, str] | None:
    try:
        auths = json.loads(_auth_file(root).read_text()).get("auths", {})
    except (FileNotFoundError, ValueError):
        return None
    entry = auths.get(registry) or auths.get(f"https://{registry}") or {}
    if "auth" not in entry:
        return None
    user, _, password = base64.b64decode(entry["auth"]).decode().partition(":")
    return user, password


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
