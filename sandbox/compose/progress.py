"""Compose v2's plain progress lines: one line per resource per step.

     Network shop_default  Creating
     Network shop_default  Created
     Container shop-db-1  Started
     Container shop-web-1  Waiting
     Container shop-db-1  Healthy

(``docker compose --progress plain``: a space, the kind, the name, two spaces, the
step.)  ``up -d``, ``down``, ``start``, ``stop`` print them to stderr as Compose does,
so that stdout keeps only what a script reads (``ps -q``, ``port``).
"""

from __future__ import annotations

import sys


class Progress:
    """Writes the lines to ``write`` (stderr by default); ``quiet`` writes nothing."""

    def __init__(self, write=None, quiet: bool = False):
        self.write = write or _stderr
        self.quiet = quiet

    def __call__(self, kind: str, name: str, step: str) -> None:
        if not self.quiet:  # a service's own steps (Pulling, Built) have no kind
            self.write(f" {kind} {name}  {step}" if kind else f" {name} {step}")

    def warn(self, text: str) -> None:
        if not self.quiet:
            self.write(f"WARN[0000] {text}")


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def silent() -> Progress:
    return Progress(quiet=True)
