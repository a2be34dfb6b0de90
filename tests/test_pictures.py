"""The chapters' pictures (sandbox.course.pictures): each drawing is a valid SVG document that
shows the data it was given, the same document for the same data; the readers read live state.

The drawings are pure, so they run for any user; matplotlib comes with the course extra.
"""

import json
import os
import stat
import xml.etree.ElementTree as ET

import pytest

pytest.importorskip("matplotlib", reason="matplotlib (the course extra) draws the pictures")

from sandbox.course import pictures  # noqa: E402

SVG = "{http://www.w3.org/2000/svg}svg"
HOST_NS = {"cgroup": 4026531835, "ipc": 4026531839, "mnt": 4026531841, "net": 4026531840,
           "pid": 4026531836, "user": 4026531837, "uts": 4026531838}
CONTAINER_NS = dict(HOST_NS, mnt=4026532200, uts=4026532201, net=4026532204, pid=4026532203)
MANIFEST = {"config": {"digest": "sha256:" + "a1" * 32, "size": 1234},
            "layers": [{"digest": "sha256:" + "b2" * 32, "size": 1_200_000},
                       {"digest": "sha256:" + "c3" * 32, "size": 300}]}
INDEX = {"manifests": [
    {"digest": "sha256:" + "d4" * 32, "platform": {"os": "linux", "architecture": "amd64"}},
    {"digest": "sha256:" + "e5" * 32, "platform": {"os": "linux", "architecture": "arm64"}}]}

LABELS = {name: {"app.kubernetes.io/name": name} for name in ("web", "api", "worker")}
CLUSTER = [
    {"kind": "Service", "metadata": {"name": "web"},
     "spec": {"selector": LABELS["web"], "type": "LoadBalancer",
              "ports": [{"port": 8080, "targetPort": 80}]}},
    {"kind": "PersistentVolumeClaim", "metadata": {"name": "uploads"},
     "spec": {"resources": {"requests": {"storage": "5Gi"}}}},
    *({"kind": "Deployment", "metadata": {"name": name, "labels": LABELS[name]},
       "spec": {"replicas": replicas, "template": {
           "metadata": {"labels": LABELS[name]},
           "spec": {"containers": [], "volumes": [
               {"name": "u", "persistentVolumeClaim": {"claimName": "uploads"}}] if name == "api" else []}}}}
      for name, replicas in (("web", 1), ("api", 5), ("worker", 2))),
]


def texts(document: str) -> str:
    """Every piece of text in an SVG document (text stays text: svg.fonttype none)."""
    root = ET.fromstring(document)
    assert root.tag == SVG, root.tag
    return "\n".join("".join(element.itertext()) for element in root.iter()
                     if element.tag.endswith("}text"))


DRAWINGS = {
    "namespaces": (lambda: pictures.namespaces_svg(("the notebook", HOST_NS),
                                                    ("container 3f2a\npid 4711", CONTAINER_NS)),
                   ["mnt:[4026532200]", "mnt:[4026531841]", "ipc:[4026531839]", "pid 4711"]),
    "cgroup tree": (lambda: pictures.cgroup_tree_svg(
        {"/sys/fs/cgroup/memory": ["user.slice", "sandbox", "3f2a9c1b7d0e"],
         "/sys/fs/cgroup/pids": ["sandbox", "3f2a9c1b7d0e"]},
        files={"memory.limit_in_bytes": "33554432", "pids.max": "20"},
        others={"/sys/fs/cgroup/memory": [3, 1, 0]}),
        ["/sys/fs/cgroup/memory", "/sys/fs/cgroup/pids", "user.slice +3", "3f2a9c1b7d0e",
         "memory.limit_in_bytes = 33554432"]),
    "overlay": (lambda: pictures.overlay_svg(["app.log", "hello.txt", "old.txt"],
                                             {"app.log": "copied up", "new.txt": "new",
                                              "old.txt": "whiteout"}),
                ["merged/", "upper/", "lower/", "copy-up", "old.txt c 0/0", "hidden", "new.txt"]),
    "pull with an index": (lambda: pictures.pull_svg("127.0.0.1:5000/multi:1", MANIFEST,
                                                     INDEX["manifests"][0]["digest"], INDEX,
                                                     "sha256:" + "f6" * 32),
                           ["127.0.0.1:5000/multi:1", "index sha256:f6f6f6f6…", "linux/amd64",
                            "linux/arm64", "sha256:d4d4d4d4…", "config sha256:a1a1a1a1…",
                            "layer 2 sha256:c3c3c3c3…", "1.2 MB"]),
    "pull of one manifest": (lambda: pictures.pull_svg("busybox:latest", MANIFEST,
                                                       "sha256:" + "d4" * 32),
                             ["busybox:latest", "manifest", "layer 1 sha256:b2b2b2b2…"]),
    "bridge": (lambda: pictures.bridge_svg(
        {"name": "sbx-3f2a9c1b7d0", "gateway": "10.89.0.1", "subnet": "10.89.0.0/24"},
        [{"container": "db", "address": "10.89.0.2/24", "veth": "veth1a2b3c4", "device": "eth0",
          "netns": 4026532300},
         {"container": "client", "address": "10.89.0.3/24", "veth": "veth5d6e7f8",
          "device": "eth0"}]),
        ["bridge sbx-3f2a9c1b7d0 · 10.89.0.1", "veth1a2b3c4", "veth5d6e7f8", "net:[4026532300]",
         "eth0 10.89.0.3/24", "veth pair"]),
    "a project on a cluster": (lambda: pictures.cluster_svg(CLUSTER),
                               ["Service web", "LoadBalancer 8080→80", "from outside",
                                "Deployment api ×5", "Pod api-1", "+3 Pods", "PVC uploads",
                                "5Gi", "no Service:", '"worker" unknown', "mounts"]),
}


@pytest.mark.parametrize("name", list(DRAWINGS))
def test_each_drawing_is_a_valid_svg_that_shows_its_data(name):
    draw, expected = DRAWINGS[name]
    document = draw()
    shown = texts(document)
    for piece in expected:
        assert piece in shown, f"{name}: {piece!r} is not in the picture's text:\n{shown}"


@pytest.mark.parametrize("name", list(DRAWINGS))
def test_the_same_data_gives_the_same_document(name):
    draw, _ = DRAWINGS[name]
    assert draw() == draw()


def test_a_shared_namespace_is_drawn_once_and_an_own_one_twice():
    shown = texts(pictures.namespaces_svg(("a", HOST_NS), ("b", CONTAINER_NS)))
    assert shown.count("ipc:[4026531839]") == 1            # shared: one box
    assert shown.count("mnt:[") == 2                        # one each


def test_namespaces_of_reads_proc_pid_ns():
    mine = pictures.namespaces_of(os.getpid())
    assert mine == pictures.namespaces_of("self")
    assert mine["net"] == os.stat("/proc/self/ns/net").st_ino and "mnt" in mine


def test_the_mount_of_a_cgroup_is_the_longest_prefix():
    points = ["/sys/fs/cgroup", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/memoryx"]
    assert pictures._mount_of("/sys/fs/cgroup/memory/a/b", points) == "/sys/fs/cgroup/memory"
    assert pictures._mount_of("/sys/fs/cgroup/a", points) == "/sys/fs/cgroup"
    assert pictures._mount_of("/elsewhere", points) == "/"


def test_cgroup_branches_reads_this_process_cgroup():
    from sandbox.isolation import cgroups

    found = cgroups.mounts()
    if not found:
        pytest.skip("no cgroup filesystem is mounted here")
    own = cgroups.own_paths()
    mount = found[0]
    key = "" if mount.version == 2 else next(iter(mount.controllers), None)
    if key not in own:
        pytest.skip("this process's cgroup is not listed for the first hierarchy")
    directory = os.path.join(mount.path, own[key].lstrip("/"))
    branches, others = pictures.cgroup_branches([directory])
    parts = [p for p in own[key].split("/") if p]
    assert branches == {mount.path: parts}
    assert len(others[mount.path]) == len(parts) and all(n >= 0 for n in others[mount.path])


def test_overlay_state_names_copy_ups_new_files_and_whiteouts(tmp_path):
    lower, upper = tmp_path / "lower", tmp_path / "upper"
    lower.mkdir()
    upper.mkdir()
    for name in ("app.log", "hello.txt", "old.txt"):
        (lower / name).write_text(name)
    (upper / "app.log").write_text("changed")
    (upper / "new.txt").write_text("new")
    expected = {"app.log": "copied up", "new.txt": "new"}
    try:  # a whiteout is a character device 0/0: only root may make one outside an overlay
        os.mknod(upper / "old.txt", stat.S_IFCHR | 0o600, os.makedev(0, 0))
        expected["old.txt"] = "whiteout"
    except PermissionError:
        pass
    assert pictures.overlay_state(lower, upper) == (["app.log", "hello.txt", "old.txt"], expected)


def test_bridge_state_reads_the_network_files(tmp_path):
    net = tmp_path / "networks" / "lab"
    (net / "endpoints").mkdir(parents=True)
    (net / "network.json").write_text(json.dumps({
        "Name": "lab", "Id": "3f2a9c1b7d0e" * 5 + "abcd",
        "IPAM": {"Config": [{"Subnet": "10.89.0.0/24", "Gateway": "10.89.0.1"}]}}))
    for cid, name, address in (("c2", "client", "10.89.0.3/24"), ("c1", "db", "10.89.0.2/24")):
        (net / "endpoints" / f"{cid}.json").write_text(json.dumps({
            "Name": name, "IPv4Address": address, "HostVeth": f"veth{cid}", "Device": "eth0"}))
    bridge, endpoints = pictures.bridge_state(tmp_path, "lab", {"db": os.getpid()})
    assert bridge == {"name": "sbx-3f2a9c1b7d0", "gateway": "10.89.0.1",
                      "subnet": "10.89.0.0/24", "network": "lab"}
    assert [e["container"] for e in endpoints] == ["db", "client"]     # by address
    assert endpoints[0]["netns"] == os.stat("/proc/self/ns/net").st_ino
    assert "netns" not in endpoints[1] and endpoints[1]["veth"] == "vethc2"


def test_importing_the_module_does_not_import_matplotlib():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", "import sys, sandbox.course.pictures; "
                           "print('matplotlib' in sys.modules)"],
                          capture_output=True, text=True, env=dict(os.environ))
    assert done.stdout.strip() == "False", done.stderr
