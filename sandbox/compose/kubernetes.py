"""A compose project as Kubernetes objects: what ``sandbox compose convert --format kubernetes`` writes.

    compose.yaml                                Kubernetes (one YAML document each)
    services:
      web:  ─────────────────────────────────▶  Deployment web       replicas = scale, one container
        image, entrypoint, command, env            image, command, args, env
        ports: "8080:80", expose: ["9000"]  ──▶  Service web          found by the DNS name "web",
                                                                       as on compose's network
        volumes: data:/var/lib/x  ───────────▶  PersistentVolumeClaim data (1Gi) + a volumeMount
        volumes: ./site:/srv (bind)  ────────▶  emptyDir, and a warning: the cluster has no ./site
        tmpfs: /run  ────────────────────────▶  emptyDir, medium Memory
        healthcheck  ────────────────────────▶  readinessProbe and livenessProbe (exec)
        user, cap_add, cap_drop, read_only  ─▶  securityContext

kompose (``pkg/loader/compose/compose.go``, ``pkg/transformer/kubernetes/
kubernetes.go`` and ``k8sutils.go``; its conversion table in ``docs/conversion.md``)
is the anchor, and its labels steer the same choices here:
``kompose.service.type`` (clusterip, nodeport, loadbalancer, headless),
``kompose.volume.size``, ``kompose.volume.storage-class-name``,
``kompose.volume.type`` (persistentVolumeClaim, emptyDir, hostPath).  Where this
module decides otherwise it says why, at the rule:

* a service with a *published* port gets a ``LoadBalancer`` Service (kompose
  keeps ``ClusterIP`` unless labelled): publishing means "reachable from outside",
  and a LoadBalancer keeps the published number, which a NodePort (30000-32767)
  cannot;
* a ``CMD-SHELL`` healthcheck runs as ``/bin/sh -c "..."``, as Docker runs it
  (kompose passes the shell line as if it were a program's name);
* ``$`` in command, args and env is escaped, so that Kubernetes' own ``$(VAR)``
  expansion cannot change what compose would have run (kompose rewrites ``$VAR``
  into ``$(VAR)`` instead);
* ``environment`` becomes the container's ``env``, env_file entries included: the
  loader has merged them in (as ``docker compose config`` does), so the model no
  longer says which file each came from, and kompose's one ConfigMap per env_file
  cannot be made;
* a bind mount becomes an ``emptyDir`` with a warning (kompose makes an empty
  claim, or reads the host's files into a ConfigMap: a pure converter reads no
  files); label the service ``kompose.volume.type: hostPath`` for a one-node cluster.

Services find each other by name through the Service of the same name, so every
service name must be a DNS-1035 label.  As kompose does, ``_`` and ``.`` become
``-`` and capitals become small (with a warning: whoever reached ``web_app`` must
now say ``web-app``); a name that still is no label is refused.  What has no
Kubernetes counterpart (``depends_on``, networks, ``init``...) is listed as a
warning, in a comment at the top of the output; nothing is dropped silently.

The converter is pure: a :class:`~sandbox.compose.model.Project` in, objects
out.  Kubernetes docs: "Workloads > Deployments", "Services, Load Balancing, and
Networking > Service", "Storage > Persistent Volumes", "Configure Liveness,
Readiness and Startup Probes", "Object Names and IDs".
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from ..errors import UsageError
from .canonical import parse_duration
from .errors import ComposeError
from .model import Project

FORMATS = ("kubernetes",)
DEFAULT_VOLUME_SIZE = "1Gi"  # kompose's PVCRequestSize

# "Object Names and IDs": a Service's name is a DNS-1035 label, a volume's a DNS-1123 label.
DNS_1035_LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")
DNS_1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")
LABEL_VALUE = re.compile(r"^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$")

SERVICE_TYPES = {"clusterip": "ClusterIP", "nodeport": "NodePort", "loadbalancer": "LoadBalancer",
                 "headless": "Headless"}  # kompose's handleServiceType
VOLUME_TYPES = ("persistentVolumeClaim", "emptyDir", "hostPath")
PULL_POLICIES = {"always": "Always", "never": "Never", "missing": "IfNotPresent", "if_not_present": "IfNotPresent"}

# Keys a Kubernetes object cannot say, and why (kompose's conversion table, column "Notes").
NOT_CONVERTED = {
    "depends_on": "Kubernetes starts every Pod at once; one whose dependency is not ready yet "
                  "fails and is restarted until it is, and readiness probes hold traffic back meanwhile",
    "init": "Kubernetes has no --init: put tini (or another init) in the image",
    "stop_signal": "Kubernetes always sends SIGTERM: make the image's STOPSIGNAL the one it needs",
    "security_opt": "seccomp and AppArmor profiles are set by the cluster's securityContext fields",
    "extra_hosts": "write them as the Pod's hostAliases by hand",
    "dns": "Pods use the cluster's DNS", "dns_search": "Pods use the cluster's DNS",
    "network_mode": "every Pod has its own network namespace",
    "ipc": "containers of different Pods share no IPC namespace",
    "pid": "containers of different Pods share no PID namespace",
    "volumes_from": "mount the same claim in both services instead",
    "links": "every Service is found by its name already", "external_links": "no counterpart",
    "devices": "devices come from the cluster's device plugins",
    "secrets": "create a Secret and mount it", "configs": "create a ConfigMap and mount it",
    "ulimits": "not supported by Kubernetes", "sysctls": "set in the Pod's securityContext by hand",
    "cgroup_parent": "the kubelet places Pods in cgroups", "userns_mode": "see the Pod's hostUsers",
    "logging": "the node collects every container's output",
    "mem_limit": "write resources.limits.memory by hand", "cpus": "write resources.limits.cpu by hand",
    "pids_limit": "the kubelet sets the PID limit",
    "container_name": "Kubernetes names Pods itself (the container is named after the service)",
}


NETWORKS = ("every Pod reaches every Service of its namespace: compose's separate networks "
            "would be NetworkPolicies")


@dataclass
class Conversion:
    """The objects made from one project, and what the conversion could not say in them."""

    objects: list[dict] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


# --- the pipeline --------------------------------------------------------------------------

def convert(project: Project, format: str = "kubernetes") -> str:
    """The project as multi-document YAML: ``kubectl apply -f`` takes it as it is."""
    if format not in FORMATS:
        raise UsageError(f"unknown format {format!r} for compose convert: use --format kubernetes")
    return to_yaml(manifests(project), project)


def manifests(project: Project) -> Conversion:
    """Every object of the project: Services, then claims, then Deployments (and Pods).

    Services come first, as kompose orders them: a Service that exists before its
    Pods start is one their environment already knows.
    """
    out = Conversion()
    names = service_names(project, out.warnings)
    services, claims, workloads, unconverted = [], {}, [], {}
    for service in sorted(project.services):
        spec, name = project.services[service], names[service]
        labels = _labels(project, name)
        volumes, mounts = _volumes(project, service, name, claims, out.warnings)
        workloads.append(_workload(spec, name, labels, _container(spec, name, mounts, out.warnings),
                                   volumes, out.warnings))
        made = _service(project, service, name, labels, out.warnings)
        if made:
            services.append(made)
        for key in _not_converted(spec):
            unconverted.setdefault(key, []).append(service)
    for key, which in unconverted.items():
        out.warnings.append(f"{key} ({', '.join(which)}) is not converted: {NOT_CONVERTED.get(key, NETWORKS)}")
    out.objects = services + [c for c in claims.values() if c] + workloads  # None: an external claim
    return out


def service_names(project: Project, warnings: list[str]) -> dict[str, str]:
    """Each compose service's Kubernetes name, checked: a Service is found by it through DNS."""
    names: dict[str, str] = {}
    for service in project.services:
        name = re.sub(r"[._]", "-", service.lower())  # kompose's normalizeServiceNames
        if len(name) > 63 or not DNS_1035_LABEL.match(name):
            raise ComposeError(f"service name {service!r} cannot name a Kubernetes Service: use lowercase "
                               "letters, digits and '-', starting with a letter, at most 63 characters",
                               _file(project), ("services", service))
        clash = [other for other, taken in names.items() if taken == name]
        if clash:
            raise ComposeError(f"services {clash[0]!r} and {service!r} would both be named {name!r} in "
                               "Kubernetes: rename one of them", _file(project), ("services", service))
        if name != service:
            warnings.append(f"service {service!r} is named {name!r} in Kubernetes (a DNS-1035 label has "
                            f"no '_', '.' or capitals): other services must reach it as {name!r}")
        names[service] = name
    return names


def _file(project: Project):
    return project.files[0] if project.files else None


def _labels(project: Project, name: str) -> dict[str, str]:
    """The recommended labels: which service (the selector) and which application."""
    part_of = project.name[:63].rstrip("-_") if project.name else ""
    labels = {"app.kubernetes.io/name": name}
    if part_of and LABEL_VALUE.match(part_of):
        labels["app.kubernetes.io/part-of"] = part_of
    return labels


def _metadata(name: str, labels: dict, spec: dict | None = None) -> dict:
    meta = {"name": name, "labels": dict(labels)}
    annotations = {k: str(v) for k, v in ((spec or {}).get("labels") or {}).items()}
    if annotations:
        meta["annotations"] = annotations  # compose labels are kompose's annotations
    return meta


# --- the workload: a Deployment, or a Pod for a service that must not restart --------------

def _workload(spec: dict, name: str, labels: dict, container: dict, volumes: list[dict],
              warnings: list[str]) -> dict:
    """A Deployment, or (as kompose, for ``restart: no`` and ``on-failure``) a bare Pod.

    A Deployment's Pods always restart (``restartPolicy: Always`` is the only one
    it accepts), so a service compose would leave stopped becomes one Pod.
    """
    pod = {"containers": [container]}
    if volumes:
        pod["volumes"] = volumes
    if spec.get("hostname"):
        if DNS_1123_LABEL.match(spec["hostname"]):
            pod["hostname"] = spec["hostname"]
        else:
            warnings.append(f"{name}: hostname {spec['hostname']!r} is no DNS label: left out")
    if spec.get("stop_grace_period"):
        pod["terminationGracePeriodSeconds"] = _seconds(spec["stop_grace_period"])
    restart = str(spec.get("restart", "always"))
    if restart == "no" or restart.startswith("on-failure"):
        if spec.get("scale", 1) != 1:
            warnings.append(f"{name}: restart: {restart} makes one Pod, not {spec['scale']} replicas")
        pod["restartPolicy"] = "Never" if restart == "no" else "OnFailure"
        return {"apiVersion": "v1", "kind": "Pod", "metadata": _metadata(name, labels, spec), "spec": pod}
    deployment = {"replicas": int(spec.get("scale", 1))}
    if any("persistentVolumeClaim" in v for v in volumes):
        # kompose's rule: the old Pod lets go of its claim before the new one takes it.
        deployment["strategy"] = {"type": "Recreate"}
    deployment["selector"] = {"matchLabels": dict(labels)}
    deployment["template"] = {"metadata": {"labels": dict(labels)}, "spec": pod}
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": _metadata(name, labels, spec),
            "spec": deployment}


def _container(spec: dict, name: str, mounts: list[dict], warnings: list[str]) -> dict:
    """The one container of the Pod: entrypoint is its command, command its args (as kompose)."""
    container = {"name": name, "image": spec["image"]}
    if "build" in spec:
        warnings.append(f"{name}: the image {spec['image']!r} is built here: push it to a registry "
                        "the cluster can pull from (sandbox build -t REGISTRY/NAME, then push)")
    if spec.get("pull_policy") in PULL_POLICIES:
        container["imagePullPolicy"] = PULL_POLICIES[spec["pull_policy"]]
    if spec.get("entrypoint"):
        container["command"] = [_escape(word) for word in spec["entrypoint"]]
    if spec.get("command"):
        container["args"] = [_escape(word) for word in spec["command"]]
    if spec.get("working_dir"):
        container["workingDir"] = spec["working_dir"]
    env = _env(spec, name, warnings)
    if env:
        container["env"] = env
    ports = _container_ports(spec)
    if ports:
        container["ports"] = ports
    if mounts:
        container["volumeMounts"] = mounts
    probe = _probe(spec.get("healthcheck"), name, warnings)
    if probe:
        # readiness: what compose calls "healthy" (depends_on: service_healthy, and traffic);
        # liveness: kompose's choice, a container that stays unhealthy is restarted.
        container["readinessProbe"] = probe
        container["livenessProbe"] = dict(probe)
    security = _security_context(spec, name, warnings)
    if security:
        container["securityContext"] = security
    if spec.get("tty"):
        container["tty"] = True
    if spec.get("stdin_open"):
        container["stdin"] = True
    return container


def _escape(text: str) -> str:
    """``$`` doubled where Kubernetes would read it: before ``(`` (a ``$(VAR)``) and before ``$``.

    Kubernetes expands ``$(VAR)`` in command, args and env values, and reads ``$$``
    as one ``$`` (``third_party/forked/golang/expansion``); compose already did its
    interpolation, so what is left must reach the container as it is.
    """
    return re.sub(r"\$(?=[$(])", "$$", text)


def _env(spec: dict, name: str, warnings: list[str]) -> list[dict]:
    """``environment`` (env_file entries included: the loader merged them) as env, sorted as kompose."""
    env = []
    for key, value in sorted((spec.get("environment") or {}).items()):
        if value is None:
            warnings.append(f"{name}: {key} has no value here (compose passes it from the caller's "
                            "environment): left out")
            continue
        env.append({"name": key, "value": _escape(str(value))})
    return env


# --- ports and the Service -----------------------------------------------------------------

def _ports(spec: dict) -> list[tuple[int, int, str, bool]]:
    """(service port, container port, protocol, published) for ports, then expose, as kompose's loadPorts."""
    out, seen = [], set()
    for port in spec.get("ports") or []:
        protocol = (port.get("protocol") or "tcp").upper()
        published = port.get("published")
        number = int(published) if published not in (None, "") else int(port["target"])
        if (number, protocol) not in seen:
            out.append((number, int(port["target"]), protocol, published not in (None, "")))
            seen.add((number, protocol))
    for entry in spec.get("expose") or []:
        text, _, protocol = str(entry).partition("/")
        protocol = (protocol or "tcp").upper()
        first, _, last = text.partition("-")
        for target in range(int(first), int(last or first) + 1):
            if (target, protocol) not in seen and not any(t == target and p == protocol for _, t, p, _ in out):
                out.append((target, target, protocol, False))
                seen.add((target, protocol))
    return out


def _container_ports(spec: dict) -> list[dict]:
    ports, seen = [], set()
    for _, target, protocol, _ in _ports(spec):
        if (target, protocol) not in seen:
            seen.add((target, protocol))
            ports.append({"containerPort": target, **({"protocol": protocol} if protocol != "TCP" else {})})
    return ports


def _service(project: Project, service: str, name: str, labels: dict, warnings: list[str]) -> dict | None:
    """The Service that gives the service its DNS name; None (with a warning) when it has no port."""
    spec = project.services[service]
    ports = _ports(spec)
    kind = _service_type(project, service, ports)
    if not ports and kind != "Headless":
        needed_by = sorted(other for other, s in project.services.items() if service in (s.get("depends_on") or {}))
        who = f" ({', '.join(needed_by)} depends on it)" if needed_by else ""
        warnings.append(f"{name}: no ports or expose, so no Service: no other Pod can reach it as {name!r}"
                        f"{who}; add expose: [PORT] to the service")
        return None
    service_ports, names = [], set()
    for number, target, protocol, _ in ports:
        port_name = str(number) if str(number) not in names else f"{number}-{protocol.lower()}"
        names.add(port_name)
        entry = {"name": port_name, "port": number, "targetPort": target}
        if protocol != "TCP":
            entry["protocol"] = protocol
        service_ports.append(entry)
    body = {"selector": dict(labels), "ports": service_ports}
    if kind == "Headless":
        # No port to balance: DNS answers with the Pods' own addresses, as compose's network does.
        body["clusterIP"] = "None"
        body["ports"] = service_ports or [{"name": "headless", "port": 55555}]  # kompose's placeholder
    else:
        body["type"] = kind
    return {"apiVersion": "v1", "kind": "Service", "metadata": _metadata(name, labels, spec), "spec": body}


def _service_type(project: Project, service: str, ports: list) -> str:
    """kompose's label decides; else a published port means LoadBalancer, and the rest ClusterIP."""
    label = (project.services[service].get("labels") or {}).get("kompose.service.type")
    if label is not None:
        if str(label).lower() not in SERVICE_TYPES:
            raise ComposeError(f"unknown kompose.service.type {label!r}: use clusterip, nodeport, "
                               "loadbalancer or headless", _file(project),
                               ("services", service, "labels"))
        return SERVICE_TYPES[str(label).lower()]
    return "LoadBalancer" if any(published for *_, published in ports) else "ClusterIP"


# --- volumes -------------------------------------------------------------------------------

def _volumes(project: Project, service: str, name: str, claims: dict, warnings: list[str]):
    """(the Pod's volumes, the container's volumeMounts); new claims are added to ``claims``.

    Named volumes are claims named after the volume (shared by every service that
    mounts it), anonymous ones ``<service>-claim<i>``, as kompose names them.
    """
    spec = project.services[service]
    labels = spec.get("labels") or {}
    volume_type = labels.get("kompose.volume.type")
    if volume_type is not None and volume_type not in VOLUME_TYPES:
        raise ComposeError(f"unsupported kompose.volume.type {volume_type!r}: use "
                           f"{', '.join(VOLUME_TYPES)} (a ConfigMap would need the host's files)",
                           _file(project), ("services", service, "labels"))
    volumes: dict[str, dict] = {}
    mounts = []
    entries = list(spec.get("volumes") or [])
    entries += [{"type": "tmpfs", "target": t.split(":")[0]} for t in spec.get("tmpfs") or []]
    for i, entry in enumerate(entries):
        made = _volume(project, entry, i, name, labels, volume_type, claims, warnings)
        if made is None:
            continue
        volume, read_only = made
        volumes.setdefault(volume["name"], volume)
        mount = {"name": volume["name"], "mountPath": entry["target"]}
        if read_only:
            mount["readOnly"] = True
        mounts.append(mount)
    return list(volumes.values()), mounts


def _volume(project, entry, i, name, labels, volume_type, claims, warnings):
    kind, source, read_only = entry.get("type"), entry.get("source"), bool(entry.get("read_only"))
    if kind == "tmpfs":
        size = (entry.get("tmpfs") or {}).get("size")
        empty = {"medium": "Memory", **({"sizeLimit": str(size)} if size else {})}
        return {"name": f"{name}-tmpfs{i}", "emptyDir": empty}, read_only
    if kind == "bind":
        if str(source).endswith(".sock"):
            warnings.append(f"{name}: the socket {source} is the host's: left out (as kompose)")
            return None
        if volume_type == "hostPath":
            return {"name": f"{name}-hostpath{i}", "hostPath": {"path": source}}, read_only
        if volume_type == "persistentVolumeClaim":
            return _claim(project, f"{name}-claim{i}", None, labels, claims, read_only)
        warnings.append(f"{name}: the bind mount {source} -> {entry['target']} becomes an empty directory: "
                        "the cluster's nodes do not have that folder (put the files in the image or a "
                        "ConfigMap, or label the service kompose.volume.type: hostPath on a one-node cluster)")
        return {"name": f"{name}-empty{i}", "emptyDir": {}}, read_only
    if kind == "volume":
        if volume_type == "emptyDir":
            return {"name": f"{name}-empty{i}", "emptyDir": {}}, read_only
        if not source:  # anonymous: compose makes one per container, kompose a claim per service
            return _claim(project, f"{name}-claim{i}", None, labels, claims, read_only)
        return _claim(project, None, source, labels, claims, read_only, warnings)
    warnings.append(f"{name}: a volume of type {kind!r} at {entry.get('target')} has no counterpart: left out")
    return None


def _claim(project, claim, key, service_labels, claims, read_only, warnings=None):
    """A PersistentVolumeClaim (made once) and the Pod volume that mounts it."""
    declared = (project.volumes.get(key) or {}) if key else {}
    if key:
        claim = re.sub(r"_", "-", (declared.get("name") if declared.get("external") else key) or key).lower()
        if len(claim) > 63 or not DNS_1123_LABEL.match(claim):
            raise ComposeError(f"volume name {key!r} cannot name a Kubernetes claim: use lowercase letters, "
                               "digits and '-', at most 63 characters", _file(project), ("volumes", key))
    volume = {"name": claim, "persistentVolumeClaim": {"claimName": claim, **({"readOnly": True} if read_only else {})}}
    if declared.get("external"):
        if claim not in claims and warnings is not None:
            warnings.append(f"volume {key!r} is external: the claim {claim!r} must exist in the cluster")
            claims.setdefault(claim, None)
        return volume, read_only
    if claim not in claims:
        volume_labels = declared.get("labels") or {}
        size = volume_labels.get("kompose.volume.size") or service_labels.get("kompose.volume.size") \
            or DEFAULT_VOLUME_SIZE
        spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": str(size)}}}
        storage_class = service_labels.get("kompose.volume.storage-class-name")
        if storage_class:
            spec["storageClassName"] = storage_class
        labels = {"app.kubernetes.io/name": claim}
        part_of = _labels(project, claim).get("app.kubernetes.io/part-of")
        if part_of:
            labels["app.kubernetes.io/part-of"] = part_of
        claims[claim] = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
                         "metadata": {"name": claim, "labels": labels}, "spec": spec}
    return volume, read_only


# --- healthcheck and security --------------------------------------------------------------

def _seconds(duration, default: int = 0, least: int = 0) -> int:
    """A Go duration in whole seconds, rounded up (a probe counts in seconds, at least 1)."""
    if duration in (None, ""):
        return default
    return max(least, math.ceil(parse_duration(duration) / 1_000_000_000))


def _probe(healthcheck: dict | None, name: str, warnings: list[str]) -> dict | None:
    """The healthcheck as an exec probe, with compose's defaults (30s, 30s, 3 retries)."""
    if not healthcheck or healthcheck.get("disable"):
        return None
    test = healthcheck.get("test")
    if not test:
        warnings.append(f"{name}: the healthcheck has no test (the image's HEALTHCHECK does not reach "
                        "Kubernetes): no probe")
        return None
    if test[0] == "NONE":
        return None
    # Docker runs CMD-SHELL with the image's shell, /bin/sh -c on Linux.
    command = list(test[1:]) if test[0] == "CMD" else ["/bin/sh", "-c", " ".join(test[1:])]
    probe = {"exec": {"command": command},
             "periodSeconds": _seconds(healthcheck.get("interval"), 30, 1),
             "timeoutSeconds": _seconds(healthcheck.get("timeout"), 30, 1),
             "failureThreshold": int(healthcheck.get("retries") or 3)}
    delay = _seconds(healthcheck.get("start_period"))
    if delay:
        probe["initialDelaySeconds"] = delay
    return probe


def _security_context(spec: dict, name: str, warnings: list[str]) -> dict:
    """user, cap_add, cap_drop, read_only and privileged, as kompose's UpdateKubernetesObjects."""
    context: dict = {}
    if spec.get("user"):
        user, _, group = str(spec["user"]).partition(":")
        if user.isdigit():
            context["runAsUser"] = int(user)
        else:
            warnings.append(f"{name}: user {user!r} is a name; Kubernetes' runAsUser takes a number: left out")
        if group.isdigit():
            context["runAsGroup"] = int(group)
        elif group:
            warnings.append(f"{name}: group {group!r} is a name; runAsGroup takes a number: left out")
    # Kubernetes names capabilities without the CAP_ prefix Docker also accepts.
    capabilities = {key: [c.upper().removeprefix("CAP_") for c in spec[compose_key]]
                    for key, compose_key in (("add", "cap_add"), ("drop", "cap_drop")) if spec.get(compose_key)}
    if capabilities:
        context["capabilities"] = capabilities
    if spec.get("read_only"):
        context["readOnlyRootFilesystem"] = True
    if spec.get("privileged"):
        context["privileged"] = True
    return context


def _not_converted(spec: dict) -> list[str]:
    """The keys of a service that no object above says."""
    keys = [key for key in NOT_CONVERTED if spec.get(key)]
    if set(spec.get("networks") or {}) - {"default"}:
        keys.append("networks")
    return keys


# --- printing ------------------------------------------------------------------------------

def to_yaml(conversion: Conversion, project: Project | None = None) -> str:
    """One YAML document per object, after a comment with every warning."""
    import yaml

    class Dumper(yaml.SafeDumper):
        """Scripts (multi-line strings) as literal blocks, as in the compose file; no &anchors."""

        def ignore_aliases(self, data):
            return True

    def text(dumper, value: str):
        style = "|" if "\n" in value and " \n" not in value and not value.startswith((" ", "\n")) else None
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)

    Dumper.add_representer(str, text)
    head = ["# Kubernetes objects written by `sandbox compose convert --format kubernetes`"
            + (f" for the compose project {project.name!r}" if project else "")]
    head += [f"# warning: {w}" for w in conversion.warnings]
    documents = [yaml.dump(o, Dumper=Dumper, sort_keys=False, default_flow_style=False,
                           allow_unicode=True, width=1000) for o in conversion.objects if o]
    return "\n".join(head) + "\n" + "".join(f"---\n{d}" for d in documents)
