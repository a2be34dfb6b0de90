"""``sandbox compose``: projects of real containers on their own network, with Compose v2's
names, labels, order and bookkeeping; and the pure parts (model → arguments, order, hash)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from conftest import IS_ROOT, sandbox, wait_for



def compose_argv(project_dir: Path, *args) -> list[str]:
    return [sys.executable, "-m", "sandbox", "compose", "--project-directory", str(project_dir),
            *args]


def compose(project_dir: Path, *args, timeout=90, check=False) -> subprocess.CompletedProcess:
    r = subprocess.run(compose_argv(project_dir, *args), capture_output=True, text=True,
                       timeout=timeout, cwd=project_dir)
    if check and r.returncode != 0:
        raise AssertionError(f"compose {' '.join(args)} exited {r.returncode}:\n"
                             f"{r.stdout}\n{r.stderr}")
    return r


@pytest.fixture
def project(tmp_path, name):
    """A directory for the test's compose.yaml, named for the test (its project's name);
    ``down -v`` at the end whatever happened."""
    directory = tmp_path / name.replace("-", "")[:30]
    directory.mkdir()
    yield directory
    if (directory / "compose.yaml").exists():
        compose(directory, "down", "-v", "-t", "0", "--remove-orphans")


def write(directory: Path, model: dict) -> None:
    (directory / "compose.yaml").write_text(yaml.safe_dump(model))


def httpd(text: str, **more) -> dict:
    """A busybox web server answering ``text`` on port 80; ``init`` so that it stops on TERM."""
    return {"image": "busybox", "init": True,
            "command": ["sh", "-c", f"mkdir -p /www && echo {text} > /www/index.html && "
                                    "exec httpd -f -p 80 -h /www"], **more}


def labels(container: str) -> dict:
    return json.loads(sandbox("inspect", "-f", "{{json .Config.Labels}}", container,
                              check=True).stdout)


def names_in(r) -> list[str]:
    return r.stdout.split()


def needs_networks():
    if not IS_ROOT:
        from sandbox.network import rootless_net
        why = rootless_net.problem()
        if why:
            pytest.skip(f"rootless networking is missing here: {why}")


# --- the pure parts ------------------------------------------------------------------------
def stand_in(model: dict, name: str = "shop"):
    return SimpleNamespace(name=name, working_dir=Path("/srv/shop"),
                           files=[Path("/srv/shop/compose.yaml")], model=model,
                           environment={"FROM_ENV": "outside"}, disabled={})


def test_a_service_becomes_create_containers_arguments():
    from sandbox.compose.convert import create_arguments
    model = {"services": {"web": {
        "image": "nginx:1.27", "command": ["nginx", "-g", "daemon off;"],
        "environment": {"MODE": "prod", "DEBUG": False, "FROM_ENV": None, "UNSET_X": None},
        "ports": [{"target": 80, "published": "8080", "protocol": "tcp"},
                  {"target": 53, "published": None, "protocol": "udp", "host_ip": "127.0.0.1"}],
        "volumes": [{"type": "volume", "source": "data", "target": "/data", "read_only": True},
                    {"type": "bind", "source": "/srv/shop/conf", "target": "/conf"},
                    {"type": "tmpfs", "target": "/scratch", "tmpfs": {"size": 65536}}],
        "networks": {"back": {"aliases": ["api"]}, "default": None},
        "restart": "on-failure:3", "init": True, "user": "nobody", "working_dir": "/app",
        "cap_drop": ["ALL"], "read_only": True, "stop_grace_period": "1m30s",
        "extra_hosts": ["db.local=10.0.0.5"], "dns": ["9.9.9.9"], "labels": {"team": "a"},
        "healthcheck": {"test": ["CMD", "true"], "interval": "1s", "retries": 3},
        "depends_on": {"db": {"condition": "service_healthy", "required": True}}}},
        "networks": {"default": {"name": "shop_default"}, "back": {"name": "shop_back"}},
        "volumes": {"data": {"name": "shop_data"}}}
    args = create_arguments(stand_in(model), "web", 2, "nginx:1.27", {"x": "y"})
    assert args["name"] == "shop-web-2"
    assert args["cmd"] == ["nginx", "-g", "daemon off;"] and args["entrypoint"] is None
    assert args["env"] == ["MODE=prod", "DEBUG=false", "FROM_ENV=outside", "UNSET_X"]
    assert args["publish"] == ["8080:80/tcp", "127.0.0.1::53/udp"]
    assert [(m["type"], m.get("name"), m["target"], m["readonly"]) for m in args["mounts"]] == [
        ("volume", "shop_data", "/data", True), ("bind", None, "/conf", False),
        ("tmpfs", None, "/scratch", False)]
    assert "size=65536" in args["mounts"][2]["options"]
    # Networks in compose's order (by name), aliases as Compose v2's: container, service, file's.
    assert args["network"] == "shop_back"
    assert args["network_aliases"] == ["shop-web-2", "web", "api"]
    assert args["more_networks"] == {"shop_default": {"Aliases": ["shop-web-2", "web"],
                                                      "IPv4Address": None}}
    assert args["restart"] == {"Name": "on-failure", "MaximumRetryCount": 3}
    assert (args["init"], args["user"], args["workdir"]) == (True, "nobody", "/app")
    assert args["security"]["read_only"] and args["security"]["caps"] == []
    assert args["stop_timeout"] == 90
    assert args["add_hosts"] == ["db.local:10.0.0.5"] and args["dns"] == ["9.9.9.9"]
    assert args["healthcheck"] == {"Test": ["CMD", "true"], "Interval": 10 ** 9, "Retries": 3}
    assert args["labels"]["team"] == "a" and args["labels"]["x"] == "y"
    assert args["labels"]["com.docker.compose.project"] == "shop"
    assert args["labels"]["com.docker.compose.service"] == "web"
    assert args["labels"]["com.docker.compose.container-number"] == "2"
    assert args["labels"]["com.docker.compose.oneoff"] == "False"
    assert args["labels"]["com.docker.compose.project.working_dir"] == "/srv/shop"
    assert args["labels"]["com.docker.compose.project.config_files"] == "/srv/shop/compose.yaml"
    assert args["labels"]["com.docker.compose.depends_on"] == "db:service_healthy:false"


@pytest.mark.parametrize("service, sentence", [
    ({"image": "x", "secrets": ["s"]}, 'service "web": `secrets` is not supported'),
    ({"image": "x", "deploy": {"placement": {}}}, "`deploy.placement` is not supported"),
    ({"image": "x", "deploy": {"resources": {"reservations": {}}}},
     "`deploy.resources.reservations` is not supported"),
    ({"image": "x", "logging": {"driver": "syslog"}}, "`logging.driver: syslog` is not supported"),
])
def test_what_cannot_be_honoured_is_refused_naming_service_and_key(service, sentence):
    from sandbox.compose.convert import Unsupported, check_supported
    with pytest.raises(Unsupported, match=re.escape(sentence)):
        check_supported("web", service)


@pytest.mark.parametrize("text, seconds", [("10s", 10), ("1m30s", 90), ("500ms", 0.5),
                                           ("1h", 3600), ("1.5s", 1.5), (3, 3)])
def test_go_durations(text, seconds):
    from sandbox.compose.convert import go_duration
    assert go_duration(text) == seconds


def test_dependency_order_and_cycles():
    from sandbox.compose.order import DependencyCycle, start_order, stop_levels, stop_order
    services = {"web": {"depends_on": {"api": {}}}, "api": {"depends_on": {"db": {}}},
                "db": {}, "cache": {}}
    assert start_order(services) == ["db", "api", "web", "cache"]
    assert start_order(services, ["api"]) == ["db", "api"]
    assert stop_order(services, ["db", "web", "api", "gone"]) == ["gone", "web", "api", "db"]
    levels = stop_levels(services, ["db", "api", "web", "cache"], lambda s: s)
    assert [sorted(level) for level in levels] == [["cache", "web"], ["api"], ["db"]]
    with pytest.raises(DependencyCycle, match="a -> b -> a"):
        start_order({"a": {"depends_on": {"b": {}}}, "b": {"depends_on": {"a": {}}}})


def test_config_hash_ignores_scale_but_not_the_command_or_the_image():
    from sandbox.compose.confighash import service_hash
    base = {"image": "busybox", "command": ["true"]}
    h = service_hash(base, "sha256:1")
    assert service_hash(dict(base, scale=3, deploy={"replicas": 3}), "sha256:1") == h
    assert service_hash(dict(base, command=["false"]), "sha256:1") != h
    assert service_hash(base, "sha256:2") != h


# --- real projects ---------------------------------------------------------------------------
def test_up_names_labels_dns_aliases_ports_exec_run_logs_down(project):
    needs_networks()
    write(project, {"services": {
        "db": httpd("from-db", networks={"default": {"aliases": ["database"]}}),
        "web": httpd("from-web", ports=[{"target": 80, "protocol": "tcp"}],
                     depends_on={"db": {"condition": "service_started", "required": True}}),
    }})
    p = project.name
    up = compose(project, "up", "-d", check=True)
    assert f" Network {p}_default  Created" in up.stderr
    assert up.stderr.index(f"Container {p}-db-1  Started") < \
        up.stderr.index(f"Container {p}-web-1  Started")
    ps = compose(project, "ps", check=True)
    assert ps.stdout.splitlines()[0].split() == ["NAME", "IMAGE", "COMMAND", "SERVICE",
                                                 "CREATED", "STATUS", "PORTS"]
    assert f"{p}-db-1" in ps.stdout and f"{p}-web-1" in ps.stdout
    assert sorted(names_in(compose(project, "ps", "--services"))) == ["db", "web"]
    found = labels(f"{p}-web-1")
    assert found["com.docker.compose.project"] == p
    assert found["com.docker.compose.service"] == "web"
    assert found["com.docker.compose.container-number"] == "1"
    assert found["com.docker.compose.oneoff"] == "False"
    assert found["com.docker.compose.project.working_dir"] == str(project)
    assert re.fullmatch(r"[0-9a-f]{64}", found["com.docker.compose.config-hash"])
    # Services find each other by service name and by alias, on the project's network.
    for host in ("db", "database", f"{p}-db-1"):
        r = compose(project, "exec", "-T", "web", "wget", "-qO-", f"http://{host}/")
        assert (r.returncode, r.stdout) == (0, "from-db\n"), (host, r.stderr)
    # The published port, from here.
    port = compose(project, "port", "web", "80", check=True).stdout.strip().rsplit(":", 1)[1]
    assert urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=5).read() == b"from-web\n"
    # A one-off container: its name, its label, and it is gone after --rm.
    run = compose(project, "run", "--rm", "-T", "web", "sh", "-c", "hostname; wget -qO- http://db/")
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines()[-1] == "from-db"
    code = compose(project, "run", "--rm", "-T", "--no-deps", "web", "sh", "-c", "exit 3")
    assert code.returncode == 3
    assert f"{p}-web-run-" not in sandbox("ps", "-a").stdout
    logs = compose(project, "logs", "--no-color", "web", check=True)
    assert logs.returncode == 0
    top = compose(project, "top", "db", check=True)
    assert f"{p}-db-1" in top.stdout and "httpd" in top.stdout
    down = compose(project, "down", check=True)
    assert f"Container {p}-web-1  Removed" in down.stderr
    assert down.stderr.index(f"{p}-web-1  Removed") < down.stderr.index(f"{p}-db-1  Removed")
    assert f"Network {p}_default  Removed" in down.stderr
    assert compose(project, "ps", "-a", "-q").stdout == ""


def test_a_named_volume_survives_down_and_goes_with_down_v(project, state_root):
    write(project, {"services": {"app": {
        "image": "busybox", "network_mode": "none",
        "command": ["sh", "-c", "cat /data/count 2>/dev/null; echo x >> /data/count"],
        "volumes": [{"type": "volume", "source": "data", "target": "/data"},
                    {"type": "volume", "target": "/anon"}]}},
        "volumes": {"data": {}}})
    p = project.name
    for _ in range(2):
        compose(project, "up", "-d", check=True)
        wait_for(lambda: "Exited" in sandbox("ps", "-a", "--filter", f"name={p}-app-1").stdout)
        compose(project, "down", check=True)
    vols = names_in(sandbox("volume", "ls", "-q"))
    assert f"{p}_data" in vols
    assert (state_root / "volumes" / f"{p}_data" / "_data" / "count").read_text() == "x\nx\n"
    compose(project, "up", "-d", check=True)
    down = compose(project, "down", "-v", check=True)
    assert f"Volume {p}_data  Removed" in down.stderr
    assert f"{p}_data" not in names_in(sandbox("volume", "ls", "-q"))


def test_service_completed_successfully_runs_first_and_a_failure_is_named(project):
    write(project, {"services": {
        "init": {"image": "busybox", "network_mode": "none",
                 "command": ["sh", "-c", "sleep 0.5; echo seeded > /shared/seed"],
                 "volumes": [{"type": "volume", "source": "shared", "target": "/shared"}]},
        "app": {"image": "busybox", "network_mode": "none", "command": ["cat", "/shared/seed"],
                "volumes": [{"type": "volume", "source": "shared", "target": "/shared"}],
                "depends_on": {"init": {"condition": "service_completed_successfully",
                                        "required": True}}}},
        "volumes": {"shared": {}}})
    p = project.name
    up = compose(project, "up", check=True)
    assert re.search(rf"^{p}-app-1 +\| seeded$", up.stdout, re.M), up.stdout
    assert f"{p}-init-1 exited with code 0" in up.stdout
    write(project, {"services": {
        "init": {"image": "busybox", "network_mode": "none", "command": ["sh", "-c", "exit 4"]},
        "app": {"image": "busybox", "network_mode": "none", "command": ["true"],
                "depends_on": {"init": {"condition": "service_completed_successfully",
                                        "required": True}}}}})
    failed = compose(project, "up", "-d")
    assert failed.returncode == 1
    assert failed.stderr.splitlines()[-1] == ('sandbox compose: service "init" didn\'t complete '
                                              "successfully: exit 4")


def test_service_healthy_waits_for_the_check(project):
    write(project, {"services": {
        "db": {"image": "busybox", "init": True, "network_mode": "none",
               "command": ["sh", "-c", "sleep 1; touch /ready; exec sleep 60"],
               "healthcheck": {"test": ["CMD", "test", "-e", "/ready"], "interval": "200ms",
                               "retries": 20}},
        "app": {"image": "busybox", "network_mode": "none", "command": ["true"],
                "depends_on": {"db": {"condition": "service_healthy", "required": True}}}}})
    p = project.name
    up = compose(project, "up", "-d", check=True)
    assert up.stderr.index(f"{p}-db-1  Healthy") < up.stderr.index(f"{p}-app-1  Started")
    assert "(healthy)" in compose(project, "ps").stdout


def test_scale_and_the_config_hash_recreate_only_what_changed(project):
    services = {"a": {"image": "busybox", "init": True, "network_mode": "none",
                      "command": ["sleep", "60"]},
                "b": {"image": "busybox", "init": True, "network_mode": "none",
                      "command": ["sleep", "61"]}}
    write(project, {"services": services})
    p = project.name
    compose(project, "up", "-d", "--scale", "a=3", check=True)
    ids = {n: sandbox("inspect", "-f", "{{.Id}}", n).stdout.strip()
           for n in (f"{p}-a-1", f"{p}-a-2", f"{p}-a-3", f"{p}-b-1")}
    assert all(ids.values())
    services["b"]["command"] = ["sleep", "62"]
    write(project, {"services": services})
    again = compose(project, "up", "-d", check=True)  # a back to 1 replica; b changed
    assert f"Container {p}-a-1  Running" in again.stderr
    assert f"Container {p}-b-1  Recreate" in again.stderr and f"{p}-b-1  Recreated" in again.stderr
    assert f"Container {p}-a-3  Removed" in again.stderr
    assert sandbox("inspect", "-f", "{{.Id}}", f"{p}-a-1").stdout.strip() == ids[f"{p}-a-1"]
    assert sandbox("inspect", "-f", "{{.Id}}", f"{p}-b-1").stdout.strip() != ids[f"{p}-b-1"]
    assert sandbox("inspect", f"{p}-a-2").returncode != 0
    third = compose(project, "up", "-d", check=True)
    assert "Recreate" not in third.stderr and "Created" not in third.stderr


def test_ctrl_c_on_a_foreground_up_stops_the_project(project):
    write(project, {"services": {"talk": {"image": "busybox", "init": True,
                                          "network_mode": "none",
                                          "command": ["sh", "-c", "echo hello; exec sleep 60"]}}})
    p = project.name
    up = subprocess.Popen(compose_argv(project, "up"), stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, cwd=project)
    try:
        assert wait_for(lambda: "Up" in sandbox("ps", "--filter", f"name={p}-talk-1").stdout, 30)
        time.sleep(0.5)
        up.send_signal(signal.SIGINT)
        out, err = up.communicate(timeout=30)
    finally:
        if up.poll() is None:
            up.kill()
    assert up.returncode == 130
    assert f"{p}-talk-1  | hello" in out
    assert "Gracefully stopping... (press Ctrl+C again to force)" in err
    assert f"Container {p}-talk-1  Stopped" in err
    assert "Exited" in sandbox("ps", "-a", "--filter", f"name={p}-talk-1").stdout


def test_down_after_a_killed_up_removes_everything(project):
    needs_networks()
    write(project, {"services": {"web": httpd("x")}})
    p = project.name
    up = subprocess.Popen(compose_argv(project, "up"), stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, cwd=project)
    try:
        assert wait_for(lambda: "Up" in sandbox("ps", "--filter", f"name={p}-web-1").stdout, 30)
    finally:
        up.kill()
        up.wait()
    down = compose(project, "down", "-v", check=True)
    assert f"Container {p}-web-1  Removed" in down.stderr
    assert sandbox("ps", "-aq", "--filter", f"label=com.docker.compose.project={p}").stdout == ""
    assert f"{p}_default" not in sandbox("network", "ls").stdout


def test_a_service_that_fails_to_start_is_named(project):
    write(project, {"services": {"broken": {"image": "busybox", "network_mode": "none",
                                            "command": ["/no/such/program"]}}})
    r = compose(project, "up", "-d")
    assert r.returncode == 1
    last = r.stderr.splitlines()[-1]
    assert last.startswith('sandbox compose: service "broken"'), r.stderr
    assert "/no/such/program" in last


def test_an_unsupported_key_stops_everything_before_anything_is_made(project):
    write(project, {"services": {"a": {"image": "busybox", "sysctls": {"net.core.somaxconn": 1}}}})
    r = compose(project, "up", "-d")
    assert r.returncode == 1
    assert r.stderr == ('sandbox compose: service "a": `sysctls` is not supported by sandbox '
                        "compose; remove it from the file to run this project here\n")
    assert sandbox("ps", "-aq", "--filter", f"label=com.docker.compose.project={project.name}"
                   ).stdout == ""


def test_ls_finds_projects_by_label(project):
    write(project, {"services": {"a": {"image": "busybox", "init": True, "network_mode": "none",
                                       "command": ["sleep", "60"]}}})
    compose(project, "up", "-d", check=True)
    listed = compose(project, "ls", check=True).stdout
    assert re.search(rf"^{project.name}\s+running\(1\)\s+{re.escape(str(project))}/compose.yaml",
                     listed, re.M), listed


def test_nothing_of_a_project_is_left_after_down_v(project, state_root):
    needs_networks()
    write(project, {"services": {
        "db": httpd("db", volumes=[{"type": "volume", "source": "data", "target": "/data"}]),
        "web": httpd("web", ports=[{"target": 80, "protocol": "tcp"}],
                     networks={"default": None, "back": {"aliases": ["front"]}} if IS_ROOT
                     else {"default": None})},
        "networks": {"back": {}} if IS_ROOT else {}, "volumes": {"data": {}}})
    p = project.name
    volumes_before = set(names_in(sandbox("volume", "ls", "-q")))
    compose(project, "up", "-d", check=True)
    assert len(set(names_in(sandbox("volume", "ls", "-q"))) - volumes_before) == 1
    bridges = [n["Id"] for n in json.loads(sandbox("network", "inspect", f"{p}_default").stdout)]
    compose(project, "down", "-v", check=True)
    assert sandbox("ps", "-aq", "--filter", f"label=com.docker.compose.project={p}").stdout == ""
    assert not [n for n in names_in(sandbox("network", "ls")) if n.startswith(p)]
    assert set(names_in(sandbox("volume", "ls", "-q"))) == volumes_before
    if IS_ROOT:
        links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
        assert f"sbx-{bridges[0][:11]}" not in links
        tables = subprocess.run(["nft", "list", "ruleset"], capture_output=True, text=True).stdout
        assert f"sbx-{bridges[0][:11]}" not in tables


def test_config_prints_the_normalized_model(project):
    write(project, {"services": {"a": {"image": "busybox", "command": "echo hi there"}}})
    shown = compose(project, "config", "--format", "json", check=True)
    model = json.loads(shown.stdout)
    assert model["name"] == project.name
    assert model["services"]["a"]["command"] == ["echo", "hi", "there"]
    assert compose(project, "config", "--services", check=True).stdout == "a\n"
    assert compose(project, "config", "-q", check=True).stdout == ""


def test_the_chapters_example_answers_through_its_port_with_the_databases_data(tmp_path):
    """The three-service example (notebooks/examples/compose-app): db with a volume and a
    healthcheck, backend, frontend on port 8080; the visit count outlives down and up."""
    import shutil
    needs_networks()
    example = Path(__file__).resolve().parent.parent / "notebooks" / "examples" / "compose-app"
    directory = tmp_path / "app"
    shutil.copytree(example, directory)
    name = f"t-example-{os.getpid()}"
    try:
        up = compose(directory, "-p", name, "up", "-d", "--wait", check=True, timeout=120)
        assert up.stderr.index(f"{name}-db-1  Healthy") < \
            up.stderr.index(f"{name}-backend-1  Started")

        def page():
            try:
                return urllib.request.urlopen("http://127.0.0.1:8080/", timeout=5).read()
            except OSError:
                return b""  # its httpd is not listening yet: --wait waits for running only
        assert b"compose-app" in wait_for(page, 15, 0.2)
        # The backend counts a visit in the database, over the project network; the
        # frontend's page, through the published port, says the count.
        visit = compose(directory, "-p", name, "exec", "-T", "frontend", "wget", "-qO-",
                        "http://backend:8000/cgi-bin/visit", check=True)
        assert json.loads(visit.stdout) == {"visits": 1}
        hello = urllib.request.urlopen("http://127.0.0.1:8080/cgi-bin/hello", timeout=5).read()
        assert hello == b"Hello from compose-app! This page has been seen 2 times.\n"
        # The count is in the volume: it outlives down and up.
        compose(directory, "-p", name, "down", "-t", "1", check=True)
        compose(directory, "-p", name, "up", "-d", "--wait", check=True, timeout=120)
        assert b"compose-app" in wait_for(page, 15, 0.2)
        hello = urllib.request.urlopen("http://127.0.0.1:8080/cgi-bin/hello", timeout=5).read()
        assert hello == b"Hello from compose-app! This page has been seen 3 times.\n"
    finally:
        compose(directory, "-p", name, "down", "-v", "-t", "1")
