"""Talking to the kernel's network configuration as ``ip`` does: rtnetlink.  rtnetlink(7), netlink(7)

``ip link add``, ``ip addr add`` and ``ip route add`` are each one message
on a netlink socket (``socket(AF_NETLINK, SOCK_RAW, NETLINK_ROUTE)``): a
16-byte header (length, type, flags, sequence number, port), a fixed
structure for the object (``ifinfomsg`` for a link, ``ifaddrmsg`` for an
address, ``rtmsg`` for a route), then attributes, each a (length, type,
value) padded to 4 bytes, nested where a value is itself attributes.  The
kernel answers each request with an acknowledgement: error 0, or -errno.

:mod:`sandbox.isolation.links` sends these three on the path of every ``sandbox run``
rather than starting ``ip`` twice (about 2 ms each); each function below
names the ``ip`` command it stands for, which ``ip -d monitor`` would show.
A netlink socket belongs to the network namespace of the thread that opens
it: opened inside a container's namespace, it configures that namespace.
"""

from __future__ import annotations

import os
import struct

# The C module, not `socket`: the Python wrapper imports selectors and builds enums,
# about 2 ms on the path of every run (sandbox.engine.monitor does the same).
import _socket as socket

# From linux/rtnetlink.h, linux/if_link.h, linux/veth.h, linux/if_addr.h.
RTM_NEWLINK, RTM_NEWADDR, RTM_NEWROUTE = 16, 20, 24
NLM_F_REQUEST, NLM_F_ACK, NLM_F_EXCL, NLM_F_CREATE = 0x1, 0x4, 0x200, 0x400
NLMSG_ERROR = 2
IFF_UP = 0x1
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_MASTER, IFLA_LINKINFO, IFLA_NET_NS_FD = 1, 3, 4, 10, 18, 28
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
VETH_INFO_PEER = 1
IFA_ADDRESS, IFA_LOCAL = 1, 2
RTA_GATEWAY, RTA_OIF, RTA_METRICS = 5, 4, 8
RTAX_MTU = 2
RT_TABLE_MAIN, RTPROT_BOOT, RT_SCOPE_UNIVERSE, RTN_UNICAST = 254, 3, 0, 1

IFINFOMSG = "BxHiII"   # family, pad, type, index, flags, change
IFADDRMSG = "BBBBi"    # family, prefixlen, flags, scope, index
RTMSG = "BBBBBBBBI"    # family, dst_len, src_len, tos, table, protocol, scope, type, flags


def attr(kind: int, value: bytes) -> bytes:
    """One attribute: length (header included, padding not), type, value, padding to 4 bytes."""
    length = 4 + len(value)
    return struct.pack("HH", length, kind) + value + b"\0" * (-length % 4)


def name_attr(name: str) -> bytes:
    return attr(IFLA_IFNAME, name.encode() + b"\0")


def u32(kind: int, value: int) -> bytes:
    return attr(kind, struct.pack("I", value))


def ipv4(kind: int, address: str) -> bytes:
    return attr(kind, socket.inet_aton(address))


class Socket:
    """A netlink socket to the kernel's routing part, in this thread's network namespace."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW | socket.SOCK_CLOEXEC,
                                  socket.NETLINK_ROUTE)
        self.sock.bind((0, 0))
        self.seq = 0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.sock.close()

    def request(self, kind: int, flags: int, body: bytes, what: str) -> None:
        """Send one request and wait for its acknowledgement; OSError naming ``what`` if refused."""
        self.seq += 1
        header = struct.pack("IHHII", 16 + len(body), kind, NLM_F_REQUEST | NLM_F_ACK | flags,
                             self.seq, 0)
        self.sock.send(header + body)
        while True:
            data = self.sock.recv(65536)
            offset = 0
            while offset + 16 <= len(data):
                length, msg_type, _, seq, _ = struct.unpack_from("IHHII", data, offset)
                if msg_type == NLMSG_ERROR and seq == self.seq:
                    error = -struct.unpack_from("i", data, offset + 16)[0]
                    if error:
                        raise OSError(error, f"{what}: {os.strerror(error)}")
                    return
                offset += max(length + (-length % 4), 16)

    # --- the messages ---------------------------------------------------------------------
    def add_veth(self, name: str, mtu: int, master: str, peer: str, peer_mac: str,
                 peer_netns_fd: int) -> None:
        """``ip link add name NAME mtu MTU master MASTER up type veth peer name PEER mtu MTU
        address MAC netns /proc/self/fd/FD``: the pair, one end on the bridge and up, the
        other moved into the namespace ``peer_netns_fd`` at once."""
        peer_info = (struct.pack(IFINFOMSG, 0, 0, 0, 0, 0) + name_attr(peer) + u32(IFLA_MTU, mtu)
                     + attr(IFLA_ADDRESS, bytes.fromhex(peer_mac.replace(":", "")))
                     + u32(IFLA_NET_NS_FD, peer_netns_fd))
        link_info = (attr(IFLA_INFO_KIND, b"veth")
                     + attr(IFLA_INFO_DATA, attr(VETH_INFO_PEER, peer_info)))
        body = (struct.pack(IFINFOMSG, 0, 0, 0, IFF_UP, IFF_UP) + name_attr(name)
                + u32(IFLA_MTU, mtu) + u32(IFLA_MASTER, socket.if_nametoindex(master))
                + attr(IFLA_LINKINFO, link_info))
        self.request(RTM_NEWLINK, NLM_F_CREATE | NLM_F_EXCL, body, f"ip link add {name}")

    def set_up(self, name: str) -> None:
        """``ip link set NAME up``."""
        body = struct.pack(IFINFOMSG, 0, 0, socket.if_nametoindex(name), IFF_UP, IFF_UP)
        self.request(RTM_NEWLINK, 0, body, f"ip link set {name} up")

    def add_address(self, name: str, address: str, prefixlen: int) -> None:
        """``ip addr add ADDRESS/PREFIXLEN dev NAME``."""
        body = (struct.pack(IFADDRMSG, socket.AF_INET, prefixlen, 0, RT_SCOPE_UNIVERSE,
                            socket.if_nametoindex(name))
                + ipv4(IFA_LOCAL, address) + ipv4(IFA_ADDRESS, address))
        self.request(RTM_NEWADDR, NLM_F_CREATE | NLM_F_EXCL, body,
                     f"ip addr add {address}/{prefixlen} dev {name}")

    def add_default_route(self, gateway: str, name: str, mtu: int) -> None:
        """``ip route add default via GATEWAY dev NAME mtu MTU``."""
        body = (struct.pack(RTMSG, socket.AF_INET, 0, 0, 0, RT_TABLE_MAIN, RTPROT_BOOT,
                            RT_SCOPE_UNIVERSE, RTN_UNICAST, 0)
                + ipv4(RTA_GATEWAY, gateway) + u32(RTA_OIF, socket.if_nametoindex(name))
                + attr(RTA_METRICS, u32(RTAX_MTU, mtu)))
        self.request(RTM_NEWROUTE, NLM_F_CREATE | NLM_F_EXCL, body,
                     f"ip route add default via {gateway} dev {name} mtu {mtu}")
