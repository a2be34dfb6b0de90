"""The loaded project: one normalized model, and how ``sandbox compose config`` prints it.

    Project
    ├── name          "shop"                       (-p, COMPOSE_PROJECT_NAME, name:, or the folder)
    ├── working_dir   /home/me/shop                (relative paths in the files start here)
    ├── files         [compose.yaml, compose.override.yaml]
    ├── environment   what ${VAR} read: the caller's variables over .env's
    ├── model         {"name": ..., "services": {...}, "networks": {...}, "volumes": {...}}
    └── disabled      services left out by profiles (same shape as model["services"])

``model`` is the Compose Specification's long syntax only (canonical.py
made it), the shape ``docker compose config --format json`` prints and that
the project half of ``sandbox compose`` acts on.  :func:`to_yaml` prints it
as ``docker compose config`` does: the top-level keys in compose's order,
services and their attributes sorted, a port's or a volume's keys in
compose-go's order (``types.ServicePortConfig``, ``types.ServiceVolumeConfig``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

TOP_LEVEL_ORDER = ("name", "services", "networks", "volumes", "secrets", "configs", "models")
PORT_ORDER = ("name", "mode", "host_ip", "target", "published", "protocol", "app_protocol")
VOLUME_ORDER = ("type", "source", "target", "read_only", "consistency", "bind", "volume", "tmpfs", "image")


@dataclass
class Project:
    """A compose project as the loader returns it (the contract with the project half)."""

    name: str
    working_dir: Path
    files: list[Path]
    model: dict
    environment: dict[str, str] = field(default_factory=dict)
    disabled: dict = field(default_factory=dict)

    @property
    def services(self) -> dict[str, dict]:
        return self.model.get("services", {})

    @property
    def networks(self) -> dict[str, dict]:
        return self.model.get("networks", {})

    @property
    def volumes(self) -> dict[str, dict]:
        return self.model.get("volumes", {})


def _ordered(mapping: dict, first: tuple) -> dict:
    keys = [k for k in first if k in mapping] + sorted(k for k in mapping if k not in first)
    return {k: mapping[k] for k in keys}


def _service(spec: dict) -> dict:
    out = {}
    for key, value in sorted(spec.items()):
        if key == "ports":
            value = [_ordered({k: v for k, v in p.items() if v is not None}, PORT_ORDER) for p in value]
        elif key == "volumes":
            value = [_ordered({k: v for k, v in m.items() if v is not None}, VOLUME_ORDER) for m in value]
        elif isinstance(value, dict) and not key.startswith("x-"):
            value = _sorted(value)
        out[key] = value
    return out


def _sorted(value):
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value)}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def printable(model: dict) -> dict:
    """The model with its keys in the order ``docker compose config`` prints them."""
    out = {}
    for key in [k for k in TOP_LEVEL_ORDER if k in model] + sorted(k for k in model if k not in TOP_LEVEL_ORDER):
        value = model[key]
        if key == "services":
            value = {name: _service(value[name]) for name in sorted(value)}
        elif not key.startswith("x-"):
            value = _sorted(value)
        out[key] = value
    return out


def to_yaml(project: Project | dict) -> str:
    """The project's model as YAML, as ``docker compose config`` prints it."""
    import yaml

    class Dumper(yaml.SafeDumper):
        """Multi-line strings (scripts in command:) as literal blocks, as compose prints them."""

    def text(dumper, value: str):
        style = "|" if "\n" in value and not value.rstrip("\n").count("\n\n") and " \n" not in value else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    model = project.model if isinstance(project, Project) else project
    return yaml.dump(printable(model), Dumper=Dumper, sort_keys=False, default_flow_style=False,
                     allow_unicode=True, width=1000)
