"""``sandbox doctor``: what this kernel and this user can do with containers.

Each check tries the real thing in a throw-away child process (create a user
namespace, mount an overlay, pivot_root into a tmpfs) rather than guessing
from version numbers, and says OK or what is missing with one sentence on
how to fix it.
"""

from __future__ import annotations

import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

from .kernel import syscalls as sc
from .errors import SandboxError
from .paths import is_root, state_root


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""
    required: bool = True


@dataclass
class Report:
    checks: list[Check] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks if c.required)

    def __str__(self) -> str:
        width = max(len(c.name) for c in self.checks)
        lines = []
        for c in self.checks:
            mark = "OK  " if c.ok else ("MISS" if c.required else "note")
            lines.append(f"{mark}  {c.name:<{width}}  {c.detail}")
            if not c.ok and c.fix:
                lines.append(f"      {'':<{width}}  fix: {c.fix}")
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        rows = "".join(
            f"<tr><td>{'✅' if c.ok else ('❌' if c.required else 'ℹ️')}</td><td>{c.name}</td>"
            f"<td>{c.detail}{'<br><i>fix: ' + c.fix + '</i>' if not c.ok and c.fix else ''}"
            "</td></tr>" for c in self.checks)
        return f"<table>{rows}</table>"


def in_child(body) -> tuple[bool, str]:
    """Run ``body`` in a throw-away child and report whether it worked, and why not.

    A child (:func:`sandbox.isolation.namespaces.in_child`), because the checks change
    namespaces and mounts, and that must not happen to the caller (a notebook
    kernel, perhaps).
    """
    from .isolation.namespaces import in_child as run_in_child
    try:
        run_in_child(body)
        return True, ""
    except Exception as err:  # noqa: BLE001 - any failure is the check's answer
        return False, str(err)


def _private_mounts() -> None:
    """A private mount namespace, in a user namespace first when not root."""
    if not is_root():
        from .isolation.namespaces import enter_user_namespace
        enter_user_namespace()
    sc.unshare(sc.CLONE_NEWNS)
    sc.mount(None, "/", None, sc.MS_REC | sc.MS_PRIVATE)


def check_kernel() -> Check:
    release = os.uname().release
    major, minor = (int(x) for x in release.split(".")[:2])
    ok = (major, minor) >= (5, 12)
    return Check("kernel", ok, f"Linux {release}",
                 "containers need Linux 5.12 or newer (rootless overlayfs: 5.11; "
                 "mount_setattr, for read-only mounts: 5.12); use a newer kernel",
                 required=False)


def check_user() -> Check:
    if is_root():
        return Check("user", True, "root: containers use the host's ids directly")
    return Check("user", True, f"uid {os.geteuid()}: rootless, containers run in a user "
                              "namespace where you are root")


def check_userns() -> Check:
    from .isolation.namespaces import enter_user_namespace
    ok, err = in_child(enter_user_namespace)
    fix = ("enable them: sudo sysctl -w kernel.unprivileged_userns_clone=1 (Debian, Ubuntu), "
           "or on Ubuntu 24.04: sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0")
    return Check("user namespaces", ok, "can create one" if ok else f"cannot: {err}", fix,
                 required=not is_root())


def check_cgroups() -> Check:
    from .isolation.cgroups import describe
    layout, detail = describe()
    return Check("cgroups", layout != "none", f"{layout}: {detail}",
                 "mount cgroup2 on /sys/fs/cgroup (any systemd distribution does)",
                 required=False)


def check_overlay() -> Check:
    def body():
        _private_mounts()
        with tempfile.TemporaryDirectory() as d:
            for sub in ("lower", "upper", "work", "merged"):
                os.mkdir(os.path.join(d, sub))
            options = f"lowerdir={d}/lower,upperdir={d}/upper,workdir={d}/work"
            sc.mount("overlay", f"{d}/merged", "overlay", 0,
                     options + ("" if is_root() else ",userxattr"))
            sc.umount2(f"{d}/merged")
    ok, err = in_child(body)
    where = "" if is_root() else " inside a user namespace"
    return Check("overlayfs", ok, f"mounts{where}" if ok else f"cannot mount{where}: {err}",
                 "load the module (sudo modprobe overlay); rootless needs Linux 5.11+")


def check_pivot_root() -> Check:
    def body():
        _private_mounts()
        with tempfile.TemporaryDirectory() as d:
            sc.mount("tmpfs", d, "tmpfs", 0, "size=1m")
            os.mkdir(f"{d}/old")
            sc.pivot_root(d, f"{d}/old")
    ok, err = in_child(body)
    return Check("pivot_root", ok, "works in a new mount namespace" if ok else err,
                 "run as root, or enable user namespaces (see above)")


def check_busybox() -> Check:
    from .content.busybox import INSTALL_HINT, find_busybox
    try:
        path = find_busybox()
        return Check("busybox", True, f"{path} is statically linked: the base image is built "
                                      "from it")
    except SandboxError:
        return Check("busybox", False, "no static busybox found", INSTALL_HINT.capitalize())


def check_state_root() -> Check:
    root = state_root()
    probe = root if root.exists() else next((p for p in root.parents if p.exists()), Path("/"))
    ok = os.access(probe, os.W_OK)
    return Check("state root", ok, str(root), "set SANDBOX_ROOT to a directory you can write")


def check_tun() -> Check:
    """Rootless containers reach the network through a tap device: sandbox.network.rootless_net."""
    from .network.rootless_net import tun_problem
    why = tun_problem()
    return Check("/dev/net/tun", not why, why or "rootless containers can have a network "
                                                "(pasta opens a tap device)", required=False)


def doctor() -> Report:
    """Run every check and return the report (printable, and shown as a table in notebooks)."""
    return Report([check_kernel(), check_user(), check_userns(), check_cgroups(),
                   check_overlay(), check_pivot_root(), check_busybox(), check_state_root(),
                   check_tun()])
