"""The loader's one error: what is wrong with a compose file, naming the file and the path in it.

    compose.yaml: services.web.ports[0]: invalid port 'abc'
    └── file ───┘ └── path ──────────┘ └── reason ───────┘

compose-go wraps its errors the same way ("validating compose.yaml:
services.web additional properties 'imagee' not allowed"); a learner reads
the file, finds the key by its path, and fixes it.  ``docker compose``
exits with status 1 on any such error (``config`` included), so does
``sandbox compose``.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import SandboxError


def show_path(path) -> str:
    """``("services", "web", "ports", 0)`` → ``services.web.ports[0]``."""
    shown = ""
    for part in path:
        if isinstance(part, int):
            shown += f"[{part}]"
        else:
            shown += f".{part}" if shown else str(part)
    return shown


def _shown_file(file: Path) -> str:
    """The file as a learner would type it: relative to the current folder when inside it."""
    try:
        return str(file.relative_to(Path.cwd())) if file.is_absolute() else str(file)
    except ValueError:
        return str(file)


class ComposeError(SandboxError):
    """A compose file that cannot be loaded: ``file: path: reason``, one sentence."""

    exit_code = 1  # docker compose's status for an invalid project

    def __init__(self, reason: str, file: Path | str | None = None, path=()):
        self.reason = reason
        self.file = Path(file) if file else None
        self.path = show_path(path) if not isinstance(path, str) else path
        where = [_shown_file(self.file)] if self.file else []
        if self.path:
            where.append(self.path)
        self.message = ": ".join(where + [reason])
        super().__init__(self.message)

    def __reduce__(self):
        return (type(self), (self.reason, self.file, self.path))

    def __str__(self) -> str:
        return self.message
