"""``sandbox doctor``: what this kernel and this user can do with containers.

Each check tries the real thing in a throw-away child process (create a user
namespace, mount an overlay, pivot_root into a tmpfs) rather than guessing
from version numbers, and says OK or what is missing with one sentence on
how to fix it.

Two checks look at where the course runs rather than at the kernel: inside a
container (a Codespace, a JupyterHub pod, ``docker run``), a container is
nested in another, and gets only what the outer runtime grants; and the
outer container's ``/`` is usually overlayfs, which overlayfs refuses as an
upper directory ("filesystem on ... not supported as upperdir", fs/overlayfs/
super.c), so the state root must be on a volume or a tmpfs.
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
                 "load the module (sudo modprobe overlay); rootless needs Linux 5.11+; inside "
                 "a container whose / is overlayfs, set TMPDIR to a volume or a tmpfs")


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


# --- inside a container? ------------------------------------------------------------------------
# Files that container runtimes leave in a container's root: Docker's /.dockerenv, and
# Podman's /run/.containerenv (podman-run(1)).
RUNTIME_FILES = {"/.dockerenv": "Docker's /.dockerenv",
                 "/run/.containerenv": "Podman's /run/.containerenv"}
# Words in the cgroup path of a process in a container (/proc/1/cgroup), on hosts
# without a cgroup namespace: docker-<id>.scope, kubepods/..., libpod-<id>, ...
CGROUP_WORDS = ("docker", "kubepods", "containerd", "libpod", "lxc", "crio")


def mount_table(mountinfo: str) -> list[tuple[str, str]]:
    """(mount point, filesystem type) of each line of /proc/self/mountinfo, in order."""
    table = []
    for line in mountinfo.splitlines():
        left, _, right = line.partition(" - ")
        fields, after = left.split(), right.split()
        if len(fields) >= 5 and after:
            # Spaces in a mount point are written \040 (proc(5)).
            table.append((fields[4].replace("\\040", " "), after[0]))
    return table


def filesystem_of(path: str, mountinfo: str) -> str:
    """The type of the filesystem that holds ``path``: the last-mounted of the longest
    mount points above it (a later mount on the same point hides the earlier one)."""
    best, kind = -1, "unknown"
    for point, fstype in mount_table(mountinfo):
        inside = path == point or point == "/" or path.startswith(point.rstrip("/") + "/")
        if inside and len(point) >= best:
            best, kind = len(point), fstype
    return kind


def container_signs(exists=os.path.exists, environ=os.environ, init_cgroup: str = "",
                    mountinfo: str = "") -> list[str]:
    """The signs that this process runs inside a container, each a short phrase (none: [])."""
    signs = [what for path, what in RUNTIME_FILES.items() if exists(path)]
    if environ.get("CODESPACES") == "true":
        signs.append("a GitHub Codespace")
    if environ.get("KUBERNETES_SERVICE_HOST"):
        signs.append("a Kubernetes pod")
    if environ.get("container"):  # systemd-nspawn, podman and LXC set it for process 1
        signs.append(f"container={environ['container']}")
    words = [w for w in CGROUP_WORDS if w in init_cgroup]
    if words:
        signs.append(f"cgroup path of process 1 names {words[0]}")
    if mountinfo and filesystem_of("/", mountinfo) == "overlay":
        signs.append("/ is overlayfs")
    return signs


def _read_text(path: str) -> str:
    try:
        with open(path) as f:
            return f.read()
    except OSError:
        return ""


def check_container() -> Check:
    signs = container_signs(init_cgroup=_read_text("/proc/1/cgroup"),
                            mountinfo=_read_text("/proc/self/mountinfo"))
    if not signs:
        return Check("container", True, "not inside a container: this kernel's features are "
                                        "the course's to use", required=False)
    return Check("container", True,
                 f"inside a container ({', '.join(signs)}): containers in it get only what "
                 "its runtime allows (user namespaces, or a privileged container) and need a "
                 "state root that is not on overlayfs", required=False)


def check_nested_overlay() -> Check:
    root = state_root()
    existing = next((p for p in (root, *root.parents) if p.exists()), Path("/"))
    kind = filesystem_of(str(existing.resolve()), _read_text("/proc/self/mountinfo"))
    ok = kind != "overlay"
    return Check("nested overlay", ok,
                 f"the state root is on {kind}" if ok else
                 f"the state root {root} is on overlayfs (this container's own /), which "
                 "overlayfs refuses as a container's upper directory",
                 "mount a volume or a tmpfs there, or set SANDBOX_ROOT to one (docker run "
                 "-v sandbox:/var/lib/sandbox; in a pod, an emptyDir volume)")


def doctor() -> Report:
    """Run every check and return the report (printable, and shown as a table in notebooks)."""
    return Report([check_kernel(), check_user(), check_container(), check_userns(),
                   check_cgroups(), check_overlay(), check_nested_overlay(), check_pivot_root(),
                   check_busybox(), check_state_root(), check_tun()])
