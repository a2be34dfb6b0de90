"""The registry client: pull and push over the distribution API, like Docker.

    reference.py (one level up)   names: ubuntu → docker.io/library/ubuntu:latest
    config.py                     mirrors, insecure registries, stored credentials
    transport.py                  HTTP: bearer and basic authentication, errors, retries
    pull.py, push.py              content: manifests, platforms, blobs, digests
"""

from .pull import pull
from .push import push

__all__ = ["pull", "push", "login", "logout"]


def login(root, registry: str, user: str, password: str) -> None:
    """``docker login``: check the credentials against the registry, then store them."""
    from . import config
    from .transport import Transport
    base = config.endpoints(root, registry)[-1]
    Transport(base, "", (user, password)).request("GET", "", url=f"{base}/v2/").close()
    config.save_credentials(root, registry, user, password)


def logout(root, registry: str) -> bool:
    from . import config
    return config.forget_credentials(root, registry)
