"""What this machine lets the learner's process do, asked from outside that process.

A question that needs a cgroup limit cannot be posed where the learner's
user may set none (rootless on cgroup v1, a v2 host without delegation, a
grading container whose cgroups are mounted read-only).  There the check
ends it as *not applicable* (:meth:`sandbox.course.checks.question.not_applicable`),
and says why in one sentence.  Whether it can be posed is never asked of the
learner's process, which would answer whatever suits it; it is asked of
the sandbox (:func:`sandbox.isolation.cgroups.check`), by the check, with
the learner's user and groups:

    self-study   the check runs in the learner's own process: asked right there
    grading      the check runs in the runner (root of the container): a new
                 Python, started as the kernel's uid and gid, asks, and prints
                 the answer
"""

from __future__ import annotations

import os
import subprocess
import sys

from ..errors import MissingFeature
from ..isolation import cgroups

# The smallest limit the sandbox accepts for each controller: enough to ask about it.
_PROBES = {"memory": {"memory": cgroups.MIN_MEMORY}, "pids": {"pids_limit": 64},
           "cpu": {"cpus": 0.01}}


def cgroup_missing(controller: str) -> str:
    """Why this process may not set limits of ``controller`` here, in one sentence; "" if it may."""
    if controller not in _PROBES:
        raise ValueError(f"no probe for the cgroup controller {controller!r}: "
                         f"use one of {sorted(_PROBES)}")
    read_only = _read_only_hierarchy(controller)
    if read_only:
        return (f"the {controller} cgroup hierarchy is mounted read-only here ({read_only}), "
                "as in a container that was not given cgroups of its own to manage")
    try:
        cgroups.check(cgroups.Limits(**_PROBES[controller]))
    except MissingFeature as err:
        return str(err)
    return ""


def _read_only_hierarchy(controller: str) -> str:
    """The mount point of ``controller``'s hierarchy if it is mounted read-only, else ""."""
    found = cgroups.mounts()
    on_v1 = [m for m in found if m.version == 1 and controller in m.controllers]
    for mount in on_v1 or [m for m in found if m.version == 2]:  # v2 holds what v1 does not
        if os.statvfs(mount.path).f_flag & os.ST_RDONLY:
            return mount.path
    return ""


def cgroup_missing_for(pid: int, controller: str) -> str:
    """:func:`cgroup_missing`, answered as process ``pid``'s user and groups would be answered."""
    if pid == os.getpid():
        return cgroup_missing(controller)
    uid, gid = _ids(pid)
    if os.geteuid() != 0 or (uid, gid) == (os.geteuid(), os.getegid()):
        return cgroup_missing(controller)  # the same user (or no right to become another)
    # -I: nothing of the environment decides what runs; this very package is put first.
    package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    ask = (f"import sys; sys.path.insert(0, {package_parent!r}); "
           f"from {__name__} import cgroup_missing; print(cgroup_missing({controller!r}))")
    done = subprocess.run([sys.executable, "-I", "-c", ask], user=uid, group=gid,
                          extra_groups=[], capture_output=True, text=True, timeout=60, cwd="/")
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["no output"])[-1]
        return f"the sandbox could not be asked about the {controller} controller ({last})"
    return done.stdout.strip()


def _ids(pid: int) -> tuple[int, int]:
    """The effective uid and gid of process ``pid``, from /proc/PID/status."""
    with open(f"/proc/{pid}/status") as f:
        fields = dict(line.split(":", 1) for line in f if ":" in line)
    return int(fields["Uid"].split()[1]), int(fields["Gid"].split()[1])


def networks_missing() -> str:
    """Why containers on a network (a compose project's) cannot be started here, in one
    sentence; "" if they can.

    Asked by the check, never by the learner's process.  Where a check runs as the root of
    a user namespace that was given no network of its own (the grading container, which
    runs with ``--network none`` and ``--uidmap``), nested containers can make no bridge in
    the network namespace they were given, nor mount a ``/sys`` for it, and a user-mode
    network has no interface to lead out of.  Self-study runs as the host's root or as an
    ordinary user, where both work.
    """
    from ..isolation.userns import in_initial_namespace
    if os.geteuid() == 0 and not in_initial_namespace():
        return ("containers cannot be given networks here: this is the root of a user "
                "namespace with no network of its own (a grading container), where nested "
                "containers can neither make a bridge nor mount their /sys")
    return ""
