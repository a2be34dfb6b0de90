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
import sys
from pathlib import Path

from podman_peer import (compared, header, load_busybox_into_podman, log, podman_args,
                         podman_workspace, prepare_sandbox, timed)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SEED = REPO / "notebooks" / "examples" / "seed-app"
TARGETS = {"cached": 0.25, "no-cache": 0.5}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with podman_workspace("bench-build-") as work:
        return run(work, args.runs)


def run(work: Path, runs: int) -> int:
    context = work / "seed-app"
    shutil.copytree(SEED, context)
    env = {**os.environ, "SANDBOX_ROOT": str(work / "sandbox-root")}
    sandbox = [str(Path(sys.executable).parent / "sandbox")]
    prepare_sandbox(sandbox, env, REPO)
    cases = {"base.dockerfile": ["-t", "vf_base", "-f", "base.dockerfile", "."],
             "Dockerfile": ["-t", "hello-app:1.0", "."]}
    engines = {"sandbox": lambda extra: sandbox + ["build", "-q"] + extra}
    if shutil.which("podman"):
        load_busybox_into_podman(sandbox, env, work)
        pod = ["podman", *podman_args(work)]
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


def table(times, engines, cases, runs) -> str:
    lines = header("`sandbox build` vs `podman build`", runs,
                   ["Dockerfile", "cache", "sandbox", "podman", "ratio", "target"])
    for mode in ("cached", "no-cache"):
        for case in cases:
            lines.append(f"| {case} | {mode} | "
                         f"{compared(times[(mode, case, 'sandbox')], times.get((mode, case, 'podman')))}"
                         f" | ≤ {TARGETS[mode]}× |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
