"""``docker ps --filter``: which containers a ``KEY=VALUE`` filter keeps.

    --filter label=com.docker.compose.project          the label is set (any value)
    --filter label=com.docker.compose.project=shop     the label has this value
    --filter name=web                                  the name contains "web" (a regex, as Docker's)
    --filter id=3f2a                                   the id starts with "3f2a"
    --filter status=exited                             created, running, paused, exited, ...

Filters of one key are alternatives (``name=a --filter name=b``: either), filters of
different keys must all hold, as Docker's daemon reads them (``daemon/list.go``).
Labels are how compose finds a project's containers again with no file of its own:
``sandbox.compose`` asks :func:`labelled` for them.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..errors import UsageError
from .records import Container, all_containers

KEYS = ("label", "name", "id", "status")
STATUSES = ("created", "restarting", "running", "removing", "paused", "exited", "dead")


def parse(items: list[str]) -> dict[str, list[str]]:
    """``["label=a=b", "name=web"]`` → ``{"label": ["a=b"], "name": ["web"]}``, checked."""
    wanted: dict[str, list[str]] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq:
            raise UsageError(f'bad format of filter (expected name=value): "{item}"')
        if key not in KEYS:
            raise UsageError(f"invalid filter '{key}': the filters here are "
                             + ", ".join(KEYS))
        if key == "status" and value not in STATUSES:
            raise UsageError(f"invalid filter 'status={value}': use one of "
                             + ", ".join(STATUSES))
        wanted.setdefault(key, []).append(value)
    return wanted


def has_labels(labels: dict, wanted: list[str]) -> bool:
    """Every ``KEY`` is set and every ``KEY=VALUE`` matches (all must hold, as Docker's)."""
    for item in wanted:
        key, eq, value = item.partition("=")
        if key not in labels or (eq and labels[key] != value):
            return False
    return True


def keeps(container: Container, state: dict, wanted: dict[str, list[str]],
          status: str | None = None) -> bool:
    """Whether ``container`` passes the filters; ``status`` is ps's (``paused`` included)."""
    if "label" in wanted and not has_labels(container.spec.labels, wanted["label"]):
        return False
    if "name" in wanted and not any(re.search(n, container.name) for n in wanted["name"]):
        return False
    if "id" in wanted and not any(container.id.startswith(i) for i in wanted["id"]):
        return False
    status = status or state.get("Status", "")
    return "status" not in wanted or status in wanted["status"]


def labelled(root: Path, labels: dict[str, str]) -> list[Container]:
    """Every container (running or not) that has each of ``labels`` with its value; newest first."""
    wanted = [f"{k}={v}" for k, v in labels.items()]
    return [c for c in all_containers(root) if has_labels(c.spec.labels, wanted)]
