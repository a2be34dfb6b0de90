"""Image references, parsed by Docker's grammar and normalised as Docker does.  No I/O.

    [registry[:port]/]path/name[:tag][@sha256:digest]

Defaults, as ``docker pull`` applies them (distribution/reference, normalize.go):

    ubuntu                          → docker.io/library/ubuntu:latest
    me/app:1                        → docker.io/me/app:1
    127.0.0.1:5000/demo/busybox:1   → 127.0.0.1:5000/demo/busybox:1
    busybox@sha256:…                → docker.io/library/busybox@sha256:…  (no tag added)

The first path component is a registry only if it contains a ``.`` or a
``:``, or is ``localhost``; otherwise it is part of a Docker Hub name.

Docker Hub has three names: ``docker.io``, ``index.docker.io`` (its old
name, which Docker's normalize.go still maps) and ``registry.hub.docker.com``
(the name in older documentation and scripts).  All three are one registry:

    registry.hub.docker.com/library/busybox  → docker.io/library/busybox:latest
    index.docker.io/busybox                  → docker.io/library/busybox:latest
"""

from __future__ import annotations

import re

from ..errors import UsageError

DEFAULT_REGISTRY = "docker.io"
HUB_ALIASES = ("index.docker.io", "registry.hub.docker.com")  # Docker Hub's other names
DEFAULT_TAG = "latest"
# The grammar of distribution/reference (reference.go), piece by piece.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
# Go's \w is ASCII-only; Python's also matches é and 字, which Docker refuses.
_TAG = r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}"
_DIGEST = r"sha256:[0-9a-f]{64}"
_DOMAIN = r"(?:localhost|[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*" \
          r"[a-zA-Z0-9])?)*|\[[0-9a-fA-F:]+\])(?::[0-9]+)?"


class BadReference(UsageError):
    """A reference that Docker's grammar does not accept; the message says which part."""


class Reference:
    """A parsed, normalised image reference."""

    def __init__(self, registry: str, repository: str, tag: str | None, digest: str | None):
        self.registry = registry      # docker.io, 127.0.0.1:5000, ghcr.io
        self.repository = repository  # library/ubuntu, demo/busybox
        self.tag = tag                # latest (None when pulled by digest only)
        self.digest = digest          # sha256:... or None

    def __str__(self) -> str:
        """The full name: ``docker.io/library/ubuntu:latest``."""
        return f"{self.registry}/{self.repository}" + self._suffix()

    def __repr__(self) -> str:
        return f"Reference({str(self)!r})"

    def __eq__(self, other) -> bool:
        return isinstance(other, Reference) and str(self) == str(other)

    def __hash__(self) -> int:
        return hash(str(self))

    def _suffix(self) -> str:
        return (f":{self.tag}" if self.tag else "") + (f"@{self.digest}" if self.digest else "")

    def familiar(self) -> str:
        """The short name Docker shows: ``ubuntu:latest``, ``me/app:1``.

        ``library/`` is dropped only before a single component, as Docker's
        ``FamiliarName`` (normalize.go) does: ``docker.io/library/a/b`` stays
        ``library/a/b``, because ``a/b`` would name another image.
        """
        if self.registry == DEFAULT_REGISTRY:
            short = self.repository.removeprefix("library/")
            name = short if "/" not in short else self.repository
        else:
            name = f"{self.registry}/{self.repository}"
        return name + self._suffix()

    @property
    def reference(self) -> str:
        """What the registry API calls the reference: the digest if there is one, else the tag."""
        return self.digest or self.tag or DEFAULT_TAG


def parse(text: str) -> Reference:
    """Parse and normalise a reference, or raise :class:`BadReference` naming the bad part."""
    if not text:
        raise BadReference("invalid reference format: the image name is empty")
    if any(c.isspace() for c in text):
        raise BadReference(f"invalid reference format: {text!r} has spaces in it")
    rest, digest = text, None
    if "@" in rest:
        rest, digest = rest.split("@", 1)
        if not re.fullmatch(_DIGEST, digest):
            raise BadReference(f"invalid reference format: the digest in {text!r} must be "
                               "sha256: and 64 lowercase hex digits")
    tag = None
    last = rest.rsplit("/", 1)[-1]
    if ":" in last:
        rest, tag = rest.rsplit(":", 1)
        if not re.fullmatch(_TAG, tag):
            raise BadReference(f"invalid reference format: the tag {tag!r} in {text!r} may have "
                               "letters, digits, '_', '.' and '-' only, up to 128")
    first, _, remainder = rest.partition("/")
    if remainder and ("." in first or ":" in first or first == "localhost"):
        registry, path = first, remainder
        if not re.fullmatch(_DOMAIN, registry):
            raise BadReference(f"invalid reference format: {registry!r} is not a valid registry "
                               "host[:port]")
    else:
        registry, path = DEFAULT_REGISTRY, rest
    if registry in HUB_ALIASES:
        registry = DEFAULT_REGISTRY
    if registry == DEFAULT_REGISTRY and "/" not in path:
        path = "library/" + path
    for component in path.split("/"):
        if not re.fullmatch(_COMPONENT, component):
            problem = "has uppercase letters" if component.lower() != component else \
                "may have lowercase letters, digits and separators (. _ __ -) only"
            raise BadReference(f"invalid reference format: the name component {component!r} "
                               f"in {text!r} {problem}")
    if len(f"{registry}/{path}") > 255:  # NameTotalLengthMax, counted with the registry
        raise BadReference(f"invalid reference format: the name in {text!r} is longer than 255 "
                           "characters")
    if tag is None and digest is None:
        tag = DEFAULT_TAG
    return Reference(registry, path, tag, digest)
