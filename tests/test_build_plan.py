"""The builder's pure decisions, without a kernel: config steps, cache keys, leases."""

from __future__ import annotations

import json

import pytest

from sandbox.builder import cache, config_steps
from sandbox.content.store import MEDIA_LAYER_TAR, Store


def test_env_replaces_a_name_and_keeps_the_order():
    config = {"Env": ["PATH=/bin", "A=1"]}
    config_steps.set_env(config, [("A", "2"), ("B", "x y")])
    assert config["Env"] == ["PATH=/bin", "A=2", "B=x y"]
    assert config_steps.env_dict(config) == {"PATH": "/bin", "A": "2", "B": "x y"}


def test_expose_takes_protocols_and_ranges_as_docker():
    config = {}
    config_steps.expose(config, ["80", "53/UDP", "8000-8002/tcp"])
    assert sorted(config["ExposedPorts"]) == ["53/udp", "80/tcp", "8000/tcp", "8001/tcp",
                                              "8002/tcp"]
    with pytest.raises(ValueError, match="invalid containerPort: http"):
        config_steps.expose(config, ["http"])


def test_workdir_is_relative_to_the_previous_one():
    config = {}
    assert config_steps.workdir(config, "app") == "/app"
    assert config_steps.workdir(config, "../srv/./x") == "/srv/x"
    assert config_steps.workdir(config, "/abs") == "/abs"


def test_shell_form_uses_the_stages_shell():
    assert config_steps.shell_or_exec({}, "echo hi", None) == ["/bin/sh", "-c", "echo hi"]
    assert config_steps.shell_or_exec({"Shell": ["bash", "-ec"]}, "x", None) == ["bash", "-ec", "x"]
    assert config_steps.shell_or_exec({}, None, ["a", "b"]) == ["a", "b"]


def test_entrypoint_resets_only_an_inherited_cmd():
    inherited = {"Cmd": ["sh"]}
    config_steps.set_entrypoint(inherited, ["echo"], {})
    assert inherited["Cmd"] is None
    own, stage = {"Cmd": ["sh"]}, {}
    config_steps.set_cmd(own, ["hi"], stage)
    config_steps.set_entrypoint(own, ["echo"], stage)
    assert own["Cmd"] == ["hi"]


def test_the_cmd_entrypoint_table_is_docker_references():
    table = config_steps.cmd_entrypoint_table(
        [None, "exec_entry p1_entry", ["exec_entry", "p1_entry"]],
        [None, ["exec_cmd", "p1_cmd"], "exec_cmd p1_cmd"])
    assert table[0] == ["error, not allowed", '["/bin/sh", "-c", "exec_entry p1_entry"]',
                        '["exec_entry", "p1_entry"]']
    assert table[1][2] == '["exec_entry", "p1_entry", "exec_cmd", "p1_cmd"]'
    assert table[2][0] == '["/bin/sh", "-c", "exec_cmd p1_cmd"]'
    assert table[2][2] == '["exec_entry", "p1_entry", "/bin/sh", "-c", "exec_cmd p1_cmd"]'


def test_a_step_key_depends_on_the_parent_and_every_part():
    key = cache.step_key("sha256:parent", "RUN make", ["A=1"])
    assert key.startswith("sha256:") and len(key) == 71
    assert key == cache.step_key("sha256:parent", "RUN make", ["A=1"])
    assert key != cache.step_key("sha256:other", "RUN make", ["A=1"])
    assert key != cache.step_key("sha256:parent", "RUN make", ["A=2"])


def test_a_lease_keeps_cached_layers_from_garbage_collection(tmp_path):
    store = Store(tmp_path).init()
    layer = store.put_blob(b"a layer", MEDIA_LAYER_TAR)
    cache.remember(store, "sha256:" + "1" * 64, {"config": {}}, [layer], "RUN x")
    store.collect_garbage()
    assert store.has_blob(layer["digest"])
    assert cache.lookup(store, "sha256:" + "1" * 64)["layers"] == [layer]
    assert cache.prune(store)[0] == 1
    assert not store.has_blob(layer["digest"])
    assert cache.lookup(store, "sha256:" + "1" * 64) is None


def test_a_cache_entry_whose_layer_is_gone_is_a_miss(tmp_path):
    store = Store(tmp_path).init()
    layer = store.put_blob(b"x", MEDIA_LAYER_TAR)
    cache.remember(store, "sha256:" + "2" * 64, {}, [layer], "COPY")
    store.blob_path(layer["digest"]).unlink()
    assert cache.lookup(store, "sha256:" + "2" * 64) is None


def test_a_lease_name_cannot_name_a_path(tmp_path):
    store = Store(tmp_path).init()
    with pytest.raises(ValueError):
        store.write_lease("../escape", {"digests": []})
    assert json.loads((tmp_path / "oci" / "index.json").read_text())["manifests"] == []


def test_sandbox_build_stays_the_function_once_the_builder_is_imported():
    """The package is ``sandbox.builder``, not ``sandbox.build``: importing a subpackage
    sets it as an attribute of its parent, which would hide the API's ``sandbox.build()``."""
    import sandbox
    import sandbox.builder.build  # noqa: F401
    assert callable(sandbox.build) and sandbox.build.__module__ == "sandbox.api"
