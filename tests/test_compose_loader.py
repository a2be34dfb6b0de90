"""sandbox.compose.loader: compose files to the normalized model.

Every fixture of compose-go's ``loader/testdata`` and ``cli/testdata`` (in the
conformance corpus, ``compose-spec/compose-go``) is loaded with what compose-go's
own test checks (``loader/loader_test.go``, ``extends_test.go``, ``include_test.go``,
``cli/options_test.go``); then the schema's cases, the merge rules, and the
course's three-service example.
"""

from pathlib import Path

import pytest

from sandbox.compose import merge
from sandbox.compose.errors import ComposeError
from sandbox.compose.loader import find_files, load
from sandbox.compose.model import to_yaml

REPO = Path(__file__).resolve().parents[1]


def _corpus() -> Path:
    for base in (Path(__file__).resolve().parents[2] / "shared" / "conformance", Path("/work/shared/conformance")):
        if (base / "compose-spec" / "compose-go").is_dir():
            return base / "compose-spec" / "compose-go"
    return Path("/nonexistent")


CORPUS = _corpus()
LOADER = CORPUS / "loader" / "testdata"
CLI = CORPUS / "cli" / "testdata"
HOME = {"HOME": "/home/learner"}


@pytest.fixture
def corpus():
    if not LOADER.is_dir():
        pytest.skip("the compose-go conformance corpus (../shared/conformance/compose-spec/compose-go) is absent")
    return LOADER


def _write(folder: Path, text: str, name="compose.yaml") -> Path:
    (folder / name).parent.mkdir(parents=True, exist_ok=True)
    (folder / name).write_text(text)
    return folder / name


def _ok(project):
    return project.services


# --- the corpus: what each fixture must give (compose-go's assertion, ported) ---------------

def _check_with_version(p):
    assert p.name == "compose-test-with-version"
    web, other = p.services["web"], p.services["other"]
    assert web["build"]["context"] == str(LOADER / "Dockerfile")
    assert web["networks"] == {"front": None, "default": None} and web["volumes_from"] == ["other"]
    assert other["command"] == ["top"]
    assert other["volumes"] == [{"type": "volume", "source": None, "target": "/data", "read_only": False, "volume": {}}]
    assert p.networks["front"]["name"] == "compose-test-with-version_front"
    assert p.volumes["data"]["driver"] == "local" and "version" not in p.model


def _check_extends(p):
    assert p.services["importer"] == {
        "image": "nginx", "container_name": "imported", "environment": {"SOURCE": "extends"},
        "networks": {"default": None}, "scale": 1,
        "volumes": [{"type": "bind", "source": "/opt/data", "target": "/var/lib/mysql", "read_only": False,
                     "bind": {"create_host_path": True}}]}


def _check_context_url(p):
    build = p.services["importer-with-https-url"]["build"]
    assert build == {"context": "https://github.com/docker/compose.git", "dockerfile": "Dockerfile"}


def _refused(pattern):
    def check(error):
        assert isinstance(error, ComposeError), error
        assert pattern in str(error), str(error)
    return check


FIXTURES = {
    # file (relative to the corpus): (keyword arguments, check of the project, or check of the error)
    "loader/testdata/compose-test-with-version.yaml": ({}, _check_with_version, None),
    "loader/testdata/compose-test-extends.yaml": ({}, _check_extends, None),
    "loader/testdata/compose-test-extends-with-context-url.yaml": ({}, _check_context_url, None),
    "loader/testdata/compose-test-extends-with-context-url-imported.yaml": ({}, _ok, None),
    "loader/testdata/compose-depends-on-cycle.yaml": (
        {}, None, _refused("dependency cycle detected: service1 -> service2 -> service3 -> service1")),
    "loader/testdata/compose-depends-on-profile-no-cycle.yaml": ({}, None, _refused("dependency cycle detected")),
    "loader/testdata/compose-depends-on-self.yaml": ({}, None, _refused("dependency cycle detected: service1 -> service1")),
    "loader/testdata/compose-include.yaml": ({}, lambda p: set(p.services) == {"imported", "bar"} or _fail(p), None),
    "loader/testdata/compose-include-cycle.yaml": ({}, None, _refused("include cycle detected")),
    "loader/testdata/empty.yaml": ({}, None, _refused("empty compose file")),
    "loader/testdata/combined/compose.yaml": (
        {"project_name": "test-load-combined"},
        lambda p: p.services["service"]["build"]["context"] == str(LOADER / "combined" / "dir") or _fail(p), None),
    "loader/testdata/combined/dir/included.yaml": ({}, lambda p: "build" in p.services["service"] or _fail(p), None),
    "loader/testdata/combined/dir/extended.yaml": ({}, _ok, None),
    "loader/testdata/include/compose.yaml": (
        {}, lambda p: (p.services["included"]["build"]["context"] == str(LOADER / "include")
                       and p.services["included"]["volumes"][0]["source"] == str(LOADER / "include")) or _fail(p), None),
    "loader/testdata/include/included.yaml": ({}, _ok, None),
    "loader/testdata/include/project-directory.yaml": (
        {}, lambda p: (p.services["service"]["build"]["context"] == str(LOADER / "subdir")
                       and p.services["service"]["volumes"][0]["source"]
                       == str(LOADER / "subdir" / "compose-test-extends-imported.yaml")
                       and p.services["service"]["environment"] == {"SOURCE": "extends"}) or _fail(p), None),
    # Alone, dir/compose.yaml names an extra.env that only exists in ../subdir (its includer's project_directory).
    "loader/testdata/include/dir/compose.yaml": ({}, None, _refused("extra.env not found")),
    "loader/testdata/subdir/compose-test-extends-imported.yaml": ({}, _ok, None),
    "loader/testdata/extends/base.yaml": ({}, None, _refused("services.nil: must be a mapping")),
    "loader/testdata/extends/sibling.yaml": ({}, _ok, None),
    "loader/testdata/extends/nested.yaml": (
        {}, lambda p: p.services["with-build"]["build"]["context"] == str(LOADER / "extends") or _fail(p), None),
    "loader/testdata/extends/ports.yaml": ({}, lambda p: len(p.services["test"]["ports"]) == 1 or _fail(p), None),
    "loader/testdata/extends/reset.yaml": ({}, lambda p: "command" not in p.services["base"] or _fail(p), None),
    "loader/testdata/extends/interpolated.yaml": (
        {}, lambda p: p.services["foo"]["volumes"][0]["source"] == "/dev/null" or _fail(p), None),
    # TestExtendsWithServiceRef: zot is in the extended file, not in this project.
    "loader/testdata/extends/depends_on.yaml": ({}, _ok, None),
    "loader/testdata/extends/withdir/compose.yaml": (
        {}, lambda p: p.services["test"]["image"] == "hello-world" or _fail(p), None),
    "loader/testdata/extends/withdir/dir/compose.yaml": ({}, _ok, None),
    "loader/testdata/extends/withdir/dir/base.yaml": ({}, _ok, None),
    "loader/testdata/remote/compose.yaml": (
        {}, lambda p: (p.services["foo"]["environment"] == {"FOO": "BAR"}
                       and p.services["foo"]["volumes"][0]["source"] == str(LOADER / "remote")) or _fail(p), None),
    "loader/testdata/remote/nested/compose.yaml": ({}, None, _refused("remote resources are not supported offline")),
    "loader/testdata/remote/nested/compose-nested.yaml": ({}, _ok, None),
    "loader/testdata/remote/cycle/compose.yaml": ({}, None, _refused("remote resources are not supported offline")),
    "loader/testdata/remote/cycle/compose-cycle.yaml": ({}, None, _refused("remote resources are not supported offline")),
    "cli/testdata/simple/compose.yaml": ({}, lambda p: p.name == "simple" or _fail(p), None),
    "cli/testdata/simple/compose-with-overrides.yaml": ({}, lambda p: p.services["simple"]["image"] == "haproxy" or _fail(p), None),
    "cli/testdata/simple/compose-name.yaml": (
        {"environ": {"TEST": "expected"}}, lambda p: p.name == "test-expected-test" or _fail(p), None),
    "cli/testdata/simple/compose-with-variables.yaml": (
        {}, lambda p: p.services["simple"]["ports"][0]["published"] == "8000" or _fail(p), None),
    "cli/testdata/simple/compose-with-paths.yaml": (
        {}, lambda p: [v["source"] for v in p.services["test"]["volumes"]]
        == ["C:\\docker\\project", str(CLI / "simple" / "relative"), str(CLI / "simple" / "relative2")] or _fail(p), None),
    "cli/testdata/env-file/compose-with-env-file.yaml": (
        {}, lambda p: (p.services["simple"]["environment"] == {"DEFAULT_PORT": "8080"}
                       and p.services["simple"]["ports"][0]["published"] == "8000"
                       and p.name == "my_project_from_dot_env") or _fail(p), None),
    "cli/testdata/env-file/compose-with-env-files.yaml": (
        {"env_files": [CLI / "env-file" / ".env", CLI / "env-file" / "override.env"]},
        lambda p: (p.services["simple"]["environment"] == {"DEFAULT_PORT": "9090"}
                   and p.services["simple"]["ports"][0]["published"] == "9000") or _fail(p), None),
    "cli/testdata/UNNORMALIZED PATH/compose.yaml": ({}, lambda p: p.name == "unnormalizedpath" or _fail(p), None),
}


def _fail(project):
    raise AssertionError(to_yaml(project))


def test_every_fixture_of_the_corpus_is_covered(corpus):
    on_disk = {str(p.relative_to(CORPUS)) for p in CORPUS.glob("*/testdata/**/*.yaml")}
    assert on_disk == set(FIXTURES), on_disk ^ set(FIXTURES)


@pytest.mark.parametrize("fixture", sorted(FIXTURES))
def test_corpus_fixture(fixture, corpus):
    kwargs, check, refusal = FIXTURES[fixture]
    kwargs = dict(kwargs)
    environ = {**HOME, **kwargs.pop("environ", {})}
    if refusal:
        with pytest.raises(ComposeError) as caught:
            load([CORPUS / fixture], environ=environ, **kwargs)
        refusal(caught.value)
        assert str(caught.value).count("\n") == 0
    else:
        project = load([CORPUS / fixture], environ=environ, **kwargs)
        assert check(project) is not False
        assert to_yaml(project).startswith("name: ")


# --- compose-go's tests that write their own YAML next to the fixtures ---------------------

def test_extends_from_another_file(corpus, tmp_path):
    """TestExtends, TestExtendsPort, TestExtendsUlimits, TestExtendsRelativePath, TestExtendsNil."""
    base = LOADER / "extends" / "base.yaml"
    p = load([_write(tmp_path, f"""
name: test-extends
services:
  test1: {{extends: {{file: {base}, service: base}}, hostname: test1}}
  test2: {{extends: {{file: {base}, service: base}}, hostname: test2}}
  test3: {{extends: {{file: {base}, service: another}}, hostname: test3}}
  port: {{image: test, extends: {{file: {base}, service: with-port}}}}
  ulimits: {{extends: {{file: {base}, service: withUlimits}}}}
  build: {{extends: {{file: {base}, service: with-build}}}}
  nil: {{image: test, extends: {{file: {base}, service: nil}}}}
""")], environ=HOME)
    s = p.services
    assert [s[n]["hostname"] for n in ("test1", "test2", "test3")] == ["test1", "test2", "test3"]
    assert s["test3"]["image"] == "base"
    assert s["port"]["ports"][0]["target"] == 8000
    assert s["ulimits"]["ulimits"]["nproc"] == 65535
    assert s["build"]["build"]["context"] == str(LOADER / "extends")
    assert s["nil"]["image"] == "test"


@pytest.mark.parametrize("service", ["with_volumes_from", "with_depends_on", "with_ipc", "with_network_mode"])
def test_extends_with_a_service_reference(corpus, tmp_path, service):
    """TestExtendsWithServiceRef: the reference to zot comes along, and must then exist."""
    text = f"""
name: test
services:
  bar:
    extends: {{file: {LOADER / 'extends' / 'depends_on.yaml'}, service: {service}}}
"""
    with pytest.raises(ComposeError, match="service 'bar' depends on undefined service 'zot'"):
        load([_write(tmp_path, text)], environ=HOME)
    load([_write(tmp_path, text + "  zot:\n    image: zot\n")], environ=HOME)


def test_extends_reset_and_interpolation(corpus, tmp_path):
    p = load([_write(tmp_path, f"""
name: t
services:
  test: {{extends: {{file: {LOADER / 'extends' / 'reset.yaml'}, service: base}}}}
  interp: {{extends: {{file: {LOADER / 'extends' / 'interpolated.yaml'}, service: foo}}}}
""")], environ=HOME)
    assert "command" not in p.services["test"]
    assert p.services["interp"]["volumes"][0]["source"] == "/dev/null"


def test_extends_port_override(corpus, tmp_path):
    """TestExtendsPortOverride: the same port from the file and from extends is one port."""
    ports = LOADER / "extends" / "ports.yaml"
    override = _write(tmp_path, f"services:\n  test:\n    extends: {{file: {ports}, service: test}}\n", "o.yaml")
    p = load([ports, override], environ=HOME)
    assert len(p.services["test"]["ports"]) == 1


def test_extends_cycle(tmp_path):
    with pytest.raises(ComposeError, match="Circular reference"):
        load([_write(tmp_path, "services:\n  a: {extends: b, image: x}\n  b: {extends: a}\n")], environ=HOME)


def test_include_with_env_file_and_override(corpus, tmp_path):
    """TestLoadWithInclude, TestLoadWithMultipleInclude(Conflict), TestLoadWithIncludeOverride."""
    text = f"""
name: test-include
include:
  - path: {LOADER / 'subdir' / 'compose-test-extends-imported.yaml'}
    env_file: {LOADER / 'subdir' / 'extra.env'}
  - path: {LOADER / 'compose-include.yaml'}
services:
  foo:
    image: busybox
    depends_on: [imported]
  bar:
    image: busybox
    environment: !override
      - ZOT=QIX
"""
    p = load([_write(tmp_path, text)], environ=HOME)
    assert p.services["imported"]["container_name"] == "extends"
    assert p.services["imported"]["environment"] == {"SOURCE": "extends"}
    assert p.services["bar"]["environment"] == {"ZOT": "QIX"}
    assert p.services["foo"]["depends_on"]["imported"]["condition"] == "service_started"
    p = load([_write(tmp_path, text)], environ={**HOME, "SOURCE": "override"})
    assert p.services["imported"]["container_name"] == "override"


def test_include_env_stays_in_the_included_project(tmp_path):
    """TestLoadWithIncludeEnv."""
    _write(tmp_path, "VAR_NAME=value", "custom.env")
    _write(tmp_path, "services:\n  b: {image: alpine, environment: [VAR_NAME]}\n", "module/compose.yml")
    p = load([_write(tmp_path, "include:\n  - path: [./module/compose.yml]\n    env_file: [./custom.env]\n"
                               "services:\n  a: {image: alpine, environment: [VAR_NAME]}\n", "compose.yml")],
             "project", environ=HOME)
    assert p.services["a"]["environment"] == {"VAR_NAME": None}
    assert p.services["b"]["environment"] == {"VAR_NAME": "value"}


def test_nested_include_and_extends(tmp_path):
    _write(tmp_path, "services:\n  included:\n    extends: {file: dir/extended.yaml, service: extended}\n",
           "dir/included.yaml")
    _write(tmp_path, "services:\n  extended: {image: alpine}\n", "dir/extended.yaml")
    p = load([_write(tmp_path, "include:\n  - project_directory: .\n    path: dir/included.yaml\n")], "p", environ=HOME)
    assert p.services["included"]["image"] == "alpine"


def test_multi_document_yaml(tmp_path):
    p = load([_write(tmp_path, "name: multi\nservices:\n  test: {image: 'nginx:latest'}\n---\n"
                               "services:\n  test: {image: 'nginx:override'}\n")], environ=HOME)
    assert p.services["test"]["image"] == "nginx:override"


# --- project name (cli/options_test.go TestProjectName) ------------------------------------

@pytest.mark.parametrize("given,environ,expected", [
    ("my_project", {}, "my_project"), ("42my_project_num", {}, "42my_project_num"),
    (None, {"COMPOSE_PROJECT_NAME": "42my_project_env"}, "42my_project_env"),
    (None, {"COMPOSE_PROJECT_NAME": "my_project_from_env"}, "my_project_from_env"),
    (None, {}, "simple"),
])
def test_project_name(corpus, given, environ, expected):
    assert load([CLI / "simple" / "compose.yaml"], given, environ={**HOME, **environ}).name == expected


@pytest.mark.parametrize("bad", ["-my_project", "_my_project", "www.my.project", "MY_PROJECT"])
def test_invalid_project_name(corpus, bad):
    with pytest.raises(ComposeError, match=f"invalid project name '{bad}'"):
        load([CLI / "simple" / "compose.yaml"], bad, environ=HOME)
    with pytest.raises(ComposeError, match=f"invalid project name '{bad}'"):
        load([CLI / "simple" / "compose.yaml"], environ={**HOME, "COMPOSE_PROJECT_NAME": bad})


def test_project_name_from_project_directory(corpus, tmp_path):
    assert load([CLI / "simple" / "compose.yaml"], project_directory=tmp_path / "proj", environ=HOME).name == "proj"
    with pytest.raises(ComposeError, match="project name must not be empty"):
        load([CLI / "simple" / "compose.yaml"], project_directory=Path("/"), environ=HOME)


def test_name_from_dot_env_and_compose_file(corpus, monkeypatch):
    """'by .env': COMPOSE_FILE and COMPOSE_PROJECT_NAME come from the folder's .env."""
    monkeypatch.chdir(CLI / "env-file")
    p = load(environ=HOME)
    assert p.name == "my_project_from_dot_env" and p.files == [CLI / "env-file" / "compose-with-env-file.yaml"]


def test_set_of_files(corpus):
    p = load([CLI / "simple" / "compose.yaml", CLI / "simple" / "compose-with-overrides.yaml"], "my_project", environ=HOME)
    assert p.services["simple"]["image"] == "haproxy"
    assert p.files == [CLI / "simple" / "compose.yaml", CLI / "simple" / "compose-with-overrides.yaml"]


# --- finding the files ---------------------------------------------------------------------

def test_find_files(tmp_path):
    for name in ("docker-compose.yaml", "docker-compose.yml", "compose.yml", "compose.override.yaml",
                 "docker-compose.override.yml"):
        _write(tmp_path, "services: {}\n", name)
    assert find_files(tmp_path) == [tmp_path / "compose.yml", tmp_path / "compose.override.yaml"]
    (tmp_path / "deep" / "er").mkdir(parents=True)
    assert find_files(tmp_path / "deep" / "er")[0] == tmp_path / "compose.yml"
    _write(tmp_path, "services: {}\n", "compose.yaml")
    assert find_files(tmp_path)[0] == tmp_path / "compose.yaml"


# --- the schema's own cases, and the normalizer's ------------------------------------------

@pytest.mark.parametrize("text,message", [
    ("services:\n  web:\n    imagee: nginx\n", "compose.yaml: services.web: additional property 'imagee' is not allowed"),
    ("services:\n  web:\n    image: nginx\n    ports: [abc]\n", "compose.yaml: services.web.ports[0]: invalid port 'abc'"),
    ("services:\n  web:\n    image: nginx\n    healthcheck: {interval: 10 seconds}\n",
     "compose.yaml: services.web.healthcheck.interval: invalid duration '10 seconds'"),
    ("services:\n  web:\n    image: nginx\n    stop_grace_period: 1x\n",
     "compose.yaml: services.web.stop_grace_period: invalid duration '1x'"),
    ("services:\n  web:\n    image: nginx\n    ports: 80\n", "compose.yaml: services.web.ports: must be a list, not 80"),
    ("services:\n  web:\n    image: nginx\n    depends_on: {db: {condition: started}}\n  db: {image: x}\n",
     "compose.yaml: services.web.depends_on"),
    ("services:\n  web:\n    image: ${IMAGE:?set IMAGE first}\n",
     "compose.yaml: services.web.image: required variable IMAGE is missing a value: set IMAGE first"),
    ("services:\n  web:\n    image: a\n    image: b\n", "compose.yaml: line 4: invalid YAML"),
    ("services:\n  web: [\n", "compose.yaml: line"),
    ("services:\n  web: {image: x, depends_on: [db]}\n", "compose.yaml: services.web.depends_on.db: service 'web' depends on undefined service 'db'"),
    ("services:\n  web: {image: x, networks: [back]}\n", "compose.yaml: services.web.networks.back: network 'back' is not declared"),
    ("services:\n  web: {image: x, volumes: ['data:/d']}\n", "compose.yaml: services.web.volumes[0]: volume 'data' is not declared"),
    ("services:\n  web: {}\n", "compose.yaml: services.web: has neither an image nor a build context"),
    ("services:\n  web: {image: x, volumes: ['/a:ro']}\n", "compose.yaml: services.web.volumes[0]: invalid volume"),
])
def test_invalid_files(tmp_path, monkeypatch, text, message):
    monkeypatch.chdir(tmp_path)
    _write(tmp_path, text)
    with pytest.raises(ComposeError) as caught:
        load([Path("compose.yaml")], environ=HOME)
    assert str(caught.value).startswith(message), str(caught.value)
    assert caught.value.exit_code == 1 and "\n" not in str(caught.value)


def test_yaml_1_2_scalars(tmp_path):
    p = load([_write(tmp_path, "services:\n  web:\n    image: x\n    restart: no\n    ports: [22:22]\n"
                               "    environment: {A: yes, B: on, C: true, D: 1.50}\n")], "p", environ=HOME)
    web = p.services["web"]
    assert web["restart"] == "no"
    assert web["ports"][0]["target"] == 22 and web["ports"][0]["published"] == "22"
    assert web["environment"] == {"A": "yes", "B": "on", "C": "true", "D": "1.5"}


def test_short_syntax_becomes_long(tmp_path):
    p = load([_write(tmp_path, """
services:
  web:
    build: ./app
    command: sh -c 'echo hi'
    environment: [A=1, B, C=]
    labels: [x=y]
    ports: ["127.0.0.1:8080-8081:80-81/udp", "9000", "[::1]:7000:7000"]
    expose: [80, "8000-8002"]
    volumes: ["./html:/usr/share/nginx/html:ro", "~/cache:/cache", "data:/data:nocopy", "/anon"]
    depends_on: [db]
    healthcheck: {test: "curl -f localhost", interval: 90s, start_period: 1500ms}
    extra_hosts: {somehost: 162.242.195.82}
    dns: 8.8.8.8
    env_file: [{path: missing.env, required: false}]
  db:
    image: busybox
    networks: {back: {aliases: [database]}}
    profiles: [debug]
networks: {back: {}}
volumes: {data: {}}
x-custom: {kept: true}
""")], "shop", environ={**HOME, "B": "from-env"}, profiles=["debug"])
    web, db = p.services["web"], p.services["db"]
    assert web["image"] == "shop-web"
    assert web["build"] == {"context": str(tmp_path / "app"), "dockerfile": "Dockerfile"}
    assert web["command"] == ["sh", "-c", "echo hi"]
    assert web["environment"] == {"A": "1", "B": "from-env", "C": ""}
    assert web["labels"] == {"x": "y"}
    assert web["ports"] == [
        {"target": 80, "published": "8080", "host_ip": "127.0.0.1", "protocol": "udp", "mode": "ingress"},
        {"target": 81, "published": "8081", "host_ip": "127.0.0.1", "protocol": "udp", "mode": "ingress"},
        {"target": 9000, "published": None, "host_ip": None, "protocol": "tcp", "mode": "ingress"},
        {"target": 7000, "published": "7000", "host_ip": "::1", "protocol": "tcp", "mode": "ingress"}]
    assert web["expose"] == ["80", "8000-8002"]
    assert [v["source"] for v in web["volumes"]] == [str(tmp_path / "html"), "/home/learner/cache", "data", None]
    assert web["volumes"][0]["read_only"] is True and web["volumes"][2]["volume"] == {"nocopy": True}
    assert web["depends_on"] == {"db": {"condition": "service_started", "required": True, "restart": False}}
    assert web["healthcheck"] == {"test": ["CMD-SHELL", "curl -f localhost"], "interval": "1m30s",
                                  "start_period": "1.5s"}
    assert web["extra_hosts"] == ["somehost=162.242.195.82"] and web["dns"] == ["8.8.8.8"]
    assert "env_file" not in web and web["networks"] == {"default": None} and web["scale"] == 1
    assert db["networks"] == {"back": {"aliases": ["database"]}}
    assert p.networks["back"]["name"] == "shop_back" and p.networks["default"]["name"] == "shop_default"
    assert p.volumes["data"]["name"] == "shop_data"
    assert p.model["x-custom"] == {"kept": True}


def test_profiles(tmp_path):
    text = ("services:\n  web: {image: x}\n  debug: {image: x, profiles: [debug]}\n"
            "  needs: {image: x, profiles: [other], depends_on: {debug: {condition: service_started, required: false}}}\n")
    p = load([_write(tmp_path, text)], "p", environ=HOME)
    assert set(p.services) == {"web"} and set(p.disabled) == {"debug", "needs"}
    assert set(load([tmp_path / "compose.yaml"], "p", environ={**HOME, "COMPOSE_PROFILES": "debug"}).services) == {"web", "debug"}
    assert set(load([tmp_path / "compose.yaml"], "p", environ=HOME, profiles=["*"]).services) == {"web", "debug", "needs"}
    assert set(load([tmp_path / "compose.yaml"], "p", environ=HOME, profiles=["other"]).services) == {"web", "needs"}
    _write(tmp_path, "services:\n  web: {image: x, depends_on: [debug]}\n  debug: {image: x, profiles: [debug]}\n")
    with pytest.raises(ComposeError, match="services.web.depends_on.debug: service 'debug' is disabled by its profiles"):
        load([tmp_path / "compose.yaml"], "p", environ=HOME)


# --- merging (13-merge.md; compose-go's override/merge_*_test.go) --------------------------

def test_merge_rules(tmp_path):
    base = _write(tmp_path, """
services:
  app:
    image: myapp
    command: [echo, foo]
    ports: ["8080:80", "9090:90"]
    volumes: ["foo:/work", "/keep"]
    environment: {FOO: BAR, KEEP: "1"}
    dns: [1.1.1.1]
    labels: {a: "1"}
volumes: {foo: {}, bar: {}}
""")
    override = _write(tmp_path, """
services:
  app:
    command: [echo, bar]
    ports: ["8080:80", "7070:70"]
    volumes: ["bar:/work"]
    environment: {FOO: !reset null, NEW: x}
    dns: [8.8.8.8]
    labels: [b=2]
""", "override.yaml")
    app = load([base, override], "p", environ=HOME).services["app"]
    assert app["command"] == ["echo", "bar"]
    assert [(p["published"], p["target"]) for p in app["ports"]] == [("8080", 80), ("9090", 90), ("7070", 70)]
    assert [(v["source"], v["target"]) for v in app["volumes"]] == [("bar", "/work"), (None, "/keep")]
    assert app["environment"] == {"KEEP": "1", "NEW": "x"}
    assert app["dns"] == ["1.1.1.1", "8.8.8.8"] and app["labels"] == {"a": "1", "b": "2"}
    _write(tmp_path, "services:\n  app:\n    ports: !override ['8443:443']\n    dns: !reset []\n", "override.yaml")
    app = load([base, override], "p", environ=HOME).services["app"]
    assert [(p["published"], p["target"]) for p in app["ports"]] == [("8443", 443)] and "dns" not in app


def test_merge_table():
    assert merge.merge({"a": {"x": 1, "y": [1]}}, {"a": {"y": [2], "z": 3}}) == {"a": {"x": 1, "y": [1, 2], "z": 3}}
    assert merge.merge({"services": {"s": {"healthcheck": {"test": ["CMD", "a"]}}}},
                       {"services": {"s": {"healthcheck": {"test": ["CMD", "b"]}}}}) == \
        {"services": {"s": {"healthcheck": {"test": ["CMD", "b"]}}}}
    assert merge.merge({"services": {"s": {"cap_add": ["NET_ADMIN"]}}},
                       {"services": {"s": {"cap_add": ["NET_ADMIN", "SYS_TIME"]}}}) == \
        {"services": {"s": {"cap_add": ["NET_ADMIN", "SYS_TIME"]}}}
    assert merge.clear({"a": {"b": 1, "c": 2}}, [("a", "b")]) == {"a": {"c": 2}}


# --- the course's example ------------------------------------------------------------------

def test_the_three_service_example():
    p = load([REPO / "notebooks" / "examples" / "compose-app" / "compose.yaml"], environ=HOME)
    assert p.name == "compose-app" and list(p.services) == ["db", "backend", "frontend"]
    db, backend, frontend = p.services["db"], p.services["backend"], p.services["frontend"]
    assert all(s["image"] == "busybox" for s in p.services.values())
    assert db["volumes"] == [{"type": "volume", "source": "data", "target": "/data", "read_only": False, "volume": {}}]
    assert db["healthcheck"]["test"][0] == "CMD-SHELL" and db["healthcheck"]["interval"] == "10s"
    assert db["healthcheck"]["start_interval"] == "100ms" and db["expose"] == ["7000"]
    assert "$key" in db["command"][2] and "$$" not in db["command"][2]  # $$ in the file is a literal $
    assert backend["depends_on"] == {"db": {"condition": "service_healthy", "required": True, "restart": False}}
    assert backend["environment"]["DB_HOST"] == "db"
    assert frontend["ports"] == [{"target": 80, "published": "8080", "host_ip": None, "protocol": "tcp", "mode": "ingress"}]
    assert p.volumes["data"]["name"] == "compose-app_data" and p.networks["default"]["name"] == "compose-app_default"
    assert "published: '8080'" in to_yaml(p)
