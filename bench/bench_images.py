#!/usr/bin/env python3
"""Layers and images: disk sharing, run latency by layer count, and `load` against skopeo.

Prints one markdown table.  Run as root or as a user (skopeo rows need skopeo):

    .venv/bin/python bench/bench_images.py [--runs N] [--debian]

--debian builds the 170 MB image from a real Debian root filesystem with
mmdebstrap (it downloads from the Debian mirror); without it, a synthetic
root filesystem of the same size is used (random bytes, so it does not compress).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def cli(*args, check=True, **kw) -> subprocess.CompletedProcess:
    r = subprocess.run([sys.executable, "-m", "sandbox", *args], capture_output=True, text=True,
                       **kw)
    if check and r.returncode != 0:
        raise SystemExit(f"sandbox {' '.join(args)}: {r.stderr.strip()}")
    return r


def du_bytes(path: Path) -> int:
    """Disk blocks used, like `du -s --block-size=1` (hard links counted once)."""
    seen, total = set(), 0
    for directory, dirs, files in os.walk(path):
        for name in dirs + files:
            st = os.lstat(os.path.join(directory, name))
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512
    return total


def image_with_layers(name: str, count: int) -> None:
    """busybox plus (count - 1) committed layers of 100 kB each."""
    previous = "busybox"
    for i in range(1, count):
        cli("run", "--name", f"step{i}", previous, "sh", "-c",
            f"head -c 100000 /dev/urandom > /layer{i}")
        cli("commit", f"step{i}", f"{name}:{i}")
        cli("rm", f"step{i}")
        previous = f"{name}:{i}"
    cli("tag", previous, f"{name}:top")


def median_ms(fn, runs: int) -> float:
    fn()
    samples = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples)


def rootfs_tar(tmp: Path, debian: bool) -> tuple[Path, str]:
    out = tmp / "rootfs.tar"
    if debian and shutil.which("mmdebstrap"):
        subprocess.run(["mmdebstrap", "--variant=minbase", "bookworm", str(out)], check=True,
                       capture_output=True)
        return out, "a Debian bookworm minbase root filesystem made by mmdebstrap"
    with tarfile.open(out, "w") as tar:
        for i in range(170):
            data = os.urandom(1 << 20)
            info = tarfile.TarInfo(f"usr/share/blob{i:03d}")
            info.size = len(data)
            import io
            tar.addfile(info, io.BytesIO(data))
    return out, "a synthetic root filesystem: 170 files of 1 MiB of random bytes"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=15)
    ap.add_argument("--debian", action="store_true")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="sandbox-bench-images-"))
    os.environ["SANDBOX_ROOT"] = str(tmp / "root")
    import sandbox
    rows, notes = [], []
    try:
        cli("run", "--rm", "busybox", "true")
        image_with_layers("five", 5)
        image_with_layers("ten", 10)

        # 1. 20 containers of one 5-layer image: layers on disk once, each container only its upper.
        containers = [cli("run", "-d", "five:top", "sleep", "300").stdout.strip()
                      for _ in range(20)]
        root = tmp / "root"
        layers = du_bytes(root / "layers")
        uppers = sum(du_bytes(root / "containers" / c / "upper") for c in containers)
        everything = du_bytes(root / "containers") + layers
        rows.append(("20 containers of a 5-layer image: unpacked layers (`du`)",
                     f"{layers / 1e6:.2f} MB", "on disk once"))
        rows.append(("… their 20 upper directories together", f"{uppers / 1e3:.1f} kB",
                     "what the containers wrote"))
        rows.append(("… layers + all container directories",
                     f"{everything / 1e6:.2f} MB",
                     f"= layers + {(everything - layers) / 1e3:.0f} kB of per-container "
                     "state (uppers, init layers, logs, config)"))
        for c in containers:
            cli("rm", "-f", c)

        # 2. run latency: 10 layers against 1 (the Python API, in-process).
        one = median_ms(lambda: sandbox.run("busybox", "true"), args.runs)
        ten = median_ms(lambda: sandbox.run("ten:top", "true"), args.runs)
        rows.append((f"`sandbox.run` of a 1-layer image (median of {args.runs})",
                     f"{one:.1f} ms", ""))
        rows.append((f"`sandbox.run` of a 10-layer image (median of {args.runs})",
                     f"{ten:.1f} ms", f"ratio {ten / one:.2f} (target ≤ 1.10)"))

        # 3. load of a 170 MB image: sandbox load against skopeo copy of the same archive.
        source, what = rootfs_tar(tmp, args.debian)
        notes.append(f"the 170 MB image: {what}")
        cli("import", str(source), "big:1")
        archive = tmp / "big.tar"
        cli("save", "big:1", "-o", str(archive))
        cli("rmi", "big:1")
        loads, skopeos = [], []
        for _ in range(3):
            t0 = time.perf_counter()
            cli("load", "-i", str(archive))
            loads.append(time.perf_counter() - t0)
            cli("rmi", "big:1")
            if shutil.which("skopeo"):
                target = tmp / "skopeo-layout"
                t0 = time.perf_counter()
                subprocess.run(["skopeo", "copy", "--quiet", f"docker-archive:{archive}",
                                f"oci:{target}:big"], check=True, capture_output=True)
                skopeos.append(time.perf_counter() - t0)
                shutil.rmtree(target)
        size = archive.stat().st_size / 1e6
        rows.append((f"`sandbox load` of a {size:.0f} MB archive (median of 3)",
                     f"{statistics.median(loads):.2f} s", ""))
        if skopeos:
            rows.append(("`skopeo copy docker-archive:… oci:…` of the same (median of 3)",
                         f"{statistics.median(skopeos):.2f} s",
                         f"ratio sandbox/skopeo {statistics.median(loads) / statistics.median(skopeos):.2f}"))
        else:
            notes.append("skopeo is not installed: no comparison row")
        notes.append("podman is not installed here, so `podman load` is not measured")
    finally:
        subprocess.run([sys.executable, "-m", "sandbox", "system", "prune", "-f"],
                       capture_output=True)
        from sandbox.paths import rmtree
        rmtree(tmp)
    print(f"**Machine:** {os.cpu_count()} cores, Linux {os.uname().release}\n")
    print("| measurement | value | note |\n|---|---:|---|")
    for label, value, note in rows:
        print(f"| {label} | {value} | {note} |")
    print()
    for note in notes:
        print(f"- {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
