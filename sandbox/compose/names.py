"""What compose calls things, and the labels by which it finds them again.

    project "shop", service "web", replica 2:
        container   shop-web-2                 (one-off ``run``: shop-web-run-1a2b3c4d5e6f)
        network     shop_default, shop_NET     (the model names them: loader)
        volume      shop_data                  (idem)
        image       shop-web                   (a service with ``build:`` and no ``image:``)

Compose keeps no file of its own: a project's containers, networks and volumes are
found by their ``com.docker.compose.*`` labels, the same ones Docker Compose v2 writes
(``pkg/api/labels.go``), so ``down`` works after a killed ``up`` or an edited file.
"""

from __future__ import annotations

import os

PREFIX = "com.docker.compose."
PROJECT = PREFIX + "project"
SERVICE = PREFIX + "service"
NUMBER = PREFIX + "container-number"
ONEOFF = PREFIX + "oneoff"
SLUG = PREFIX + "slug"
CONFIG_HASH = PREFIX + "config-hash"
WORKING_DIR = PREFIX + "project.working_dir"
CONFIG_FILES = PREFIX + "project.config_files"
DEPENDS_ON = PREFIX + "depends_on"
IMAGE = PREFIX + "image"
NETWORK = PREFIX + "network"
VOLUME = PREFIX + "volume"
VERSION = PREFIX + "version"
COMPOSE_VERSION = "2.29.7"  # the Docker Compose whose behaviour this follows


def container_name(project: str, service: str, number: int) -> str:
    """``shop-web-1``: Compose v2's separator is "-" (v1's was "_")."""
    return f"{project}-{service}-{number}"


def oneoff_slug() -> str:
    """The random part of a ``run`` container's name and its ``slug`` label."""
    return os.urandom(32).hex()


def oneoff_name(project: str, service: str, slug: str) -> str:
    """``shop-web-run-1a2b3c4d5e6f``: 12 hex digits of the slug, as Compose names them."""
    return f"{project}-{service}-run-{slug[:12]}"


def default_image(project: str, service: str) -> str:
    """The image a ``build:`` without ``image:`` is tagged with: ``shop-web``."""
    return f"{project}-{service}"


def service_image(project: str, service_name: str, service: dict) -> str:
    return service.get("image") or default_image(project, service_name)


def project_labels(project) -> dict[str, str]:
    """The labels every container of the project carries."""
    return {PROJECT: project.name, WORKING_DIR: str(project.working_dir),
            CONFIG_FILES: ",".join(str(f) for f in project.files), VERSION: COMPOSE_VERSION}


def depends_on_label(service: dict) -> str:
    """``db:service_healthy:false,init:service_completed_successfully:false``."""
    return ",".join(f"{name}:{dep.get('condition', 'service_started')}:"
                    f"{str(bool(dep.get('restart', False))).lower()}"
                    for name, dep in (service.get("depends_on") or {}).items())


def resource_labels(project: str, kind_label: str, key: str) -> dict[str, str]:
    """A network's or a volume's labels: its project and its key in the file."""
    return {PROJECT: project, kind_label: key, VERSION: COMPOSE_VERSION}
