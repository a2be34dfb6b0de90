"""Pausing a container: the cgroup freezer.  cgroups(7); the kernel's cgroup-v1/freezer-subsystem
and cgroup-v2 ("cgroup.freeze") documents.

    docker pause ──▶ write FROZEN to freezer.state (v1) │ write 1 to cgroup.freeze (v2)
                     read until the kernel says FROZEN   │ read cgroup.events until "frozen 1"
    docker unpause ─▶ write THAWED                       │ write 0

Why a freezer and not SIGSTOP: a stopped process can see it was stopped (its
parent gets SIGCHLD, ``ps`` shows ``T``) and a process may catch SIGTSTP; a
frozen one is simply not scheduled and never knows.  Freezing takes a moment
(every task must reach a point where it can stop), so both versions report
"freezing" first; we wait until the kernel says the whole group is frozen.

A frozen task does not even act on SIGKILL on v1 until it is thawed, so
``stop`` and ``kill`` thaw a paused container after they have sent their
signal, as Docker does (the signal is then delivered first thing).

On v1 the freezer is a controller of its own, mounted at
``/sys/fs/cgroup/freezer``: a container's cgroup must be made there too
(:data:`sandbox.isolation.cgroups.USED`).  On v2 every cgroup but the root has
``cgroup.freeze``, no controller needed, so a rootless container with a
delegated cgroup can be paused.
"""

from __future__ import annotations

import os
import time

from ..errors import MissingFeature

FREEZE_TIMEOUT = 5.0  # seconds to wait for the kernel to say the group is frozen

NO_FREEZER = ("it has no cgroup freezer: {why}; run it as root, or on a cgroup v2 host "
              "whose systemd delegates a cgroup to your user (then every container can be paused)")


def freeze(cgroup) -> None:
    """Stop every process of the cgroup from being scheduled; return once all are frozen."""
    path, frozen, _ = _files(cgroup)
    _write(path, frozen)
    deadline = time.monotonic() + FREEZE_TIMEOUT
    while not _all_frozen(cgroup):
        if time.monotonic() > deadline:
            thaw(cgroup)  # nothing half-done is left: a group stuck freezing is let go again
            raise MissingFeature(f"the kernel did not finish freezing {os.path.dirname(path)} "
                                 f"within {FREEZE_TIMEOUT:g} seconds")
        time.sleep(0.001)


def thaw(cgroup) -> None:
    path, _, thawed = _files(cgroup)
    _write(path, thawed)


def is_frozen(cgroup) -> bool:
    """True when the group was asked to freeze: frozen, or still freezing.

    "Still freezing" counts, so that a ``pause`` interrupted half-way shows as
    paused and ``unpause`` can undo it.
    """
    if cgroup is None:
        return False
    if cgroup.version == 1:
        directory = cgroup.dirs.get("freezer")
        state = _read(os.path.join(directory, "freezer.state")) if directory else ""
        return state in ("FREEZING", "FROZEN")
    return _read(os.path.join(cgroup.dir, "cgroup.freeze")) == "1"


def _all_frozen(cgroup) -> bool:
    """True when the kernel reports every task of the group frozen."""
    if cgroup.version == 1:
        return _read(os.path.join(cgroup.dirs["freezer"], "freezer.state")) == "FROZEN"
    return "frozen 1" in _read(os.path.join(cgroup.dir, "cgroup.events")).splitlines()


def _files(cgroup) -> tuple[str, str, str]:
    """(the file to write, its "frozen" value, its "thawed" value), or why there is none."""
    if cgroup is None:
        why = ("rootless on cgroup v1 a container gets no cgroup of its own"
               if os.geteuid() != 0 else "this host has no cgroup this container could use")
        raise MissingFeature(NO_FREEZER.format(why=why))
    if cgroup.version == 1:
        directory = cgroup.dirs.get("freezer")
        if not directory:
            raise MissingFeature(NO_FREEZER.format(
                why="the freezer controller is not mounted on this host, or the container was "
                    "started by an older sandbox that did not use it"))
        return os.path.join(directory, "freezer.state"), "FROZEN", "THAWED"
    return os.path.join(cgroup.dir, "cgroup.freeze"), "1", "0"


def _read(path: str) -> str:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return ""


def _write(path: str, value: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as err:
        raise MissingFeature(f"cannot write {value} to {path}: {os.strerror(err.errno)}") from None
