"""What bench_build.py and bench_compose.py share: timing a command, and podman as the peer.

podman runs with a store of its own in the bench's temporary folder, with runc (crun
refuses this machine's hybrid cgroups), cgroupfs and no event log.  Its CNI networks
leave a bridge (cni-podman0) and firewall tables behind: :func:`podman_workspace`
removes the ones that were not there before, with the store.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TIMEOUT = 120  # seconds, per command


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def timed(argv, cwd, env=None) -> float:
    """Seconds ``argv`` took, run in ``cwd``; its failure stops the bench."""
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          timeout=TIMEOUT)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()[-400:]}")
    return took


def cell(samples: list[float]) -> str:
    """A table cell: the median, and the range, in milliseconds."""
    return (f"{statistics.median(samples) * 1000:.0f} ms "
            f"({min(samples) * 1000:.0f}–{max(samples) * 1000:.0f})")


def header(title: str, runs: int, columns: list[str]) -> list[str]:
    """A table's title line (with the machine) and its header, as markdown lines."""
    import platform
    return [f"{title}, {runs} runs each, median (min–max); {os.cpu_count()} CPUs, "
            f"kernel {platform.release()}", "",
            "| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]


def compared(ours: list[float], peer: list[float] | None) -> str:
    """Three cells: ours, the peer's (or –), and the ratio of the medians."""
    if not peer:
        return f"{cell(ours)} | – | –"
    return (f"{cell(ours)} | {cell(peer)} | "
            f"{statistics.median(ours) / statistics.median(peer):.2f}×")


def podman_args(work: Path) -> list[str]:
    """podman's global flags for a store in ``work``."""
    return ["--root", str(work / "podman" / "root"), "--runroot", str(work / "podman" / "run"),
            "--storage-driver", "overlay", "--cgroup-manager", "cgroupfs",
            "--events-backend", "none", "--runtime", shutil.which("runc") or "runc"]


def _nft_tables() -> set[str]:
    done = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True)
    return set(done.stdout.splitlines())


def _links() -> set[str]:
    return set(os.listdir("/sys/class/net"))


@contextlib.contextmanager
def podman_workspace(prefix: str):
    """A temporary folder for the bench (and podman's store); afterwards the store, and the
    bridges and nft tables podman made meanwhile, are gone."""
    if os.geteuid() != 0:
        log("run as root: podman's peer numbers here are root's")
    work = Path(tempfile.mkdtemp(prefix=prefix))
    tables_before, links_before = _nft_tables(), _links()
    try:
        yield work
    finally:
        if shutil.which("podman"):
            subprocess.run(["podman", *podman_args(work), "system", "reset", "-f"],
                           capture_output=True)
        for link in _links() - links_before:
            if link.startswith(("cni-podman", "podman")):
                subprocess.run(["ip", "link", "del", link], capture_output=True)
        for table in _nft_tables() - tables_before:
            subprocess.run(["nft", "delete"] + table.split(), capture_output=True)
        subprocess.run(["umount", "-R", str(work / "podman")], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def prepare_sandbox(sandbox: list[str], env: dict, repo: Path) -> None:
    """Byte-compile the package (this machine sets PYTHONDONTWRITEBYTECODE) and make the
    course's busybox image, which is built from the host's busybox on first use."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(repo / "sandbox")], check=True)
    subprocess.run(sandbox + ["run", "--rm", "--network", "none", "busybox", "true"], env=env,
                   check=True)


def load_busybox_into_podman(sandbox: list[str], env: dict, work: Path) -> None:
    """The same busybox image in podman's store: `sandbox save`, `podman load`."""
    archive = work / "busybox.tar"
    subprocess.run(sandbox + ["save", "-o", str(archive), "busybox"], env=env, check=True)
    subprocess.run(["podman", *podman_args(work), "load", "-q", "-i", str(archive)], check=True,
                   capture_output=True)
