#!/usr/bin/env python3
"""Pulling from a registry: `sandbox pull` against `skopeo copy`, and a second pull.

Starts Debian's docker-registry on 127.0.0.1 (a free port, a temporary
directory), pushes a 3-layer image of about 100 MB (random bytes, so gzip
cannot shrink it), then times, round-robin:

- `sandbox pull HOST/bench/big:1` into an empty state root;
- `skopeo copy docker://HOST/bench/big:1 oci:DIR:big` of the same image;
- `sandbox pull` again when every layer is already there.

    .venv/bin/python bench/bench_registry.py [--runs N]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path


def cli(root: Path, *args) -> None:
    r = subprocess.run([sys.executable, "-m", "sandbox", *args], capture_output=True, text=True,
                       env={**os.environ, "SANDBOX_ROOT": str(root)})
    if r.returncode != 0:
        raise SystemExit(f"sandbox {' '.join(args)}: {r.stderr.strip()}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_registry(tmp: Path) -> tuple[subprocess.Popen, str]:
    port = free_port()
    config = tmp / "registry.yml"
    config.write_text(f"version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n"
                      f"    rootdirectory: {tmp / 'registry'}\nhttp:\n  addr: 127.0.0.1:{port}\n")
    server = subprocess.Popen(["docker-registry", "serve", str(config)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/", timeout=1).close()
            return server, f"127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    server.kill()
    raise SystemExit("docker-registry did not start")


def timed(fn) -> float:
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=3)
    args = ap.parse_args()
    if not shutil.which("docker-registry"):
        raise SystemExit("bench: docker-registry is not installed (apt-get install docker-registry)")
    tmp = Path(tempfile.mkdtemp(prefix="sandbox-bench-registry-"))
    server = None
    try:
        server, host = start_registry(tmp)
        image = f"{host}/bench/big:1"
        build = tmp / "build"
        cli(build, "run", "--rm", "busybox", "true")
        previous = "busybox"
        for i in range(3):  # three layers of about 33 MB each
            cli(build, "run", "--name", f"l{i}", previous, "sh", "-c",
                f"head -c 33000000 /dev/urandom > /data{i}")
            cli(build, "commit", f"l{i}", f"bench/big:{i}")
            cli(build, "rm", f"l{i}")
            previous = f"bench/big:{i}"
        cli(build, "tag", previous, image)
        cli(build, "push", "-q", image)

        pulls, copies, again = [], [], []
        for run in range(args.runs):
            fresh = tmp / f"pull{run}"
            pulls.append(timed(lambda: cli(fresh, "pull", "-q", image)))
            again.append(timed(lambda: cli(fresh, "pull", "-q", image)))
            target = tmp / f"skopeo{run}"
            copies.append(timed(lambda: subprocess.run(
                ["skopeo", "copy", "--quiet", "--src-tls-verify=false", f"docker://{image}",
                 f"oci:{target}:big"], check=True, capture_output=True)))
            from sandbox.paths import rmtree
            rmtree(fresh)
            shutil.rmtree(target)
    finally:
        if server:
            server.terminate()
            server.wait()
        sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
        from sandbox.paths import rmtree
        rmtree(tmp)
    p, c, a = (statistics.median(x) for x in (pulls, copies, again))
    print(f"**Machine:** {os.cpu_count()} cores, Linux {os.uname().release}; registry: Debian "
          f"docker-registry on 127.0.0.1; image: 3 layers, about 100 MB; medians of {args.runs}\n")
    print("| what | median | min | max |\n|---|---:|---:|---:|")
    for label, xs in (("`sandbox pull` into an empty store", pulls),
                      ("`skopeo copy docker://… oci:…` of the same image", copies),
                      ("`sandbox pull` again (all layers present)", again)):
        print(f"| {label} | {statistics.median(xs):.3f} s | {min(xs):.3f} s | {max(xs):.3f} s |")
    print(f"\n- ratio sandbox / skopeo: {p / c:.2f} (target ≤ 1.0 → "
          f"{'met' if p <= c else 'not met'})")
    print(f"- second pull: {a * 1000:.0f} ms (target < 100 ms → "
          f"{'met' if a < 0.1 else 'not met'}); it includes the CLI's start-up")
    return 0


if __name__ == "__main__":
    sys.exit(main())
