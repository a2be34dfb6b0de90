#!/usr/bin/env python3
"""How fast do bytes go into, out of and between containers, and what does a network cost a run?

Prints one markdown table: iperf3 throughput side by side in one run (host
loopback; container to container on the default bridge; host to container
through ``-p`` as root and rootless; slirp4netns and pasta run by hand on a
namespace; Docker where its daemon answers), then the time networking adds to
``sandbox run --rm busybox true`` (bridge against ``--network none``).
Each row is the median over --repeats runs (min, max), the rows interleaved
round-robin.  See bench/README.md.

    sudo /work/main/.venv/bin/python bench/bench_net.py [--seconds 3] [--repeats 3] [--runs 20]

The containers run the host's own /usr/bin/iperf3: it and the libraries ldd
names are bind-mounted read-only, one file each, into /opt/iperf, and started
through the dynamic loader mounted beside them (busybox has no iperf3 and no
C library).  Everything the bench makes lives in one temporary directory
(SANDBOX_ROOTs, slirp4netns's API socket), removed at the end with every
container, namespace and process it started.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
from bench_run import machine  # noqa: E402  - the same machine line as bench_run

TIMEOUT = 60                      # seconds for any one command
IPERF_PORT = 5201                 # iperf3's own port, inside containers and namespaces
PREFIX = f"nbench-{os.getpid()}-"  # container names
NEEDS = {"core": "not available: needs the netcore branch",
         "rootless": "not available: needs the netcore and netrootless branches"}
TARGETS = {"bridge": 0.8, "publish": 0.5, "setup_ms": 5.0}


def log(msg: str) -> None:
    print(f"bench: {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def probe(argv, timeout: float = TIMEOUT, **kw) -> tuple[bool, str]:
    """Run once; (succeeded, what it printed last, or all of stdout when it succeeded)."""
    try:
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=timeout, **kw)
    except (OSError, subprocess.TimeoutExpired) as e:
        return False, str(e)
    if p.returncode == 0:
        return True, p.stdout
    out = (p.stderr.strip() or p.stdout.strip()).splitlines()
    return False, (out[-1] if out else f"exit code {p.returncode}")


# --- iperf3 in a container: the host's binary and its libraries -------------------------
def iperf_files() -> list[tuple[str, str]]:
    """(host file, name in /opt/iperf) for iperf3 and every library ldd lists, links resolved."""
    binary = shutil.which("iperf3")
    if not binary:
        sys.exit("bench: iperf3 is not installed (sudo apt-get install -y iperf3)")
    out = subprocess.run(["ldd", binary], capture_output=True, text=True, check=True).stdout
    files = [binary] + [word for line in out.splitlines() for word in line.split()
                        if word.startswith("/")]
    return [(os.path.realpath(f), os.path.basename(f)) for f in dict.fromkeys(files)]


def iperf_mounts() -> list[str]:
    return [arg for host, name in iperf_files() for arg in ("-v", f"{host}:/opt/iperf/{name}:ro")]


def iperf_in_container() -> list[str]:
    """The command that runs the mounted iperf3: the loader first, told where the libraries are."""
    loader = next(name for _, name in iperf_files() if name.startswith("ld-linux"))
    return [f"/opt/iperf/{loader}", "--library-path", "/opt/iperf", "/opt/iperf/iperf3"]


def gbits(iperf_json: str) -> float:
    """What the receiver got, in Gbit/s, from ``iperf3 -J``'s output."""
    data = json.loads(iperf_json)
    if "error" in data:
        raise RuntimeError(data["error"])
    return data["end"]["sum_received"]["bits_per_second"] / 1e9


def wait_listening(host: str, port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection((host, port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nothing listens on {host}:{port} after {timeout:g} s")
            time.sleep(0.05)


# --- users: root for the root rows, an unprivileged user for the rootless ones ----------
class As:
    """Run commands as ``user`` (through runuser when we are root), with a state root of its own."""

    def __init__(self, user: str | None, home: Path):
        self.user, self.home = user, home
        home.mkdir(parents=True, exist_ok=True)
        if user and os.geteuid() == 0:
            entry = pwd.getpwnam(user)
            os.chown(home, entry.pw_uid, entry.pw_gid)
        self.env = {"HOME": str(home), "SANDBOX_ROOT": str(home / "root"),
                    "PYTHONPATH": str(REPO), "PATH": os.environ.get("PATH", "/usr/bin:/bin")}

    def argv(self, argv: list[str]) -> list[str]:
        wrap = ["runuser", "-u", self.user, "--"] if self.user and os.geteuid() == 0 else []
        return [*wrap, "env", *(f"{k}={v}" for k, v in self.env.items()), *argv]

    def sandbox(self, *args) -> list[str]:
        return self.argv([sys.executable, "-m", "sandbox", *args])


def rootless_user(asked: str | None) -> str | None:
    """Who runs the rootless rows: --user, else sandbox-ci, else sudo's caller (as root)."""
    if os.geteuid() != 0:
        return None  # we are that user already
    for name in (asked, "sandbox-ci", os.environ.get("SUDO_USER")):
        if name:
            try:
                if pwd.getpwnam(name).pw_uid != 0:
                    return name
            except KeyError:
                pass
    return None


# --- rows -----------------------------------------------------------------------------
class Row:
    """One line of the table: ``measure()`` returns one figure (Gbit/s or ms)."""

    def __init__(self, key: str, label: str, unit: str = "Gbit/s", measure=None, missing: str = ""):
        self.key, self.label, self.unit = key, label, unit
        self.measure, self.missing = measure, missing
        self.samples: list[float] = []
        self.failures, self.last_error = 0, ""

    def run(self, keep: bool = True) -> None:
        try:
            value = self.measure()
        except Exception as e:  # noqa: BLE001 - a failed run is counted and shown, not fatal
            self.failures += 1
            self.last_error = str(e)[-200:]
            return
        if keep:
            self.samples.append(value)


def iperf_client(argv_prefix: list[str], host: str, port: int, seconds: int):
    """A measure() that runs an iperf3 client (on the host, or in a container) and reads its JSON."""
    def measure() -> float:
        p = subprocess.run([*argv_prefix, "-c", host, "-p", str(port), "-t", str(seconds), "-J"],
                           stdin=subprocess.DEVNULL, capture_output=True, text=True,
                           timeout=seconds + TIMEOUT)
        if not p.stdout.strip():
            raise RuntimeError(f"iperf3 exited {p.returncode}: {p.stderr.strip()[-160:]}")
        return gbits(p.stdout)
    return measure


def timed(argv: list[str]):
    """A measure() that times a whole command in milliseconds (output to /dev/null)."""
    def measure() -> float:
        t0 = time.perf_counter()
        p = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        dt = (time.perf_counter() - t0) * 1000
        if p.returncode != 0:
            raise RuntimeError(f"exit code {p.returncode}: {' '.join(argv)}")
        return dt
    return measure


class Bench:
    """What the rows share, and everything to undo at the end."""

    def __init__(self, tmp: Path, seconds: int, user: str | None):
        self.tmp, self.seconds = tmp, seconds
        self.root = As(None, tmp / "root-user")
        os.chmod(tmp, 0o755)  # the rootless user's home is inside
        self.rootless = As(user, tmp / "rootless-user") if (user or os.geteuid() != 0) else None
        self.processes: list[subprocess.Popen] = []
        self.containers: list[tuple[As, str]] = []
        self.docker: list[list[str]] = []
        self.notes: list[str] = []

    # things to undo
    def spawn(self, argv: list[str]) -> subprocess.Popen:
        p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL, start_new_session=True)
        self.processes.append(p)
        return p

    def detached(self, who: As, name: str, *args: str) -> tuple[bool, str]:
        ok, out = probe(who.sandbox("run", "-d", "--name", name, *args))
        if ok:
            self.containers.append((who, name))
        return ok, out

    def cleanup(self) -> list[str]:
        warnings = []
        for who, name in self.containers:
            ok, msg = probe(who.sandbox("rm", "-f", name))
            if not ok:
                warnings.append(f"could not remove container {name}: {msg}")
        for argv in self.docker:
            probe(argv)
        for p in self.processes:
            if p.poll() is None:
                try:
                    os.killpg(p.pid, signal.SIGTERM)  # its own session: the namespace's children too
                except ProcessLookupError:
                    pass
                try:
                    p.wait(timeout=5)
                except subprocess.TimeoutExpired:
                    os.killpg(p.pid, signal.SIGKILL)
                    p.wait()
        for who in (self.root, self.rootless):
            if who:
                ok, out = probe(who.sandbox("ps", "-aq"))
                if ok and out.strip():
                    warnings.append(f"containers left in {who.env['SANDBOX_ROOT']}: {out.split()}")
        mounts = subprocess.run(["findmnt", "-rn", "-o", "TARGET"], capture_output=True,
                                text=True).stdout
        left = [m for m in mounts.splitlines() if str(self.tmp) in m]
        if left:
            warnings.append(f"mounts left under {self.tmp}: {left}; directory kept")
        else:
            shutil.rmtree(self.tmp, ignore_errors=True)
        return warnings

    # the rows
    def loopback(self) -> Row:
        port = free_port()
        self.spawn(["iperf3", "-s", "-B", "127.0.0.1", "-p", str(port)])
        wait_listening("127.0.0.1", port)
        return Row("loopback", "host loopback: `iperf3 -c 127.0.0.1` → `iperf3 -s` on the host",
                   measure=iperf_client(["iperf3"], "127.0.0.1", port, self.seconds))

    def loopback_at_mtu(self, device: str = "sandbox0") -> Row | None:
        """Loopback in a namespace of its own whose lo has the bridge's MTU: what the MTU alone costs."""
        mtu = device_mtu(device)
        if mtu == "?" or int(mtu) >= 65535:  # loopback's 65536, or a veth's largest
            return None
        script = (f"ip link set lo mtu {mtu} up && {{ iperf3 -s -1 -p {IPERF_PORT} >/dev/null & }} "
                  f"&& sleep 0.3 && exec iperf3 \"$@\"")
        userns = [] if os.geteuid() == 0 else ["-r"]
        return Row("loopback_mtu", f"loopback at the bridge's MTU ({mtu}), in a network namespace "
                                   f"of its own: the MTU's share of the bridge's figure",
                   measure=iperf_client(["unshare", *userns, "-n", "sh", "-c", script, "sh"],
                                        "127.0.0.1", IPERF_PORT, self.seconds))

    def bridge_and_publish(self, core: bool) -> list[Row]:
        bridge = Row("bridge", "sandbox, container → container on the default bridge")
        publish = Row("publish", "sandbox as root, host → container through `-p 127.0.0.1:P:5201`")
        if not core:
            bridge.missing = publish.missing = NEEDS["core"]
            return [bridge, publish]
        port = free_port()
        name = f"{PREFIX}server"
        ok, msg = self.detached(self.root, name, "-p", f"127.0.0.1:{port}:{IPERF_PORT}",
                                *iperf_mounts(), "busybox", *iperf_in_container(), "-s")
        if not ok:
            bridge.missing = publish.missing = f"server container failed: {msg[:120]}"
            return [bridge, publish]
        address = container_address(self.root, name)
        self.notes.append(f"MTU of the default bridge sandbox0: {device_mtu('sandbox0')}, "
                          f"of the host's way out: {host_route_mtu()} (which the containers' "
                          f"default route carries), loopback's: {device_mtu('lo')}")
        try:
            wait_listening("127.0.0.1", port)
        except RuntimeError as e:
            publish.missing = f"failed: {e}"
        client = self.root.sandbox("run", "--rm", *iperf_mounts(), "busybox", *iperf_in_container())
        if address:
            bridge.measure = iperf_client(client, address, IPERF_PORT, self.seconds)
        else:
            bridge.missing = "no IPAddress in `sandbox inspect` of the server"
        if not publish.missing:
            publish.measure = iperf_client(["iperf3"], "127.0.0.1", port, self.seconds)
        return [bridge, publish]

    def rootless_publish(self, works: bool) -> tuple[Row, str | None]:
        row = Row("rootless", "sandbox rootless, host → container through `-p 127.0.0.1:P:5201`")
        if self.rootless is None:
            row.missing = "skipped: no unprivileged user (--user NAME)"
            return row, None
        if not works:
            row.missing = NEEDS["rootless"]
            return row, None
        port = free_port()
        name = f"{PREFIX}rootless"
        ok, msg = self.detached(self.rootless, name, "-p", f"127.0.0.1:{port}:{IPERF_PORT}",
                                *iperf_mounts(), "busybox", *iperf_in_container(), "-s")
        if not ok:
            row.missing = f"server container failed: {msg[:120]}"
            return row, None
        try:
            wait_listening("127.0.0.1", port)
        except RuntimeError:
            row.missing = f"{NEEDS['rootless']} (`-p` was accepted, but nothing answers on the port)"
            return row, None
        row.measure = iperf_client(["iperf3"], "127.0.0.1", port, self.seconds)
        return row, forwarder_of(self.rootless)

    def bare_slirp4netns(self) -> Row:
        """A user+network namespace by hand, slirp4netns on it, its port forwarder asked over its API."""
        row = Row("slirp4netns", "bare slirp4netns by hand (rootless): host → namespace, "
                                 "its `add_hostfwd` port forwarder")
        if not shutil.which("slirp4netns") or self.rootless is None:
            row.missing = "skipped: slirp4netns not installed or no unprivileged user"
            return row
        port, api = free_port(), self.rootless.home / "slirp.sock"  # a directory the user may write
        server = self.spawn(self.rootless.argv(
            ["unshare", "--user", "--map-root-user", "--net", "sh", "-c",
             f"ip link set lo up; exec iperf3 -s -p {IPERF_PORT}"]))
        ns_pid = wait_child_in_namespace(server.pid)
        self.spawn(self.rootless.argv(
            ["slirp4netns", "--configure", "--mtu=65520", "--disable-host-loopback",
             "--api-socket", str(api), str(ns_pid), "tap0"]))
        reply = slirp_api(api, {"execute": "add_hostfwd", "arguments": {
            "proto": "tcp", "host_addr": "127.0.0.1", "host_port": port, "guest_port": IPERF_PORT}})
        if "error" in reply:
            row.missing = f"add_hostfwd failed: {reply}"
            return row
        row.measure = iperf_client(["iperf3"], "127.0.0.1", port, self.seconds)
        self.notes.append("slirp4netns: `unshare --user --map-root-user --net` running `iperf3 -s`, "
                          "then `slirp4netns --configure --mtu=65520 --disable-host-loopback "
                          "--api-socket S PID tap0` and `add_hostfwd` 127.0.0.1:P → 5201, as podman "
                          "does for rootless `-p` with its default port handler")
        return row

    def bare_pasta(self) -> Row:
        row = Row("pasta", "bare pasta by hand (rootless): host → namespace, `pasta -t`")
        if not shutil.which("pasta") or self.rootless is None:
            row.missing = "skipped: pasta (Debian's passt) not installed or no unprivileged user"
            return row
        port = free_port()
        self.spawn(self.rootless.argv(
            ["pasta", "--config-net", "-t", f"127.0.0.1/{port}:{IPERF_PORT}", "--",
             "iperf3", "-s", "-p", str(IPERF_PORT)]))
        row.measure = iperf_client(["iperf3"], "127.0.0.1", port, self.seconds)
        self.notes.append("pasta: `pasta --config-net -t 127.0.0.1/P:5201 -- iperf3 -s` (a new user "
                          "and network namespace, pasta's own TCP splicing for the forwarded port)")
        return row

    def docker_rows(self) -> list[Row]:
        rows = [Row("docker_bridge", "docker, container → container on its default bridge"),
                Row("docker_publish", "docker, host → container through `-p 127.0.0.1:P:5201` "
                                      "(userland proxy)")]
        ok, msg = probe(["docker", "info"], 20) if shutil.which("docker") else (False, "no docker")
        if not ok:
            for row in rows:
                row.missing = "not available on this machine"
            why = msg.strip().splitlines()[-1] if msg.strip() else msg
            self.notes.append(f"docker: `docker info` failed ({why}); Debian's docker.io "
                              f"(dockerd) would be the peer here")
            return rows
        image = f"sandbox-bench/busybox:{PREFIX.rstrip('-')}"
        rootfs = busybox_rootfs(self.root)
        tar = subprocess.Popen(["tar", "-C", str(rootfs), "-c", "."], stdout=subprocess.PIPE)
        imported = subprocess.run(["docker", "import", "-", image], stdin=tar.stdout,
                                  capture_output=True, text=True, timeout=120)
        tar.stdout.close()
        tar.wait()
        if imported.returncode != 0:
            for row in rows:
                row.missing = f"docker import failed: {imported.stderr.strip()[-100:]}"
            return rows
        self.docker.append(["docker", "rmi", "-f", image])
        port, name = free_port(), f"{PREFIX}docker"
        ok, msg = probe(["docker", "run", "-d", "--name", name, "-p", f"127.0.0.1:{port}:{IPERF_PORT}",
                         *iperf_mounts(), image, *iperf_in_container(), "-s"])
        self.docker.insert(0, ["docker", "rm", "-f", name])
        if not ok:
            for row in rows:
                row.missing = f"docker run failed: {msg[:100]}"
            return rows
        ok, address = probe(["docker", "inspect", "-f", "{{.NetworkSettings.IPAddress}}", name])
        try:
            wait_listening("127.0.0.1", port)
        except RuntimeError as e:
            for row in rows:
                row.missing = f"failed: {e}"
            return rows
        rows[0].measure = iperf_client(["docker", "run", "--rm", *iperf_mounts(), image,
                                        *iperf_in_container()], address.strip(), IPERF_PORT,
                                       self.seconds)
        rows[1].measure = iperf_client(["iperf3"], "127.0.0.1", port, self.seconds)
        self.notes.append(f"docker: the busybox rootfs imported as {image}, the same iperf3 mounts; "
                          f"removed at the end")
        return rows

    def setup_rows(self, core: bool) -> list[Row]:
        none = Row("none", "`sandbox run --rm --network none busybox true`", unit="ms",
                   measure=timed(self.root.sandbox("run", "--rm", "--network", "none", "busybox", "true")))
        bridge = Row("setup_bridge", "`sandbox run --rm --network bridge busybox true`", unit="ms",
                     measure=timed(self.root.sandbox("run", "--rm", "--network", "bridge", "busybox",
                                                     "true")))
        publish = Row("setup_publish", "`sandbox run --rm -p 127.0.0.1::80 busybox true` "
                      "(a published port, on a host port the kernel picks)", unit="ms",
                      measure=timed(self.root.sandbox("run", "--rm", "-p", "127.0.0.1::80",
                                                      "busybox", "true")))
        if not core:
            bridge.missing = publish.missing = NEEDS["core"]
        return [none, bridge, publish]


def container_address(who: As, name: str) -> str | None:
    """The container's address on its first network, from ``sandbox inspect``."""
    ok, out = probe(who.sandbox("inspect", name))
    if not ok:
        return None
    info = json.loads(out)
    settings = (info[0] if isinstance(info, list) else info).get("NetworkSettings") or {}
    for network in (settings.get("Networks") or {}).values():
        if network.get("IPAddress"):
            return network["IPAddress"]
    return settings.get("IPAddress") or None


def host_route_mtu() -> str:
    """The MTU of the device the host's default route leaves by (/proc/net/route)."""
    for line in Path("/proc/net/route").read_text().splitlines()[1:]:
        fields = line.split()
        if len(fields) > 7 and fields[1] == "00000000" and fields[7] == "00000000":
            return device_mtu(fields[0])
    return "?"


def device_mtu(device: str) -> str:
    try:
        return Path(f"/sys/class/net/{device}/mtu").read_text().strip()
    except OSError:
        return "?"


def busybox_rootfs(who: As) -> Path:
    layers = [p for p in (Path(who.env["SANDBOX_ROOT"]) / "layers").iterdir() if p.is_dir()]
    return layers[0]


def forwarder_of(who: As) -> str | None:
    """slirp4netns or pasta: the forwarder running for the user's containers (the state root is
    in its command line: its pid or log file lives in the container's directory)."""
    uid = pwd.getpwnam(who.user).pw_uid if who.user else os.getuid()
    state_root = who.env["SANDBOX_ROOT"].encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid != uid:
                continue
            comm = Path(f"/proc/{entry}/comm").read_text().strip()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        if comm.split(".")[0] in ("slirp4netns", "pasta", "passt") and state_root in cmdline:
            return "slirp4netns" if comm == "slirp4netns" else "pasta"
    return None


def wait_child_in_namespace(pid: int, timeout: float = 10) -> int:
    """The pid whose network namespace is the new one: unshare's own, once it has unshared."""
    deadline = time.monotonic() + timeout
    mine = os.readlink("/proc/self/ns/net")
    while time.monotonic() < deadline:
        for candidate in [pid, *children(pid)]:
            try:
                if os.readlink(f"/proc/{candidate}/ns/net") != mine:
                    return candidate
            except OSError:
                pass
        time.sleep(0.02)
    raise RuntimeError("unshare did not make a network namespace")


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            found += [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            pass
    return found + [g for c in found for g in children(c)]


def slirp_api(path: Path, request: dict, timeout: float = 10) -> dict:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if time.monotonic() > deadline:
            return {"error": "slirp4netns made no API socket"}
        time.sleep(0.02)
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(timeout)
        s.connect(str(path))
        s.sendall(json.dumps(request).encode())
        return json.loads(s.recv(4096) or b"{}")


def settle(row: Row, attempts: int = 10) -> None:
    """Wait until the row's server answers a whole run: a forwarder (slirp4netns, pasta, -p)
    accepts on the host before the server behind it listens.  These runs are not counted."""
    for _ in range(attempts):
        probe_row = Row(row.key, row.label, measure=row.measure)
        probe_row.run()
        if probe_row.samples:
            return
        time.sleep(0.3)
    row.missing = f"failed ({probe_row.last_error[:100]})"


# --- output ---------------------------------------------------------------------------
def fmt(value: float, unit: str) -> str:
    return f"{value:.1f} {unit}" if unit == "ms" else f"{value:.2f} {unit}"


def table(rows: list[Row], loopback: float | None, repeats: int, runs: int) -> str:
    lines = ["| # | what | N | median | min | max | ÷ loopback |", "|---|---|---:|---:|---:|---:|---:|"]
    for i, row in enumerate(rows, 1):
        n = runs if row.unit == "ms" else repeats
        if row.missing or not row.samples:
            why = row.missing or f"failed ({row.last_error[:100]})"
            lines.append(f"| {i} | {row.label} | — | {why} | — | — | — |")
            continue
        med = statistics.median(row.samples)
        ratio = f"{med / loopback:.2f}×" if loopback and row.unit != "ms" else "—"
        label = row.label + (f" ({row.failures} failed runs)" if row.failures else "")
        lines.append(f"| {i} | {label} | {len(row.samples)} | **{fmt(med, row.unit)}** | "
                     f"{fmt(min(row.samples), row.unit)} | {fmt(max(row.samples), row.unit)} | {ratio} |")
    return "\n".join(lines)


def at_least(value: float | None, limit: float | None, what: str, shown: str = "") -> str:
    if value is None or limit is None:
        return f"- {what}: cannot be computed in this run → **not met**"
    return f"- {what}: {shown or f'{value:.2f}'} → **{'met' if value >= limit else 'not met'}**"


def targets(med: dict[str, float], forwarder: str | None) -> list[str]:
    loop = med.get("loopback")
    out = []
    for key, what in (("bridge", "container → container on the bridge ≥ 0.8× loopback"),
                      ("publish", "published port as root ≥ 0.5× loopback")):
        ratio = med[key] / loop if key in med and loop else None
        out.append(at_least(ratio, TARGETS[key], what, f"{ratio:.2f}×" if ratio else ""))
    bare = med.get(forwarder) if forwarder else max(
        (med[k] for k in ("slirp4netns", "pasta") if k in med), default=None)
    tool = forwarder or "slirp4netns/pasta, the faster (the container's forwarder was not found)"
    what = f"rootless `-p` ≥ bare {tool} ({fmt(bare, 'Gbit/s') if bare else '?'})"
    out.append(at_least(med.get("rootless"), bare, what,
                        fmt(med["rootless"], "Gbit/s") if "rootless" in med else ""))
    extra = med["setup_bridge"] - med["none"] if "setup_bridge" in med and "none" in med else None
    if extra is None:
        out.append(f"- setup ≤ {TARGETS['setup_ms']:g} ms per container: cannot be computed in "
                   f"this run → **not met**")
    else:
        ok = "met" if extra <= TARGETS["setup_ms"] else "not met"
        out.append(f"- setup ≤ {TARGETS['setup_ms']:g} ms per container (bridge − none medians): "
                   f"{extra:.1f} ms → **{ok}**")
    if "setup_publish" in med and "setup_bridge" in med:
        out.append(f"- what a published port adds to a run (publish − bridge medians): "
                   f"{med['setup_publish'] - med['setup_bridge']:.1f} ms (no target)")
    return out


# --- main -----------------------------------------------------------------------------
def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=int, default=3, help="length of each iperf3 run (default 3)")
    ap.add_argument("--repeats", type=int, default=3, help="iperf3 runs per row (default 3)")
    ap.add_argument("--runs", type=int, default=20, help="timed `run --rm` per setup row (default 20)")
    ap.add_argument("--user", help="who runs the rootless rows when this runs as root "
                                   "(default: sandbox-ci, else $SUDO_USER)")
    args = ap.parse_args()
    if min(args.seconds, args.repeats, args.runs) < 1:
        ap.error("--seconds, --repeats and --runs must be at least 1")

    def stop(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")
    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGHUP, stop)

    is_root = os.geteuid() == 0
    tmp = Path(tempfile.mkdtemp(prefix="sandbox-bench-net-"))
    bench = Bench(tmp, args.seconds, rootless_user(args.user))
    t_start, load_before = time.monotonic(), os.getloadavg()[0]
    forwarder = None
    try:
        log(f"temporary directory {tmp}")
        ok, msg = probe(bench.root.sandbox("run", "--rm", "busybox", "true"), 120)
        if not ok:
            sys.exit(f"bench: `sandbox run --rm busybox true` failed: {msg}")
        # Does this tree publish ports?  (-p arrives with the netcore branch.)
        core = is_root and probe(bench.root.sandbox(
            "run", "--rm", "-p", f"127.0.0.1:{free_port()}:80", "busybox", "true"))[0]
        rootless_ok = bench.rootless is not None and probe(bench.rootless.sandbox(
            "run", "--rm", "-p", f"127.0.0.1:{free_port()}:80", "busybox", "true"), 120)[0]
        if not is_root:
            bench.notes.append("not root: the root rows were skipped")

        rows = [bench.loopback()]
        bridge_rows = bench.bridge_and_publish(core) if is_root else [
            Row("bridge", "sandbox, container → container on the default bridge", missing="skipped: needs root"),
            Row("publish", "sandbox as root, host → container through `-p`", missing="skipped: needs root")]
        at_mtu = bench.loopback_at_mtu() if core else None  # after the bridge exists
        rows += [r for r in [at_mtu] if r] + bridge_rows
        rootless_row, forwarder = bench.rootless_publish(rootless_ok)
        rows += [rootless_row, bench.bare_slirp4netns(), bench.bare_pasta()]
        rows += bench.docker_rows()
        throughput = [r for r in rows if r.measure and not r.missing]
        setup = [r for r in bench.setup_rows(core) if is_root or r.key == "none"]
        rows += setup
        if forwarder:
            bench.notes.append(f"the rootless container's port forwarder here is {forwarder}: "
                               f"its target compares with the bare {forwarder} row")

        for row in throughput:
            settle(row)
        throughput = [r for r in throughput if not r.missing]
        log(f"{len(throughput)} throughput rows, {args.repeats} × {args.seconds} s each, round-robin")
        for _ in range(args.repeats):
            for row in throughput:
                row.run()
        timed_rows = [r for r in setup if not r.missing]
        log(f"{len(timed_rows)} setup rows: 3 warm-up runs, then {args.runs}, round-robin")
        for rnd in range(3 + args.runs):
            for row in timed_rows:
                row.run(keep=rnd >= 3)
        for row in rows:
            if row.failures:
                bench.notes.append(f"{row.label}: {row.failures} run(s) failed, last: {row.last_error}")
        elapsed, load_after = time.monotonic() - t_start, os.getloadavg()[0]
    except KeyboardInterrupt:
        log("interrupted")
        for w in bench.cleanup():
            log(f"WARNING: {w}")
        return 130
    except BaseException:
        for w in bench.cleanup():
            log(f"WARNING: {w}")
        raise
    warnings = bench.cleanup()

    med = {r.key: statistics.median(r.samples) for r in rows if r.samples}
    print(f"**Machine:** {machine()}, iperf3 {iperf3_version()}  ")
    print(f"Throughput: `iperf3 -c … -t {args.seconds} -J`, what the receiver got, rows "
          f"round-robin, N={args.repeats}; setup: time.perf_counter() around each whole command, "
          f"3 warm-up runs, N={args.runs}. Bench took {elapsed:.0f} s; 1-min load average "
          f"{load_before:.2f} before, {load_after:.2f} after.")
    print()
    print(table(rows, med.get("loopback"), args.repeats, args.runs))
    print()
    print("**Notes**")
    print()
    if "bridge" in med and "loopback_mtu" in med:
        print(f"- container → container ÷ loopback at the bridge's MTU: "
              f"{med['bridge'] / med['loopback_mtu']:.2f}× (what is left of the gap once the MTU "
              f"is accounted for)")
    print("- iperf3 in containers: the host's /usr/bin/iperf3 and each library `ldd` lists, "
          "bind-mounted read-only into /opt/iperf and started through the loader mounted beside "
          "them, so every row runs the same binary")
    if bench.rootless:
        print(f"- rootless rows run as {bench.rootless.user or pwd.getpwuid(os.getuid()).pw_name}")
    for note in bench.notes:
        print(f"- {note.replace(str(tmp), 'TMP')}")
    print()
    print("**Targets** (from this run's medians)")
    print()
    for line in targets(med, forwarder):
        print(line)
    for w in warnings:
        print(f"\n**WARNING:** {w}")
        log(f"WARNING: {w}")
    return 0


def iperf3_version() -> str:
    try:
        return subprocess.run(["iperf3", "--version"], capture_output=True, text=True).stdout.split()[1]
    except (OSError, IndexError):
        return "?"


if __name__ == "__main__":
    sys.exit(main())
