"""The registry client: pull and push over the distribution API, like Docker.

    reference.py (one level up)   names: ubuntu → docker.io/library/ubuntu:latest
    config.py                     mirrors, insecure registries, stored credentials
    transport.py                  HTTP: bearer and basic authentication, errors, retries,
                                  and where credentials may go (their own host only)
    pull.py, push.py              content: manifests, platforms, blobs, digests
"""

# The functions shadow their modules' names here on purpose: sandbox.content.registry.pull is
# the function; `from sandbox.content.registry.pull import choose_platform` still finds the module.
from .pull import pull  # noqa: E402
from .push import push  # noqa: E402

__all__ = ["pull", "push", "login", "logout", "server_name"]


def server_name(server: str) -> str:
    """The registry a ``login``/``logout`` argument names, as Docker reads it
    (registry/auth.go, ConvertToHostname): ``http://127.0.0.1:5000/`` → ``127.0.0.1:5000``;
    Docker Hub's other names (``index.docker.io``, ``registry.hub.docker.com``, and the
    API's host ``registry-1.docker.io``) → ``docker.io``, so that one login serves them all."""
    from ..reference import DEFAULT_REGISTRY, HUB_ALIASES
    host = server.split("://", 1)[-1].split("/", 1)[0]
    return DEFAULT_REGISTRY if host in HUB_ALIASES + ("registry-1.docker.io",) else host


def login(root, registry: str, user: str, password: str) -> None:
    """``docker login``: check the credentials against the registry, then store them."""
    from . import config
    from .transport import Transport
    registry = server_name(registry)
    base = config.registry_url(root, registry)
    Transport(base, "", (user, password), insecure=config.insecure_registries(root)).request(
        "GET", "").close()
    config.save_credentials(root, registry, user, password)


def logout(root, registry: str) -> bool:
    """``docker logout``: forget the stored credentials; False if there were none."""
    from . import config
    return config.forget_credentials(root, server_name(registry))
