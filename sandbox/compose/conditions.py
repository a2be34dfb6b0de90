"""``depends_on`` conditions: what a service waits for before it starts.

    depends_on:
      db:   {condition: service_healthy}                 db's containers report "healthy"
      init: {condition: service_completed_successfully}  init's containers exited 0
      cache: {condition: service_started}                cache's containers were started

Each dependency's containers are watched through their records: the state the
monitor writes (``Status``, ``ExitCode``) and the health it records (``Health.Status``:
starting, healthy, unhealthy), as ``docker inspect`` shows them.  A dependency that
fails makes the waiting service fail with Compose v2's sentence
(``pkg/compose/convergence.go``, ``waitDependencies``), naming the container.
"""

from __future__ import annotations

import time

from ..engine.records import Container
from ..errors import SandboxError

POLL = 0.05  # seconds between looks at a record: a health check runs every few seconds


class DependencyFailed(SandboxError):
    pass


def wait_until(containers: list[Container], condition: str, progress, has_healthcheck,
               timeout: float | None = None) -> None:
    """Block until every container meets ``condition``; :class:`DependencyFailed` if one never will.

    ``has_healthcheck(container)`` says whether it has a healthcheck (the file's or the
    image's); ``service_healthy`` on one without any is an error, as in Compose.
    """
    if condition == "service_started":
        return
    deadline = None if timeout is None else time.monotonic() + timeout
    for c in containers:
        progress("Container", c.name, "Waiting")
        if condition == "service_healthy":
            if not has_healthcheck(c):
                raise DependencyFailed(f"dependency failed to start: container {c.name} has "
                                       "no healthcheck configured")
            _wait_healthy(c, deadline)
            progress("Container", c.name, "Healthy")
        elif condition == "service_completed_successfully":
            code = _wait_exit(c, deadline)
            if code != 0:
                service = c.spec.labels.get("com.docker.compose.service", c.name)
                raise DependencyFailed(f'service "{service}" didn\'t complete successfully: '
                                       f"exit {code}")
            progress("Container", c.name, "Exited")
        else:
            raise SandboxError(f"unknown depends_on condition {condition!r}: use service_started, "
                               "service_healthy or service_completed_successfully")


def health(c: Container) -> str:
    """``starting``, ``healthy``, ``unhealthy``, or "" for a container without a check."""
    return (c.state.get("Health") or {}).get("Status", "")


def _wait_healthy(c: Container, deadline: float | None) -> None:
    while True:
        state = c.status()
        status = (state.get("Health") or {}).get("Status", "")
        if status == "healthy":
            return
        if status == "unhealthy":
            raise DependencyFailed(f"dependency failed to start: container {c.name} is "
                                   "unhealthy")
        if state.get("Status") in ("exited", "removed"):
            raise DependencyFailed(f"dependency failed to start: container {c.name} exited "
                                   f"({state.get('ExitCode', 0)})")
        _tick(c, deadline)


def _wait_exit(c: Container, deadline: float | None) -> int:
    while True:
        state = c.status()
        if state.get("Status") == "exited":
            return state.get("ExitCode", 0)
        if state.get("Status") == "removed":
            return 0
        _tick(c, deadline)


def _tick(c: Container, deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        raise DependencyFailed(f"timed out waiting for container {c.name}")
    time.sleep(POLL)
