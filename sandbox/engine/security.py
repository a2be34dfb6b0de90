"""What keeps a root container in: Docker's defaults, and the flags that turn them off.

A container's process 1 is root, yet it cannot mount, load a module or read
the host's disk.  Namespaces only change what it *sees*; these defaults
limit what it may *do*:

    default                         turned off by                       see
    ─────────────────────────────   ─────────────────────────────────   ─────────────────────
    14 capabilities, not 41         --cap-add NAME, --privileged        capabilities(7)
    a seccomp filter (EPERM)        --security-opt seccomp=unconfined   seccomp(2)
    masked and read-only /proc      --security-opt systempaths=unconfined, --privileged  proc(5)
    /sys and /sys/fs/cgroup ro      --privileged                        sysfs(5), cgroups(7)
    only the standard devices       --privileged                        the devices cgroup
    no_new_privs (off by default)   --security-opt no-new-privileges    prctl(2)
    read-write root filesystem      --read-only makes it read-only      mount(2)

Rootless containers add the strongest boundary of all: a user namespace,
in which root is the learner's own user outside (user_namespaces(7)).

This module turns the flags into one record, ``Spec.security``, decided
when the container is created; :mod:`sandbox.engine.process` carries it out in the
container's last steps before execve(2).
"""

from __future__ import annotations

from pathlib import Path

from ..isolation import capabilities
from ..errors import UsageError

SECCOMP_FILE = "seccomp.bpf"  # the compiled filter, in the container's directory


def parse_security_opts(options) -> dict:
    """``--security-opt`` values → ``{"seccomp": ..., "no_new_privileges": ..., "systempaths": ...}``.

    Docker's spellings: ``seccomp=unconfined``, ``seccomp=/path/profile.json``,
    ``no-new-privileges`` (or ``=true``, ``:true``), ``systempaths=unconfined``.
    """
    parsed = {"seccomp": "default", "no_new_privileges": False, "systempaths": "default"}
    for option in options or ():
        key, sep, value = option.partition("=")
        if not sep:
            key, sep, value = option.partition(":")  # Docker's older "key:value" form
        if key == "no-new-privileges":
            parsed["no_new_privileges"] = _truth(value or "true", option)
        elif key == "seccomp" and value:
            parsed["seccomp"] = value
        elif key == "systempaths" and value == "unconfined":
            parsed["systempaths"] = "unconfined"
        elif key in ("apparmor", "label", "seccomp", "systempaths"):
            raise UsageError(f"invalid --security-opt {option!r}: this runtime supports "
                             "seccomp=unconfined|PROFILE.json, no-new-privileges and "
                             "systempaths=unconfined (no AppArmor or SELinux)")
        else:
            raise UsageError(f"invalid --security-opt {option!r}: expected seccomp=..., "
                             "no-new-privileges or systempaths=unconfined")
    return parsed


def _truth(value: str, option: str) -> bool:
    if value.lower() in ("true", "1"):
        return True
    if value.lower() in ("false", "0"):
        return False
    raise UsageError(f"invalid --security-opt {option!r}: expected true or false")


def decide(cap_add=(), cap_drop=(), privileged: bool = False, security_opt=(),
           read_only: bool = False) -> dict:
    """Every security flag of ``docker run`` → the container's ``security`` record."""
    opts = parse_security_opts(security_opt)
    return {
        "caps": capabilities.resolve(cap_add, cap_drop, privileged),
        "privileged": bool(privileged),
        # --privileged turns seccomp off, as in Docker, unless a profile is named.
        "seccomp": "unconfined" if privileged and opts["seccomp"] == "default"
        else opts["seccomp"],
        "no_new_privileges": opts["no_new_privileges"],
        "mask_paths": not privileged and opts["systempaths"] != "unconfined",
        "read_only": bool(read_only),
    }


def default() -> dict:
    """The record of a container made without any security flag (also: made before they existed)."""
    return decide()


def seccomp_program(security: dict, cache_dir: Path | None = None) -> bytes | None:
    """The compiled BPF filter for this container, or None when seccomp is ``unconfined``.

    Compiled once, when the container is created: a profile file named on the
    command line is read then, as Docker's client does, and later changes to
    it do not change the container.  Programs are cached (in ``cache_dir`` on
    disk, see :func:`sandbox.isolation.seccomp.program`): importing the compiler and
    compiling would cost a container start about a millisecond.
    """
    choice = security["seccomp"]
    if choice == "unconfined":
        return None
    from ..isolation import seccomp
    profile = None if choice == "default" else seccomp.load_profile(Path(choice).expanduser())
    return seccomp.program(security["caps"], profile, cache_dir=cache_dir)
