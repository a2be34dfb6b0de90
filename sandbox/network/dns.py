"""A network's own DNS responder: containers find each other by name (RFC 1035).

On a user-defined network, ``ping web`` from one container reaches the
container named ``web``: Docker answers such questions from an embedded
server on 127.0.0.11, podman from aardvark-dns on the network's gateway.
Here, as with aardvark-dns, one small process per network listens on port 53
of the gateway address, and each container's resolv.conf says
``nameserver <gateway>``::

      container "app"                        host
     ┌──────────────────┐   "web?"      ┌─────────────────────────────────────┐
     │ ping web         │──────────────▶│ sandbox.network.dns on 10.89.0.1 port 53    │
     │ resolv.conf:     │  UDP/TCP :53  │  names: ROOT/networks/NAME/         │
     │  nameserver      │◀──────────────│         endpoints/*.json            │
     │   10.89.0.1      │ "10.89.0.2"   │  other names ──▶ the host's         │
     └──────────────────┘               │         resolvers (resolv.conf)     │
                                        └─────────────────────────────────────┘

The message format (RFC 1035 section 4.1).  A query for ``web``, type A::

    offset  bytes                        meaning
    0       12 34                        ID: chosen by the client, copied into the answer
    2       01 00                        flags: QR=0 (a query), opcode 0, RD=1 (recursion desired)
    4       00 01                        QDCOUNT: one question
    6       00 00  00 00  00 00          ANCOUNT, NSCOUNT, ARCOUNT: nothing else
    12      03 'w' 'e' 'b' 00            QNAME: labels, each a length byte then its bytes, ending in 0
    17      00 01                        QTYPE 1 = A (an IPv4 address)
    19      00 01                        QCLASS 1 = IN (the internet)

and the answer, the same header and question with an answer record after them::

    0       12 34                        the same ID
    2       85 80                        QR=1 (an answer), AA=1 (we own this name), RD=1, RA=1, RCODE 0
    4       00 01  00 01  00 00  00 00   one question, one answer
    12      03 'w' 'e' 'b' 00 00 01 00 01  the question, copied
    21      c0 0c                        NAME: a *pointer* (two top bits set) to offset 12, "web"
    23      00 01  00 01                 TYPE A, CLASS IN
    27      00 00 00 3c                  TTL: 60 seconds
    31      00 04                        RDLENGTH: 4 bytes follow
    33      0a 59 00 02                  RDATA: 10.89.0.2

Pointers (section 4.1.4) make names short, and make a hostile packet able
to point a name at itself: :func:`read_name` only follows pointers that go
backwards, a bounded number of times.  Any packet that does not parse is
dropped; nothing a client sends can stop the responder.

What it answers:

- A for every ``Name`` and ``Aliases`` entry of the network's endpoint files,
  and the container's short id (the file's name), case-insensitively;
- AAAA (and any other type) for those names: "no such record" (NOERROR with
  no answer), at once, so that resolvers asking A and AAAA do not wait;
- PTR for their addresses (``2.0.89.10.in-addr.arpa``);
- everything else is forwarded unchanged to the host's resolvers, the
  ``nameserver`` lines of /etc/resolv.conf (loopback ones too: this process
  runs on the host), and the first good answer relayed (SERVFAIL or REFUSED
  from one sends the query to the next); SERVFAIL if none answers in time.
  An ``--internal`` network forwards nothing: its containers have no way out.

The endpoint files are read again when their directory changes (its mtime),
so a container started later resolves.  The process leaves by itself when the
network's directory disappears; :func:`stop` ends it sooner.  :func:`ensure`
starts it (at most one per network: a lock and a pid file) as a detached,
lean ``python -I -S`` that imports only this module and sandbox.paths, like
the monitor (sandbox/engine/monitor.py): about 10 MiB, whatever the number of
containers.  Rootless, the same code runs inside the user's own network
namespace, where binding port 53 is allowed (the namespace belongs to the
user's user namespace); ``ensure`` takes the port and the upstreams as
parameters for that.

See RFC 1035 (the format; 4.2 for UDP and TCP), resolv.conf(5), ip(7) for
IP_FREEBIND, and podman's aardvark-dns, which this imitates.
"""

from __future__ import annotations

import fcntl
import json
import os
import select
import signal
import socket
import struct
import sys
import threading
import time
from pathlib import Path

PID_FILE = "dns.pid"
LOCK_FILE = ".dns.lock"
DEFAULT_PORT = 53
TTL = 60                    # seconds; aardvark-dns answers with 60 as well
UPSTREAM_TIMEOUT = 2.0      # seconds for all upstreams together, then SERVFAIL
MAX_FORWARDS = 64           # forwarded queries in flight at once; more are dropped
MAX_UDP = 4096              # a larger datagram is cut by recvfrom and then fails to parse
CHECK_EVERY = 1.0           # seconds between checks that the network still exists
IP_FREEBIND = 15            # <linux/in.h>: bind to an address not (yet) on an interface

# Header flags (RFC 1035 4.1.1) and the codes used here.
QR, AA, TC, RD, RA = 0x8000, 0x0400, 0x0200, 0x0100, 0x0080
NOERROR, FORMERR, SERVFAIL, NXDOMAIN, NOTIMP, REFUSED = 0, 1, 2, 3, 4, 5
TYPE_A, TYPE_PTR, TYPE_AAAA, CLASS_IN = 1, 12, 28, 1

HEADER = struct.Struct("!HHHHHH")  # id, flags, qdcount, ancount, nscount, arcount


class Malformed(ValueError):
    """A packet that is not a DNS message we accept: it is dropped, never answered."""


# --- the message format: pure functions, no I/O -------------------------------------
def read_name(msg: bytes, offset: int) -> tuple[str, int]:
    """The name at ``offset`` (lower case, no final dot) and the offset just after it.

    A label is a length byte (0..63) and that many bytes; a zero byte ends the
    name; a byte with both top bits set starts a two-byte pointer to an earlier
    offset, where the name goes on (RFC 1035 4.1.4).  A pointer must point
    before the label it is in, so a chain of pointers always ends.
    """
    labels: list[str] = []
    end = None                  # where the name ends in the message: after the first pointer
    length = 0
    start = offset
    while True:
        if offset >= len(msg):
            raise Malformed("name runs past the end of the message")
        size = msg[offset]
        if size & 0xC0 == 0xC0:
            if offset + 1 >= len(msg):
                raise Malformed("pointer cut short")
            target = struct.unpack_from("!H", msg, offset)[0] & 0x3FFF
            if target >= start:
                raise Malformed("pointer that does not point backwards (a loop)")
            if end is None:
                end = offset + 2
            offset = start = target
            continue
        if size & 0xC0:
            raise Malformed("label type 0x40/0x80 is not used (RFC 6891)")
        offset += 1
        if size == 0:
            break
        label = msg[offset:offset + size]
        if len(label) != size:
            raise Malformed("label runs past the end of the message")
        length += size + 1
        if length > 255:
            raise Malformed("name longer than 255 bytes")
        labels.append(label.decode("ascii", "replace").lower())
        offset += size
    return ".".join(labels), (offset if end is None else end)


def encode_name(name: str) -> bytes:
    """``web.example`` as ``03 web 07 example 00``."""
    out = b""
    for label in name.strip(".").split(".") if name.strip(".") else []:
        raw = label.encode("ascii")
        if not 0 < len(raw) < 64:
            raise ValueError(f"DNS label {label!r} must be 1 to 63 bytes")
        out += bytes([len(raw)]) + raw
    return out + b"\0"


def make_query(name: str, qtype: int = TYPE_A, ident: int = 0x1234) -> bytes:
    """A query as a stub resolver sends it: one question, recursion desired."""
    return HEADER.pack(ident, RD, 1, 0, 0, 0) + encode_name(name) + struct.pack("!HH", qtype, CLASS_IN)


def parse_query(msg: bytes) -> tuple[int, int, str, int, int, bytes]:
    """(id, flags, name, type, class, the question's bytes) of a query with one question."""
    if len(msg) < HEADER.size:
        raise Malformed("shorter than a header")
    ident, flags, qdcount, _, _, _ = HEADER.unpack_from(msg)
    if flags & QR:
        raise Malformed("an answer, not a query")  # never answer answers: no loops
    if qdcount != 1:
        raise Malformed("not exactly one question")
    name, end = read_name(msg, HEADER.size)
    if end + 4 > len(msg):
        raise Malformed("question cut short")
    qtype, qclass = struct.unpack_from("!HH", msg, end)
    return ident, flags, name, qtype, qclass, msg[HEADER.size:end + 4]


def make_answer(ident: int, flags: int, question: bytes, rcode: int,
                records: list[tuple[int, bytes]] = (), authoritative: bool = True) -> bytes:
    """An answer to ``question``: each record is (type, rdata) for the question's name."""
    opcode_rd = flags & (0x7800 | RD)  # copy the opcode and RD bits from the query
    out_flags = QR | opcode_rd | RA | (AA if authoritative else 0) | rcode
    out = HEADER.pack(ident, out_flags, 1, len(records), 0, 0) + question
    for rtype, rdata in records:
        # 0xC00C: a pointer to offset 12, where the question's name is.
        out += struct.pack("!HHHIH", 0xC00C, rtype, CLASS_IN, TTL, len(rdata)) + rdata
    return out


def error_answer(msg: bytes, rcode: int) -> bytes | None:
    """A bare answer with ``rcode`` (SERVFAIL, NOTIMP) to a query, or None if it does not parse."""
    try:
        ident, flags, _, _, _, question = parse_query(msg)
    except Malformed:
        return None
    return make_answer(ident, flags, question, rcode, authoritative=False)


def reverse_name(address: str) -> str:
    """``10.89.0.2`` as ``2.0.89.10.in-addr.arpa``, the name a PTR query asks about."""
    return ".".join(reversed(address.split("."))) + ".in-addr.arpa"


# --- what the network knows ---------------------------------------------------------
def read_endpoints(directory: Path) -> tuple[dict[str, str], dict[str, str]]:
    """From ``endpoints/*.json``: {name or alias: IPv4 address}, {reverse name: container name}.

    Names are kept in lower case.  A PTR answer gives the container's ``Name``.

    The files are written by the sandbox (sandbox.network.networks); one that does
    not parse or holds something unexpected is skipped, not trusted.
    """
    names: dict[str, str] = {}
    reverse: dict[str, str] = {}
    try:
        entries = sorted(os.listdir(directory))
    except OSError:
        return names, reverse
    for entry in entries:
        if not entry.endswith(".json") or entry.startswith("."):
            continue
        try:
            with open(directory / entry, "rb") as f:
                endpoint = json.loads(f.read(65536))
            address = str(endpoint.get("IPv4Address", "")).split("/")[0]
            socket.inet_aton(address)
        except (OSError, ValueError, AttributeError):
            continue
        wanted = [endpoint.get("Name"), *(endpoint.get("Aliases") or []), entry[:-5][:12]]
        wanted = [n.strip(".").lower() for n in wanted if is_dns_name(n)]
        for name in wanted:
            names.setdefault(name, address)
        if wanted:
            reverse.setdefault(reverse_name(address), wanted[0])
    return names, reverse


def is_dns_name(name) -> bool:
    """A name :func:`encode_name` can write: ASCII labels of 1 to 63 bytes, 253 in all."""
    if not isinstance(name, str) or not name.isascii() or not 0 < len(name.strip(".")) < 254:
        return False
    return all(0 < len(label) < 64 for label in name.strip(".").split("."))


class Table:
    """The endpoint names, read again whenever their directory's mtime changes."""

    def __init__(self, directory: Path):
        self.directory = directory
        self.seen: int | None = None
        self.names: dict[str, str] = {}
        self.reverse: dict[str, str] = {}
        self.lock = threading.Lock()  # the main loop and TCP threads both ask

    def refresh(self) -> None:
        with self.lock:
            self._refresh()

    def _refresh(self) -> None:
        try:
            mtime = os.stat(self.directory).st_mtime_ns
        except OSError:
            mtime = None
        if mtime == self.seen and mtime is not None:
            return
        self.names, self.reverse = read_endpoints(self.directory)
        # A file system's clock may tick coarsely (a few ms): a change in the same
        # tick as this read would leave the mtime as it is.  Trust a recent mtime
        # only once it is older than a second.
        recent = mtime is not None and time.time_ns() - mtime < 1_000_000_000
        self.seen = None if recent else mtime

    def answer(self, msg: bytes) -> bytes | None:
        """Our answer to ``msg``, or None if it is not about our names (forward it)."""
        ident, flags, name, qtype, qclass, question = parse_query(msg)
        if flags & 0x7800:  # opcode other than QUERY (0): NOTIFY, UPDATE, ...
            return make_answer(ident, flags, question, NOTIMP, authoritative=False)
        if qclass != CLASS_IN:
            return None
        self.refresh()
        names, reverse = self.names, self.reverse
        if name in names:
            if qtype == TYPE_A:
                return make_answer(ident, flags, question, NOERROR,
                                   [(TYPE_A, socket.inet_aton(names[name]))])
            return make_answer(ident, flags, question, NOERROR)  # the name is ours, no such type
        if name in reverse and qtype == TYPE_PTR:
            return make_answer(ident, flags, question, NOERROR,
                               [(TYPE_PTR, encode_name(reverse[name]))])
        return None


# --- the host's resolvers -----------------------------------------------------------
def read_resolv_conf(path: str | Path = "/etc/resolv.conf") -> list[str]:
    """The ``nameserver`` addresses of a resolv.conf(5), IPv4 and IPv6 alike."""
    servers = []
    try:
        text = Path(path).read_text(errors="replace")
    except OSError:
        return servers
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver":
            servers.append(words[1].split("%")[0])  # fe80::1%eth0: the zone is not needed here
    return servers


def split_upstream(server: str) -> tuple[int, tuple[str, int]]:
    """``1.1.1.1``, ``2606::1`` or ``127.0.0.1#5353`` (dnsmasq's spelling) as (family, address)."""
    host, _, port = server.partition("#")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return family, (host, int(port) if port else DEFAULT_PORT)


def usable(reply: bytes, msg: bytes) -> bool:
    """An answer to this query (its ID) that is not SERVFAIL or REFUSED: those send us to the
    next upstream, as Docker's resolver does (moby libnetwork/resolver.go, forwardExtDNS)."""
    return len(reply) >= HEADER.size and reply[:2] == msg[:2] and reply[3] & 0xF not in (SERVFAIL, REFUSED)


def in_time(upstreams: list[str]):
    """Each upstream with the seconds left for it, until UPSTREAM_TIMEOUT is spent in all."""
    deadline = time.monotonic() + UPSTREAM_TIMEOUT
    for server in upstreams:
        left = deadline - time.monotonic()
        if left <= 0:
            return
        yield server, left


def forward_udp(msg: bytes, upstreams: list[str]) -> bytes | None:
    """Ask each upstream in turn; the first usable answer, or None."""
    for server, left in in_time(upstreams):
        try:
            family, address = split_upstream(server)
            with socket.socket(family, socket.SOCK_DGRAM) as s:
                s.settimeout(left / 2 if server != upstreams[-1] else left)
                s.connect(address)  # connected: datagrams from anyone else are not delivered
                s.send(msg)
                while True:
                    reply = s.recv(65535)
                    if len(reply) >= 2 and reply[:2] == msg[:2]:
                        break
                if usable(reply, msg):
                    return reply
        except (OSError, ValueError):
            continue
    return None


def forward_tcp(msg: bytes, upstreams: list[str]) -> bytes | None:
    """The same over TCP: each message is preceded by its length in two bytes (4.2.2)."""
    for server, left in in_time(upstreams):
        try:
            family, address = split_upstream(server)
            with socket.create_connection(address, timeout=left) as s:
                s.sendall(struct.pack("!H", len(msg)) + msg)
                reply = read_tcp_message(s)
                if reply and usable(reply, msg):
                    return reply
        except (OSError, ValueError):
            continue
    return None


def read_exactly(conn: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = conn.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def read_tcp_message(conn: socket.socket) -> bytes | None:
    prefix = read_exactly(conn, 2)
    return None if prefix is None else read_exactly(conn, struct.unpack("!H", prefix)[0])


# --- the responder ------------------------------------------------------------------
class Responder:
    """The serving loop: UDP and TCP on one address, local answers at once, the rest forwarded."""

    def __init__(self, network_dir: Path, listen_ip: str, port: int, upstreams: list[str]):
        self.network_dir = network_dir
        self.table = Table(network_dir / "endpoints")
        # Never forward to ourselves: a resolv.conf naming this address would loop.  Nor
        # from an --internal network, which has no way out (Docker's resolver does the same).
        self.upstreams = [] if is_internal(network_dir) else [
            u for u in upstreams if split_upstream(u)[1] != (listen_ip, port)]
        self.slots = threading.BoundedSemaphore(MAX_FORWARDS)
        self.udp = bound_socket(socket.SOCK_DGRAM, listen_ip, port)
        self.tcp = bound_socket(socket.SOCK_STREAM, listen_ip, port)
        self.tcp.listen(16)

    def serve_forever(self) -> None:
        while self.network_dir.is_dir():
            readable, _, _ = select.select([self.udp, self.tcp], [], [], CHECK_EVERY)
            try:
                if self.udp in readable:
                    self.on_datagram()
                if self.tcp in readable:
                    self.on_connection()
            except Exception:  # noqa: BLE001 - whatever one packet does, the next is served
                pass

    def respond(self, msg: bytes, forward) -> bytes | None:
        """Our answer, else the upstreams', else SERVFAIL; None for a packet that is dropped."""
        try:
            answer = self.table.answer(msg)
        except Malformed:
            return None
        if answer is not None:
            return answer
        return forward(msg, self.upstreams) or error_answer(msg, SERVFAIL)

    def on_datagram(self) -> None:
        """Answer our own names at once; forwarding waits for another server, so it gets a thread."""
        try:
            msg, client = self.udp.recvfrom(MAX_UDP)
            answer = self.table.answer(msg)
        except (OSError, Malformed):
            return
        if answer is not None:
            self.send_datagram(msg, answer, client)
        else:
            self.in_background(self.forward_datagram, msg, client)

    def forward_datagram(self, msg: bytes, client) -> None:
        self.send_datagram(msg, forward_udp(msg, self.upstreams) or error_answer(msg, SERVFAIL),
                           client)

    def send_datagram(self, msg: bytes, reply: bytes | None, client) -> None:
        if reply is None:
            return
        if len(reply) > 512 and not has_edns(msg):  # RFC 1035 4.2.1: set TC, the client asks over TCP
            reply = truncate(reply)
        try:
            self.udp.sendto(reply, client)
        except OSError:
            pass

    def on_connection(self) -> None:
        try:
            conn, _ = self.tcp.accept()
        except OSError:
            return
        if not self.in_background(self._answer_connection, conn):
            conn.close()

    def _answer_connection(self, conn: socket.socket) -> None:
        with conn:
            try:
                conn.settimeout(UPSTREAM_TIMEOUT * 2)
                msg = read_tcp_message(conn)
                reply = None if msg is None else self.respond(msg, forward_tcp)
                if reply is not None:
                    conn.sendall(struct.pack("!H", len(reply)) + reply)
            except OSError:
                pass

    def in_background(self, work, *args) -> bool:
        """Run ``work`` in a thread if a slot is free (a flood of queries is dropped)."""
        if not self.slots.acquire(blocking=False):
            return False

        def run():
            try:
                work(*args)
            except Exception:  # noqa: BLE001 - one bad query must never end the responder
                pass
            finally:
                self.slots.release()
        threading.Thread(target=run, daemon=True).start()
        return True


def is_internal(network_dir: Path) -> bool:
    """``Internal`` of the network's record (``network create --internal``)."""
    try:
        with open(network_dir / "network.json", "rb") as f:
            return json.loads(f.read(1 << 20)).get("Internal") is True
    except (OSError, ValueError, AttributeError):
        return False


def has_edns(msg: bytes) -> bool:
    """A query with an additional record (an EDNS OPT, RFC 6891) accepts more than 512 bytes."""
    return len(msg) >= HEADER.size and HEADER.unpack_from(msg)[5] > 0


def truncate(reply: bytes) -> bytes:
    """The header and question only, with TC set: "ask again over TCP"."""
    ident, flags = struct.unpack_from("!HH", reply)
    _, end = read_name(reply, HEADER.size)
    return HEADER.pack(ident, flags | TC, 1, 0, 0, 0) + reply[HEADER.size:end + 4]


def bound_socket(kind: int, listen_ip: str, port: int) -> socket.socket:
    s = socket.socket(socket.AF_INET, kind)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    # The gateway address may not be on the bridge yet, or the bridge may be
    # recreated: IP_FREEBIND (ip(7)) lets the bind succeed regardless.
    s.setsockopt(socket.IPPROTO_IP, IP_FREEBIND, 1)
    s.bind((listen_ip, port))
    return s


# --- starting and stopping: one responder per network -------------------------------
def network_dir(root: Path, network_name: str) -> Path:
    return Path(root) / "networks" / network_name


def running_pid(root: Path, network_name: str) -> int | None:
    """The pid of this network's responder if its pid file names a live one."""
    try:
        pid, started = (int(w) for w in (network_dir(root, network_name) / PID_FILE).read_text().split())
    except (OSError, ValueError):
        return None
    return pid if process_start(pid) == started else None


def process_start(pid: int) -> int | None:
    """Field 22 of /proc/PID/stat (see sandbox.kernel.procfs; repeated here to keep this module lean)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            stat = f.read()
    except OSError:
        return None
    fields = stat[stat.rindex(b")") + 2:].split()
    return None if fields[0] == b"Z" else int(fields[19])


def ensure(root: Path, network_name: str, listen_ip: str, *, port: int = DEFAULT_PORT,
           upstreams: list[str] | None = None, resolv_conf: str = "/etc/resolv.conf") -> None:
    """Start the network's responder on ``listen_ip:port`` unless one is running.

    ``upstreams`` (addresses, ``IP#PORT`` for another port) default to the
    nameservers of ``resolv_conf``.  Returns once the responder listens; raises
    :class:`sandbox.errors.SandboxError` naming the network if it cannot.
    """
    directory = network_dir(root, network_name)
    if not directory.is_dir():
        from ..errors import NotFound
        raise NotFound(f"network {network_name} not found (no {directory})")
    servers = read_resolv_conf(resolv_conf) if upstreams is None else list(upstreams)
    # Several `run`s may join the network at once: one of them starts the responder.
    with open(directory / LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if running_pid(root, network_name) is None:
            spawn(directory, listen_ip, port, servers)


def spawn(directory: Path, listen_ip: str, port: int, upstreams: list[str]) -> None:
    """Start ``python -I -S`` running :func:`main`, in a session of its own, and wait until it listens.

    The new process binds its sockets, then forks once more and its first
    half exits: the responder is then nobody's child (no zombie left in a
    notebook kernel when it ends) and in no terminal's session (setsid(2)).
    It reports through a pipe: "ok" once it listens, or the sentence saying why not.
    """
    read_end, write_end = os.pipe()
    package_parent = str(Path(__file__).resolve().parents[2])  # the folder holding sandbox/
    argv = [sys.executable, "-I", "-S", "-c",
            "import sys; sys.path.insert(0, sys.argv[1]); "
            "from sandbox.network.dns import main; main(sys.argv[2:])",
            package_parent, str(directory), listen_ip, str(port), str(write_end), *upstreams]
    import subprocess
    try:
        subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, pass_fds=(write_end,), start_new_session=True)
    finally:
        os.close(write_end)
    with os.fdopen(read_end, "rb") as report:  # EOF once the responder has closed its end
        said = report.read(4096).decode(errors="replace").strip()
    if said != "ok":
        from ..errors import SandboxError
        raise SandboxError(f"the DNS responder of network {directory.name} did not start: "
                           f"{said or 'it exited without a word'}")


def stop(root: Path, network_name: str, timeout: float = 5.0) -> None:
    """Stop the network's responder, if one runs, and wait until it has gone.

    Under the same lock as :func:`ensure`, so that a ``run`` joining the network
    at that moment starts a new responder after this one has gone, not before.
    """
    directory = network_dir(root, network_name)
    if not directory.is_dir():  # removed first: no pid file to read, so look for it
        for pid in responders_serving(directory):
            end_process(pid, timeout)
        return
    with open(directory / LOCK_FILE, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        pid = running_pid(root, network_name)
        if pid is not None:
            end_process(pid, timeout)
        try:
            (directory / PID_FILE).unlink()
        except FileNotFoundError:
            pass


def responders_serving(directory: Path) -> list[int]:
    """Responders (of this user) whose command line names ``directory``, found in /proc."""
    found = []
    wanted = str(directory).encode()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            if os.stat(f"/proc/{entry}").st_uid != os.getuid():
                continue
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
        except OSError:
            continue
        if len(argv) > 6 and b"from sandbox.network.dns import main" in argv[4] and argv[6] == wanted:
            found.append(int(entry))
    return found


def end_process(pid: int, timeout: float) -> None:
    """SIGTERM, then SIGKILL if it is still there after ``timeout`` seconds."""
    started = process_start(pid)
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + timeout
    while process_start(pid) == started and time.monotonic() < deadline:
        time.sleep(0.01)
    if process_start(pid) == started:
        os.kill(pid, signal.SIGKILL)


def main(argv: list[str]) -> None:
    """The responder process: ``DIR LISTEN_IP PORT REPORT_FD [UPSTREAM...]``."""
    directory, listen_ip, port, report_fd = Path(argv[0]), argv[1], int(argv[2]), int(argv[3])
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        responder = Responder(directory, listen_ip, port, argv[4:])
    except OSError as e:
        os.write(report_fd, f"bind({listen_ip}:{port}): {e.strerror}".encode())
        os._exit(1)
    if os.fork() != 0:
        os._exit(0)  # spawn() waits for this half; the other half is the responder
    write_pid_file(directory / PID_FILE)
    os.write(report_fd, b"ok")
    os.close(report_fd)
    try:
        responder.serve_forever()
    finally:
        remove_own_pid_file(directory / PID_FILE)
    os._exit(0)


def write_pid_file(path: Path) -> None:
    """``PID STARTTIME``, so that a reused pid is never mistaken for the responder."""
    from ..paths import write_atomic
    write_atomic(path, f"{os.getpid()} {process_start(os.getpid())}\n")


def remove_own_pid_file(path: Path) -> None:
    try:
        if path.read_text().split()[0] == str(os.getpid()):
            path.unlink()
    except (OSError, IndexError):
        pass


if __name__ == "__main__":  # python -m sandbox.network.dns DIR LISTEN_IP PORT REPORT_FD [UPSTREAM...]
    main(sys.argv[1:])
