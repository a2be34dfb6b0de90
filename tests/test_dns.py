"""sandbox.network.dns: a network's DNS responder, asked by a client written here and by busybox.

Most tests run the responder on a free high port of 127.0.0.1, so they need
neither root nor a network part; the endpoint files are written by hand, in
the shape of the contract (ROOT/networks/NAME/endpoints/ID.json).  The root
tests put it on port 53 of a dummy interface and ask from a container.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import IS_ROOT, REPO, root_only, sandbox
from sandbox.network import dns
from sandbox.errors import SandboxError

NETWORK = "testnet"


# --- a stub resolver's side, written from RFC 1035, independent of the module ----------
def query_bytes(name: str, qtype: int, ident: int = 0xBEEF) -> bytes:
    labels = b"".join(bytes([len(p)]) + p.encode() for p in name.split(".") if p)
    return struct.pack("!6H", ident, 0x0100, 1, 0, 0, 0) + labels + b"\0" + struct.pack("!HH", qtype, 1)


def skip_name(msg: bytes, i: int) -> int:
    while msg[i]:
        if msg[i] & 0xC0 == 0xC0:
            return i + 2
        i += msg[i] + 1
    return i + 1


def parse_reply(msg: bytes) -> tuple[int, int, list[tuple[int, bytes]]]:
    """(id, rcode, [(type, rdata), ...]) of an answer."""
    ident, flags, qd, an, _, _ = struct.unpack_from("!6H", msg)
    assert flags & 0x8000, "not an answer"
    i = 12
    for _ in range(qd):
        i = skip_name(msg, i) + 4
    records = []
    for _ in range(an):
        i = skip_name(msg, i)
        rtype, _, _, length = struct.unpack_from("!HHIH", msg, i)
        i += 10
        records.append((rtype, msg[i:i + length]))
        i += length
    return ident, flags & 0xF, records


def ask(name: str, port: int, qtype: int = 1, server: str = "127.0.0.1", tcp: bool = False,
        timeout: float = 5.0):
    msg = query_bytes(name, qtype)
    if tcp:
        with socket.create_connection((server, port), timeout=timeout) as s:
            s.sendall(struct.pack("!H", len(msg)) + msg)
            size = struct.unpack("!H", s.recv(2, socket.MSG_WAITALL))[0]
            reply = s.recv(size, socket.MSG_WAITALL)
    else:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.settimeout(timeout)
            s.sendto(msg, (server, port))
            reply = s.recv(65535)
    ident, rcode, records = parse_reply(reply)
    assert ident == 0xBEEF
    return rcode, records


def addresses(records) -> list[str]:
    return [socket.inet_ntoa(rdata) for rtype, rdata in records if rtype == 1]


def free_port() -> int:
    """A port of 127.0.0.1 free for UDP and for TCP alike."""
    while True:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as u, \
                socket.socket(socket.AF_INET, socket.SOCK_STREAM) as t:
            u.bind(("127.0.0.1", 0))
            port = u.getsockname()[1]
            try:
                t.bind(("127.0.0.1", port))
            except OSError:
                continue  # taken for TCP: draw another
            return port


def write_endpoint(root: Path, cid: str, name: str, address: str, aliases=(), network=NETWORK):
    directory = root / "networks" / network / "endpoints"
    directory.mkdir(parents=True, exist_ok=True)
    tmp = directory / f".{cid}.tmp"
    tmp.write_text(json.dumps({"Name": name, "Aliases": list(aliases),
                               "IPv4Address": f"{address}/24", "MacAddress": "02:42:0a:59:00:02"}))
    os.replace(tmp, directory / f"{cid}.json")


def responder_pid(root: Path, network=NETWORK) -> int:
    return int((root / "networks" / network / "dns.pid").read_text().split()[0])


def alive(pid: int) -> bool:
    return dns.process_start(pid) is not None


# --- a fake upstream resolver: far.example is 192.0.2.77, everything else NXDOMAIN ----
class FakeUpstream:
    def __init__(self, silent: bool = False, failing: bool = False):
        self.udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.udp.bind(("127.0.0.1", 0))
        self.port = self.udp.getsockname()[1]
        self.tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.tcp.bind(("127.0.0.1", self.port))
        self.tcp.listen(4)
        self.silent, self.failing, self.asked = silent, failing, []
        self.closing = False
        for target in (self.serve_udp, self.serve_tcp):
            threading.Thread(target=target, daemon=True).start()

    def reply(self, msg: bytes) -> bytes:
        ident, flags, name, qtype, _, question = dns.parse_query(msg)
        self.asked.append(name)
        if self.failing:
            return dns.make_answer(ident, flags, question, dns.SERVFAIL, authoritative=False)
        if name == "far.example" and qtype == 1:
            return dns.make_answer(ident, flags, question, 0, [(1, socket.inet_aton("192.0.2.77"))], False)
        return dns.make_answer(ident, flags, question, dns.NXDOMAIN, authoritative=False)

    def serve_udp(self):
        while not self.closing:
            try:
                msg, client = self.udp.recvfrom(4096)
            except OSError:
                return
            if not msg:
                continue
            if self.silent:  # hears, never answers
                self.asked.append(dns.parse_query(msg)[2])
            else:
                self.udp.sendto(self.reply(msg), client)

    def serve_tcp(self):
        while not self.closing:
            try:
                conn, _ = self.tcp.accept()
            except OSError:
                return
            with conn:
                msg = dns.read_tcp_message(conn)
                if msg and not self.silent:
                    answer = self.reply(msg)
                    conn.sendall(struct.pack("!H", len(answer)) + answer)

    def close(self):
        self.closing = True
        for s in (self.udp, self.tcp):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            s.close()


@pytest.fixture
def upstream():
    fake = FakeUpstream()
    yield fake
    fake.close()


@pytest.fixture
def net(tmp_path, upstream):
    """A network directory with two containers, and its responder on a free port."""
    root = tmp_path / "root"
    write_endpoint(root, "a1b2c3d4e5f6a7b8c9d0", "web", "10.89.0.2", aliases=["WWW", "front"])
    write_endpoint(root, "0123456789abcdef0123", "db", "10.89.0.3")
    port = start_on_a_free_port(root, [f"127.0.0.1#{upstream.port}"])
    pid = responder_pid(root)
    yield root, port
    dns.stop(root, NETWORK)
    assert not alive(pid)


def start_on_a_free_port(root: Path, upstreams: list[str]) -> int:
    """ensure() on a free port; again on another if someone else took it in between."""
    for attempt in range(5):
        port = free_port()
        try:
            dns.ensure(root, NETWORK, "127.0.0.1", port=port, upstreams=upstreams)
            return port
        except SandboxError as e:
            if "Address already in use" not in str(e) or attempt == 4:
                raise


# --- the message format, without a network ---------------------------------------------
def test_a_query_round_trips_through_the_parser():
    msg = dns.make_query("Web.Example", dns.TYPE_AAAA, ident=7)
    assert msg == query_bytes("Web.Example", 28, ident=7)
    ident, flags, name, qtype, qclass, question = dns.parse_query(msg)
    assert (ident, flags, name, qtype, qclass) == (7, 0x0100, "web.example", 28, 1)
    assert question == msg[12:]


@pytest.mark.parametrize("packet, why", [
    (b"", "shorter"),
    (b"\x00" * 11, "shorter"),
    (struct.pack("!6H", 1, 0x0100, 0, 0, 0, 0), "one question"),
    (struct.pack("!6H", 1, 0x8180, 1, 0, 0, 0) + b"\x03web\x00\x00\x01\x00\x01", "answer"),
    (struct.pack("!6H", 1, 0x0100, 1, 0, 0, 0) + b"\x03we", "past the end"),
    (struct.pack("!6H", 1, 0x0100, 1, 0, 0, 0) + b"\x03web\x00\x00", "cut short"),
    (struct.pack("!6H", 1, 0x0100, 1, 0, 0, 0) + b"\xc0\x0c\x00\x01\x00\x01", "loop"),   # points at itself
    (struct.pack("!6H", 1, 0x0100, 1, 0, 0, 0) + b"\x01a\xc0\x0c\x00\x01\x00\x01", "loop"),  # back to its start
    (struct.pack("!6H", 1, 0x0100, 1, 0, 0, 0) + b"\xc0\x20" + b"\0" * 40, "loop"),     # forwards
    (struct.pack("!6H", 1, 0x0100, 1, 0, 0, 0) + (b"\x3f" + b"a" * 63) * 5 + b"\0\0\1\0\1", "255"),
    (struct.pack("!6H", 1, 0x0100, 1, 0, 0, 0) + b"\x40abc\x00\x00\x01\x00\x01", "label type"),
])
def test_hostile_packets_are_refused_by_the_parser(packet, why):
    with pytest.raises(dns.Malformed, match=why):
        dns.parse_query(packet)


def test_a_backward_pointer_is_followed():
    # "web.example" at 12, then a name "x" + pointer to "example" at 16.
    msg = b"\0" * 12 + b"\x03web\x07example\x00" + b"\x01x\xc0\x10"
    assert dns.read_name(msg, 12) == ("web.example", 25)
    assert dns.read_name(msg, 25) == ("x.example", 29)


def test_resolv_conf_nameservers(tmp_path):
    conf = tmp_path / "resolv.conf"
    conf.write_text("# comment\nsearch example\nnameserver 127.0.0.53\nnameserver fe80::1%eth0\n"
                    "options ndots:2\nnameserver 9.9.9.9\n")
    assert dns.read_resolv_conf(conf) == ["127.0.0.53", "fe80::1", "9.9.9.9"]
    assert dns.read_resolv_conf(tmp_path / "absent") == []
    assert dns.split_upstream("127.0.0.1#5353") == (socket.AF_INET, ("127.0.0.1", 5353))


def test_endpoint_files_that_do_not_parse_are_skipped(tmp_path):
    directory = tmp_path / "endpoints"
    directory.mkdir()
    (directory / "bad.json").write_text("{not json")
    (directory / "list.json").write_text("[1, 2]")
    (directory / "noaddr.json").write_text('{"Name": "x", "IPv4Address": "nonsense"}')
    (directory / "ok.json").write_text('{"Name": "Ok", "Aliases": [3, "al", "a..b", "%s", "caf\\u00e9"], '
                                       '"IPv4Address": "10.0.0.9/8"}' % ("x" * 64))
    assert dns.read_endpoints(directory) == ({"ok": "10.0.0.9", "al": "10.0.0.9"},
                                             {"9.0.0.10.in-addr.arpa": "ok"})


# --- the responder, on a high port of 127.0.0.1 -----------------------------------------
def test_names_and_aliases_resolve_case_insensitively(net):
    _, port = net
    for name in ("web", "WEB", "www", "front.", "db", "a1b2c3d4e5f6"):
        rcode, records = ask(name, port)
        assert rcode == 0 and addresses(records) == ["10.89.0.3" if name == "db" else "10.89.0.2"]


def test_aaaa_for_our_names_is_an_empty_answer_at_once(net, upstream):
    _, port = net
    started = time.monotonic()
    assert ask("web", port, qtype=28) == (0, [])
    assert time.monotonic() - started < 0.5
    assert upstream.asked == []  # not forwarded


def test_ptr_names_the_container(net):
    _, port = net
    rcode, records = ask("2.0.89.10.in-addr.arpa", port, qtype=12)
    assert rcode == 0 and records == [(12, b"\x03web\x00")]


def test_tcp_answers_too(net):
    _, port = net
    assert addresses(ask("db", port, tcp=True)[1]) == ["10.89.0.3"]
    assert addresses(ask("far.example", port, tcp=True)[1]) == ["192.0.2.77"]


def test_a_container_started_later_resolves_and_a_removed_one_does_not(net, upstream):
    root, port = net
    assert ask("late", port)[0] == dns.NXDOMAIN  # forwarded: the upstream does not know it
    write_endpoint(root, "fedcba9876543210fedc", "late", "10.89.0.9", aliases=["latecomer"])
    assert addresses(ask("late", port)[1]) == ["10.89.0.9"]
    assert addresses(ask("latecomer", port)[1]) == ["10.89.0.9"]
    (root / "networks" / NETWORK / "endpoints" / "fedcba9876543210fedc.json").unlink()
    assert ask("late", port)[0] == dns.NXDOMAIN
    assert upstream.asked.count("late") == 2


def test_other_names_are_forwarded_to_the_upstream(net, upstream):
    _, port = net
    assert addresses(ask("far.example", port)[1]) == ["192.0.2.77"]
    assert ask("nowhere.example", port)[0] == dns.NXDOMAIN
    assert upstream.asked == ["far.example", "nowhere.example"]


def test_servfail_soon_when_no_upstream_answers(tmp_path):
    silent = FakeUpstream(silent=True)
    root = tmp_path / "root"
    write_endpoint(root, "a1b2c3d4e5f6a7b8c9d0", "web", "10.89.0.2")
    port = free_port()
    try:
        dns.ensure(root, NETWORK, "127.0.0.1", port=port, upstreams=[f"127.0.0.1#{silent.port}"])
        started = time.monotonic()
        assert ask("far.example", port) == (dns.SERVFAIL, [])
        assert time.monotonic() - started < dns.UPSTREAM_TIMEOUT + 1
        assert silent.asked == ["far.example"] and addresses(ask("web", port)[1]) == ["10.89.0.2"]
    finally:
        dns.stop(root, NETWORK)
        silent.close()


def test_a_flood_of_forwarded_queries_never_delays_the_networks_own_names(tmp_path):
    silent = FakeUpstream(silent=True)
    root = tmp_path / "root"
    write_endpoint(root, "a1b2c3d4e5f6a7b8c9d0", "web", "10.89.0.2")
    try:
        port = start_on_a_free_port(root, [f"127.0.0.1#{silent.port}"])
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            for i in range(dns.MAX_FORWARDS * 3):  # more than may wait at once: the rest are dropped
                s.sendto(query_bytes(f"n{i}.far.example", 1), ("127.0.0.1", port))
        started = time.monotonic()
        assert addresses(ask("web", port)[1]) == ["10.89.0.2"]
        assert time.monotonic() - started < 0.5
        time.sleep(0.2)
        assert 0 < len(silent.asked) <= dns.MAX_FORWARDS
    finally:
        dns.stop(root, NETWORK)
        silent.close()


def test_an_upstream_that_fails_sends_the_query_to_the_next(tmp_path, upstream):
    failing = FakeUpstream(failing=True)
    root = tmp_path / "root"
    write_endpoint(root, "a1b2c3d4e5f6a7b8c9d0", "web", "10.89.0.2")
    port = free_port()
    try:
        dns.ensure(root, NETWORK, "127.0.0.1", port=port,
                   upstreams=[f"127.0.0.1#{failing.port}", f"127.0.0.1#{upstream.port}"])
        assert addresses(ask("far.example", port)[1]) == ["192.0.2.77"]
        assert addresses(ask("far.example", port, tcp=True)[1]) == ["192.0.2.77"]
        assert failing.asked == ["far.example"] * 2 and upstream.asked == ["far.example"] * 2
    finally:
        dns.stop(root, NETWORK)
        failing.close()


def test_an_internal_network_forwards_nothing(tmp_path, upstream):
    root = tmp_path / "root"
    write_endpoint(root, "a1b2c3d4e5f6a7b8c9d0", "web", "10.89.0.2")
    (root / "networks" / NETWORK / "network.json").write_text(json.dumps({"Name": NETWORK, "Internal": True}))
    port = free_port()
    try:
        dns.ensure(root, NETWORK, "127.0.0.1", port=port, upstreams=[f"127.0.0.1#{upstream.port}"])
        assert ask("far.example", port) == (dns.SERVFAIL, [])
        assert addresses(ask("web", port)[1]) == ["10.89.0.2"]
        assert upstream.asked == []
    finally:
        dns.stop(root, NETWORK)


def test_malformed_and_huge_packets_are_dropped_and_it_keeps_answering(net):
    _, port = net
    header = struct.pack("!6H", 1, 0x0100, 1, 0, 0, 0)
    junk = [b"", b"\xff" * 3, header, header + b"\xc0\x0c\x00\x01\x00\x01", header + b"\x3fab",
            os.urandom(512), b"\x00" * 60000,
            struct.pack("!6H", 1, 0x8180, 1, 0, 0, 0) + b"\x03web\x00\x00\x01\x00\x01"]
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.3)
        for packet in junk:
            s.sendto(packet, ("127.0.0.1", port))
        with pytest.raises(socket.timeout):
            s.recv(65535)  # nothing answered
    for tcp_junk in (b"", b"\x00", b"\x00\x05abc", b"\x00\x0c" + header[:12], b"\xff\xff" + b"x" * 100):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as c:
            c.sendall(tcp_junk)
            c.shutdown(socket.SHUT_WR)
            assert c.recv(100) == b""  # closed without an answer
    assert addresses(ask("web", port)[1]) == ["10.89.0.2"]


def test_opcodes_other_than_query_are_not_implemented(net):
    _, port = net
    msg = bytearray(query_bytes("web", 1))
    msg[2] |= 0x28  # opcode 5, UPDATE
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(5)
        s.sendto(bytes(msg), ("127.0.0.1", port))
        assert parse_reply(s.recv(4096))[1] == dns.NOTIMP


def test_one_responder_per_network_even_when_asked_at_once(net):
    root, port = net
    pid = responder_pid(root)
    code = ("import sys; from sandbox.network import dns; "
            f"dns.ensure(sys.argv[1], {NETWORK!r}, '127.0.0.1', port={port}, upstreams=[])")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    starters = [subprocess.Popen([sys.executable, "-c", code, str(root)], env=env) for _ in range(6)]
    assert [p.wait(timeout=30) for p in starters] == [0] * 6
    assert responder_pid(root) == pid
    assert responders_of(root) == [pid]


def responders_of(root: Path) -> list[int]:
    """The processes whose command line names this state root's test network: the responders."""
    return responders_of_network(root, NETWORK)


def test_it_is_detached_and_lean(net):
    root, _ = net
    pid = responder_pid(root)
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ppid, sid = int(stat[1]), int(stat[3])
    assert sid == pid or sid != os.getsid(0)           # its own session
    assert ppid != os.getpid()                         # nobody's child here
    assert all(os.readlink(f"/proc/{pid}/fd/{fd}") == "/dev/null" for fd in (0, 1, 2))
    rss_kib = int(next(line for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                       if line.startswith("VmRSS")).split()[1])
    assert rss_kib < 20 * 1024


def test_stop_leaves_no_process_and_no_pid_file(net):
    root, port = net
    pid = responder_pid(root)
    dns.stop(root, NETWORK)
    assert not alive(pid) and not (root / "networks" / NETWORK / "dns.pid").exists()
    assert responders_of(root) == []
    dns.stop(root, NETWORK)  # twice is fine
    dns.ensure(root, NETWORK, "127.0.0.1", port=port, upstreams=[])  # and it starts again
    assert addresses(ask("web", port)[1]) == ["10.89.0.2"]


def test_it_leaves_by_itself_when_the_network_is_removed(net):
    root, _ = net
    pid = responder_pid(root)
    shutil.rmtree(root / "networks" / NETWORK)
    deadline = time.monotonic() + 5
    while alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not alive(pid)


def test_stop_after_the_directory_was_removed_still_ends_it_at_once(net):
    root, _ = net
    pid = responder_pid(root)
    shutil.rmtree(root / "networks" / NETWORK)
    dns.stop(root, NETWORK)
    assert not alive(pid)


def test_a_network_that_is_not_there_is_one_sentence(tmp_path):
    with pytest.raises(SandboxError, match=f"network {NETWORK} not found"):
        dns.ensure(tmp_path, NETWORK, "127.0.0.1", port=free_port(), upstreams=[])
    assert not (tmp_path / "networks").exists()


def test_a_port_in_use_is_one_sentence(tmp_path):
    root = tmp_path / "root"
    (root / "networks" / NETWORK).mkdir(parents=True)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as taken:
        taken.bind(("127.0.0.1", 0))
        port = taken.getsockname()[1]
        with pytest.raises(SandboxError) as caught:
            dns.ensure(root, NETWORK, "127.0.0.1", port=port, upstreams=[])
    assert str(caught.value) == (f"the DNS responder of network {NETWORK} did not start: "
                                 f"bind(127.0.0.1:{port}): Address already in use")
    assert not (root / "networks" / NETWORK / "dns.pid").exists() and responders_of(root) == []


# --- port 53, as aardvark-dns does: on a device as root, in a namespace of one's own -----
@root_only
def test_port_53_on_a_device_of_its_own(tmp_path, upstream):
    device, address = f"sbxdns{os.getpid() % 100000}", "10.254.53.1"
    # A veth pair (its peer is not needed): any device will do, as the bridge will for the network.
    subprocess.run(["ip", "link", "add", device, "type", "veth", "peer", "name", device + "p"],
                   check=True)
    root = tmp_path / "root"
    try:
        # The address comes after the responder: IP_FREEBIND lets it bind first.
        write_endpoint(root, "a1b2c3d4e5f6a7b8c9d0", "web", "10.254.53.2")
        dns.ensure(root, NETWORK, address, upstreams=[f"127.0.0.1#{upstream.port}"])
        subprocess.run(["ip", "addr", "add", f"{address}/24", "dev", device], check=True)
        subprocess.run(["ip", "link", "set", device, "up"], check=True)
        assert addresses(ask("web", 53, server=address)[1]) == ["10.254.53.2"]
        assert addresses(ask("far.example", 53, server=address, tcp=True)[1]) == ["192.0.2.77"]
    finally:
        dns.stop(root, NETWORK)
        subprocess.run(["ip", "link", "del", device], check=True)


def enter_container(pid: int) -> list[str]:
    """nsenter into the container's network namespace (and, rootless, its user namespace first)."""
    if IS_ROOT:
        return ["nsenter", f"--net=/proc/{pid}/ns/net"]
    return ["nsenter", f"--user=/proc/{pid}/ns/user", f"--net=/proc/{pid}/ns/net", "--preserve-credentials"]


def test_busybox_nslookup_in_a_container_asks_a_responder_on_its_port_53(tmp_path, name):
    """Until the network part lands, the responder joins the container's own network namespace.

    Rootless, this is the user's own user+network namespace, where port 53 may be bound.
    """
    sandbox("run", "-d", "--name", name, "busybox", "sleep", "60", check=True)
    root = tmp_path / "root"
    try:
        pid = int(sandbox("inspect", "-f", "{{.State.Pid}}", name, check=True).stdout)
        write_endpoint(root, "a1b2c3d4e5f6a7b8c9d0", "web", "10.89.0.2", aliases=["www"])
        code = ("import sys; from sandbox.network import dns; "
                f"dns.ensure(sys.argv[1], {NETWORK!r}, '127.0.0.1', upstreams=[])")
        subprocess.run([*enter_container(pid), sys.executable, "-c", code, str(root)],
                       env={**os.environ, "PYTHONPATH": str(REPO)}, check=True, timeout=30)
        write_endpoint(root, "0123456789abcdef0123", "later", "10.89.0.7")
        for asked, expected in (("web", "10.89.0.2"), ("WWW", "10.89.0.2"), ("later", "10.89.0.7")):
            r = sandbox("exec", name, "nslookup", asked, "127.0.0.1", check=True)
            assert f"Address: {expected}" in r.stdout, r.stdout
        r = sandbox("exec", name, "nslookup", "elsewhere.example", "127.0.0.1")
        assert r.returncode != 0 and "SERVFAIL" in r.stdout + r.stderr, r.stdout + r.stderr
    finally:
        dns.stop(root, NETWORK)
        sandbox("rm", "-f", name)
    assert responders_of(root) == []


# --- with the network part: names on a user network ----------------------------------
def has_user_networks() -> bool:
    r = sandbox("network", "ls")
    return r.returncode == 0


@root_only
def test_containers_on_a_user_network_resolve_each_other_by_name(name, state_root):
    """The acceptance test of the contract: net-core calls ensure(); names come from endpoints."""
    if not has_user_networks():
        pytest.skip("`sandbox network` arrives with the netcore branch")
    network = f"{name[:20]}-net"
    sandbox("network", "create", network, check=True)
    try:
        sandbox("run", "-d", "--name", f"{name}-web", "--network", network, "--network-alias", "www",
                "busybox", "sleep", "60", check=True)
        pid = responder_pid(state_root, network)
        r = sandbox("run", "--rm", "--network", network, "busybox", "sh", "-c",
                    f"nslookup {name}-web && nslookup WWW && ping -c1 -W2 www", check=True)
        assert r.stdout.count("Name:") == 2 and "1 packets received" in r.stdout, r.stdout
        # A container started later resolves; the responder is still the same one.
        sandbox("run", "-d", "--name", f"{name}-late", "--network", network, "busybox", "sleep", "60",
                check=True)
        r = sandbox("exec", f"{name}-web", "nslookup", f"{name}-late", check=True)
        assert "Address: " in r.stdout.split("Name:")[-1], r.stdout
        assert responder_pid(state_root, network) == pid and responders_of_network(state_root, network) == [pid]
        # On the default bridge, names do not resolve (Docker's behaviour).
        r = sandbox("run", "--rm", "busybox", "nslookup", f"{name}-web")
        assert r.returncode != 0
    finally:
        sandbox("rm", "-f", f"{name}-web", f"{name}-late")
        sandbox("network", "rm", network)
    deadline = time.monotonic() + 5
    while responders_of_network(state_root, network) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert responders_of_network(state_root, network) == []


def responders_of_network(root: Path, network: str) -> list[int]:
    needle = str(Path(root) / "networks" / network).encode()
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                cmdline = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if needle in cmdline and any(b"from sandbox.network.dns import main" in part for part in cmdline):
                found.append(int(entry))
    return found
