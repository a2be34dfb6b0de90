#!/usr/bin/env python3
"""How long does `sandbox build` take for the seed's Dockerfiles, next to `podman build`?

Prints one markdown table: for each of chapter 10's two Dockerfiles
(notebooks/examples/seed-app: base.dockerfile → vf_base, Dockerfile → hello-app),
fully cached and with --no-cache, the median wall time of `sandbox build` and of
Debian's `podman build` over --runs runs (min, max), interleaved round-robin after
one warm-up each, and their ratio.  Both use their default network for RUN.

    sudo /work/main/.venv/bin/python bench/bench_build.py [--runs N]

The issue's targets: cached ≤ 0.25× podman, --no-cache ≤ 0.5× podman.
Everything lives in one temporary directory (SANDBOX_ROOT, podman's --root and
--runroot, the context), removed at the end, with the bridge and firewall tables
podman's CNI made (cni-podman0, ip nat, ip filter) if they were not there before.
podman runs with runc: crun refuses this machine's hybrid cgroups.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SEED = REPO / "notebooks" / "examples" / "seed-app"
TARGETS = {"cached": 0.25, "no-cache": 0.5}
TIMEOUT = 120


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def timed(argv, cwd, env=None) -> float:
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                          timeout=TIMEOUT)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed: {done.stderr.strip()[-400:]}")
    return took


def nft_tables() -> set[str]:
    done = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True)
    return set(done.stdout.splitlines())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    if os.geteuid() != 0:
        log("run as root: podman's peer numbers here are root's")
    work = Path(tempfile.mkdtemp(prefix="bench-build-"))
    tables_before = nft_tables()
    bridge_before = Path("/sys/class/net/cni-podman0").exists()
    try:
        return run(work, args.runs)
    finally:
        if shutil.which("podman"):
            subprocess.run(podman_argv(work) + ["system", "reset", "-f"], capture_output=True)
        if not bridge_before:
            subprocess.run(["ip", "link", "del", "cni-podman0"], capture_output=True)
        for table in nft_tables() - tables_before:
            subprocess.run(["nft", "delete"] + table.split(), capture_output=True)
        subprocess.run(["umount", "-R", str(work / "podman")], capture_output=True)
        shutil.rmtree(work, ignore_errors=True)


def podman_argv(work: Path) -> list[str]:
    return ["podman", "--root", str(work / "podman" / "root"), "--runroot",
            str(work / "podman" / "run"), "--storage-driver", "overlay",
            "--cgroup-manager", "cgroupfs", "--events-backend", "none",
            "--runtime", shutil.which("runc") or "runc"]


def run(work: Path, runs: int) -> int:
    context = work / "seed-app"
    shutil.copytree(SEED, context)
    env = {**os.environ, "SANDBOX_ROOT": str(work / "sandbox-root")}
    sandbox = [str(Path(sys.executable).parent / "sandbox")]
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "sandbox")], check=True)
    # The course's busybox image is made from the host's busybox on first use.
    subprocess.run(sandbox + ["run", "--rm", "--network", "none", "busybox", "true"], env=env,
                   check=True)
    cases = {"base.dockerfile": ["-t", "vf_base", "-f", "base.dockerfile", "."],
             "Dockerfile": ["-t", "hello-app:1.0", "."]}
    engines = {"sandbox": lambda extra: sandbox + ["build", "-q"] + extra}
    podman = shutil.which("podman")
    if podman:
        pod = podman_argv(work)
        archive = work / "busybox.tar"
        subprocess.run(sandbox + ["save", "-o", str(archive), "busybox"], env=env, check=True)
        subprocess.run(pod + ["load", "-q", "-i", str(archive)], check=True,
                       capture_output=True)
        engines["podman"] = lambda extra: pod + ["build", "-q"] + extra
    else:
        log("podman is not installed (apt install podman): no peer column")
    times: dict[tuple, list[float]] = {}
    for mode in ("cached", "no-cache"):
        for case, flags in cases.items():
            extra = (["--no-cache"] if mode == "no-cache" else []) + flags
            for engine, argv in engines.items():  # warm-up: builds the cache (and vf_base)
                timed(argv(extra), context, env)
            for _ in range(runs):
                for engine, argv in engines.items():
                    times.setdefault((mode, case, engine), []).append(
                        timed(argv(extra), context, env))
    print(table(times, engines, cases, runs))
    return 0


def cell(samples: list[float]) -> str:
    return (f"{statistics.median(samples) * 1000:.0f} ms "
            f"({min(samples) * 1000:.0f}–{max(samples) * 1000:.0f})")


def table(times, engines, cases, runs) -> str:
    import platform
    lines = [f"`sandbox build` vs `podman build`, {runs} runs each, median (min–max); "
             f"{os.cpu_count()} CPUs, kernel {platform.release()}", "",
             "| Dockerfile | cache | sandbox | podman | ratio | target |",
             "|---|---|---|---|---|---|"]
    for mode in ("cached", "no-cache"):
        for case in cases:
            ours = times[(mode, case, "sandbox")]
            peer = times.get((mode, case, "podman"))
            ratio = f"{statistics.median(ours) / statistics.median(peer):.2f}×" if peer else "–"
            lines.append(f"| {case} | {mode} | {cell(ours)} | {cell(peer) if peer else '–'} | "
                         f"{ratio} | ≤ {TARGETS[mode]}× |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
