"""Networks (chapter 09): the default bridge, published ports, user networks, cleanup.

Real containers and real packets: busybox's ``httpd`` serves, ``wget`` and
``ping`` ask.  Leftover checks look only at this test's own containers and
networks (other people run sandbox on the same machine).
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import IS_ROOT, fails_with_one_sentence, root_only, rootless_only, sandbox

from sandbox.network import ipam, netconfig, ports


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def inspect(ref: str) -> dict:
    return json.loads(sandbox("inspect", ref, check=True).stdout)[0]


def fetch(url: str, timeout: float = 5) -> str:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as r:
                return r.read().decode()
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def serve(name: str, *flags: str, text: str = "hello from the container") -> str:
    """A detached busybox httpd on port 80 serving ``text``; its id."""
    return sandbox("run", "-d", "--name", name, *flags, "busybox", "sh", "-c",
                   f"mkdir /www && echo '{text}' > /www/index.html && "
                   "exec httpd -f -p 80 -h /www", check=True).stdout.strip()


def our_rules(cid: str) -> list[str]:
    out = subprocess.run(["nft", "list", "table", "ip", "sandbox"], capture_output=True,
                         text=True).stdout
    return [line for line in out.splitlines() if cid in line]


@pytest.fixture
def network(name):
    """A user network named after the test, removed afterwards."""
    net = name[:30] + "-net"
    sandbox("network", "create", net, check=True)
    yield net
    sandbox("network", "rm", net)


# --- pure decisions --------------------------------------------------------------------------
def test_a_subnet_is_chosen_clear_of_the_hosts_routes_and_other_networks():
    routes = ipam.host_routes("Iface\tDestination\tGateway\tFlags\tRefCnt\tUse\tMetric\tMask\n"
                              "eth0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\n"
                              "eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\n")
    assert routes == [ipaddress.ip_network("172.17.0.0/16")]  # the default route does not count
    assert str(ipam.free_subnet(["172.18.0.0/16"], routes)) == "172.19.0.0/16"
    with pytest.raises(ipam.AddressError, match="overlaps the host's route"):
        ipam.check_subnet("172.17.3.0/24", {}, routes)
    with pytest.raises(ipam.AddressError, match="network web has 10.1.0.0/16"):
        ipam.check_subnet("10.1.2.0/24", {"web": "10.1.0.0/16"}, [])


@pytest.mark.parametrize("spec, expected", [
    ("80", [("", "", 80, "tcp")]),
    ("8080:80", [("", "8080", 80, "tcp")]),
    ("127.0.0.1:8080:80/udp", [("127.0.0.1", "8080", 80, "udp")]),
    ("127.0.0.1::80", [("127.0.0.1", "", 80, "tcp")]),
    ("8000-8001:80-81", [("", "8000", 80, "tcp"), ("", "8001", 81, "tcp")]),
    ("8000-8009:80", [("", "8000-8009", 80, "tcp")]),
])
def test_publish_is_read_as_docker_reads_it(spec, expected):
    got = [(p["HostIp"], p["HostPort"], p["ContainerPort"], p["Proto"]) for p in ports.parse([spec])]
    assert got == expected


def test_publish_all_takes_the_images_exposed_ports_and_p_wins():
    config = {"ExposedPorts": {"80/tcp": {}, "53/udp": {}}}
    entries = ports.merged(ports.parse(["8080:80"]), ports.exposed(config))
    assert [(p["HostPort"], p["ContainerPort"], p["Proto"]) for p in entries] == [
        ("8080", 80, "tcp"), ("", 53, "udp")]


def test_resolv_conf_drops_loopback_resolvers_as_docker_does():
    host = "nameserver 127.0.0.53\noptions edns0\nsearch example.org\n"
    assert netconfig.resolv_conf(host, "bridge").startswith("nameserver 8.8.8.8\n")
    assert "options edns0" in netconfig.resolv_conf(host, "bridge")
    assert netconfig.resolv_conf(host, "host") == host
    assert netconfig.resolv_conf(host, "web", gateway="172.18.0.1").startswith(
        "nameserver 172.18.0.1\n")
    assert netconfig.resolv_conf(host, "bridge", dns=["1.1.1.1"]).startswith(
        "nameserver 1.1.1.1\n")


# --- the default bridge -----------------------------------------------------------------------------
@root_only
def test_a_container_on_the_bridge_has_eth0_an_address_and_a_way_out():
    r = sandbox("run", "--rm", "busybox", "sh", "-c",
                "ip -4 -o addr show eth0; ip route; "
                "ping -c 1 -W 2 $(ip route | awk '/default/ {print $3}') >/dev/null && echo pong",
                check=True)
    lines = r.stdout.splitlines()
    address = ipaddress.ip_interface(lines[0].split()[3])
    assert address.network == ipaddress.ip_network("172.17.0.0/16") or address.is_private
    assert any(line.startswith("default via ") for line in lines)
    assert lines[-1] == "pong"


@root_only
def test_eth0_has_the_local_mtu_and_the_default_route_the_hosts(name):
    """Between containers and the host, 65535-byte packets; out by the default route, the
    host's MTU (the container's TCP takes its MSS from the route).  busybox's ``ip`` does
    not print a route's mtu: the host's ``ip``, in the container's namespace, does."""
    from sandbox.isolation.links import LOCAL_MTU, default_route_mtu
    sandbox("run", "-d", "--name", name, "busybox", "sleep", "60", check=True)
    try:
        mtu = sandbox("exec", name, "cat", "/sys/class/net/eth0/mtu", check=True).stdout
        pid = inspect(name)["State"]["Pid"]
        route = subprocess.run(["nsenter", "-t", str(pid), "-n", "ip", "route", "show", "default"],
                               capture_output=True, text=True, check=True).stdout.split()
    finally:
        sandbox("rm", "-f", name)
    assert int(mtu) == LOCAL_MTU
    assert route[route.index("mtu") + 1] == str(default_route_mtu())


@root_only
def test_ten_containers_started_at_once_get_ten_addresses(name):
    names = [f"{name}-{i}" for i in range(10)]
    try:
        with ThreadPoolExecutor(10) as pool:
            results = list(pool.map(lambda n: sandbox("run", "-d", "--name", n, "busybox",
                                                      "sleep", "60"), names))
        assert all(r.returncode == 0 for r in results), [r.stderr for r in results]
        addresses = [inspect(n)["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
                     for n in names]
        assert len(set(addresses)) == 10 and all(addresses), addresses
    finally:
        sandbox("rm", "-f", *names)


@root_only
def test_a_published_port_answers_on_the_hosts_loopback(name):
    port = free_port()
    cid = serve(name, "-p", f"{port}:80")
    try:
        assert fetch(f"http://127.0.0.1:{port}/") == "hello from the container\n"
        assert sandbox("port", name, check=True).stdout == f"80/tcp -> 0.0.0.0:{port}\n"
        assert sandbox("port", name, "80", check=True).stdout == f"0.0.0.0:{port}\n"
        assert f"0.0.0.0:{port}->80/tcp" in sandbox("ps", check=True).stdout
        assert inspect(name)["NetworkSettings"]["Ports"] == {
            "80/tcp": [{"HostIp": "0.0.0.0", "HostPort": str(port)}]}
        assert len(our_rules(cid)) == 1
        # The same host port for another container: one sentence, nothing made.
        r = sandbox("run", "--rm", "--name", name + "-2", "-p", f"{port}:80", "busybox", "true")
        fails_with_one_sentence(r, f"Bind for 0.0.0.0:{port} failed: port is already allocated")
        assert sandbox("inspect", name + "-2").returncode != 0
    finally:
        sandbox("rm", "-f", name, check=True)
    assert our_rules(cid) == []
    assert not os.path.exists(f"{ports.CLAIMS}/tcp-{port}")


@root_only
def test_an_empty_host_port_gets_one_from_the_ephemeral_range(name):
    serve(name, "-p", "127.0.0.1::80")
    try:
        line = sandbox("port", name, "80/tcp", check=True).stdout.strip()
        host, _, port = line.rpartition(":")
        low, high = (int(n) for n in open("/proc/sys/net/ipv4/ip_local_port_range").read().split())
        assert host == "127.0.0.1" and low <= int(port) <= high
        assert fetch(f"http://127.0.0.1:{port}/") == "hello from the container\n"
    finally:
        sandbox("rm", "-f", name, check=True)


@root_only
def test_network_modes_host_none_and_another_containers(name):
    inside = sandbox("run", "--rm", "--network", "host", "busybox", "readlink",
                     "/proc/self/ns/net", check=True).stdout.strip()
    assert inside == os.readlink("/proc/self/ns/net")
    sandbox("run", "-d", "--name", name, "busybox", "sleep", "60", check=True)
    try:
        mine = os.readlink(f"/proc/{inspect(name)['State']['Pid']}/ns/net")
        r = sandbox("run", "--rm", "--network", f"container:{name}", "busybox", "readlink",
                    "/proc/self/ns/net", check=True)
        assert r.stdout.strip() == mine
    finally:
        sandbox("rm", "-f", name, check=True)


@root_only
def test_the_hostname_resolves_to_the_containers_address():
    r = sandbox("run", "--rm", "--hostname", "box", "busybox", "sh", "-c",
                "hostname; ip -4 -o addr show eth0; grep box /etc/hosts", check=True)
    name, addr_line, hosts_line = r.stdout.splitlines()
    assert name == "box"
    assert hosts_line == addr_line.split()[3].split("/")[0] + "\tbox"


@root_only
def test_add_host_and_dns_are_written_as_docker_writes_them():
    r = sandbox("run", "--rm", "--add-host", "db:10.1.2.3", "--dns", "9.9.9.9", "busybox",
                "sh", "-c", "cat /etc/hosts /etc/resolv.conf", check=True)
    assert "10.1.2.3\tdb" in r.stdout and "nameserver 9.9.9.9" in r.stdout
    fails_with_one_sentence(sandbox("run", "--rm", "--add-host", "db", "busybox", "true"),
                            "invalid --add-host db")
    fails_with_one_sentence(sandbox("run", "--rm", "--dns", "nope", "busybox", "true"),
                            "invalid --dns nope")
    fails_with_one_sentence(sandbox("run", "--rm", "--ip", "172.17.0.9", "busybox", "true"),
                            "--ip: user specified IP address is supported on user defined "
                            "networks only")


# --- user networks ----------------------------------------------------------------------------------
@root_only
def test_two_containers_on_a_user_network_reach_each_other(name, network):
    serve(name, "--network", network, "--network-alias", "web")
    try:
        entry = inspect(name)["NetworkSettings"]["Networks"][network]
        address, gateway = entry["IPAddress"], entry["Gateway"]
        r = sandbox("run", "--rm", "--network", network, "busybox", "sh", "-c",
                    f"cat /etc/resolv.conf; wget -q -O - http://{address}/", check=True)
        assert f"nameserver {gateway}" in r.stdout
        assert "hello from the container" in r.stdout
        info = json.loads(sandbox("network", "inspect", network, check=True).stdout)[0]
        assert [c["Name"] for c in info["Containers"].values()] == [name]
        # In use: refused, naming the container; nothing changed.
        fails_with_one_sentence(sandbox("network", "rm", network), f"(container {name})")
        assert network in sandbox("network", "ls", check=True).stdout
        import importlib.util
        if importlib.util.find_spec("sandbox.network.dns") is None:
            return  # another part of chapter 09 brings the names
        r = sandbox("run", "--rm", "--network", network, "busybox", "sh", "-c",
                    f"wget -q -O - http://{name}/ && wget -q -O - http://web/", check=True)
        assert r.stdout.count("hello from the container") == 2
    finally:
        sandbox("rm", "-f", name, check=True)


@root_only
def test_network_create_refuses_a_taken_subnet_or_name_and_makes_nothing(name, network):
    subnet = json.loads(sandbox("network", "inspect", network, check=True).stdout)[0][
        "IPAM"]["Config"][0]["Subnet"]
    other = name[:30] + "-other"
    fails_with_one_sentence(sandbox("network", "create", "--subnet", subnet, other),
                            f"--subnet {subnet}")
    fails_with_one_sentence(sandbox("network", "create", network),
                            f"network with name {network} already exists")
    fails_with_one_sentence(sandbox("network", "create", "--subnet", "10.0.0.0/33", other),
                            "invalid --subnet 10.0.0.0/33")
    assert other not in sandbox("network", "ls", check=True).stdout
    sandbox("network", "create", other, check=True)
    r = sandbox("network", "prune", "-f", check=True)
    assert other in r.stdout.split() and network in r.stdout.split()
    assert other not in sandbox("network", "ls", check=True).stdout


@root_only
def test_ip_internal_connect_and_disconnect(name):
    net = name[:28] + "-in"
    sandbox("network", "create", "--internal", "--subnet", "10.213.7.0/24", net, check=True)
    try:
        r = sandbox("run", "--rm", "--network", net, "--ip", "10.213.7.42", "busybox", "sh",
                    "-c", "ip -4 -o addr show eth0; ip route", check=True)
        assert "10.213.7.42/24" in r.stdout and "default" not in r.stdout
        sandbox("run", "-d", "--name", name, "busybox", "sleep", "60", check=True)
        sandbox("network", "connect", net, name, check=True)
        devices = sandbox("exec", name, "ls", "/sys/class/net", check=True).stdout.split()
        assert devices == ["eth0", "eth1", "lo"]
        sandbox("network", "disconnect", net, name, check=True)
        devices = sandbox("exec", name, "ls", "/sys/class/net", check=True).stdout.split()
        assert devices == ["eth0", "lo"]
    finally:
        sandbox("rm", "-f", name)
        sandbox("network", "rm", net, check=True)


@root_only
def test_after_kill_9_and_prune_nothing_of_the_container_is_left(name, network, state_root):
    port = free_port()
    cid = serve(name, "--network", network, "-p", f"{port}:80")
    state = json.loads((state_root / "containers" / cid / "state.json").read_text())
    record = json.loads((state_root / "networks" / network / "network.json").read_text())
    from sandbox.isolation.links import host_veth_name
    veth = host_veth_name(cid, record["Id"])
    assert os.path.exists(f"/sys/class/net/{veth}") and our_rules(cid)
    os.kill(state["MonitorPid"], signal.SIGKILL)
    os.kill(state["Pid"], signal.SIGKILL)
    time.sleep(0.2)
    sandbox("system", "prune", "-f", check=True)
    assert not os.path.exists(f"/sys/class/net/{veth}")
    assert our_rules(cid) == []
    assert not os.path.exists(f"{ports.CLAIMS}/tcp-{port}")
    leases = state_root / "networks" / network / "leases"
    assert not any(cid in (leases / f).read_text() for f in os.listdir(leases))
    assert not os.listdir(state_root / "networks" / network / "endpoints")
    assert not (state_root / "networks" / network / "dns.pid").exists()  # its responder too
    assert network in sandbox("network", "ls", check=True).stdout  # the network stays


@root_only
def test_the_python_api_publishes_ports_as_docker_py_does(name):
    from sandbox import api
    port = free_port()
    with api.run("busybox", ["sh", "-c", "mkdir /www && echo api > /www/index.html && "
                             "exec httpd -f -p 80 -h /www"], name=name, detach=True,
                 ports={"80/tcp": ("127.0.0.1", port)}) as c:
        assert c.ports == {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": str(port)}]}
        assert c.ip_address
        assert fetch(f"http://127.0.0.1:{port}/") == "api\n"


@root_only
def test_rm_f_after_a_killed_monitor_gives_everything_back(name, state_root):
    port = free_port()
    cid = serve(name, "-p", f"127.0.0.1:{port}:80")
    state = json.loads((state_root / "containers" / cid / "state.json").read_text())
    os.kill(state["MonitorPid"], signal.SIGKILL)
    sandbox("rm", "-f", name, check=True)
    assert our_rules(cid) == []
    assert not os.path.exists(f"{ports.CLAIMS}/tcp-{port}")
    leases = "/run/sandbox/sandbox0/leases"
    assert not any(cid in open(os.path.join(leases, f)).read() for f in os.listdir(leases))


PLUG_OVER_AN_OLD_END = r"""
import os, subprocess, sys, threading, time
from sandbox.isolation import links

def ip(*args):
    subprocess.run(["ip", *args], check=True)

ip("link", "add", "br0", "type", "bridge")
holder = subprocess.Popen(["unshare", "-n", "sleep", "30"], stdout=subprocess.DEVNULL,
                          stderr=subprocess.DEVNULL)
time.sleep(0.2)
netns = os.open(f"/proc/{holder.pid}/ns/net", os.O_RDONLY)
ip("link", "add", "vethold", "type", "veth", "peer", "name", "oldpeer")  # the last run's
if sys.argv[1] == "goes":                        # the kernel's worker takes it a moment later
    threading.Timer(0.3, ip, ("link", "del", "vethold")).start()
began = time.monotonic()
try:
    links.plug(netns, "vethold", "br0", "eth0", "10.9.0.2", 24, None, 1500)
finally:
    holder.kill()
waited = time.monotonic() - began
shown = subprocess.run(["ip", "-o", "link", "show", "vethold"], capture_output=True,
                       text=True, check=True).stdout
print("oldpeer" not in shown, "master br0" in shown, round(waited, 1))
"""


@root_only
@pytest.mark.parametrize("old_end, waits", [("goes", (0.2, 1.5)), ("stays", (2.9, 4))])
def test_a_new_veth_waits_for_the_old_one_of_the_same_name(old_end, waits):
    """``restart`` right after a stop: the container's old veth still has its name until the
    kernel's worker has torn its namespace down.  Plugging in waits for it (and deletes it
    if it stays), instead of failing with ``File exists``.  In a network namespace of its
    own, so the host's devices are not touched."""
    done = subprocess.run(["unshare", "-n", sys.executable, "-c", PLUG_OVER_AN_OLD_END, old_end],
                          capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    is_new, on_bridge, waited = done.stdout.split()
    assert is_new == "True" and on_bridge == "True"
    assert waits[0] <= float(waited) <= waits[1]


def _default_bridge():
    """(ifindex of sandbox0 or None, the pids holding it without an address: lingers, builds)."""
    from sandbox.network import ipam, networks
    try:
        index = socket.if_nametoindex(networks.DEFAULT_DEVICE)
    except OSError:
        index = None
    leases = ipam.Leases(ipam.HOST_WIDE / networks.DEFAULT_DEVICE / "leases", "0.0.0.0/0",
                         "0.0.0.0")
    holds = [h["pid"] for name, h in leases.holders() if name.startswith("hold-")]
    return index, [pid for pid in holds if _is_linger(pid)], leases


def _is_linger(pid: int) -> bool:
    """Named so by itself, a moment after its fork (the hold is written first)."""
    for _ in range(100):
        try:
            if Path(f"/proc/{pid}/comm").read_text().strip() == "sandbox-linger":
                return True
        except OSError:
            return False
        time.sleep(0.01)
    return False


@root_only
def test_the_default_bridge_outlives_its_last_container_by_a_moment_then_goes():
    """Taking the bridge down costs ~70 ms (the kernel's RCU grace periods, nft): the last
    container leaves it to a linger process, which takes it down two seconds later unless
    another container came meanwhile; runs one after another make it once."""
    from sandbox.kernel import procfs
    assert sandbox("run", "--rm", "busybox", "true").returncode == 0
    first, holds, leases = _default_bridge()
    assert first is not None and holds, "the bridge and a linger's hold after the run"
    linger = holds[-1]
    started = procfs.start_time(linger)
    assert sandbox("run", "--rm", "busybox", "true").returncode == 0
    assert _default_bridge()[0] == first, "the second run found the same bridge"
    assert procfs.wait_gone(linger, started, 10), "the linger ends"
    index, holds, leases = _default_bridge()
    others = [h for _, h in leases.holders()]
    assert index is None or others, f"sandbox0 stays with no holder: {others}"
    if index is None:
        tables = subprocess.run(["nft", "list", "tables"], capture_output=True, text=True).stdout
        assert "ip sandbox" not in tables or any(d.startswith("sbx-")
                                                 for d in os.listdir("/sys/class/net"))


@root_only
def test_system_prune_takes_down_a_bridge_whose_linger_was_killed():
    from sandbox.kernel import procfs
    assert sandbox("run", "--rm", "busybox", "true").returncode == 0
    _, holds, _ = _default_bridge()
    linger = holds[-1]
    started = procfs.start_time(linger)
    os.kill(linger, signal.SIGKILL)
    assert procfs.wait_gone(linger, started, 5)
    assert _default_bridge()[0] is not None, "a killed linger's hold keeps the bridge"
    sandbox("system", "prune", "-f", check=True)
    index, holds, leases = _default_bridge()
    assert linger not in holds
    assert index is None or leases.holders(), "prune took the unheld bridge down"
