"""``-p`` for a rootless container on a user network: a proxy in user space that listens on
the host and connects inside the user's network namespace.  (socket(7), network_namespaces(7))

    host network namespace                 the user's namespace N (sandbox.network.rootless_netns)
    ──────────────────────                 ──────────────────────────────────────────────
    0.0.0.0:8080  listen() ── the proxy ── connect() ──► 172.18.0.2:80  (the container, on a bridge)

A socket belongs to the network namespace it was *made* in, for the rest of its
life, whichever namespace its process moves to afterwards.  So the monitor
binds the host's ports first, while it is still in the host's namespace, and
hands the listening sockets to this process, which runs in N: it accepts on the
host and connects in N, and copies the bytes both ways, two threads a
connection.  Docker's own ``docker-proxy`` is the same idea (for a port on the
host's loopback).  TCP only.

pasta cannot do it here: it is started once for N, with the ports it will ever
forward, and a container started later may publish new ones.

Started by :mod:`sandbox.network.rootless_netns` as ``python -I -S -c ... FD:ADDRESS:PORT...``,
ended with its container (:func:`sandbox.network.rootless_net.detach`).
"""

from __future__ import annotations

import os
import selectors
import signal
import socket
import sys
import threading

MARK = "sandbox.network.portproxy"  # in its command line: how detach() recognises it


def argv(forwards: list[tuple[int, str, int]]) -> list[str]:
    """The proxy's command line: one ``FD:ADDRESS:PORT`` per listening socket."""
    package_parent = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    return [sys.executable, "-I", "-S", "-c",
            f"import sys; sys.path.insert(0, sys.argv[1]); from {MARK} import main; "
            "main(sys.argv[2:])", package_parent] + [f"{fd}:{a}:{p}" for fd, a, p in forwards]


def main(args: list[str]) -> None:
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    for sig in (signal.SIGINT, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    chooser = selectors.DefaultSelector()
    for item in args:
        fd, address, port = item.split(":")
        listener = socket.socket(fileno=int(fd))
        chooser.register(listener, selectors.EVENT_READ, (address, int(port)))
    while True:
        for key, _ in chooser.select():
            try:
                client, _ = key.fileobj.accept()
            except OSError:
                continue
            threading.Thread(target=_serve, args=(client, key.data), daemon=True).start()


def _serve(client: socket.socket, target: tuple[str, int]) -> None:
    try:
        inside = socket.create_connection(target, timeout=5)
    except OSError:
        client.close()
        return
    inside.settimeout(None)
    back = threading.Thread(target=_copy, args=(inside, client), daemon=True)
    back.start()
    _copy(client, inside)
    back.join()
    client.close()
    inside.close()


def _copy(source: socket.socket, sink: socket.socket) -> None:
    """Bytes from ``source`` to ``sink`` until end-of-file, which is passed on (shutdown)."""
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    try:
        sink.shutdown(socket.SHUT_WR)
    except OSError:
        pass
