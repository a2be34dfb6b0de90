#!/usr/bin/env python3
"""How long do `sandbox compose up -d` and `down` take for chapter 11's example, next to
podman-compose over podman?

Prints one markdown table: the median wall time (min, max) over --runs runs of `up -d` and
of `down` for the three-service example (notebooks/examples/compose-app: db with a volume,
backend, frontend on a published port), images present, after one warm-up, with the
engines interleaved round-robin; and the ratio to the peer.

    sudo /work/main/.venv/bin/python bench/bench_compose.py [--runs N] [--podman-compose PATH]

The issue's target: each ≤ 1 s on 2 cores.  Two rows for the sandbox:

- **as written**: `up -d` waits for `depends_on: condition: service_healthy` twice (db,
  then backend), each healthcheck probing every 100 ms while starting (`start_interval`);
- **peer's file**: the file podman-compose is given.  Debian's podman 4.3 knows no
  `--health-startup-interval` (podman-compose 1.x turns `start_interval` into it) and no
  `wait --condition=healthy`, so podman-compose ignores the conditions ("doesn't support
  healthy"): its file has no `start_interval`, and `service_started` conditions, which is
  the work it does.  The ratio is taken on this row: the same work on both sides.

podman-compose comes from PyPI (`pip install podman-compose`, or this repository's `bench`
extra): found with --podman-compose, next to this Python, or on PATH.  podman runs with
runc and cgroupfs (crun refuses this machine's hybrid cgroups), and with ulimits below the
host's (raising them needs CAP_SYS_RESOURCE), as tests/test_build.py runs it.
Everything lives in one temporary directory (SANDBOX_ROOT, podman's --root and --runroot),
removed at the end, with the bridges and firewall tables podman's CNI made (cni-podman*,
ip nat, ip filter) if they were not there before.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import yaml
from podman_peer import (TIMEOUT, compared, header, load_busybox_into_podman, log,
                         podman_args, podman_workspace, prepare_sandbox, timed)

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
EXAMPLE = REPO / "notebooks" / "examples" / "compose-app"
TARGET = 1.0  # seconds, each of up -d and down
ULIMITS = "--ulimit nofile=1024:1024 --ulimit nproc=1024:1024"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def find_podman_compose(given: str | None) -> str | None:
    for candidate in (given, str(Path(sys.executable).parent / "podman-compose"),
                      shutil.which("podman-compose")):
        if candidate and Path(candidate).is_file():
            return candidate
    return None


def peers_file(text: str) -> str:
    """The example as podman 4.3 can run it: no start_interval, service_started conditions."""
    model = yaml.safe_load(text)
    for service in model["services"].values():
        (service.get("healthcheck") or {}).pop("start_interval", None)
        for condition in (service.get("depends_on") or {}).values():
            condition["condition"] = "service_started"
    return yaml.safe_dump(model, sort_keys=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--podman-compose", help="the podman-compose program to compare with")
    args = parser.parse_args()
    with podman_workspace("bench-compose-") as work:
        return run(work, args.runs, find_podman_compose(args.podman_compose))


def run(work: Path, runs: int, podman_compose: str | None) -> int:
    ours, theirs = work / "compose-app", work / "peer" / "compose-app"
    shutil.copytree(EXAMPLE, ours)
    theirs.mkdir(parents=True)
    (theirs / "compose.yaml").write_text(peers_file((EXAMPLE / "compose.yaml").read_text()))
    env = {**os.environ, "SANDBOX_ROOT": str(work / "sandbox-root"),
           "FRONTEND_PORT": str(free_port())}
    sandbox = [sys.executable, "-m", "sandbox"]
    prepare_sandbox(sandbox, env, REPO)
    # (engine, file) → (argv of up -d, argv of down, the folder)
    cases = {("sandbox", "as written"): (sandbox + ["compose", "up", "-d"],
                                         sandbox + ["compose", "down"], ours),
             ("sandbox", "peer's file"): (sandbox + ["compose", "-p", "peer", "up", "-d"],
                                          sandbox + ["compose", "-p", "peer", "down"], theirs)}
    if shutil.which("podman") and podman_compose:
        load_busybox_into_podman(sandbox, env, work)
        pc = [podman_compose, "--podman-args", shlex.join(podman_args(work)),
              "--podman-run-args", ULIMITS, "-p", "podman"]
        cases[("podman-compose", "peer's file")] = (pc + ["up", "-d"], pc + ["down"], theirs)
    else:
        log("podman or podman-compose is missing (apt install podman; pip install "
            "podman-compose): no peer column")
    for up, down, folder in cases.values():           # warm-up: networks, volumes, caches
        timed(up, folder, env)
        timed(down, folder, env)
    times: dict[tuple, list[float]] = {}
    for _ in range(runs):
        for case, (up, down, folder) in cases.items():
            times.setdefault((*case, "up -d"), []).append(timed(up, folder, env))
            times.setdefault((*case, "down"), []).append(timed(down, folder, env))
    for case, (up, down, folder) in cases.items():
        subprocess.run(down + ["-v"], cwd=folder, env=env, capture_output=True, timeout=TIMEOUT)
    print(table(times, cases, runs))
    return 0


def table(times, cases, runs) -> str:
    lines = header("`sandbox compose` vs podman-compose over podman, chapter 11's example "
                   "(3 services), images present", runs,
                   ["command", "file", "sandbox", "podman-compose", "ratio", "target"])
    for verb in ("up -d", "down"):
        for file in ("as written", "peer's file"):
            lines.append(f"| `{verb}` | {file} | "
                         f"{compared(times[('sandbox', file, verb)], times.get(('podman-compose', file, verb)))}"
                         f" | ≤ {TARGET * 1000:.0f} ms |")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
