"""Image references: Docker's grammar and normalisation (distribution/reference), no I/O.

The cases come from Docker's own tables (normalize_test.go, reference_test.go):
what ``docker pull NAME`` turns NAME into, what ``docker images`` shows for it,
and the names it refuses, each refusal one sentence naming the bad part.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sandbox.errors import UsageError
from sandbox.content.reference import BadReference, Reference, parse

DIGEST = "sha256:" + "0123456789abcdef" * 4
CONFORMANCE = Path(__file__).resolve().parents[2] / "shared" / "conformance"

# NAME → (registry, repository, tag, digest, familiar())
NORMALISED = {
    "ubuntu": ("docker.io", "library/ubuntu", "latest", None, "ubuntu:latest"),
    "ubuntu:22.04": ("docker.io", "library/ubuntu", "22.04", None, "ubuntu:22.04"),
    "me/app:1": ("docker.io", "me/app", "1", None, "me/app:1"),
    "docker.io/ubuntu": ("docker.io", "library/ubuntu", "latest", None, "ubuntu:latest"),
    "docker.io/me/app": ("docker.io", "me/app", "latest", None, "me/app:latest"),
    "docker.io/library/ubuntu:latest": ("docker.io", "library/ubuntu", "latest", None,
                                        "ubuntu:latest"),
    "index.docker.io/library/x": ("docker.io", "library/x", "latest", None, "x:latest"),
    "index.docker.io/x": ("docker.io", "library/x", "latest", None, "x:latest"),
    "registry.hub.docker.com/library/x": ("docker.io", "library/x", "latest", None,
                                          "x:latest"),
    "registry.hub.docker.com/x:1": ("docker.io", "library/x", "1", None, "x:1"),
    "registry.hub.docker.com/me/app": ("docker.io", "me/app", "latest", None,
                                       "me/app:latest"),
    # library/ is dropped only before one component: "a/b" would be another image
    "library/a/b": ("docker.io", "library/a/b", "latest", None, "library/a/b:latest"),
    "localhost/x": ("localhost", "x", "latest", None, "localhost/x:latest"),
    "localhost:5000/x": ("localhost:5000", "x", "latest", None, "localhost:5000/x:latest"),
    "127.0.0.1:5000/demo/busybox:1": ("127.0.0.1:5000", "demo/busybox", "1", None,
                                      "127.0.0.1:5000/demo/busybox:1"),
    f"127.0.0.1:5000/demo/busybox:1@{DIGEST}": ("127.0.0.1:5000", "demo/busybox", "1", DIGEST,
                                                f"127.0.0.1:5000/demo/busybox:1@{DIGEST}"),
    f"busybox@{DIGEST}": ("docker.io", "library/busybox", None, DIGEST, f"busybox@{DIGEST}"),
    "ghcr.io/owner/repo/sub:v1.2_3-rc": ("ghcr.io", "owner/repo/sub", "v1.2_3-rc", None,
                                         "ghcr.io/owner/repo/sub:v1.2_3-rc"),
    "Example.COM:443/a-b/c__d/e.f--g:T": ("Example.COM:443", "a-b/c__d/e.f--g", "T", None,
                                          "Example.COM:443/a-b/c__d/e.f--g:T"),
    "[::1]:5000/x:1": ("[::1]:5000", "x", "1", None, "[::1]:5000/x:1"),
    # no "." or ":" and not localhost: a Docker Hub user, not a registry
    "foo_bar/x": ("docker.io", "foo_bar/x", "latest", None, "foo_bar/x:latest"),
    # "localhost:5000" alone is the image localhost with the tag 5000, as in Docker
    "localhost:5000": ("docker.io", "library/localhost", "5000", None, "localhost:5000"),
    "x:" + "t" * 128: ("docker.io", "library/x", "t" * 128, None, "x:" + "t" * 128),
}


@pytest.mark.parametrize("text", NORMALISED)
def test_docker_normalises_names_the_same_way(text):
    registry, repository, tag, digest, familiar = NORMALISED[text]
    ref = parse(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (registry, repository, tag,
                                                                    digest)
    assert str(ref) == f"{registry}/{repository}" + (f":{tag}" if tag else "") + \
        (f"@{digest}" if digest else "")
    assert ref.familiar() == familiar
    # the short form means the same image: parsing it again changes nothing
    assert parse(ref.familiar()) == ref and parse(str(ref)) == ref


def test_the_registry_api_asks_for_the_digest_when_there_is_one():
    assert parse("ubuntu").reference == "latest"
    assert parse(f"ubuntu:22.04@{DIGEST}").reference == DIGEST
    assert repr(parse("ubuntu")) == "Reference('docker.io/library/ubuntu:latest')"
    assert parse("ubuntu") == Reference("docker.io", "library/ubuntu", "latest", None)
    assert len({parse("ubuntu"), parse("docker.io/library/ubuntu:latest")}) == 1


# NAME → words the one-sentence refusal must contain (the bad part, and why)
REFUSED = {
    "": ["empty"],
    " ubuntu": ["spaces"],
    "ubuntu ": ["spaces"],
    "ubu ntu": ["spaces", "'ubu ntu'"],
    "ubuntu:la test": ["spaces"],
    "Ubuntu": ["'Ubuntu'", "uppercase"],
    "me/MyApp:1": ["'MyApp'", "uppercase"],
    "ubuntu:bad!tag": ["tag", "'bad!tag'"],
    "ubuntu:-lead": ["tag", "'-lead'"],
    "ubuntu:é": ["tag", "'é'"],
    "ubuntu:": ["tag", "''"],
    "x:" + "t" * 129: ["tag", "128"],
    "ubuntu@sha256:abc": ["digest", "64"],
    "ubuntu@sha256:" + "0123456789ABCDEF" * 4: ["digest", "lowercase"],
    "ubuntu@md5:" + "0" * 32: ["digest", "sha256"],
    "ubuntu@": ["digest"],
    "a..b/c": ["'a..b'"],
    "a___b": ["'a___b'"],
    "-a/b": ["'-a'"],
    "a//b": ["name component ''"],
    "aa/asdf$$^/aa": ["'asdf$$^'"],
    ":justtag": ["name component ''"],
    "bad_host.com/x": ["'bad_host.com'", "registry"],
    "localhost:port/x": ["'localhost:port'", "registry"],
    "docker.io/" + "a" * 250: ["longer than 255"],
}


@pytest.mark.parametrize("text", REFUSED)
def test_bad_references_are_refused_in_one_sentence_naming_the_bad_part(text):
    with pytest.raises(BadReference) as caught:
        parse(text)
    message = str(caught.value)
    assert message.startswith("invalid reference format: "), message
    assert "\n" not in message
    for needle in REFUSED[text]:
        assert needle in message, message
    assert isinstance(caught.value, UsageError)  # the CLI prints it as one line and exits 125


def test_the_longest_name_docker_accepts_counts_the_registry():
    """NameTotalLengthMax (255) counts "docker.io/library/" too, as Docker does."""
    longest = "a" * (255 - len("docker.io/library/"))
    assert parse(longest).repository == "library/" + longest
    with pytest.raises(BadReference):
        parse(longest + "a")


def _oci_descriptor_digests():
    fixtures = CONFORMANCE / "oci-image-spec" / "schema_fixtures.json"
    if not fixtures.exists():
        return []
    cases = []
    for case in json.loads(fixtures.read_text())["cases"]:
        if case["schema"] != "content-descriptor.json":
            continue
        try:
            digest = json.loads(case["document"]).get("digest")
        except ValueError:
            continue
        if digest:
            cases.append(pytest.param(digest, case["fail"] and "digest" in case["comment"],
                                      id=case["comment"][:60]))
    return cases


@pytest.mark.parametrize("digest, refused_by_the_spec", _oci_descriptor_digests())
def test_digests_from_the_oci_spec_fixtures(digest, refused_by_the_spec):
    """The OCI image spec's own descriptor fixtures (../shared/conformance): every digest the
    spec refuses is refused in ``NAME@DIGEST``; of those it allows, Docker pulls only sha256
    ones (other algorithms fail digest.Validate), so sandbox accepts exactly those."""
    is_sha256 = digest.startswith("sha256:") and len(digest) == 71 and \
        all(c in "0123456789abcdef" for c in digest[7:])
    assert not (refused_by_the_spec and is_sha256)
    if is_sha256:
        assert parse(f"busybox@{digest}").digest == digest
    else:
        with pytest.raises(BadReference, match="digest"):
            parse(f"busybox@{digest}")


def test_conformance_corpus_has_digest_cases():
    """Say so when the shared corpus is missing, rather than pass on zero cases."""
    if not (CONFORMANCE / "oci-image-spec" / "schema_fixtures.json").exists():
        pytest.skip(f"{CONFORMANCE} is absent: the OCI spec's digest fixtures were not checked "
                    "(the corpus holds no Docker reference tables; the ones above are "
                    "transcribed from distribution/reference)")
    assert len(_oci_descriptor_digests()) > 20
