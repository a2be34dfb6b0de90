"""``sandbox course grade --emit-job N``: the Kubernetes Jobs that grade N shards on a cluster.

Two Jobs in one file; the second starts once the first is done (see HEADER):

    grade-shards   Indexed, completions N      pod i: sandbox course grade ... --shard i+1/N
    │                                          --out /data/OUT/shard-(i+1)
    │              kubectl wait --for=condition=complete job/grade-shards, then unsuspend:
    ▼
    grade-merge    one pod, created suspended  sandbox course grade --merge /data/OUT/shard-*
                                               --out /data/OUT/all

Kubernetes does the scheduling, the restarts (a failed index is retried on
its own: ``backoffLimitPerIndex``) and the parallelism; the course brings no
scheduler of its own.  An Indexed Job gives each pod its index in
``JOB_COMPLETION_INDEX``, from 0 (Kubernetes docs, "Job", "Completion
mode"); shards count from 1, hence ``$((JOB_COMPLETION_INDEX + 1))``.  Every
pod mounts one PersistentVolumeClaim at /data: the autograder, the
submissions and the results are all there.

Why the grading pods run ``privileged`` (the merge pod needs nothing):
grading starts a container per submission (:mod:`sandbox.course.grader`),
so each pod must be able to do what ``sandbox run`` does as root:

    CAP_SYS_ADMIN          mount (overlay root, tmpfs, binds), pivot_root, unshare
    CAP_SETUID, SETGID     write each submission's uid_map and gid_map: 65536 node uids each
    CAP_SYS_PTRACE         kept by the runner inside its container, to read the kernel's /proc;
                           a container keeps only what its pod's bounding set holds
    /sys/fs/cgroup rw      the memory, pids and CPU limits of each submission (read-only in a
                           pod that is not privileged)
    /proc unmasked         the exercises mount a new proc, which Linux allows only where no
                           mount hides part of the old one (``systempaths=unconfined``)
    no seccomp/AppArmor    the node's default profiles refuse mount and unshare to a pod

and ``privileged`` is the one setting that gives all six.  A user namespace
for the pod (``hostUsers: false``) would make its root an ordinary node
uid, but it maps only 65536 ids, and grading needs a range of 65536 per
submission graded at once: so each submission's *own* container is the
user namespace (its root is an ordinary node uid, see :func:`grader.id_ranges`),
and each pod takes its ranges at an offset of its own, so that two pods on
one node never share a uid.
"""

from __future__ import annotations

import shlex

DATA = "/data"  # where every pod mounts the claim
GRADER_IDS_START = 1_000_000_000  # as ./course creates them: 16 ranges of 65536 per pod
GRADER_IDS_COUNT = 16 * 65536


def grading_jobs(shards: int, image: str, assignment: str, submissions: list[str], out: str,
                 claim: str = "grading", cpus: int = 2) -> list[dict]:
    """The indexed Job grading ``shards`` shards, and the Job merging them.

    ``assignment``, ``submissions`` (globs welcome: each pod's shell expands
    them) and ``out`` are paths in the claim, which every pod mounts at /data
    (a relative path is taken from there).
    """
    out = in_claim(out)
    shard_dirs = [f"{out}/shard-{k}" for k in range(1, shards + 1)]
    grade = ["sandbox", "course", "grade", in_claim(assignment),
             *[in_claim(s) for s in submissions], "--workers", str(cpus)]
    script = "\n".join([
        "set -eu",
        "K=$((JOB_COMPLETION_INDEX + 1))",
        # Each pod's uid ranges start at an offset of their own: two pods on one node must
        # never run two submissions as the same node uids.
        f"START=$(({GRADER_IDS_START} + JOB_COMPLETION_INDEX * {GRADER_IDS_COUNT}))",
        "for f in /etc/subuid /etc/subgid; do",
        "  { grep -v '^sandbox-grader:' $f 2>/dev/null || true; "
        f"echo sandbox-grader:$START:{GRADER_IDS_COUNT}; }} > $f.new && mv $f.new $f",
        "done",
        " ".join(_quoted(grade)) + f" --out {shlex.quote(out)}/shard-$K"
        f" --shard $K/{shards}",
    ])
    merge = ["sandbox", "course", "grade", "--merge", *shard_dirs, "--out", f"{out}/all"]
    return [
        _job("grade-shards", claim, {
            "completionMode": "Indexed", "completions": shards, "parallelism": shards,
            "backoffLimitPerIndex": 1,  # a failed shard is tried once more, on its own
        }, _container("grade", image, ["/bin/sh", "-c", script], _GRADING_SECURITY, cpus)),
        # Created suspended: it starts when told to, once every shard is done (see HEADER).
        _job("grade-merge", claim, {"completions": 1, "backoffLimit": 1, "suspend": True},
             _container("merge", image, merge, _MERGE_SECURITY, 1)),
    ]


_GRADING_SECURITY = {"privileged": True, "allowPrivilegeEscalation": True}
_MERGE_SECURITY = {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                   "capabilities": {"drop": ["ALL"]},  # root owning /data/OUT writes there
                   "seccompProfile": {"type": "RuntimeDefault"}}


def in_claim(path: str) -> str:
    """``path`` as the pods see it: a relative one is in the claim, mounted at /data."""
    return path if path.startswith("/") else f"{DATA}/{path.removeprefix('./')}"


def _quoted(words: list[str]) -> list[str]:
    """Each word quoted for sh, but globs left for the pod's shell to expand."""
    return [w if any(c in w for c in "*?[") and not any(c in w for c in " '\"$;&|")
            else shlex.quote(w) for w in words]


def _job(name: str, claim: str, spec: dict, container: dict) -> dict:
    volumes = [{"name": "data", "persistentVolumeClaim": {"claimName": claim}},
               # The sandbox's state (the grading image, each submission's overlay) on the
               # node's disk: overlayfs cannot use the pod's own overlay root as its upper layer.
               {"name": "state", "emptyDir": {}}]
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "course-grading"}},
            "spec": {**spec, "template": {
                "metadata": {"labels": {"app.kubernetes.io/name": "course-grading"}},
                "spec": {"restartPolicy": "Never", "containers": [container],
                         "volumes": volumes}}}}


def _container(name: str, image: str, command: list[str], security: dict, cpus: int) -> dict:
    memory = f"{cpus + 1}Gi"  # 1 GiB per submission graded at once (--memory 1g), and the grader
    return {"name": name, "image": image, "command": command,
            "env": [{"name": "SANDBOX_ROOT", "value": "/var/lib/sandbox"}],
            "securityContext": security,
            "resources": {"requests": {"cpu": str(cpus), "memory": memory},
                          "limits": {"memory": memory}},
            "volumeMounts": [{"name": "data", "mountPath": DATA},
                             {"name": "state", "mountPath": "/var/lib/sandbox"}]}


HEADER = """\
# Grading {shards} shard(s) on Kubernetes, made by
#   sandbox course grade --emit-job {shards} --image {image} {args}
# The merge Job is created suspended; start it once every shard is done:
#   kubectl apply -f grading-job.yaml
#   kubectl wait --for=condition=complete --timeout=6h job/grade-shards
#   kubectl patch job grade-merge --type=merge -p '{{"spec":{{"suspend":false}}}}'
# The grading pods are privileged: sandbox/course/gradingjob.py says what that buys, and why
# a pod user namespace (hostUsers: false) cannot hold a range of 65536 uids per submission.
"""


def render(jobs: list[dict], header: str = "") -> str:
    """The Jobs as one YAML stream, ``header`` (comments) on top."""
    import yaml  # PyYAML: the course extra

    class Dumper(yaml.SafeDumper):
        """Multi-line strings (the pod's script) as literal blocks, to be read as written."""

    def literal(dumper, text: str):
        return dumper.represent_scalar("tag:yaml.org,2002:str", text,
                                       style="|" if "\n" in text else None)

    Dumper.add_representer(str, literal)
    return header + "---\n" + "---\n".join(
        yaml.dump(job, Dumper=Dumper, sort_keys=False, width=100) for job in jobs)
