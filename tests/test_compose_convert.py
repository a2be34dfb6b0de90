"""sandbox.compose.kubernetes: a compose project as Kubernetes objects (kompose's rules).

Every object written is validated offline against the Kubernetes schemas that
kubernetes-validate ships (strict: an unknown field is an error), for the pinned
Kubernetes version below; then what no schema checks is checked here: each
Deployment selects its own Pods, each Service selects a workload, each claim a
Pod mounts is written.  The corpus is the compose loader's (compose-go's
fixtures) and the course's three-service example; then one focused test per rule.
"""

from pathlib import Path

import kubernetes_validate
import pytest
import yaml

from sandbox.compose.errors import ComposeError
from sandbox.compose.kubernetes import convert, manifests
from sandbox.compose.loader import load
from sandbox.errors import UsageError
from test_compose_loader import CORPUS, FIXTURES, HOME, LOADER

REPO = Path(__file__).resolve().parents[1]
KUBERNETES = "1.31.0"  # the Kubernetes version whose schemas every manifest must satisfy
WORKLOADS = ("Deployment", "Pod")


def check_objects(objects: list[dict], external_claims: set = frozenset()) -> None:
    """Every object valid for KUBERNETES, and the references between them whole."""
    for obj in objects:
        kubernetes_validate.validate(obj, KUBERNETES, strict=True)
    by_kind: dict[str, list[dict]] = {}
    for obj in objects:
        by_kind.setdefault(obj["kind"], []).append(obj)
    names = [(o["kind"], o["metadata"]["name"]) for o in objects]
    assert len(names) == len(set(names)), names
    pod_labels = []
    for workload in by_kind.get("Deployment", []):
        spec = workload["spec"]
        assert spec["selector"]["matchLabels"] == spec["template"]["metadata"]["labels"]
        pod_labels.append(spec["template"]["metadata"]["labels"])
        _check_pod(spec["template"]["spec"], by_kind, external_claims)
    for pod in by_kind.get("Pod", []):
        pod_labels.append(pod["metadata"]["labels"])
        _check_pod(pod["spec"], by_kind, external_claims)
    for service in by_kind.get("Service", []):
        selector = service["spec"]["selector"]
        assert any(selector.items() <= labels.items() for labels in pod_labels), service
        assert service["metadata"]["name"] == selector["app.kubernetes.io/name"]


def _check_pod(pod: dict, by_kind: dict, external_claims: set) -> None:
    claims = {c["metadata"]["name"] for c in by_kind.get("PersistentVolumeClaim", [])} | external_claims
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for mount in pod["containers"][0].get("volumeMounts", []):
        assert mount["name"] in volumes, mount
    for volume in volumes.values():
        if "persistentVolumeClaim" in volume:
            assert volume["persistentVolumeClaim"]["claimName"] in claims, volume


def converted(project) -> list[dict]:
    """The printed YAML read back (it must be what ``manifests`` made), checked."""
    text = convert(project)
    documents = [d for d in yaml.safe_load_all(text) if d is not None]
    assert documents == manifests(project).objects
    # An external volume's claim is the cluster's own: written by no one here.
    external = {v["name"].replace("_", "-").lower() for v in project.volumes.values() if v.get("external")}
    check_objects(documents, external)
    return documents


def _write(folder: Path, text: str) -> Path:
    (folder / "compose.yaml").write_text(text)
    return folder / "compose.yaml"


def project_of(tmp_path: Path, text: str):
    return load([_write(tmp_path, text)], environ=HOME)


def only(objects: list[dict], kind: str, name: str) -> dict:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, [(o["kind"], o["metadata"]["name"]) for o in objects]
    return found[0]


def container(objects: list[dict], name: str) -> dict:
    workload = next(o for o in objects if o["kind"] in WORKLOADS and o["metadata"]["name"] == name)
    spec = workload["spec"]["template"]["spec"] if workload["kind"] == "Deployment" else workload["spec"]
    return spec["containers"][0]


def pod_spec(objects: list[dict], name: str) -> dict:
    workload = next(o for o in objects if o["kind"] in WORKLOADS and o["metadata"]["name"] == name)
    return workload["spec"]["template"]["spec"] if workload["kind"] == "Deployment" else workload["spec"]


# --- the corpus: every fixture the loader accepts, converted and validated ------------------

LOADABLE = sorted(name for name, (_, check, refusal) in FIXTURES.items() if refusal is None)


@pytest.mark.parametrize("fixture", LOADABLE)
def test_corpus_fixture_converts_to_valid_manifests(fixture):
    if not LOADER.is_dir():
        pytest.skip("the compose-go conformance corpus (../shared/conformance/compose-spec/compose-go) is absent")
    kwargs = dict(FIXTURES[fixture][0])
    environ = {**HOME, **kwargs.pop("environ", {})}
    project = load([CORPUS / fixture], environ=environ, **kwargs)
    objects = converted(project)
    workloads = [o for o in objects if o["kind"] in WORKLOADS]
    assert len(workloads) == len(project.services)


def test_the_three_service_example():
    project = load([REPO / "notebooks" / "examples" / "compose-app" / "compose.yaml"], environ=HOME)
    objects = converted(project)
    assert [(o["kind"], o["metadata"]["name"]) for o in objects] == [
        ("Service", "backend"), ("Service", "db"), ("Service", "frontend"),
        ("PersistentVolumeClaim", "data"),
        ("Deployment", "backend"), ("Deployment", "db"), ("Deployment", "frontend")]
    frontend = only(objects, "Service", "frontend")["spec"]
    assert frontend["type"] == "LoadBalancer" and frontend["ports"] == [{"name": "8080", "port": 8080, "targetPort": 80}]
    # db and backend publish no port, but expose one: a ClusterIP Service each, so the
    # other Pods find them by name as the services do on compose's network.
    db_service = only(objects, "Service", "db")["spec"]
    assert db_service.get("type", "ClusterIP") == "ClusterIP"
    assert [p["port"] for p in db_service["ports"]] == [7000]
    db = container(objects, "db")
    assert db["volumeMounts"] == [{"name": "data", "mountPath": "/data"}]
    assert db["readinessProbe"]["exec"]["command"][:2] == ["/bin/sh", "-c"]
    assert (db["readinessProbe"]["periodSeconds"], db["readinessProbe"]["failureThreshold"]) == (10, 3)
    assert '"$file"' in db["args"][2]  # compose's $$file is a literal $file, and Kubernetes leaves it
    assert container(objects, "backend")["env"] == [{"name": "DB_HOST", "value": "db"},
                                                    {"name": "DB_PORT", "value": "7000"}]
    assert only(objects, "Deployment", "db")["spec"]["strategy"] == {"type": "Recreate"}
    warnings = manifests(project).warnings
    assert not any("no ports or expose" in w for w in warnings), warnings


# --- names ---------------------------------------------------------------------------------

def test_a_name_with_underscore_is_renamed_as_kompose_does(tmp_path):
    project = project_of(tmp_path, "services:\n  web_app:\n    image: nginx\n    expose: ['80']\n")
    objects = converted(project)
    assert only(objects, "Service", "web-app") and container(objects, "web-app")["name"] == "web-app"
    assert any("'web_app' is named 'web-app'" in w for w in manifests(project).warnings)


@pytest.mark.parametrize("name", ["1web", "a" * 64])
def test_a_name_that_is_no_dns_label_is_refused(tmp_path, name):
    project = project_of(tmp_path, f"services:\n  '{name}':\n    image: nginx\n")
    with pytest.raises(ComposeError, match=r"services\.a*1?w?e?b?: service name .* cannot name a Kubernetes Service"):
        convert(project)


def test_two_names_that_become_one_are_refused(tmp_path):
    project = project_of(tmp_path, "services:\n  a_b:\n    image: x\n  a.b:\n    image: x\n")
    with pytest.raises(ComposeError, match="would both be named 'a-b'"):
        convert(project)


# --- the workload --------------------------------------------------------------------------

def test_scale_entrypoint_command_and_labels(tmp_path):
    objects = converted(project_of(tmp_path, """
services:
  web:
    image: nginx
    entrypoint: ["/docker-entrypoint.sh"]
    command: nginx -g 'daemon off;'
    working_dir: /srv
    deploy: {replicas: 3}
    labels: {com.example.team: web}
    stop_grace_period: 1m30s
    tty: true
    stdin_open: true
"""))
    deployment = only(objects, "Deployment", "web")
    assert deployment["spec"]["replicas"] == 3
    assert deployment["metadata"]["annotations"] == {"com.example.team": "web"}
    web = container(objects, "web")
    assert web["command"] == ["/docker-entrypoint.sh"] and web["args"] == ["nginx", "-g", "daemon off;"]
    assert (web["workingDir"], web["tty"], web["stdin"]) == ("/srv", True, True)
    assert pod_spec(objects, "web")["terminationGracePeriodSeconds"] == 90


@pytest.mark.parametrize("restart, kind, policy", [
    ("always", "Deployment", None), ("unless-stopped", "Deployment", None),
    ("'no'", "Pod", "Never"), ("on-failure", "Pod", "OnFailure"), ("on-failure:3", "Pod", "OnFailure")])
def test_restart_chooses_the_workload_as_kompose(tmp_path, restart, kind, policy):
    objects = converted(project_of(tmp_path, f"services:\n  job:\n    image: busybox\n    restart: {restart}\n"))
    workload = only(objects, kind, "job")
    assert pod_spec(objects, "job").get("restartPolicy") == policy
    assert workload["metadata"]["labels"]["app.kubernetes.io/name"] == "job"


def test_dollars_reach_the_container_as_compose_would_pass_them(tmp_path):
    objects = converted(project_of(tmp_path, """
services:
  sh:
    image: busybox
    command: ["sh", "-c", "echo $$HOME $$(date) $$$$"]
    environment:
      A: "$$(not expanded)"
      PASSED:
"""))
    sh = container(objects, "sh")
    # Kubernetes reads $(X) as a variable and $$ as one $: both are escaped by doubling.
    assert sh["args"][2] == "echo $HOME $$(date) $$$"
    assert expanded(sh["args"][2], {"date": "MONDAY"}) == "echo $HOME $(date) $$"  # what compose runs
    assert sh["env"] == [{"name": "A", "value": "$$(not expanded)"}]
    assert expanded(sh["env"][0]["value"], {"not expanded": "oops"}) == "$(not expanded)"


def expanded(text: str, variables: dict) -> str:
    """What the kubelet makes of a command word or env value (its forked ``expansion.Expand``)."""
    out, at = "", 0
    while at < len(text):
        if text[at] != "$" or at + 1 == len(text):
            out, at = out + text[at], at + 1
        elif text[at + 1] == "$":
            out, at = out + "$", at + 2
        elif text[at + 1] == "(" and ")" in text[at:]:
            end = text.index(")", at)
            name = text[at + 2:end]
            out, at = out + variables.get(name, f"$({name})"), end + 1
        else:
            out, at = out + "$" + text[at + 1], at + 2
    return out


def test_build_only_service_names_its_image_and_warns(tmp_path):
    (tmp_path / "Dockerfile").write_text("FROM busybox\n")
    project = load([_write(tmp_path, "name: shop\nservices:\n  api:\n    build: .\n")], environ=HOME)
    assert container(converted(project), "api")["image"] == "shop-api"
    assert any("push it to a registry" in w for w in manifests(project).warnings)


# --- healthcheck ---------------------------------------------------------------------------

def test_healthcheck_becomes_readiness_and_liveness_probes(tmp_path):
    objects = converted(project_of(tmp_path, """
services:
  cmd:
    image: x
    healthcheck: {test: ["CMD", "pg_isready", "-U", "me"], interval: 1m30s, timeout: 500ms, retries: 5, start_period: 10s}
  shell:
    image: x
    healthcheck: {test: "curl -f http://localhost || exit 1"}
  none:
    image: x
    healthcheck: {test: ["NONE"]}
  off:
    image: x
    healthcheck: {disable: true}
"""))
    cmd = container(objects, "cmd")
    assert cmd["readinessProbe"] == cmd["livenessProbe"] == {
        "exec": {"command": ["pg_isready", "-U", "me"]}, "periodSeconds": 90,
        "timeoutSeconds": 1, "failureThreshold": 5, "initialDelaySeconds": 10}
    shell = container(objects, "shell")["readinessProbe"]
    assert shell == {"exec": {"command": ["/bin/sh", "-c", "curl -f http://localhost || exit 1"]},
                     "periodSeconds": 30, "timeoutSeconds": 30, "failureThreshold": 3}  # compose's defaults
    assert "readinessProbe" not in container(objects, "none") and "livenessProbe" not in container(objects, "off")


# --- ports and Services --------------------------------------------------------------------

def test_ports_and_expose_make_the_service(tmp_path):
    project = project_of(tmp_path, """
services:
  public:
    image: x
    ports: ["8080:80", "53:53/udp", "9000"]
    expose: ["80", "7000-7001"]
  private:
    image: x
    expose: ["5432"]
  nodeport:
    image: x
    ports: ["80:80"]
    labels: {kompose.service.type: nodeport}
  headless:
    image: x
    labels: {kompose.service.type: headless}
  silent:
    image: x
""")
    objects = converted(project)
    public = only(objects, "Service", "public")["spec"]
    assert public["type"] == "LoadBalancer"
    assert public["ports"] == [
        {"name": "8080", "port": 8080, "targetPort": 80},
        {"name": "53", "port": 53, "targetPort": 53, "protocol": "UDP"},
        {"name": "9000", "port": 9000, "targetPort": 9000},
        # expose: 80 is left out, as kompose's loadPorts does: port 8080 already reaches it.
        {"name": "7000", "port": 7000, "targetPort": 7000}, {"name": "7001", "port": 7001, "targetPort": 7001}]
    assert [p["containerPort"] for p in container(objects, "public")["ports"]] == [80, 53, 9000, 7000, 7001]
    assert only(objects, "Service", "private")["spec"]["type"] == "ClusterIP"
    assert only(objects, "Service", "nodeport")["spec"]["type"] == "NodePort"
    assert only(objects, "Service", "headless")["spec"]["clusterIP"] == "None"
    assert not [o for o in objects if o["kind"] == "Service" and o["metadata"]["name"] == "silent"]
    assert any(w.startswith("silent: no ports or expose") for w in manifests(project).warnings)


def test_same_port_in_tcp_and_udp_gets_two_names(tmp_path):
    objects = converted(project_of(tmp_path, "services:\n  dns:\n    image: x\n    ports: ['53:53', '53:53/udp']\n"))
    assert [p["name"] for p in only(objects, "Service", "dns")["spec"]["ports"]] == ["53", "53-udp"]


def test_unknown_service_type_label_is_refused(tmp_path):
    project = project_of(tmp_path, "services:\n  a:\n    image: x\n    labels: {kompose.service.type: ingress}\n")
    with pytest.raises(ComposeError, match="services.a.labels: unknown kompose.service.type 'ingress'"):
        convert(project)


# --- volumes -------------------------------------------------------------------------------

def test_volumes_become_claims_and_empty_dirs(tmp_path):
    project = project_of(tmp_path, """
services:
  db:
    image: x
    labels: {kompose.volume.size: 2Gi}
    volumes:
      - data:/var/lib/db
      - big:/big
      - /anonymous
      - ./site:/srv:ro
      - /var/run/docker.sock:/var/run/docker.sock
      - type: tmpfs
        target: /cache
        tmpfs: {size: 1048576}
    tmpfs: ["/run:size=64k"]
  reader:
    image: x
    volumes: ["data:/data:ro", "shared:/shared"]
  host:
    image: x
    labels: {kompose.volume.type: hostPath}
    volumes: ["./logs:/logs"]
volumes:
  data:
  big:
    labels: {kompose.volume.size: 10Gi}
  shared:
    external: true
    name: team_shared
""")
    objects = converted(project)
    claims = {o["metadata"]["name"]: o["spec"]["resources"]["requests"]["storage"]
              for o in objects if o["kind"] == "PersistentVolumeClaim"}
    # One claim per named volume, shared by every service that mounts it; none for an external one.
    assert claims == {"data": "2Gi", "big": "10Gi", "db-claim2": "2Gi"}
    db = pod_spec(objects, "db")
    assert [m["mountPath"] for m in db["containers"][0]["volumeMounts"]] == [
        "/var/lib/db", "/big", "/anonymous", "/srv", "/cache", "/run"]
    volumes = {v["name"]: v for v in db["volumes"]}
    assert volumes["db-empty3"] == {"name": "db-empty3", "emptyDir": {}}
    assert volumes["db-tmpfs5"] == {"name": "db-tmpfs5", "emptyDir": {"medium": "Memory", "sizeLimit": "1048576"}}
    assert volumes["db-tmpfs6"] == {"name": "db-tmpfs6", "emptyDir": {"medium": "Memory"}}
    assert db["containers"][0]["volumeMounts"][3] == {"name": "db-empty3", "mountPath": "/srv", "readOnly": True}
    reader = pod_spec(objects, "reader")
    assert reader["volumes"][0] == {"name": "data", "persistentVolumeClaim": {"claimName": "data", "readOnly": True}}
    assert reader["volumes"][1]["persistentVolumeClaim"]["claimName"] == "team-shared"
    assert pod_spec(objects, "host")["volumes"] == [{"name": "host-hostpath0", "hostPath": {"path": str(tmp_path / "logs")}}]
    warnings = manifests(project).warnings
    assert any("bind mount" in w and "site -> /srv becomes an empty directory" in w for w in warnings)
    assert any("docker.sock is the host's" in w for w in warnings)
    assert any("'team-shared' must exist" in w for w in warnings)


def test_an_external_volume_is_a_claim_not_written(tmp_path):
    project = project_of(tmp_path, "services:\n  a:\n    image: x\n    volumes: [cache:/c]\n"
                                   "volumes:\n  cache:\n    external: true\n")
    objects = converted(project)
    assert [o["kind"] for o in objects] == ["Deployment"]
    assert pod_spec(objects, "a")["volumes"] == [{"name": "cache", "persistentVolumeClaim": {"claimName": "cache"}}]


# --- security ------------------------------------------------------------------------------

def test_security_context(tmp_path):
    project = project_of(tmp_path, """
services:
  locked:
    image: x
    user: "1000:1001"
    cap_add: [CAP_NET_ADMIN, sys_time]
    cap_drop: [ALL]
    read_only: true
  root:
    image: x
    privileged: true
    user: www-data
""")
    objects = converted(project)
    assert container(objects, "locked")["securityContext"] == {
        "runAsUser": 1000, "runAsGroup": 1001,
        "capabilities": {"add": ["NET_ADMIN", "SYS_TIME"], "drop": ["ALL"]}, "readOnlyRootFilesystem": True}
    assert container(objects, "root")["securityContext"] == {"privileged": True}
    assert any("user 'www-data' is a name" in w for w in manifests(project).warnings)


def test_what_has_no_counterpart_is_warned_about_once_per_key(tmp_path):
    project = project_of(tmp_path, """
services:
  a: {image: x, init: true, depends_on: [b], networks: [back]}
  b: {image: x, init: true}
networks:
  back:
""")
    warnings = manifests(project).warnings
    assert [w for w in warnings if w.startswith("init (a, b) is not converted")]
    assert [w for w in warnings if w.startswith("depends_on (a) is not converted")]
    assert [w for w in warnings if w.startswith("networks (a) is not converted")]
    text = convert(project)
    assert text.startswith("# Kubernetes objects") and "# warning: init (a, b)" in text


def test_only_kubernetes_is_a_format(tmp_path):
    with pytest.raises(UsageError, match="use --format kubernetes"):
        convert(project_of(tmp_path, "services:\n  a:\n    image: x\n"), format="helm")


def test_kubernetes_validate_is_a_test_dependency():
    import tomllib
    test_extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["optional-dependencies"]["test"]
    assert any(spec.startswith("kubernetes-validate") for spec in test_extra)


def test_the_command_line_converts_the_chapters_example():
    """`sandbox compose convert --format kubernetes`, as a learner types it."""
    import subprocess
    import sys
    import yaml
    example = Path(__file__).resolve().parent.parent / "notebooks" / "examples" / "compose-app"
    done = subprocess.run([sys.executable, "-m", "sandbox", "compose", "convert", "--format",
                           "kubernetes"], cwd=example, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    kinds = {doc["kind"] for doc in yaml.safe_load_all(done.stdout) if doc}
    assert {"Deployment", "Service", "PersistentVolumeClaim"} <= kinds
    wrong = subprocess.run([sys.executable, "-m", "sandbox", "compose", "convert", "--format",
                            "helm"], cwd=example, capture_output=True, text=True, timeout=60)
    assert wrong.returncode != 0 and "unsupported format 'helm'" in wrong.stderr
