"""Namespaces: what a process can see.  namespaces(7)

Each kind of namespace gives a process its own copy of one global resource:

    mnt    the mount table            uts     the hostname
    pid    process numbers            ipc     System V IPC, POSIX message queues
    net    network devices, ports     user    user and group ids, capabilities
                                      cgroup  which cgroup looks like "/" (cgroup_namespaces(7))

A process's namespaces are the links in /proc/PID/ns; two processes are in
the same namespace exactly when their links name the same inode.  A
container is a process that starts in new namespaces of every kind
(``unshare``), and ``docker exec`` is a process that joins them (``setns``).
"""

from __future__ import annotations

import fcntl
import os
import struct

from ..kernel import syscalls as sc

# The order in which exec joins a container's namespaces.  The user namespace
# comes first, because it grants the capabilities needed to join the others;
# the mount namespace comes last, because it changes what "/proc/PID/ns/..."
# means for every path opened after it (the descriptors are opened beforehand).
JOIN_ORDER = ("user", "cgroup", "ipc", "uts", "net", "pid", "mnt")
CONTAINER_FLAGS = (sc.CLONE_NEWNS | sc.CLONE_NEWUTS | sc.CLONE_NEWIPC | sc.CLONE_NEWNET
                   | sc.CLONE_NEWCGROUP)


def inode(pid: int | str, kind: str) -> int:
    """The inode number that identifies ``pid``'s namespace of this kind."""
    return os.stat(f"/proc/{pid}/ns/{kind}").st_ino


def enter_user_namespace() -> None:
    """Create a user namespace in which this process is root, mapped to its own uid and gid.

    An unprivileged process may write one line to its own uid_map, mapping
    one id inside to its own id outside; for gid_map it must first give up
    setgroups(2) (user_namespaces(7), "Interaction with system calls changing
    process UIDs or GIDs").  Inside, it has every capability, but only over
    namespaces and files that this user namespace owns.
    """
    uid, gid = os.geteuid(), os.getegid()
    sc.unshare(sc.CLONE_NEWUSER)
    _write("/proc/self/uid_map", f"0 {uid} 1\n")
    _write("/proc/self/setgroups", "deny\n")
    _write("/proc/self/gid_map", f"0 {gid} 1\n")


def _write(path: str, text: str) -> None:
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, text.encode())
    finally:
        os.close(fd)


def open_namespaces(pid: int, rootless: bool, host_owned_net: bool = False) -> list[tuple[str, int]]:
    """Open /proc/PID/ns/* for every namespace a process must join to enter ``pid``'s container.

    ``host_owned_net``: the container's network namespace was made by host root (sandbox.network.wiring),
    not inside its user namespace; it is joined first, while we still have host root's
    CAP_SYS_ADMIN over it (setns(2)).
    """
    kinds = [k for k in JOIN_ORDER if rootless or k != "user"]
    if rootless and inode("self", "user") == inode(pid, "user"):
        # Already in it: a rootless container's monitor, running its healthcheck
        # (sandbox.engine.health).  setns(2) refuses one's own user namespace (EINVAL).
        kinds.remove("user")
    if host_owned_net and rootless:
        kinds = ["net"] + [k for k in kinds if k != "net"]
    return [(kind, os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY | os.O_CLOEXEC))
            for kind in kinds]


def join(namespaces: list[tuple[str, int]]) -> None:
    """setns(2) into each namespace, in order.  Joining a PID namespace affects children only."""
    for kind, fd in namespaces:
        sc.setns(fd, sc.NAMESPACE_FLAGS[kind])
        os.close(fd)


SIOCGIFFLAGS = 0x8913
SIOCSIFFLAGS = 0x8914
IFF_UP = 0x1


def loopback_up() -> None:
    """Bring up ``lo`` in this network namespace: a new one starts with lo down.

    The same as ``ip link set lo up``, done with the SIOCSIFFLAGS ioctl on a
    socket (netdevice(7)).
    """
    fd = sc.socket(2, 2)  # AF_INET, SOCK_DGRAM: any socket will do for interface ioctls
    try:
        request = struct.pack("16sH14x", b"lo", 0)  # struct ifreq: name, then flags
        flags = struct.unpack("16sH14x", fcntl.ioctl(fd, SIOCGIFFLAGS, request))[1]
        fcntl.ioctl(fd, SIOCSIFFLAGS, struct.pack("16sH14x", b"lo", flags | IFF_UP))
    finally:
        os.close(fd)


def in_child(body, flags: int = 0, *args):
    """Call ``body(*args)`` in a forked child that first moves into new namespaces; return its result.

    This is the experiment bench of chapter 03: the child may change its
    hostname, mounts or network freely, and the caller (a notebook kernel)
    is untouched.  ``flags`` are CLONE_NEW* bits.  Without root, the child
    first enters a user namespace of its own, which is what allows an
    ordinary user to create the others.  With CLONE_NEWPID the body runs in
    a grandchild, which is process 1 of the new PID namespace.

    The result travels back through a pipe, pickled; an exception raised in
    the child is raised again here.
    """
    return _call_in_child(lambda: _in_namespaces(body, flags, args))


def _in_namespaces(body, flags: int, args):
    if flags and os.geteuid() != 0:
        enter_user_namespace()
    sc.unshare(flags)
    if not flags & sc.CLONE_NEWPID:
        return body(*args)
    # Process 1 of the new PID namespace is our next child: run the body there.
    return _call_in_child(lambda: body(*args))


def _call_in_child(fn):
    """fork(2); the child runs ``fn`` and pickles its outcome into a pipe; the parent
    reads it, collects the child, and returns the result or raises the error."""
    return collect(*spawn(fn))


def spawn(fn, close_in_child: tuple[int, ...] = ()) -> tuple[int, int]:
    """Start ``fn()`` in a forked child and return at once: (its pid, the pipe its outcome
    comes back on).  Pass both to :func:`collect`.

    Meanwhile the caller may talk to the child through a pipe of their own
    (``sandbox cp`` streams a tar archive that way); the caller's ends of it,
    listed in ``close_in_child``, are closed in the child first, or neither
    side would ever read end-of-file."""
    import pickle

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never return from here
        os.close(r)
        for fd in close_in_child:
            os.close(fd)
        try:
            outcome = ("ok", fn())
        except BaseException as err:  # noqa: BLE001 - carried back to the caller
            outcome = ("error", err)
        try:
            try:
                data = pickle.dumps(outcome)
            except Exception as err:  # noqa: BLE001 - an unpicklable result or error
                data = pickle.dumps(("error", RuntimeError(f"the child's result cannot be "
                                                           f"sent back: {err!r}")))
            os.write(w, data)
        finally:
            os._exit(0)  # even if the caller is gone (EPIPE): never return into its code
    os.close(w)
    return pid, r


def collect(pid: int, r: int):
    """Wait for a :func:`spawn` child; return its result or raise its error."""
    import pickle
    with os.fdopen(r, "rb") as f:
        data = f.read()
    os.waitpid(pid, 0)
    kind, value = pickle.loads(data) if data else ("error", RuntimeError("the child died"))
    if kind == "error":
        raise value
    return value
