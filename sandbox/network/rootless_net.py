"""Rootless networking: a user-mode TCP/IP stack gives an unprivileged user's container
the outside world, and ``-p``.  (pasta(1), tun(4), network_namespaces(7))

    host network namespace (the user's)           the container's network namespace
    ───────────────────────────────────           ─────────────────────────────────
    127.0.0.1:8080  ◄── listen() ──┐              eth0 10.0.2.100/24  (a tap device)
                                   pasta ◄── frames ──►  default via 10.0.2.2
    anywhere:443    ◄── connect() ─┘                     nameserver 10.0.2.3

Root gives a container a veth pair whose other end is in the host's namespace
(see :mod:`sandbox.isolation.links`).  An ordinary user cannot: moving a link into the
host's network namespace, or adding a firewall rule there, needs
CAP_NET_ADMIN over it, and the user has that only in namespaces of their own.
So a process of the user's, on the host, opens a *tap* device inside the
container's namespace (/dev/net/tun, tun(4)) and reads the Ethernet frames
the container sends.  For each TCP connection or UDP flow in them it opens an
ordinary socket of its own on the host and copies the bytes across: a network
stack in user space, the trick of 1990s dial-up "slirp".  ``-p 8080:80`` is
the reverse: the helper listens on the host's port 8080 and, for each
connection, connects to port 80 inside.  The container's packets therefore
leave with the user's own address, as the user's own connections; nothing on
the host changes, and nothing is left to undo but one process.

Two Debian programs do this, and both were measured here (iperf3, 3 s, this
machine, Gbit/s; host loopback 15 to 21):

    ======================================  ===========  =====================
    path                                    slirp4netns  pasta (passt 2023-03)
    ======================================  ===========  =====================
    ``-p``: host → container                5.2          15.1
    outbound: container → host's eth0       1.1          1.1
    ======================================  ===========  =====================

(``sandbox run -p`` itself, with pasta, gave 8 to 14 beside 7 to 11 for pasta
run by hand, on a busy two-core machine: the same program, the same figure.)

pasta is chosen: three times faster for published ports (it splices host and
container sockets instead of running them through its TCP/IP stack),
podman 5's default, and it binds its ports itself at start (``-t``), so a
taken port fails the ``run`` at once.  slirp4netns 1.2.0 would need its API
socket for each port, and its ``--enable-sandbox`` fails together with
``--userns-path`` (slirp4netns issue 317).

Choices, and what they mean for a learner:

- The container gets 10.0.2.100/24, gateway 10.0.2.2 and DNS 10.0.2.3: the
  addresses slirp4netns (and podman) use, instead of pasta's default of a copy
  of the host's own address, with which the container could not reach the
  host by its address.
- ``--no-map-gw``: the gateway is *not* a door to the host's 127.0.0.1 (pasta's
  default, like slirp4netns without ``--disable-host-loopback``).  Services
  the user runs on loopback stay private, as they are from Docker's bridge.
- ``-p`` below net.ipv4.ip_unprivileged_port_start (1024) is refused: the
  helper binds as the user, and the kernel would refuse it too.
- pasta holds the tap device, and the device keeps the network namespace
  alive: pasta does *not* notice on its own when the container ends.  So the
  helper belongs to the container: :func:`attach` writes its pid (and start
  time) into the container's state, :func:`detach` ends it; the monitor calls
  it when the container exits, and ``rm -f`` / ``system prune`` after a
  ``kill -9`` of the monitor.  Its messages go to ``rootless-net.log`` in the
  container's directory.
- Starting pasta costs 25 to 50 ms per container (measured here), against a
  few for root's veth: the price of a network stack that is a process.
- Who calls what: the rootless monitor (sandbox.engine.runtime) makes the network
  namespace with a short-lived "holder" child, in the container's user
  namespace, and calls :func:`attach` with the holder's pid before init
  exists; ``create`` refuses what cannot work (:func:`check_port`,
  :func:`problem`) before anything is made.

Names on rootless *user* networks: :mod:`sandbox.network.rootless_netns` (one
long-lived user and network namespace per state root, with the bridges and
DNS responders in it, and a pasta of its own giving it the outside).
"""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

from ..kernel import procfs
from ..errors import MissingFeature, SandboxError, UsageError

TOOL = "pasta"
NETWORK = "pasta"                  # the name ``inspect`` shows, as podman's ``--network pasta``
ADDRESS, PREFIX = "10.0.2.100", 24
GATEWAY, DNS = "10.0.2.2", "10.0.2.3"
MAC = "02:42:0a:00:02:64"          # Docker's rule: 02:42 and the four bytes of the address
LOG = "rootless-net.log"
TUN = "/dev/net/tun"
UNPRIVILEGED_PORT_START = "/proc/sys/net/ipv4/ip_unprivileged_port_start"


class RootlessNetError(SandboxError):
    """The rootless network helper could not give the container its network."""


def problem() -> str:
    """Why this user's containers cannot have a network here ("" if they can): for choosing
    a rootless container's default network (none when this says why) and for ``doctor``."""
    import shutil
    if shutil.which(TOOL) is None:
        return ("rootless containers reach the network through pasta, which is not "
                "installed: sudo apt-get install passt")
    return tun_problem()


# --- the contract: attach after the namespace exists, detach when the container ends ----
def attach(container, pid: int, ports: list[dict]) -> dict:
    """Give the network namespace of ``pid`` (a process of ``container``) an interface to
    the outside, and publish ``ports``; returns the state's Networks and Ports entries.

    ``ports`` are :mod:`sandbox.network.ports` entries: {"HostIp", "HostPort", "ContainerPort",
    "Proto"}; an empty HostPort (or a range) takes a free port.  The helper's record is
    written to the container's state at once, so that a crash after this call still
    leaves something :func:`detach` can find.
    """
    why = problem()  # pasta missing, or /dev/net/tun closed to this user
    if why:
        raise MissingFeature(why)
    for p in ports:
        check_port(p)  # first: nothing is started for a -p that cannot be
    decided = [dict(p, HostPort=str(_host_port(p))) for p in ports]
    helper = _start(container, pid, decided)
    container.write_state(RootlessNetwork=helper)
    if not getattr(container.spec, "dns", None):  # --dns servers are reached through pasta too
        _point_resolv_conf(container.dir / "resolv.conf")
    return {"Networks": {NETWORK: {"IPAddress": ADDRESS, "Gateway": GATEWAY, "MacAddress": MAC,
                                   "IPPrefixLen": PREFIX, "Aliases": []}},
            "Ports": _docker_ports(decided),
            "RootlessNetwork": helper}


def detach(container, state: dict) -> None:
    """End the container's helper, if it still runs (SIGTERM, then SIGKILL after a second).

    Safe to call twice and after a reboot: the pid must still name the same process
    (its start time) and be pasta, or nothing is signalled.
    """
    helper = (state or {}).get("RootlessNetwork") or {}
    pid, started = helper.get("Pid"), helper.get("PidStart")
    if not pid or not procfs.is_alive(pid, started) or not _is_helper(pid):
        return
    for sig, wait in ((signal.SIGTERM, 1.0), (signal.SIGKILL, None)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return
        if procfs.wait_gone(pid, started, wait):
            return


# --- checks (pure, or reading /proc and /dev only) ------------------------------------------
def check_tun() -> None:
    """Refuse in one sentence when this user cannot open /dev/net/tun."""
    why = tun_problem()
    if why:
        raise MissingFeature(why)


def tun_problem() -> str:
    """Why this user cannot open /dev/net/tun ("" if they can): also ``doctor``'s line.

    The host's root can always open it, so for root the question is whether ordinary
    users can: Debian's udev makes it 0666; some CI machines leave the kernel's 0600.
    """
    try:
        mode = os.stat(TUN).st_mode & 0o777
        os.close(os.open(TUN, os.O_RDWR | os.O_CLOEXEC))
    except FileNotFoundError:
        return (f"{TUN} does not exist, so rootless containers get no network: load the tun "
                "module (sudo modprobe tun)")
    except PermissionError:
        return _tun_fix("you cannot", mode)
    from ..isolation.userns import is_host_root
    if is_host_root() and mode & 0o006 != 0o006:
        return _tun_fix("ordinary users cannot", mode)
    return ""


def _tun_fix(who: str, mode: int) -> str:
    return (f"{who} open {TUN} (mode {mode:o}), so rootless containers get no network: "
            f"run sudo chmod 0666 {TUN} (Debian's mode; ./course does it when run as root)")


def check_port(entry: dict) -> None:
    """``-p`` below ip_unprivileged_port_start is refused, as rootless podman does.
    (An empty HostPort, any free port, is always above it.)"""
    given = str(entry.get("HostPort") or "")
    if not given:
        return
    port, lowest = int(given.partition("-")[0]), unprivileged_port_start()
    if port < lowest:
        raise UsageError(f"-p {given}:{entry['ContainerPort']}: a rootless container cannot "
                         f"publish host port {port} below net.ipv4.ip_unprivileged_port_start "
                         f"({lowest}): choose a port >= {lowest}, or as root run sudo sysctl "
                         f"-w net.ipv4.ip_unprivileged_port_start={port}")


def unprivileged_port_start() -> int:
    try:
        with open(UNPRIVILEGED_PORT_START) as f:
            return int(f.read())
    except (OSError, ValueError):
        return 1024


def pasta_argv(ports: list[dict], netns_fd: int, userns_fd: int | None, log: Path,
               pid_file: Path) -> list[str]:
    """pasta's command line (pure): the addresses above, only the ports asked for."""
    argv = [TOOL, "--config-net", "--quiet", "--log-file", str(log), "--pid", str(pid_file),
            "--address", ADDRESS, "--netmask", str(PREFIX), "--gateway", GATEWAY,
            "--ns-mac-addr", MAC, "--no-map-gw", "--dns-forward", DNS, "--ipv4-only",
            "--ns-ifname", "eth0"]
    for proto, flag in (("tcp", "-t"), ("udp", "-u")):
        # One option per port (pasta maps host:container per option, not per list item);
        # "none" for no ports: pasta's default, "auto", would publish whatever listens.
        specs = [_pasta_spec(p) for p in ports if p["Proto"] == proto] or ["none"]
        for spec in specs:
            argv += [flag, spec]
    argv += ["-T", "none", "-U", "none"]  # nothing of the host's loopback seen inside
    if userns_fd is not None:
        argv += ["--userns", f"/proc/self/fd/{userns_fd}"]
    return argv + ["--netns", f"/proc/self/fd/{netns_fd}"]


def _pasta_spec(entry: dict) -> str:
    """{"HostIp": "127.0.0.1", "HostPort": "8080", "ContainerPort": 80} → 127.0.0.1/8080:80"""
    where = f"{entry['HostIp']}/" if entry.get("HostIp") else ""
    return f"{where}{entry['HostPort']}:{entry['ContainerPort']}"


def _docker_ports(decided: list[dict]) -> dict:
    """NetworkSettings.Ports, as Docker shows them: {"80/tcp": [{"HostIp", "HostPort"}]}."""
    shown: dict = {}
    for p in decided:
        shown.setdefault(f"{p['ContainerPort']}/{p['Proto']}", []).append(
            {"HostIp": p.get("HostIp") or "0.0.0.0", "HostPort": str(p["HostPort"])})
    return shown


def _host_port(entry: dict) -> int:
    """The host port: as given, or the first free one of a range, or any free one."""
    import socket
    text = str(entry.get("HostPort") or "")
    kind = socket.SOCK_STREAM if entry["Proto"] == "tcp" else socket.SOCK_DGRAM
    if text and "-" not in text:
        with socket.socket(socket.AF_INET, kind) as s:
            if kind == socket.SOCK_STREAM:  # as pasta does: a closed connection's
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # TIME_WAIT is no owner
            try:  # tried now for Docker's sentence; pasta binds it a moment later
                s.bind((entry.get("HostIp") or "", int(text)))
            except OSError:
                shown = entry.get("HostIp") or "0.0.0.0"
                raise RootlessNetError(f"-p {text}:{entry['ContainerPort']}: Bind for "
                                       f"{shown}:{text} failed: port is already allocated") \
                    from None
        return int(text)
    low, _, high = text.partition("-")
    candidates = range(int(low), int(high) + 1) if text else [0]
    for port in candidates:
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind((entry.get("HostIp") or "", port))
                return s.getsockname()[1]
            except OSError:
                continue
    raise RootlessNetError(f"-p {text}:{entry['ContainerPort']}: every host port from {low} "
                           f"to {high} is in use")


# --- the helper process ------------------------------------------------------------------------
def _start(container, pid: int, ports: list[dict]) -> dict:
    """Run pasta and wait until it has configured the namespace and bound the ports.

    pasta forks into the background once it is ready and its first process exits
    0, or non-zero with the reason in the log: so the wait is its exit.  The
    namespaces are handed over as descriptors opened now, because a process
    inside the container's user namespace (the monitor) may not open another
    process's /proc/PID/ns files, and a pid could be reused.
    """
    log, pid_file = container.dir / LOG, container.dir / "rootless-net.pid"
    netns = os.open(f"/proc/{pid}/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    userns = None if _same_user_namespace(pid) else \
        os.open(f"/proc/{pid}/ns/user", os.O_RDONLY | os.O_CLOEXEC)
    try:
        argv = pasta_argv(ports, netns, userns, log, pid_file)
        status = _run(argv, keep=[fd for fd in (netns, userns) if fd is not None])
    finally:
        for fd in (netns, userns):
            if fd is not None:
                os.close(fd)
    helper_pid = _read_pid(pid_file) if status == 0 else 0
    if not helper_pid:
        raise RootlessNetError(f"cannot give the container a network: pasta failed: "
                               f"{_last_line(log) or f'exit status {status}'}")
    return {"Tool": TOOL, "Pid": helper_pid, "PidStart": procfs.start_time(helper_pid),
            "Log": str(log)}


def _run(argv: list[str], keep: list[int]) -> int:
    """fork + execvp, and wait: the exit code.  (subprocess would do, at 10 ms of import.)"""
    child = os.fork()
    if child == 0:
        try:
            # Ignored signals stay ignored across execve(2); pasta 2023-03 takes an
            # inherited SIG_IGN for SIGPIPE (which Python and the monitor set) as an error.
            for sig in (signal.SIGPIPE, signal.SIGHUP, signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, signal.SIG_DFL)
            null = os.open(os.devnull, os.O_RDWR)
            for fd in (0, 1, 2):
                os.dup2(null, fd)
            # Nothing else of the caller's: pasta outlives it, and a pipe it held would
            # keep the caller (a notebook reading a container's output) from end-of-file.
            low = 3
            for fd in sorted(keep):
                os.closerange(low, fd)
                os.set_inheritable(fd, True)
                low = fd + 1
            os.closerange(low, os.sysconf("SC_OPEN_MAX"))
            os.setsid()  # not in the caller's session: a terminal's ^C is not for pasta
            os.execvp(argv[0], argv)
        finally:
            os._exit(127)
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status)


def _same_user_namespace(pid: int) -> bool:
    """True when we are already in ``pid``'s user namespace (the rootless monitor is)."""
    return os.stat("/proc/self/ns/user").st_ino == os.stat(f"/proc/{pid}/ns/user").st_ino


def _read_pid(path: Path) -> int:
    try:
        return int(path.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 0
    finally:
        try:
            path.unlink()
        except OSError:
            pass


def _last_line(log: Path) -> str:
    try:
        lines = [line for line in log.read_text(errors="replace").splitlines()
                 if "ERROR" in line or line.startswith(("Couldn't", "Failed"))]
    except OSError:
        return ""
    return lines[-1].split("ERROR:", 1)[-1].strip() if lines else ""


def _is_helper(pid: int) -> bool:
    """Is ``pid`` a pasta (or passt) process, or a port proxy (sandbox.network.portproxy, for a
    user network)?  A recycled pid must not be signalled."""
    try:
        with open(f"/proc/{pid}/comm") as f:
            if f.read().strip().startswith(("pasta", "passt")):
                return True
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return b"sandbox.network.portproxy import main" in f.read()
    except OSError:
        return False


def _point_resolv_conf(path: Path) -> None:
    """The container asks pasta's forwarder (10.0.2.3), which asks the host's resolvers,
    loopback ones too (systemd-resolved's 127.0.0.53): pasta asks from the host's side.

    Rewritten in place, not replaced: the file may already be bind-mounted into the
    container, and a mount follows the inode, not the name.
    """
    try:
        old = path.read_text()
    except OSError:
        return
    kept = [line for line in old.splitlines() if line.split()[:1] in (["search"], ["options"])]
    with open(path, "r+") as f:
        f.truncate()
        f.write("\n".join([f"nameserver {DNS}"] + kept) + "\n")


def wait_listening(port: int, host: str = "127.0.0.1", timeout: float = 5) -> bool:
    """True once something accepts connections on host:port (tests and the notebook use it)."""
    import socket
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection((host, port), timeout=0.5).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False
