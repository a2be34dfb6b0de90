#!/usr/bin/env python3
"""How long does it take to run /bin/true in a container, and what does a detached one cost?

Prints one markdown table: sandbox (command line and Python API) side by side
with a bare unshare+chroot floor, runc, crun and, when a working engine is
present, docker/podman.  Each row is the median over --runs runs (min, max),
timed here with time.perf_counter() around the whole command, the commands
interleaved round-robin after 3 warm-up runs each.  See bench/README.md.

    sudo /work/main/.venv/bin/python bench/bench_run.py [--runs N]

Everything it makes lives in one temporary directory (SANDBOX_ROOT, the
OCI bundle, runc's and crun's state), which is removed at the end.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
WARMUP = 3
MEMORY_SAMPLES = 3
TIMEOUT = 30  # seconds, per command: a hung runtime fails its row instead of the bench
PREFIX = f"sbench-{os.getpid()}-"  # runc/crun container ids, cgroup names, image tags
_ids = itertools.count()

TARGETS = {"cli_vs_runc": 1.5, "api_ms": 8.0, "help_ms": 30.0, "detached_mib": 10.0,
           "limits_extra_ms": 1.0, "stats20_ms": 100.0, "defaults_ms": 1.0}
LIMITS = ["--memory", "64m", "--cpus", "1", "--pids-limit", "100"]
STATS_CONTAINERS = 20
REFERENCE = "docker's containerd-shim ~13 MiB, podman's conmon ~2 MiB (figures quoted from the issue, not measured here)"


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def fresh_id() -> str:
    return f"{PREFIX}{next(_ids)}"


def quiet(argv, **kw) -> subprocess.CompletedProcess:
    return subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL, timeout=TIMEOUT, **kw)


def probe(argv, timeout: float = TIMEOUT) -> tuple[bool, str]:
    """Run once; (succeeded, last line of what it printed)."""
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    out = (p.stderr.strip() or p.stdout.strip()).splitlines()
    return p.returncode == 0, (out[-1] if out else f"exit code {p.returncode}")


# --- the machine ------------------------------------------------------------------
def machine() -> str:
    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    nproc = len(os.sched_getaffinity(0))
    layout = cgroup_layout()
    return (f"nproc {nproc}, kernel {platform.release()}, CPU {cpu}, "
            f"cgroups {layout[0]}, Python {platform.python_version()}")


def cgroup_layout() -> tuple[str, str | None]:
    """('v1'|'v2'|'hybrid'|'none', the cgroup2 mount point when hybrid)."""
    v1, v2 = False, []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            left, _, right = line.partition(" - ")
            fstype = right.split()[0] if right.split() else ""
            if fstype == "cgroup":
                v1 = True
            elif fstype == "cgroup2":
                v2.append(left.split()[4])
    if v1 and v2:
        return "hybrid", v2[0]
    return ("v1" if v1 else "v2" if v2 else "none"), None


def version(argv) -> str:
    """The last word of the first line of ``tool --version``."""
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return "?"
    return out.splitlines()[0].split()[-1] if out.strip() else "?"


def ensure_runtimes(notes: list[str]) -> None:
    """Install runc and crun from Debian if missing (as root only)."""
    missing = [t for t in ("runc", "crun") if not shutil.which(t)]
    if not missing:
        return
    if os.geteuid() != 0:
        notes.append(f"{' and '.join(missing)} not installed and not root: rows skipped "
                     f"(install with: sudo apt-get install -y runc crun)")
        return
    log(f"installing {' '.join(missing)} with apt-get")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    cmd = ["apt-get", "install", "-y", *missing]
    if subprocess.run(cmd, env=env, stdout=sys.stderr).returncode != 0:
        subprocess.run(["apt-get", "update"], env=env, stdout=sys.stderr)
        subprocess.run(cmd, env=env, stdout=sys.stderr)
    still = [t for t in missing if not shutil.which(t)]
    if still:
        notes.append(f"apt-get could not install {' '.join(still)}: rows skipped")


def sandbox_cli() -> str:
    for candidate in (REPO / ".venv/bin/sandbox", Path(sys.executable).parent / "sandbox"):
        if candidate.exists():
            return str(candidate)
    found = shutil.which("sandbox")
    if not found:
        sys.exit("bench: the sandbox command was not found (create the venv: ./course test)")
    return found


# --- rows -------------------------------------------------------------------------
class Timeout(Exception):
    pass


def _alarm(_signum, _frame):
    raise Timeout(f"no answer within {TIMEOUT} s")


class Row:
    """One line of the table: a command to time (argv factory or in-process call)."""

    def __init__(self, key: str, label: str, make=None, call=None, unit: str = "ms",
                 container: bool = True):
        self.key, self.label, self.unit = key, label, unit
        self.container = container  # starts a container: gets a ratio against runc
        self.make = make            # () -> argv, for commands run as subprocesses
        self.call = call            # () -> None, for in-process calls (raises on failure)
        self.samples: list[float] = []
        self.failures = 0
        self.missing = ""           # why there are no numbers, if there are none
        self.last_error = ""

    def once(self) -> float:
        # No timeout= for subprocess.run here: with one, Popen.wait() polls with
        # sleeps of 0.5, 1, 2, 4 … 50 ms, and every time comes out rounded up to
        # 7.5, 15.5, 31.5, 63.5, 113.5 ms.  A SIGALRM watchdog guards against hangs
        # instead (subprocess.run kills the child when the handler raises).
        argv = None if self.call is not None else self.make()
        signal.alarm(TIMEOUT)
        try:
            t0 = time.perf_counter()
            if argv is None:
                self.call()
            else:
                p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL)
            dt = (time.perf_counter() - t0) * 1000
        finally:
            signal.alarm(0)
        if argv is not None and p.returncode != 0:
            raise RuntimeError(f"exit code {p.returncode}: {' '.join(argv)}")
        return dt

    def run(self, keep: bool) -> None:
        try:
            dt = self.once()
        except Exception as e:  # noqa: BLE001 - any failure is counted and shown
            self.failures += 1
            self.last_error = str(e)
            return
        if keep:
            self.samples.append(dt)


def crun_variants(base: list[str], hybrid_cg2: str | None, wrap) -> list[tuple[str, list[str]]]:
    plain = [("plain", base)]
    return plain + ([("hidden cgroup2", wrap(base))] if hybrid_cg2 else [])


def find_working(name: str, variants, notes: list[str]):
    """The first variant whose single probe run succeeds; records what failed."""
    failures = []
    for how, base in variants:
        ok, msg = probe([*base, fresh_id()])
        if ok:
            if failures:
                notes.append(f"{name}: " + "; ".join(failures) + f" → used the {how} variant")
            return how, base
        failures.append(f"{how} `{' '.join(base)} ID` failed: {msg!r}")
    notes.append(f"{name}: no variant worked: " + "; ".join(failures))
    return None, None


def engine_rows(tmp: Path, rootfs: Path, made_images: list, notes: list[str]) -> list[Row]:
    rows = []
    for engine in ("docker", "podman"):
        label = f"{engine} run --rm IMG /bin/true"
        row = Row(engine, label)
        rows.append(row)
        if not shutil.which(engine):
            row.missing = "not available on this machine"
            continue
        ok, msg = probe([engine, "info"], 20)
        if not ok:
            row.missing = "not available on this machine"
            notes.append(f"{engine}: `{engine} info` failed ({msg})")
            continue
        image = f"sandbox-bench/busybox:{PREFIX.rstrip('-')}"
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imp = subprocess.run([engine, "import", "-", image], stdin=tar.stdout,
                             capture_output=True, text=True, timeout=120)
        tar.stdout.close()
        tar.wait()
        if imp.returncode != 0:
            row.missing = f"image import failed: {imp.stderr.strip()[-120:]}"
            continue
        made_images.append((engine, image))
        row.make = lambda engine=engine, image=image: [engine, "run", "--rm", image, "/bin/true"]
        notes.append(f"{engine}: the busybox rootfs imported as {image} (`{engine} import`), "
                     f"default network; removed at the end")
    return rows


# --- detached memory --------------------------------------------------------------
def smaps_rollup(pid: int) -> dict[str, int]:
    out = {}
    for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()[1:]:
        key, _, value = line.partition(":")
        parts = value.split()
        if parts and parts[-1] == "kB":
            out[key.strip()] = int(parts[0])
    return out


def measure_detached(cli: str, root: Path, made: list[str]) -> tuple[list[float], list[float], str]:
    """RSS and PSS (MiB) of the monitor of `sandbox run -d busybox sleep 60`."""
    rss, pss, error = [], [], ""
    for _ in range(MEMORY_SAMPLES):
        p = subprocess.run([cli, "run", "-d", "busybox", "sleep", "60"], capture_output=True,
                           text=True, timeout=TIMEOUT, stdin=subprocess.DEVNULL)
        cid = p.stdout.strip()
        if p.returncode != 0 or not cid:
            return rss, pss, f"sandbox run -d failed: {p.stderr.strip()[-200:]}"
        made.append(cid)
        try:
            state = json.loads((root / "containers" / cid / "state.json").read_text())
            pid = int(state["MonitorPid"])
            # state.json is written before the monitor re-executes itself as a lean
            # Python: wait for that, then let its imports finish.
            deadline = time.monotonic() + 5
            while b"sandbox.engine.monitor" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                if time.monotonic() > deadline:
                    raise RuntimeError("the monitor did not re-execute itself within 5 s")
                time.sleep(0.02)
            time.sleep(0.5)
            m = smaps_rollup(pid)
            rss.append(m["Rss"] / 1024)
            pss.append(m["Pss"] / 1024)
        except (OSError, KeyError, ValueError, RuntimeError) as e:
            error = f"reading the monitor failed: {e}"
        finally:
            if quiet([cli, "rm", "-f", cid]).returncode == 0:
                made.remove(cid)
        if error:
            break
    return rss, pss, error


# --- output -----------------------------------------------------------------------
def fmt(value: float, unit: str) -> str:
    return f"{value:.1f} {unit}" if unit == "ms" or value >= 10 else f"{value:.2f} {unit}"


def table(rows: list[Row], runc_median: float | None, n: int) -> str:
    lines = [f"| # | what (N={n} per row unless noted) | median | min | max | median ÷ runc |",
             "|---|---|---:|---:|---:|---:|"]
    for i, row in enumerate(rows, 1):
        if row.missing or not row.samples:
            why = row.missing or f"failed ({row.last_error[:80]})"
            lines.append(f"| {i} | {row.label} | {why} | — | — | — |")
            continue
        med = statistics.median(row.samples)
        ratio = f"{med / runc_median:.2f}×" if runc_median and row.container else "—"
        label = row.label + (f" ({row.failures} failed runs)" if row.failures else "")
        lines.append(f"| {i} | {label} | **{fmt(med, row.unit)}** | {fmt(min(row.samples), row.unit)}"
                     f" | {fmt(max(row.samples), row.unit)} | {ratio} |")
    return "\n".join(lines)


def verdict(value: float | None, limit: float, unit: str, what: str) -> str:
    if value is None:
        return (f"- {what} ≤ {limit:g}{' ' + unit if unit else ''}: cannot be computed in "
                f"this run → **not met**")
    ok = "met" if value <= limit else "not met"
    shown = f"{value:.2f}" if unit == "" else fmt(value, unit)
    return f"- {what} ≤ {limit:g}{' ' + unit if unit else ''}: {shown} → **{ok}**"


# --- cleanup ----------------------------------------------------------------------
def leftover_mounts(tmp: Path) -> list[str]:
    try:
        out = subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True,
                             text=True, timeout=10).stdout
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line for line in out.splitlines() if str(tmp) in line]


def leftover_cgroups() -> list[Path]:
    """Cgroups named after this run's container ids (runc/crun remove them themselves)."""
    found = []
    for top in Path("/sys/fs/cgroup").iterdir() if Path("/sys/fs/cgroup").is_dir() else []:
        for dirpath, dirnames, _ in os.walk(top):
            depth = Path(dirpath).relative_to(top).parts
            if len(depth) >= 3:
                dirnames[:] = []
            found += [Path(dirpath) / d for d in dirnames if d.startswith(PREFIX)]
    return found


# Run the command line of the package found in argv[1], whatever the venv's path entry says.
# `python -m sandbox` from a given tree: its entry() where it has one (a quick exit), else main().
RUN_FROM = ("import sys; sys.path.insert(0, sys.argv[1]); sys.argv = ['sandbox', 'run', '--rm', "
            "'busybox', 'true']; import sandbox.cli as c; "
            "c.entry() if hasattr(c, 'entry') else sys.exit(c.main())")
# What turns off Docker's security defaults one by one: capabilities, seccomp, masked paths.
DEFAULTS_OFF = ("--cap-add", "ALL", "--security-opt", "seccomp=unconfined",
                "--security-opt", "systempaths=unconfined")


def before_checkout(ctx: dict, rev: str) -> Path:
    """A git worktree of ``rev`` in the temporary directory, byte-compiled like ours."""
    path = ctx["tmp"] / "before"
    subprocess.run(["git", "-C", str(REPO), "worktree", "add", "--detach", str(path), rev],
                   check=True, capture_output=True)
    ctx["worktree"] = path
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(path / "sandbox")], check=True)
    return path


def host_networking() -> dict[str, set[str]]:
    """The host's network devices and nftables tables: what an engine (podman's CNI) may add."""
    tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True)
    return {"links": set(os.listdir("/sys/class/net")),
            "tables": set(tables.stdout.splitlines()) if tables.returncode == 0 else set()}


def engine_leftovers(before: dict[str, set[str]]) -> list[str]:
    """Remove what podman's CNI made during the bench (its bridge, and the iptables-nft tables
    it creates, empty but for its chains): only what was not there before the bench began."""
    removed = []
    if os.geteuid() != 0 or not before:
        return removed
    now = host_networking()
    for link in sorted(now["links"] - before["links"]):
        if link.startswith("cni-podman"):
            quiet(["ip", "link", "del", link])
            removed.append(f"network device {link}")
    for table in sorted(now["tables"] - before["tables"]):
        if table in ("table ip nat", "table ip filter", "table ip6 nat", "table ip6 filter"):
            quiet(["nft", "delete", *table.split()])
            removed.append(f"nftables {table}")
    return removed


def cleanup(ctx: dict) -> list[str]:
    warnings = []
    if ctx.get("worktree"):
        quiet(["git", "-C", str(REPO), "worktree", "remove", "--force", str(ctx["worktree"])])
    cli, tmp = ctx.get("cli"), ctx.get("tmp")
    sroot = tmp / "sandbox" if tmp else None
    leftover = [p.name for p in (sroot / "containers").iterdir()] if sroot and \
        (sroot / "containers").is_dir() else []
    for cid in dict.fromkeys(list(ctx.get("detached", [])) + leftover):
        try:
            quiet([cli, "rm", "-f", cid])
        except (OSError, subprocess.TimeoutExpired) as e:
            warnings.append(f"could not remove sandbox container {cid}: {e}")
    for name, argv_base in ctx.get("runtimes", {}).items():  # runc/crun state: delete -f leftovers
        try:
            p = subprocess.run([*argv_base, "list", "-q"], capture_output=True, text=True,
                               timeout=TIMEOUT)
            for cid in p.stdout.split():
                if cid.startswith(PREFIX):
                    warnings.append(f"{name} container {cid} was left behind: deleted it")
                    quiet([*argv_base, "delete", "-f", cid])
        except (OSError, subprocess.TimeoutExpired):
            pass
    for engine, image in ctx.get("images", []):
        quiet([engine, "rmi", "-f", image])
    for cg in leftover_cgroups():
        warnings.append(f"cgroup {cg} was left behind: removing it")
        try:
            cg.rmdir()
        except OSError as e:
            warnings.append(f"could not remove {cg}: {e}")
    for what in engine_leftovers(ctx.get("host_networking", {})):
        warnings.append(f"podman left {what} behind: removed it")
    for path in ctx.get("created_trees", []):  # podman's /run/containers, made by this bench
        if path.exists():
            shutil.rmtree(path, ignore_errors=True)
    for path in ctx.get("created_dirs", []):  # state dirs the runtimes made on the host
        try:
            path.rmdir()  # only if empty
        except OSError:
            pass
    if tmp:
        mounts = leftover_mounts(tmp)
        if mounts:
            warnings.append(f"mounts left under {tmp}: {', '.join(mounts)}; "
                            f"left the directory in place (not deleting through mounts)")
        else:
            sys.path.insert(0, str(REPO))
            try:
                from sandbox.paths import rmtree
            except ImportError:
                rmtree = lambda p: shutil.rmtree(p, ignore_errors=True)  # noqa: E731
            rmtree(tmp)
            if tmp.exists():
                warnings.append(f"could not remove {tmp}")
        if leftover_mounts(tmp):  # the check the README promises: findmnt | grep TMP
            warnings.append(f"`findmnt | grep {tmp}` still shows mounts")
    return warnings


# --- main -------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=30, help="timed runs per row (default 30)")
    ap.add_argument("--before", metavar="REV",
                    help="also time `python -m sandbox run --rm busybox true` from a checkout "
                         "of this git revision, beside today's (what a change cost)")
    args = ap.parse_args()
    if args.runs < 1:
        ap.error("--runs must be at least 1")

    def stop(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)
    signal.signal(signal.SIGALRM, _alarm)

    root_user = os.geteuid() == 0
    notes: list[str] = []
    ctx: dict = {"detached": [], "runtimes": {}, "images": [],
                 "created_dirs": [p for p in (Path("/run/crun"), Path("/run/runc"),
                                              Path("/run/mount")) if not p.exists()],
                 "created_trees": [p for p in (Path("/run/containers"),) if not p.exists()],
                 "host_networking": host_networking() if root_user else {}}
    t_start = time.monotonic()
    load_before = os.getloadavg()[0]
    try:
        ensure_runtimes(notes)
        cli = ctx["cli"] = sandbox_cli()
        tmp = ctx["tmp"] = Path(tempfile.mkdtemp(prefix="sandbox-bench-"))
        sroot = tmp / "sandbox"
        os.environ["SANDBOX_ROOT"] = str(sroot)  # for the CLI's children and the in-process API
        log(f"temporary root {tmp}")

        ok, msg = probe([cli, "run", "--rm", "busybox", "true"], 120)
        if not ok:
            sys.exit(f"bench: `sandbox run --rm busybox true` failed: {msg}")
        layers = [p for p in (sroot / "layers").iterdir() if p.is_dir()]
        if len(layers) != 1:
            sys.exit(f"bench: expected one unpacked layer under {sroot}/layers, found {len(layers)}")
        rootfs = layers[0]

        # OCI bundle for runc and crun
        bundle = tmp / "bundle"
        bundle.mkdir()
        layout, cg2 = cgroup_layout()

        def hide_cg2(argv):
            return ["unshare", "--mount", "--propagation", "private", "sh", "-c",
                    f'umount {cg2} && exec "$@"', "sh", *argv]

        rows: list[Row] = []
        floor = ["unshare", *([] if root_user else ["-r"]), "-m", "-u", "-i", "-p", "-n", "-f",
                 "chroot", str(rootfs), "/bin/true"]
        rows.append(Row("floor", "floor: `unshare -m -u -i -p -n -f chroot ROOTFS /bin/true`",
                        make=lambda: floor))
        if not root_user:
            notes.append("floor: not root, so `unshare -r` (a user namespace) was added")
        rows.append(Row("cli", "`sandbox run --rm busybox true` (CLI)",
                        make=lambda: [cli, "run", "--rm", "busybox", "true"]))

        sys.path.insert(0, str(REPO))
        import sandbox  # noqa: E402  - once; then each call is timed in this process

        def api_call():
            r = sandbox.run("busybox", "true")
            if r.exit_code != 0:
                raise RuntimeError(f"exit code {r.exit_code}: {r.stderr.strip()}")
        rows.append(Row("api", '`sandbox.run("busybox", "true")` (Python API, in-process)',
                        call=api_call))

        # What limits cost: the same runs with a memory, CPU and pids limit (a cgroup
        # with three limit files written, joined, then read and removed at exit).
        limits_ok, limits_msg = probe([cli, "run", "--rm", *LIMITS, "busybox", "true"], 60)
        cli_limits = Row("cli_limits", f"`sandbox run --rm {' '.join(LIMITS)} busybox true`",
                         make=lambda: [cli, "run", "--rm", *LIMITS, "busybox", "true"])

        def api_limits_call():
            r = sandbox.run("busybox", "true", memory="64m", cpus=1, pids_limit=100)
            if r.exit_code != 0:
                raise RuntimeError(f"exit code {r.exit_code}: {r.stderr.strip()}")
        api_limits = Row("api_limits", "the same with the Python API", call=api_limits_call)
        if not limits_ok:
            cli_limits.missing = api_limits.missing = f"limits refused here: {limits_msg[:160]}"
        rows += [cli_limits, api_limits]

        # What the security defaults cost: the same run with them turned off, and, with
        # --before, the same command from an older checkout (both as `python -m sandbox`,
        # so the two differ only in the package's code).
        # Not --privileged: it also bind-mounts every host device into /dev, which costs more
        # than the defaults it turns off.  Only the device rules stay on here (a root
        # container's cgroup always carries them).
        rows.append(Row("cli_defaults_off", f"`sandbox run --rm {' '.join(DEFAULTS_OFF)} "
                        "busybox true` (defaults off)",
                        make=lambda: [cli, "run", "--rm", *DEFAULTS_OFF, "busybox", "true"]))
        if args.before:
            before = before_checkout(ctx, args.before)
            rows.append(Row("cli_m", "`python -m sandbox run --rm busybox true` (this tree)",
                            make=lambda: [sys.executable, "-c", RUN_FROM, str(REPO)]))
            rows.append(Row("cli_before", f"the same from a checkout of {args.before}",
                            make=lambda: [sys.executable, "-c", RUN_FROM, str(before)]))

        runc_row = Row("runc", "`runc run --bundle B ID`")
        crun_row = Row("crun", "`crun run --bundle B ID` (cgroups on)")
        crun_off = Row("crun_nocg", "`crun --cgroup-manager=disabled run --bundle B ID`")
        wrapper = Row("wrapper", f"crun's workaround alone: `unshare --mount --propagation "
                                 f"private sh -c 'umount {cg2} && exec /bin/true'`")
        if shutil.which("runc") and root_user:
            subprocess.run(["runc", "spec"], cwd=bundle, check=True)
            spec = json.loads((bundle / "config.json").read_text())
            spec["root"] = {"path": str(rootfs), "readonly": True}
            spec["process"]["args"] = ["/bin/true"]
            spec["process"]["terminal"] = False
            (bundle / "config.json").write_text(json.dumps(spec, indent=2))
        for row, tool in ((runc_row, "runc"), (crun_row, "crun"), (crun_off, "crun")):
            if not root_user:
                row.missing = "skipped: needs root"
            elif not shutil.which(tool):
                row.missing = f"skipped: {tool} is not installed"
            elif not (bundle / "config.json").exists():
                row.missing = "skipped: no bundle (`runc spec` needs runc)"
        state = {"runc": ["runc", "--root", str(tmp / "runc-state")],
                 "crun": ["crun", "--root", str(tmp / "crun-state")]}
        bundle_args = ["run", "--bundle", str(bundle)]
        if not runc_row.missing:
            how, base = find_working("runc", crun_variants(state["runc"] + bundle_args, cg2,
                                                           hide_cg2), notes)
            if base is None:
                runc_row.missing = "failed on this machine (see notes)"
            else:
                runc_row.make = lambda base=base: [*base, fresh_id()]
                ctx["runtimes"]["runc"] = (hide_cg2(state["runc"]) if how != "plain"
                                           else state["runc"])
                notes.append(f"runc {version(['runc', '--version'])}: "
                             f"`runc run` works {'as is' if how == 'plain' else 'with cgroup2 hidden'}"
                             f" (it creates a cgroup per container; runc has no switch to turn "
                             f"that off); config.json from `runc spec`, root.path=ROOTFS readonly, "
                             f"args [/bin/true], terminal false; state in --root TMP/runc-state, "
                             f"a fresh id per run")
        wrapped = []
        for row, extra in ((crun_row, []), (crun_off, ["--cgroup-manager=disabled"])):
            if row.missing:
                continue
            how, base = find_working(" ".join(["crun", *extra, "run"]),
                                     crun_variants(state["crun"] + extra + bundle_args, cg2,
                                                   hide_cg2), notes)
            if base is None:
                row.missing = "failed on this machine (see notes)"
                continue
            row.make = lambda base=base: [*base, fresh_id()]
            if how != "plain":
                wrapped.append(row)
                row.label += " + hidden cgroup2"
                ctx["runtimes"]["crun"] = hide_cg2(state["crun"])
            else:
                ctx["runtimes"].setdefault("crun", state["crun"])
        rows += [runc_row, crun_row, crun_off]
        if wrapped:
            wrapper.make = lambda: hide_cg2(["/bin/true"])
            wrapper.container = False
            rows.append(wrapper)
            which = " and ".join(f"`{' '.join(['crun', *x, 'run'])}`" for r, x in
                                 ((crun_row, []), (crun_off, ["--cgroup-manager=disabled"]))
                                 if r in wrapped)
            notes.append(f"crun {version(['crun', '--version'])} refuses this {layout} cgroup "
                         f"layout, so {which} ran as `unshare --mount --propagation private "
                         f"sh -c 'umount {cg2} && exec crun …'`, which hides the empty cgroup2 "
                         f"mount in a private mount namespace (the host keeps it). That "
                         f"wrapper's own cost is the 'workaround alone' row, and is included "
                         f"in the wrapped crun rows")
        if not crun_off.missing:
            notes.append("sandbox, like runc, makes a cgroup per container where it may "
                         "(always as root); the cgroups-off crun row is the floor of an OCI "
                         "runtime without that cost")

        rows += engine_rows(tmp, rootfs, ctx["images"], notes)
        rows.append(Row("help", "`sandbox --help` (CLI startup)", make=lambda: [cli, "--help"],
                        container=False))

        # `sandbox stats --no-stream` over 20 running containers (started once, removed at the end).
        stats_row = Row("stats20", f"`sandbox stats --no-stream` over {STATS_CONTAINERS} "
                                   f"running containers", make=lambda: [cli, "stats", "--no-stream"],
                        container=False)
        for _ in range(STATS_CONTAINERS):
            p = subprocess.run([cli, "run", "-d", "busybox", "sleep", "600"], capture_output=True,
                               text=True)
            if p.returncode != 0:
                stats_row.missing = f"could not start containers: {p.stderr.strip()[:160]}"
                break
            ctx["detached"].append(p.stdout.strip())
        rows.append(stats_row)

        timed = [r for r in rows if not r.missing and (r.make or r.call)]
        log(f"{len(timed)} rows: {WARMUP} warm-up runs each, then {args.runs} timed, round-robin")
        for rnd in range(WARMUP + args.runs):
            for row in timed:
                row.run(keep=rnd >= WARMUP)
        for row in timed:
            if row.failures:
                notes.append(f"{row.label}: {row.failures} run(s) failed, last: {row.last_error}")

        log("detached containers: monitor memory")
        rss, pss, mem_error = measure_detached(cli, sroot, ctx["detached"])
        rss_row = Row("rss", f"detached container: monitor RSS (N={len(rss)})", unit="MiB",
                      container=False)
        pss_row = Row("pss", f"detached container: monitor PSS (N={len(pss)})", unit="MiB",
                      container=False)
        rss_row.samples, pss_row.samples = rss, pss
        if mem_error:
            notes.append(mem_error)
            rss_row.last_error = pss_row.last_error = mem_error
        rows += [rss_row, pss_row]
        notes.append(f"rows {len(rows) - 1}-{len(rows)}: `sandbox run -d busybox sleep 60`, then "
                     f"/proc/MonitorPid/smaps_rollup (MonitorPid from state.json, read 0.5 s after "
                     f"the monitor re-executed itself), then `sandbox rm -f`; the container's own "
                     f"`sleep` is not counted. Reference: {REFERENCE}")
        elapsed = time.monotonic() - t_start
        load_after = os.getloadavg()[0]
    except KeyboardInterrupt:
        log("interrupted")
        for w in cleanup(ctx):
            log(f"WARNING: {w}")
        return 130
    except BaseException:
        for w in cleanup(ctx):
            log(f"WARNING: {w}")
        raise

    warnings = cleanup(ctx)

    by = {r.key: r for r in rows}
    med = {k: statistics.median(r.samples) for k, r in by.items() if r.samples}
    runc_med = med.get("runc")
    print(f"**Machine:** {machine()}  ")
    print(f"Timed with time.perf_counter() around each whole command (subprocess.run, output to "
          f"/dev/null), round-robin, {WARMUP} warm-up runs per row, then N={args.runs}; "
          f"bench took {elapsed:.0f} s; 1-min load average {load_before:.2f} before, "
          f"{load_after:.2f} after (anything else running on the machine shows up in the numbers).")
    print()
    print(table(rows, runc_med, args.runs))
    print()
    print("**Notes**")
    print()
    print(f"- TMP = the bench's temporary directory ({tmp}, removed), ROOTFS = "
          f"TMP/sandbox/layers/<the busybox layer>, B = TMP/bundle, SANDBOX_ROOT = TMP/sandbox")
    for note in notes:
        print(f"- {note.replace(str(tmp), 'TMP')}")
    print()
    print("**Targets** (from this run's medians)")
    print()
    ratio = med["cli"] / runc_med if "cli" in med and runc_med else None
    print(verdict(ratio, TARGETS["cli_vs_runc"], "", "CLI `sandbox run` ÷ runc (issue 12)"))
    print(verdict(med.get("api"), TARGETS["api_ms"], "ms", "Python API `sandbox.run`"))
    print(verdict(med.get("help"), TARGETS["help_ms"], "ms", "`sandbox --help`"))
    extra = (med["api_limits"] - med["api"]) if "api_limits" in med and "api" in med else None
    print(verdict(extra, TARGETS["limits_extra_ms"], "ms",
                  "what limits add to a run (API medians, with − without)"))
    extra = (med["cli"] - med["cli_defaults_off"]) if "cli_defaults_off" in med and "cli" in med else None
    print(verdict(extra, TARGETS["defaults_ms"], "ms",
                  "what the security defaults add to a run (CLI medians, on − off)"))
    extra = (med["cli_m"] - med["cli_before"]) if "cli_before" in med and "cli_m" in med else None
    if extra is not None:
        print(verdict(extra, TARGETS["defaults_ms"], "ms",
                      f"this tree against {args.before} (`python -m sandbox` medians, after − before)"))
    print(verdict(med.get("stats20"), TARGETS["stats20_ms"], "ms",
                  f"`sandbox stats --no-stream` over {STATS_CONTAINERS} containers"))
    line = verdict(med.get("pss"), TARGETS["detached_mib"], "MiB",
                   "detached overhead (monitor PSS)")
    if "rss" in med:
        rss_ok = "met" if med["rss"] <= TARGETS["detached_mib"] else "not met"
        line += f" (by RSS, which counts shared library pages in full: {fmt(med['rss'], 'MiB')}"
        line += f" → {rss_ok})"
    print(line)
    for w in warnings:
        print(f"\n**WARNING:** {w}")
        log(f"WARNING: {w}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
