"""The order services start in (their dependencies first), and stop in (the reverse).

    depends_on:  web → api → db          start: db, api, web      stop: web, api, db

A depth-first walk over ``depends_on`` (a topological sort, as compose's
``graph.go`` makes); services that do not depend on each other keep the file's
order.  A cycle (``a → b → a``) can never start, so it is refused, naming it.
"""

from __future__ import annotations

from ..errors import SandboxError


class DependencyCycle(SandboxError):
    pass


def start_order(services: dict[str, dict], wanted: list[str] | None = None) -> list[str]:
    """The services in ``wanted`` (all if None) and those they depend on, dependencies first.

    A dependency that is not among ``services`` (left out by a profile, or not
    ``required``) is skipped here; :func:`missing_dependencies` names the ones that matter.
    """
    ordered: list[str] = []
    visiting: list[str] = []

    def visit(name: str) -> None:
        if name in ordered:
            return
        if name in visiting:
            cycle = visiting[visiting.index(name):] + [name]
            raise DependencyCycle("dependency cycle detected: " + " -> ".join(cycle))
        visiting.append(name)
        for dependency in (services[name].get("depends_on") or {}):
            if dependency in services:
                visit(dependency)
        visiting.pop()
        ordered.append(name)

    for name in (wanted if wanted is not None else list(services)):
        visit(name)
    return ordered


def stop_order(services: dict[str, dict], names: list[str]) -> list[str]:
    """``names`` with each service before those it depends on (``down``, ``stop``).

    Names the model does not know (orphans) go first: nothing in the file depends on them.
    """
    known = [n for n in start_order(services) if n in names]
    return [n for n in names if n not in services] + list(reversed(known))


def missing_dependencies(services: dict[str, dict], name: str) -> list[str]:
    """The required dependencies of ``name`` that are not in ``services``."""
    return [dep for dep, how in (services[name].get("depends_on") or {}).items()
            if dep not in services and (how or {}).get("required", True)]


def stop_levels(services: dict[str, dict], containers: list, service_of) -> list[list]:
    """``containers`` in groups to stop one after the other, each group at once: first
    those of services nothing left depends on, then what they depended on, and so on
    (Compose's ``InReverseDependencyOrder``).  Orphans (services the file no longer
    has) are in the first group."""
    left = {service_of(c) for c in containers}
    levels = []
    while left:
        needed = {dep for name in left if name in services
                  for dep in (services[name].get("depends_on") or {}) if dep in left}
        level = {name for name in left if name not in needed} or set(left)  # a cycle: all
        levels.append([c for c in containers if service_of(c) in level])
        left -= level
    return levels
