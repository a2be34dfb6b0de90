"""Grading at scale: ``--shard K/N``, ``--merge``, and the indexed Kubernetes Job, checked offline.

Shard selection and the merge's refusals need no container; the merge of
real shards is compared with one unsharded run of the same real
submissions (root: grading runs containers).  The Jobs are validated
against the schemas of one pinned Kubernetes version, which
kubernetes-validate ships (no cluster is needed, or reached).
"""

from __future__ import annotations

import csv
import itertools
import json
import random
from pathlib import Path

import pytest

from conftest import REPO, fails_with_one_sentence, root_only, sandbox
from course_notebooks import CORRECT, submission, write
from sandbox.course import gradingjob, shards
from sandbox.course.results import Outputs, output_names
from test_course import _load, released, secret  # noqa: F401 - fixtures: the released demo

KUBERNETES = "1.33.0"  # user namespaces beta and on by default; Indexed Jobs and
# backoffLimitPerIndex GA.  A version kubernetes-validate ships the schemas of.
COMMITTED = REPO / "deploy" / "grading-job.yaml"
COMMITTED_ARGS = (4, "registry.example.org/course:latest",
                  "release/autograder/03_namespaces.ipynb", ["submissions/*.ipynb"], "grades")


# --- which submissions a shard grades ---------------------------------------------------
BATCH = [Path(p) for p in ["subs/alice.ipynb", "subs/bob.ipynb", "a/carol.ipynb",
                           "b/carol.ipynb", "subs/Dave.ipynb", "subs/émile.ipynb",
                           "subs/frank.ipynb", "late/gina.ipynb", "subs/hana.ipynb",
                           "subs/ivan.json", "subs/bob", "subs/zoe.ipynb"]]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_every_submission_is_in_exactly_one_shard(n):
    named = list(zip(BATCH, output_names(BATCH)))
    chosen = [shards.select(named, k, n) for k in range(1, n + 1)]
    everything = [pair for shard in chosen for pair in shard]
    assert sorted(everything) == sorted(named)  # every one, and none twice
    sizes = [len(shard) for shard in chosen]
    assert max(sizes) - min(sizes) <= 1  # round robin: within one of each other
    for shard in chosen:  # each shard keeps the order the batch was given in
        assert shard == [pair for pair in named if pair in shard]


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_the_shards_do_not_depend_on_the_order_the_files_were_given(n):
    """Two pods may list the submissions in two orders (the glob's order is the locale's)."""
    shuffled = BATCH[:]
    random.Random(n).shuffle(shuffled)
    as_given = shards.shard_of(output_names(BATCH), n)
    reordered = shards.shard_of(output_names(shuffled), n)
    assert as_given == reordered


def test_the_rule_is_the_sorted_names_round_robin():
    assert shards.shard_of(["erin", "bob", "alice", "dave", "carol"], 2) == \
        {"alice": 1, "bob": 2, "carol": 1, "dave": 2, "erin": 1}
    assert shards.parse_shard("2/3") == (2, 3)


@pytest.mark.parametrize("value, needle", [
    ("0/3", 'invalid --shard "0/3": K must be between 1 and N'),
    ("4/3", 'invalid --shard "4/3": K must be between 1 and N'),
    ("1/0", 'invalid --shard "1/0": K must be between 1 and N, and N at least 1'),
    ("x", 'invalid --shard "x": write K/N, shard K of N, counting from 1'),
    ("3", 'invalid --shard "3": write K/N'),
    ("-1/3", 'invalid --shard "-1/3": write K/N'),
])
def test_a_bad_shard_is_refused_in_one_sentence(released, tmp_path, value, needle):
    r = sandbox("course", "grade", str(released / "autograder" / "demo.ipynb"),
                str(released / "student" / "demo.ipynb"), "--out", str(tmp_path / "g"),
                "--shard", value)
    fails_with_one_sentence(r, needle)
    assert not (tmp_path / "g").exists()  # refused before any work


# --- merging: the refusals (shards written here, without containers) ---------------------
def _fake_shard(folder: Path, assignment: Path, k: int, n: int, batch: list[Path]) -> Path:
    """What ``grade --shard k/n`` leaves, with made-up scores: results, feedback, CSV, manifest."""
    named = list(zip(batch, output_names(batch)))
    mine = shards.select(named, k, n)
    rows = [{"file": str(path), "name": name, "status": "graded", "seconds": 1.0,
             "results": {"q1": {"score": float(len(name) % 3), "points": 2.0, "hint": ""}}}
            for path, name in mine]
    with Outputs(folder) as outputs:
        for row in rows:
            outputs.write_submission(row["name"], row, {"cells": [], "metadata": {},
                                                        "nbformat": 4, "nbformat_minor": 5})
        outputs.write_grades(rows, {"q1": 2.0})
        outputs.write_text("", shards.MANIFEST,
                           json.dumps(shards.manifest(assignment, k, n, named, mine)))
    return folder


@pytest.fixture
def assignment(tmp_path) -> Path:
    return write(tmp_path / "hw.ipynb", {"cells": [], "metadata": {}, "nbformat": 4,
                                         "nbformat_minor": 5})


def test_fake_shards_merge_into_the_whole_batch_in_the_order_given(tmp_path, assignment):
    dirs = [_fake_shard(tmp_path / f"s{k}", assignment, k, 3, BATCH) for k in (3, 1, 2)]
    r = sandbox("course", "grade", "--merge", *map(str, dirs), "--out", str(tmp_path / "all"))
    assert r.returncode == 0, r.stderr
    assert "merged 3 shard(s) of 3: 12 submission(s)" in r.stdout
    with open(tmp_path / "all" / "final_grades.csv") as f:
        assert [row["file"] for row in csv.DictReader(f)] == list(map(str, BATCH))
    names = output_names(BATCH)
    assert sorted(p.stem for p in (tmp_path / "all" / "results").iterdir()) == sorted(names)
    assert len(list((tmp_path / "all" / "feedback").iterdir())) == len(BATCH)


def _merge(tmp_path, *dirs):
    return sandbox("course", "grade", "--merge", *map(str, dirs), "--out",
                   str(tmp_path / "merged"))


def test_merge_refuses_a_missing_shard(tmp_path, assignment):
    dirs = [_fake_shard(tmp_path / f"s{k}", assignment, k, 3, BATCH) for k in (1, 3)]
    fails_with_one_sentence(_merge(tmp_path, *dirs), "4 submission(s) are in no shard given",
                            "grade and merge shard(s) 2/3 too")
    assert not (tmp_path / "merged").exists()


def test_merge_refuses_a_shard_given_twice(tmp_path, assignment):
    one = _fake_shard(tmp_path / "s1", assignment, 1, 2, BATCH)
    again = _fake_shard(tmp_path / "s1-again", assignment, 1, 2, BATCH)
    two = _fake_shard(tmp_path / "s2", assignment, 2, 2, BATCH)
    fails_with_one_sentence(_merge(tmp_path, one, two, again), "was graded by both",
                            "merge each shard once")


def test_merge_refuses_overlapping_shards_of_two_cuts(tmp_path, assignment):
    halves = _fake_shard(tmp_path / "half", assignment, 1, 2, BATCH)
    thirds = _fake_shard(tmp_path / "third", assignment, 1, 3, BATCH)
    fails_with_one_sentence(_merge(tmp_path, halves, thirds), "were cut from different batches")


def test_merge_refuses_shards_of_two_assignments(tmp_path, assignment):
    other = write(tmp_path / "other.ipynb", {"cells": [], "metadata": {"x": 1}, "nbformat": 4,
                                             "nbformat_minor": 5})
    one = _fake_shard(tmp_path / "s1", assignment, 1, 2, BATCH)
    two = _fake_shard(tmp_path / "s2", other, 2, 2, BATCH)
    fails_with_one_sentence(_merge(tmp_path, one, two), "graded another assignment",
                            "merge the shards of one assignment")


def test_merge_refuses_a_folder_that_is_not_a_finished_shard(tmp_path, assignment):
    one = _fake_shard(tmp_path / "s1", assignment, 1, 2, BATCH)
    (tmp_path / "unsharded").mkdir()
    fails_with_one_sentence(_merge(tmp_path, one, tmp_path / "unsharded"),
                            f"{tmp_path / 'unsharded'} has no readable shard.json")


def test_merge_refuses_an_out_that_is_a_shard(tmp_path, assignment):
    one = _fake_shard(tmp_path / "s1", assignment, 1, 1, BATCH)
    r = sandbox("course", "grade", "--merge", str(one), "--out", str(one))
    fails_with_one_sentence(r, "is one of the shards being merged")


def test_merge_never_copies_through_a_planted_link(tmp_path, assignment):
    one = _fake_shard(tmp_path / "s1", assignment, 1, 1, BATCH)
    secret_file = write(tmp_path / "secret.ipynb", {"secret": "do not copy"})
    planted = one / "results" / "alice.json"
    planted.unlink()
    planted.symlink_to(secret_file)
    fails_with_one_sentence(_merge(tmp_path, one), f"{planted} cannot be merged",
                            "a symbolic link")


# --- merging real shards: the CSV of one unsharded run ----------------------------------
@root_only
def test_merged_shards_give_the_csv_of_one_unsharded_run(released, tmp_path):
    student = _load(released / "student" / "demo.ipynb")
    subs = tmp_path / "subs"
    (subs / "late").mkdir(parents=True)
    files = [write(subs / "correct.ipynb", submission(student, *CORRECT)),
             write(subs / "partial.ipynb", submission(student, CORRECT[0], None)),
             write(subs / "empty.ipynb", student),
             write(subs / "broken.ipynb", {"hello": 1}),
             write(subs / "late" / "correct.ipynb", submission(student, None, CORRECT[1]))]
    assignment = str(released / "autograder" / "demo.ipynb")
    common = [assignment, *map(str, files), "--cell-timeout", "10", "--timeout", "120"]
    sandbox("course", "grade", *common, "--out", str(tmp_path / "one"), check=True, timeout=600)
    dirs = []
    for k in (2, 1):  # in any order
        r = sandbox("course", "grade", *common, "--out", str(tmp_path / f"shard-{k}"),
                    "--shard", f"{k}/2", check=True, timeout=600)
        assert f"shard {k}/2: {3 if k == 1 else 2} of 5 submissions" in r.stdout
        dirs.append(tmp_path / f"shard-{k}")
    sandbox("course", "grade", "--merge", *map(str, dirs), "--out", str(tmp_path / "merged"),
            check=True)
    one, merged = tmp_path / "one", tmp_path / "merged"
    assert (merged / "final_grades.csv").read_bytes() == (one / "final_grades.csv").read_bytes()
    with open(one / "final_grades.csv") as f:
        totals = {row["name"]: row["total"] for row in csv.DictReader(f)}
    assert totals == {"subs-correct": "3", "partial": "2", "empty": "0", "broken": "0",
                      "late-correct": "1"}  # graded for real, not all zero
    for folder in ("results", "feedback"):
        assert sorted(p.name for p in (merged / folder).iterdir()) == \
            sorted(p.name for p in (one / folder).iterdir())
    for name in totals:  # the same scores, and the feedback of the shard that graded it
        ran, copied = (json.loads((d / "results" / f"{name}.json").read_text())
                       for d in (one, merged))
        assert [t["score"] for t in ran["tests"]] == [t["score"] for t in copied["tests"]]
        graded_by = [d for d in dirs if (d / "results" / f"{name}.json").exists()]
        assert len(graded_by) == 1
        assert (merged / "feedback" / f"{name}.ipynb").read_bytes() == \
            (graded_by[0] / "feedback" / f"{name}.ipynb").read_bytes()
    assert sandbox("ps", "-a", "-q").stdout == ""


# --- the Kubernetes Jobs, validated offline ------------------------------------------------
def _validate(doc: dict) -> None:
    validator().validate(doc, KUBERNETES, strict=True)


def validator():
    return pytest.importorskip(
        "kubernetes_validate", reason="kubernetes-validate is not installed: it is in the test "
        "extra (pip install -e '.[test]'), and validates the grading Jobs offline")


def _yaml():
    return pytest.importorskip("yaml", reason="PyYAML is not installed (the course extra has it)")


def test_the_committed_manifest_is_what_emit_job_makes():
    shards_, image, assignment, submissions, out = COMMITTED_ARGS
    r = sandbox("course", "grade", "--emit-job", str(shards_), "--image", image, assignment,
                *submissions, "--out", out, check=True)
    assert COMMITTED.read_text() == r.stdout, ("deploy/grading-job.yaml is stale: remake it "
                                               "with the command in its first lines")


@pytest.mark.parametrize("doc", range(2), ids=["grade-shards", "grade-merge"])
def test_the_committed_manifest_validates(doc):
    _validate(list(_yaml().safe_load_all(COMMITTED.read_text()))[doc])


@pytest.mark.parametrize("n", [1, 2, 3, 4, 5])
def test_the_job_for_n_shards_is_indexed_and_validates(n):
    grade, merge = gradingjob.grading_jobs(n, "example.org/course:1", "hw/a.ipynb",
                                           ["subs/*.ipynb", "/elsewhere/late.ipynb"], "out",
                                           claim="course-data")
    for job in _yaml().safe_load_all(gradingjob.render([grade, merge])):
        _validate(job)
    spec = grade["spec"]
    assert (spec["completionMode"], spec["completions"], spec["parallelism"]) == \
        ("Indexed", n, n)
    pod = spec["template"]["spec"]
    script = pod["containers"][0]["command"][2]
    assert "K=$((JOB_COMPLETION_INDEX + 1))" in script
    assert script.rstrip().endswith(f"--out /data/out/shard-$K --shard $K/{n}")
    assert "/data/hw/a.ipynb /data/subs/*.ipynb /elsewhere/late.ipynb" in script  # glob for sh
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == "course-data"
    assert merge["spec"]["suspend"] is True
    command = merge["spec"]["template"]["spec"]["containers"][0]["command"]
    assert command[command.index("--merge") + 1:command.index("--out")] == \
        [f"/data/out/shard-{k}" for k in range(1, n + 1)]


def test_each_pod_takes_uid_ranges_of_its_own(tmp_path):
    """Two pods on one node must never run submissions as the same node uids."""
    import subprocess
    (grade, _) = gradingjob.grading_jobs(3, "img", "a.ipynb", ["s.ipynb"], "out")
    script = grade["spec"]["template"]["spec"]["containers"][0]["command"][2]
    setup = script.split("\nsandbox course grade")[0].replace("/etc/sub", f"{tmp_path}/sub")
    ranges = []
    for index in range(3):
        (tmp_path / "subuid").write_text("alice:100000:65536\nsandbox-grader:5:5\n")
        (tmp_path / "subgid").write_text("")
        subprocess.run(["sh", "-c", setup], env={"JOB_COMPLETION_INDEX": str(index)},
                       check=True)
        lines = (tmp_path / "subuid").read_text().splitlines()
        assert lines[0] == "alice:100000:65536" and len(lines) == 2  # others' entries kept
        start, count = map(int, lines[1].split(":")[1:])
        ranges.append(range(start, start + count))
    for a, b in itertools.combinations(ranges, 2):
        assert a.stop <= b.start or b.stop <= a.start


def test_the_validator_catches_a_broken_job():
    """The validation can fail: a misspelled field, and a count that is not a number."""
    grade, _ = gradingjob.grading_jobs(2, "img", "a.ipynb", ["s.ipynb"], "out")
    misspelled = json.loads(json.dumps(grade))
    misspelled["spec"]["completionsMode"] = misspelled["spec"].pop("completionMode")
    wrong_type = json.loads(json.dumps(grade))
    wrong_type["spec"]["completions"] = "two"
    for broken in (misspelled, wrong_type):
        with pytest.raises(validator().ValidationError):
            _validate(broken)


def test_emit_job_needs_an_image_and_at_least_one_shard(tmp_path):
    r = sandbox("course", "grade", "--emit-job", "2", "a.ipynb", "s.ipynb", "--out", "o")
    fails_with_one_sentence(r, "--emit-job needs --image IMAGE")
    r = sandbox("course", "grade", "--emit-job", "0", "--image", "i", "a.ipynb", "s.ipynb",
                "--out", "o")
    fails_with_one_sentence(r, "invalid --emit-job 0")
