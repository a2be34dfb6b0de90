"""Other tools read what the sandbox writes, and the sandbox reads what they write.

skopeo (containers/image) reads ``sandbox save``'s archive both ways it can
(``docker-archive:`` and ``oci-archive:``); umoci unpacks the result into the
same file tree that ``sandbox export`` gives; an image that umoci builds runs
in the sandbox; and every index, manifest and config in the sandbox's store
is valid against the OCI image-spec JSON schemas.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import stat
import subprocess
import tarfile
from pathlib import Path

import pytest

from conftest import IS_ROOT, REPO, sandbox

SKOPEO, UMOCI = shutil.which("skopeo"), shutil.which("umoci")
needs_skopeo = pytest.mark.skipif(not SKOPEO, reason="skopeo is not installed")
needs_umoci = pytest.mark.skipif(not UMOCI, reason="umoci is not installed")
ROOTLESS = [] if IS_ROOT else ["--rootless"]  # umoci as a user: no chown, no mknod

CONFORMANCE = REPO.parent / "shared" / "conformance"
SCHEMAS = CONFORMANCE / "oci-image-spec" / "schema"

# Mount points that the container's init layer adds (Docker's export has them too), and
# directories it makes (0755) above the image's: the merged view shows the init layer's mode.
INIT_LAYER = {"etc/hostname", "etc/hosts", "etc/resolv.conf"}
INIT_DIRS = {"dev", "proc", "sys", "etc"}


def run(*argv, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run([str(a) for a in argv], capture_output=True, text=True, timeout=60, **kw)
    assert r.returncode == 0, f"{' '.join(map(str, argv))} exited {r.returncode}:\n{r.stderr}"
    return r


def umoci(*args):
    return run(UMOCI, *args)


def skopeo(*args):
    # No registry is involved: an empty policy that accepts anything, so that the test
    # does not depend on /etc/containers/policy.json or the user's ~/.config.
    return run(SKOPEO, "--insecure-policy", *args)


# --- file trees --------------------------------------------------------------------
def tree_of_dir(root: Path) -> dict[str, tuple]:
    """Every path below root: (kind, mode, link target or size)."""
    tree = {}
    for directory, dirs, files in os.walk(root):
        for entry in dirs + files:
            path = Path(directory) / entry
            st = os.lstat(path)
            rel = str(path.relative_to(root))
            if stat.S_ISLNK(st.st_mode):
                tree[rel] = ("symlink", None, os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                tree[rel] = ("dir", stat.S_IMODE(st.st_mode), None)
            elif stat.S_ISREG(st.st_mode):
                tree[rel] = ("file", stat.S_IMODE(st.st_mode), st.st_size)
            else:
                tree[rel] = ("other", None, None)
    return tree


def tree_of_tar(archive: Path) -> dict[str, tuple]:
    tree = {}
    with tarfile.open(archive) as tar:
        members = tar.getmembers()
        by_name = {m.name: m for m in members}
        for m in members:
            rel = m.name.removeprefix("./").rstrip("/")
            if not rel or rel == ".":
                continue
            if m.issym():
                tree[rel] = ("symlink", None, m.linkname)
            elif m.isdir():
                tree[rel] = ("dir", m.mode & 0o7777, None)
            elif m.isreg():
                tree[rel] = ("file", m.mode & 0o7777, m.size)
            elif m.islnk():
                tree[rel] = ("file", m.mode & 0o7777, by_name[m.linkname].size)
            else:
                tree[rel] = ("other", None, None)
    return tree


def without_init_layer(tree: dict) -> dict:
    return {path: (what[0], None, what[2]) if path in INIT_DIRS else what
            for path, what in tree.items() if path not in INIT_LAYER}


@pytest.fixture
def image(name, tmp_path):
    """``<name>:v1``: busybox with /new added and /bin/vi deleted; saved to tmp_path/image.tar."""
    ref = f"{name}:v1"
    sandbox("run", "--name", name, "busybox", "sh", "-c",
            f"echo {name} > /new; rm /bin/vi; mkdir -p /opt/app; echo x > /opt/app/conf",
            check=True)
    sandbox("commit", name, ref, check=True)
    sandbox("rm", name, check=True)
    sandbox("save", ref, "-o", str(tmp_path / "image.tar"), check=True)
    yield ref, tmp_path / "image.tar"
    sandbox("rmi", ref)


def export_of(ref: str, name: str, out: Path) -> dict:
    """The file tree of a (never started) container of ``ref``, as ``sandbox export`` writes it."""
    sandbox("create", "--name", name, ref, "true", check=True)
    try:
        sandbox("export", name, "-o", str(out), check=True)
    finally:
        sandbox("rm", name, check=True)
    return tree_of_tar(out)


# --- sandbox save → skopeo → umoci ---------------------------------------------------------
@needs_skopeo
@needs_umoci
@pytest.mark.parametrize("transport", ["docker-archive", "oci-archive"])
def test_skopeo_and_umoci_read_what_sandbox_saves(image, name, tmp_path, transport):
    ref, archive = image
    layout, bundle = tmp_path / "layout", tmp_path / "bundle"
    skopeo("copy", "--quiet", f"{transport}:{archive}", f"oci:{layout}:v1")
    umoci("unpack", *ROOTLESS, "--image", f"{layout}:v1", bundle)
    unpacked = without_init_layer(tree_of_dir(bundle / "rootfs"))
    exported = without_init_layer(export_of(ref, f"{name}-export", tmp_path / "export.tar"))

    assert sorted(unpacked) == sorted(exported)  # the same paths
    assert unpacked == exported                    # of the same kinds, modes, sizes, targets
    assert (bundle / "rootfs" / "new").read_text() == f"{name}\n"
    assert "bin/vi" not in unpacked and unpacked["bin/sh"] == ("symlink", None, "/bin/busybox")

    # The config skopeo read is the image's: same diff_ids, same command.
    config = json.loads(skopeo("inspect", "--config", f"{transport}:{archive}").stdout)
    ours = json.loads(sandbox("image", "inspect", ref, check=True).stdout)[0]
    assert config["rootfs"]["diff_ids"] == ours["RootFS"]["Layers"]
    assert config["config"]["Cmd"] == ours["Config"]["Cmd"]


@needs_skopeo
def test_sandbox_loads_what_skopeo_writes(image, name, tmp_path):
    """The other direction: skopeo's own docker-archive (``<hex>.json``, ``<hex>.tar``
    names) and oci-archive, written from sandbox's image, load and run."""
    ref, archive = image
    layout = tmp_path / "layout"
    skopeo("copy", "--quiet", f"docker-archive:{archive}", f"oci:{layout}:v1")
    for transport, tag in (("docker-archive", f"{name}-docker:v2"),
                           ("oci-archive", f"{name}-oci:v2")):
        out = tmp_path / f"{transport}.tar"
        target = f"{transport}:{out}:{tag}" if transport == "docker-archive" else \
            f"{transport}:{out}:docker.io/library/{tag}"
        skopeo("copy", "--quiet", f"oci:{layout}:v1", target)
        loaded = sandbox("load", "-i", str(out), check=True).stdout.strip()
        assert loaded == f"Loaded image: {tag}"
        try:
            r = sandbox("run", "--rm", tag, "cat", "/new")
            assert r.stdout == f"{name}\n", r.stderr
            assert sandbox("run", "--rm", tag, "ls", "/bin/vi").returncode != 0
        finally:
            sandbox("rmi", tag)


# --- an image built by umoci runs in the sandbox -----------------------------------------
@needs_umoci
def test_an_image_built_by_umoci_loads_and_runs(name, tmp_path):
    from sandbox.content.busybox import find_busybox
    layout, bundle = tmp_path / "layout", tmp_path / "bundle"
    umoci("init", "--layout", layout)
    umoci("new", "--image", f"{layout}:t")
    umoci("unpack", *ROOTLESS, "--image", f"{layout}:t", bundle)
    rootfs = bundle / "rootfs"
    (rootfs / "bin").mkdir(exist_ok=True)
    shutil.copy2(find_busybox(), rootfs / "bin" / "busybox")
    (rootfs / "hello").write_text(f"hello from umoci {name}\n")
    umoci("repack", "--image", f"{layout}:t", bundle)

    archive = tmp_path / "umoci.tar"
    with tarfile.open(archive, "w") as tar:
        for entry in sorted(os.listdir(layout)):
            tar.add(layout / entry, arcname=entry)
    r = sandbox("load", "-i", str(archive), check=True)
    assert r.stdout.startswith("Loaded image ID: sha256:")  # tag "t" names no repository
    image_id = r.stdout.split()[-1]
    try:
        r = sandbox("run", "--rm", image_id[7:19], "/bin/busybox", "cat", "/hello")
        assert r.stdout == f"hello from umoci {name}\n", r.stderr
    finally:
        sandbox("rmi", image_id)


# --- the store against the OCI schemas -------------------------------------------------------
def schema_validators():
    if not SCHEMAS.is_dir():
        pytest.skip(f"the OCI image-spec schemas are not there ({SCHEMAS}): "
                    "../shared/conformance is absent")
    import jsonschema
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT4

    def retrieve(uri: str) -> Resource:
        # The schemas $ref each other by file name, relative to ids such as
        # https://opencontainers.org/schema/image/manifest: serve them from disk.
        local = SCHEMAS / uri.rsplit("/", 1)[-1]
        return Resource.from_contents(json.loads(local.read_text()),
                                      default_specification=DRAFT4)

    registry = Registry(retrieve=retrieve)
    return {kind: jsonschema.Draft4Validator(json.loads((SCHEMAS / f).read_text()),
                                             registry=registry)
            for kind, f in (("index", "image-index-schema.json"),
                            ("manifest", "image-manifest-schema.json"),
                            ("config", "config-schema.json"),
                            ("layout", "image-layout-schema.json"))}


def test_the_schemas_are_loaded_right():
    """The validators agree with image-spec's own test cases (those the schema decides)."""
    validators = schema_validators()
    by_file = {"image-index-schema.json": "index", "image-manifest-schema.json": "manifest",
               "config-schema.json": "config", "image-layout-schema.json": "layout"}
    cases = json.loads((SCHEMAS.parent / "schema_fixtures.json").read_text())["cases"]
    checked = 0
    for case in cases:
        kind = by_file.get(case["schema"])
        try:
            document = json.loads(case["document"])
        except ValueError:
            continue
        if kind is None:
            continue
        valid = validators[kind].is_valid(document)
        if not case["fail"]:
            assert valid, case["comment"]
        elif kind in ("index", "manifest"):  # their failures are all the schema's to find
            assert not valid, case["comment"]
        checked += 1
    assert checked > 20


def check_blob(store: Path, descriptor: dict) -> bytes:
    """A descriptor's blob exists, has its size and hashes to its digest."""
    data = (store / "blobs" / "sha256" / descriptor["digest"].split(":", 1)[1]).read_bytes()
    assert len(data) == descriptor["size"], descriptor
    assert "sha256:" + hashlib.sha256(data).hexdigest() == descriptor["digest"]
    return data


def validate_layout(validators, layout: Path) -> int:
    """Validate oci-layout, index.json and every manifest and config it leads to."""
    def check(kind, document):
        errors = sorted(validators[kind].iter_errors(document), key=str)
        assert not errors, f"{kind}: {errors[0].message} in {json.dumps(document)[:300]}"

    check("layout", json.loads((layout / "oci-layout").read_text()))
    index = json.loads((layout / "index.json").read_text())
    check("index", index)
    for descriptor in index["manifests"]:
        manifest = json.loads(check_blob(layout, descriptor))
        check("manifest", manifest)
        config = json.loads(check_blob(layout, manifest["config"]))
        check("config", config)
        # The Go checks image-spec's validator adds to the schema:
        for env in config.get("config", {}).get("Env") or []:
            assert "=" in env and not env.startswith("="), env
        assert len(config["rootfs"]["diff_ids"]) == len(manifest["layers"])
        for layer, diff_id in zip(manifest["layers"], config["rootfs"]["diff_ids"]):
            blob = check_blob(layout, layer)
            gzipped = blob[:2] == b"\x1f\x8b"
            assert layer["mediaType"].endswith("+gzip") == gzipped, layer
            raw = gzip.decompress(blob) if gzipped else blob
            assert "sha256:" + hashlib.sha256(raw).hexdigest() == diff_id
    return len(index["manifests"])


def test_every_blob_in_the_store_is_valid_oci(name, state_root, tmp_path):
    validators = schema_validators()
    # busybox (built here), a commit, an import and a load: each writes its own blobs.
    sandbox("run", "--name", name, "busybox", "sh", "-c", "echo committed > /c", check=True)
    sandbox("commit", "-m", "a commit", "-a", "Ada", name, f"{name}:commit", check=True)
    sandbox("rm", name, check=True)
    rootfs = tmp_path / "rootfs.tar"
    with tarfile.open(rootfs, "w") as tar:
        info = tarfile.TarInfo("hello")
        data = name.encode()
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    sandbox("import", str(rootfs), f"{name}:import", check=True)
    untagged = sandbox("import", str(rootfs), check=True).stdout.strip()
    archive = tmp_path / "saved.tar"
    sandbox("save", f"{name}:commit", "-o", str(archive), check=True)
    sandbox("rmi", f"{name}:commit", check=True)
    sandbox("load", "-i", str(archive), check=True)
    try:
        assert validate_layout(validators, state_root / "oci") >= 4
        # And the OCI half of what save writes.
        saved = tmp_path / "saved"
        with tarfile.open(archive) as tar:
            tar.extractall(saved)  # written by save above: trusted
        assert validate_layout(validators, saved) == 1
    finally:
        for ref in (f"{name}:commit", f"{name}:import", untagged):
            sandbox("rmi", ref)
