"""A service's config hash: the fingerprint a second ``up`` compares to decide what to recreate.

    sha256( the service's normalized model, less what does not change a container
            + the id of the image it runs )                          → label config-hash

A container whose label equals the service's hash now is left running; any other is
recreated.  As Docker Compose's ``ServiceHash`` (``pkg/compose/hash.go``), the hash
leaves out what does not change a container: ``build`` (a rebuilt image has a new id,
which is in the hash), ``pull_policy``, ``scale`` and ``deploy.replicas`` (scaling adds
or removes replicas; it does not recreate the others), ``depends_on`` and ``profiles``.
"""

from __future__ import annotations

import copy
import hashlib
import json

IGNORED = ("build", "pull_policy", "scale", "depends_on", "profiles")


def service_hash(service: dict, image_id: str) -> str:
    """The hex sha256 of the service's model (keys sorted) and its image's id."""
    kept = {k: copy.deepcopy(v) for k, v in service.items() if k not in IGNORED}
    if isinstance(kept.get("deploy"), dict):
        kept["deploy"].pop("replicas", None)
        if not kept["deploy"]:
            del kept["deploy"]
    text = json.dumps(kept, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256((text + "\n" + image_id).encode()).hexdigest()
