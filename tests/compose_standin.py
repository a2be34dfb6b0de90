"""A stand-in for ``sandbox.compose.loader`` until the real loader lands (then: delete this file).

It reads a compose file already written in the long syntax (the tests write only that)
and fills in what the loader's normalized model always has: the project's name, each
service's ``networks`` (``default``), the real names of networks and volumes, ``scale``.
:func:`install` puts it in place only when the real loader is missing, so the tests
use the real one as soon as it is there.
"""

from __future__ import annotations

import os
import re
import sys
import types
from dataclasses import dataclass, field
from pathlib import Path

import yaml

NAMES = ("compose.yaml", "compose.yml", "docker-compose.yml", "docker-compose.yaml")


@dataclass
class Project:
    name: str
    working_dir: Path
    files: list
    model: dict
    environment: dict = field(default_factory=dict)
    disabled: dict = field(default_factory=dict)

    @property
    def services(self) -> dict:
        return self.model["services"]


def load(files=None, project_name=None, project_directory=None, env_files=None, profiles=None):
    from sandbox.errors import SandboxError
    if not files:
        where = Path(project_directory or os.getcwd())
        found = [where / n for n in NAMES if (where / n).is_file()]
        if not found:
            raise SandboxError("no configuration file provided: not found")
        files = found[:1]
    files = [Path(f).resolve() for f in files]
    model = yaml.safe_load(files[0].read_text())
    working_dir = Path(project_directory or files[0].parent).resolve()
    name = project_name or model.get("name") or os.environ.get("COMPOSE_PROJECT_NAME") \
        or working_dir.name
    name = re.sub(r"[^a-z0-9_-]", "", name.lower())
    model["name"] = name
    networks = model.setdefault("networks", {}) or {}
    model["networks"] = networks
    for service in model["services"].values():
        if not service.get("network_mode"):
            service.setdefault("networks", {"default": None})
            if service["networks"] is None or "default" in service["networks"]:
                networks.setdefault("default", {})
        if "deploy" in service and "replicas" in service["deploy"]:
            service.setdefault("scale", service["deploy"]["replicas"])
        for v in service.get("volumes") or []:
            if v.get("type") == "bind" and not os.path.isabs(v["source"]):
                v["source"] = str((working_dir / v["source"]).resolve())
    for key, config in networks.items():
        config = networks[key] = config or {}
        config.setdefault("name", key if config.get("external") else f"{name}_{key}")
    for key, config in (model.get("volumes") or {}).items():
        config = model["volumes"][key] = config or {}
        config.setdefault("name", key if config.get("external") else f"{name}_{key}")
    return Project(name, working_dir, files, model, dict(os.environ))


def install() -> None:
    """Make ``sandbox.compose.loader`` this module, unless the real one exists."""
    try:
        import sandbox.compose.loader  # noqa: F401
        return
    except ImportError:
        pass
    module = types.ModuleType("sandbox.compose.loader")
    module.load = load
    module.Project = Project
    sys.modules["sandbox.compose.loader"] = module
    import sandbox.compose
    sandbox.compose.loader = module
