"""Thin ctypes wrappers for the system calls Python's ``os`` module lacks.

Each wrapper keeps the C name and argument order, so the man page reads the
same as the code.  A failure raises :class:`~sandbox.errors.KernelCallError`,
which names the call, its arguments and the errno, and, where the man page
gives a reason for that errno, says it:

    >>> pivot_root("/x", "/x/.old")                       # doctest: +SKIP
    KernelCallError: pivot_root('/x', '/x/.old'): EINVAL: new_root must be a mount point ...

Man pages: unshare(2), setns(2), mount(2), umount2(2), mount_setattr(2),
open_tree(2), move_mount(2), pivot_root(2), sethostname(2), prctl(2), capset(2),
seccomp(2), bpf(2), mount_namespaces(7), namespaces(7).
"""

from __future__ import annotations

import ctypes
import errno
import os

from ..errors import KernelCallError

_libc = ctypes.CDLL(None, use_errno=True)

# --- namespace flags, from <linux/sched.h> --------------------------------
CLONE_NEWNS = 0x00020000      # mount namespace
CLONE_NEWCGROUP = 0x02000000  # cgroup namespace
CLONE_NEWUTS = 0x04000000     # hostname and domain name
CLONE_NEWIPC = 0x08000000     # System V IPC, POSIX message queues
CLONE_NEWUSER = 0x10000000    # user and group ids, capabilities
CLONE_NEWPID = 0x20000000     # process ids (takes effect for children)
CLONE_NEWNET = 0x40000000     # network devices, addresses, ports

NAMESPACE_FLAGS = {
    "mnt": CLONE_NEWNS, "cgroup": CLONE_NEWCGROUP, "uts": CLONE_NEWUTS,
    "ipc": CLONE_NEWIPC, "user": CLONE_NEWUSER, "pid": CLONE_NEWPID,
    "net": CLONE_NEWNET,
}

# --- mount flags, from <linux/mount.h> -------------------------------------
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_REMOUNT = 32
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_STRICTATIME = 1 << 24

MNT_DETACH = 2  # umount2: lazy unmount, detach now and clean up when no longer busy

_MS_NAMES = {
    MS_RDONLY: "MS_RDONLY", MS_NOSUID: "MS_NOSUID", MS_NODEV: "MS_NODEV",
    MS_NOEXEC: "MS_NOEXEC", MS_REMOUNT: "MS_REMOUNT", MS_BIND: "MS_BIND",
    MS_MOVE: "MS_MOVE", MS_REC: "MS_REC", MS_PRIVATE: "MS_PRIVATE",
    MS_SLAVE: "MS_SLAVE", MS_SHARED: "MS_SHARED", MS_STRICTATIME: "MS_STRICTATIME",
}


def mount_flag_names(flags: int) -> str:
    """Spell mount flags the way the man page does: ``MS_BIND|MS_REC``."""
    names = [name for bit, name in _MS_NAMES.items() if flags & bit]
    return "|".join(names) or "0"


# Reasons the man pages give for an errno of a particular call.  They turn
# "Invalid argument" into something a learner can act on.
_WHY = {
    ("pivot_root", errno.EINVAL): "new_root must be a mount point, put_old must be at or "
                                  "under new_root, neither may be on a shared mount, and the "
                                  "current root may not be a mount locked by a user namespace",
    ("pivot_root", errno.EBUSY): "new_root is on the current root filesystem (it must be a "
                                 "mount point of its own) or put_old is already a mount point",
    ("pivot_root", errno.EPERM): "the caller needs CAP_SYS_ADMIN in the mount namespace's "
                                 "user namespace",
    ("mount", errno.EPERM): "the caller needs CAP_SYS_ADMIN in the user namespace that "
                            "owns this mount namespace",
    ("mount", errno.ENODEV): "the kernel does not know this filesystem type",
    ("mount", errno.ENOENT): "the mount point (or a source path) does not exist",
    ("unshare", errno.EPERM): "creating this namespace needs CAP_SYS_ADMIN, or a user "
                              "namespace first (run as root, or enable user namespaces)",
    ("unshare", errno.EINVAL): "a multi-threaded process cannot create a user namespace",
    ("unshare", errno.ENOSPC): "the limit on nested namespaces "
                               "(/proc/sys/user/max_*_namespaces) is reached",
    ("setns", errno.EPERM): "joining needs CAP_SYS_ADMIN in the target namespace's owner",
    ("setns", errno.EINVAL): "a multi-threaded process cannot join a user or mount namespace",
    ("mount_setattr", errno.ENOSYS): "this kernel is older than 5.12, which added mount_setattr",
    ("sethostname", errno.EPERM): "only a process with CAP_SYS_ADMIN in the UTS namespace's "
                                  "owner may set the hostname",
    ("seccomp", errno.EACCES): "installing a filter needs no_new_privs "
                               "(prctl(PR_SET_NO_NEW_PRIVS, 1)) or CAP_SYS_ADMIN",
    ("seccomp", errno.EINVAL): "the kernel refused the operation, a flag or the filter: more "
                               "than 4096 instructions, a jump past the end, an instruction "
                               "seccomp does not allow, or no CONFIG_SECCOMP_FILTER",
    ("seccomp", errno.ENOMEM): "the filters on this process would exceed the kernel's limit "
                               "of 32768 instructions in all",
    ("bpf", errno.EPERM): "needs CAP_SYS_ADMIN (or CAP_BPF) in the initial user namespace",
    ("bpf", errno.EINVAL): "the kernel refused the attributes or the program (a kernel "
                           "without CONFIG_CGROUP_BPF does not know this program type)",
    ("bpf", errno.EACCES): "the verifier found the program unsafe",
    ("bpf", errno.EBADF): "target_fd must be an open directory of the cgroup2 hierarchy and "
                          "attach_bpf_fd a loaded program",
    ("bpf", errno.ENOSYS): "this kernel was built without bpf(2) (CONFIG_BPF_SYSCALL)",
}


def _check(result: int, call: str, *args) -> int:
    """Raise KernelCallError when a libc call returned -1."""
    if result == -1:
        err = ctypes.get_errno()
        raise KernelCallError(call, args, err, _WHY.get((call, err), ""))
    return result


def _path(p) -> bytes | None:
    return None if p is None else os.fsencode(p)


def unshare(flags: int) -> None:
    """Move the calling process into new namespaces.  unshare(2)

    ``CLONE_NEWPID`` is special: the caller stays where it is, and its *next
    child* becomes process 1 of the new PID namespace.
    """
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare", _flag_names(flags))


def setns(fd: int, nstype: int = 0) -> None:
    """Join the namespace that the file descriptor ``fd`` (from /proc/PID/ns/*) refers to.  setns(2)"""
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns", fd, _flag_names(nstype))


def mount(source, target, fstype=None, flags: int = 0, data: str | None = None) -> None:
    """Attach a filesystem at ``target``.  mount(2)

    Error messages name the source, target, type, flags and options, the way
    runc's do: ``mount('overlay', '/x', 'overlay', 0, 'lowerdir=...')``.
    """
    result = _libc.mount(_path(source), _path(target), _path(fstype),
                         ctypes.c_ulong(flags), None if data is None else data.encode())
    _check(result, "mount", source, str(target), fstype, _Spelled(mount_flag_names(flags)), data)


def umount2(target, flags: int = 0) -> None:
    """Detach the filesystem mounted at ``target``; ``MNT_DETACH`` does it lazily.  umount2(2)"""
    _check(_libc.umount2(_path(target), ctypes.c_int(flags)), "umount2", str(target), flags)


AT_FDCWD = -100
AT_EMPTY_PATH = 0x1000       # an empty path: the call acts on dfd itself
AT_RECURSIVE = 0x8000        # mount_setattr: the whole tree of mounts below the path
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
_MOUNT_SETATTR_NR = 442      # the same on every architecture (added in Linux 5.12)
OPEN_TREE_CLONE = 1             # open_tree: a detached copy of the mount, not the mount itself
OPEN_TREE_CLOEXEC = os.O_CLOEXEC
MOVE_MOUNT_F_EMPTY_PATH = 0x4   # move_mount: the source is the file descriptor itself
_OPEN_TREE_NR, _MOVE_MOUNT_NR = 428, 429  # the same on every architecture (Linux 5.2)

# For error messages, as _MS_NAMES: the flags of mount_setattr(2) and open_tree(2).
_AT_NAMES = {AT_EMPTY_PATH: "AT_EMPTY_PATH", AT_RECURSIVE: "AT_RECURSIVE"}
_OPEN_TREE_NAMES = {OPEN_TREE_CLONE: "OPEN_TREE_CLONE", OPEN_TREE_CLOEXEC: "OPEN_TREE_CLOEXEC",
                    **_AT_NAMES}
_MOUNT_ATTR_NAMES = {MOUNT_ATTR_RDONLY: "MOUNT_ATTR_RDONLY", MOUNT_ATTR_NOSUID: "MOUNT_ATTR_NOSUID",
                     MOUNT_ATTR_NODEV: "MOUNT_ATTR_NODEV", MOUNT_ATTR_NOEXEC: "MOUNT_ATTR_NOEXEC"}


def _spelled_flags(flags: int, names: dict[int, str]) -> _Spelled:
    """``AT_EMPTY_PATH|AT_RECURSIVE``; a bit without a name stays a number."""
    shown = [name for bit, name in names.items() if flags & bit]
    unnamed = flags & ~sum(names)
    return _Spelled("|".join(shown + ([hex(unnamed)] if unnamed else [])) or "0")


def mount_setattr(path, flags: int, attr_set: int, attr_clr: int = 0, dfd: int = AT_FDCWD) -> None:
    """Change the flags of a mount, and with ``AT_RECURSIVE`` of every mount below it.  mount_setattr(2)

    A bind mount's read-only flag belongs to that one mount: ``mount -o
    remount,ro,bind`` leaves the mounts nested inside it writable.
    mount_setattr(2) with AT_RECURSIVE changes the whole tree in one call.
    With AT_EMPTY_PATH and an empty ``path`` it changes the mount ``dfd`` holds
    (a detached copy from :func:`open_tree`, say); errors then name ``dfd`` too.
    ``struct mount_attr`` is four 64-bit fields: attr_set, attr_clr, propagation, userns_fd.
    """
    attr = (ctypes.c_uint64 * 4)(attr_set, attr_clr, 0, 0)
    result = _libc.syscall(ctypes.c_long(_MOUNT_SETATTR_NR), ctypes.c_int(dfd), _path(path),
                           ctypes.c_uint(flags), attr, ctypes.c_size_t(ctypes.sizeof(attr)))
    shown = f"attr_set={_spelled_flags(attr_set, _MOUNT_ATTR_NAMES)}" + (
        f", attr_clr={_spelled_flags(attr_clr, _MOUNT_ATTR_NAMES)}" if attr_clr else "")
    args = (str(path), _spelled_flags(flags, _AT_NAMES), _Spelled("{" + shown + "}"))
    _check(result, "mount_setattr", *(args if dfd == AT_FDCWD else (dfd, *args)))


def open_tree(path, flags: int) -> int:
    """A file descriptor for the mount at ``path``; with OPEN_TREE_CLONE, a detached copy.  open_tree(2)

    The copy belongs to no mount namespace until :func:`move_mount` attaches
    it somewhere, in whatever mount namespace the caller has moved into by
    then: a way to hand a container a mount its own root could not have made.
    """
    return _check(_libc.syscall(ctypes.c_long(_OPEN_TREE_NR), ctypes.c_int(AT_FDCWD),
                                _path(path), ctypes.c_uint(flags)),
                  "open_tree", str(path), _spelled_flags(flags, _OPEN_TREE_NAMES))


def move_mount(tree_fd: int, target) -> None:
    """Attach the detached mount ``tree_fd`` (from :func:`open_tree`) at ``target``.  move_mount(2)"""
    _check(_libc.syscall(ctypes.c_long(_MOVE_MOUNT_NR), ctypes.c_int(tree_fd), b"",
                         ctypes.c_int(AT_FDCWD), _path(target),
                         ctypes.c_uint(MOVE_MOUNT_F_EMPTY_PATH)), "move_mount", tree_fd,
           str(target))


def pivot_root(new_root, put_old) -> None:
    """Make ``new_root`` the root filesystem and move the old root to ``put_old``.  pivot_root(2)

    Unlike chroot(2), which only changes where path lookups start, pivot_root
    changes the mount the whole mount namespace sees as ``/``.  Once the old
    root is unmounted from ``put_old``, nothing of the host's filesystem is
    left to escape to.  glibc has no wrapper, so this goes through syscall(2).
    """
    nr = _PIVOT_ROOT_NR[os.uname().machine]  # the number differs per architecture
    _check(_libc.syscall(ctypes.c_long(nr), _path(new_root), _path(put_old)),
           "pivot_root", str(new_root), str(put_old))


_PIVOT_ROOT_NR = {  # __NR_pivot_root from each architecture's unistd.h
    "x86_64": 155, "aarch64": 41, "armv7l": 218, "ppc64le": 203, "s390x": 217, "riscv64": 41,
}


def sethostname(name: str) -> None:
    """Set the hostname of the calling process's UTS namespace.  sethostname(2)"""
    raw = name.encode()
    _check(_libc.sethostname(raw, ctypes.c_size_t(len(raw))), "sethostname", name)


class _Spelled(str):
    """A string shown without quotes in an error message: ``unshare(CLONE_NEWUTS)``."""

    def __repr__(self) -> str:
        return str(self)


def _flag_names(flags: int) -> str:
    names = [f"CLONE_NEW{n.upper() if n != 'mnt' else 'NS'}"
             for n, bit in NAMESPACE_FLAGS.items() if flags & bit]
    return _Spelled("|".join(names) or "0")


PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_NAME = 15  # the name ps shows (comm), at most 15 bytes
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38


def prctl(option: int, arg2: int = 0) -> None:
    """Process controls, such as the signal a child gets when its parent dies.  prctl(2)"""
    _check(_libc.prctl(ctypes.c_int(option), ctypes.c_ulong(arg2), ctypes.c_ulong(0),
                       ctypes.c_ulong(0), ctypes.c_ulong(0)), "prctl", option, arg2)


def set_name(name: bytes) -> None:
    """What ``ps`` calls this process (PR_SET_NAME: its ``comm``, at most 15 bytes).  prctl(2)"""
    buffer = ctypes.create_string_buffer(name[:15])
    prctl(PR_SET_NAME, ctypes.addressof(buffer))


_CAP_VERSION_3 = 0x20080522  # _LINUX_CAPABILITY_VERSION_3: two 32-bit words per set


def capset(effective: int, permitted: int, inheritable: int = 0) -> None:
    """Set this thread's capability sets, each a bit mask of CAP_* numbers.  capset(2)

    A process can only lower its permitted set (and raise effective or
    inheritable up to it).  Version 3 of the interface carries each 64-bit
    set as two 32-bit halves, low half first.
    """
    header = (ctypes.c_uint32 * 2)(_CAP_VERSION_3, 0)  # pid 0: this thread
    data = (ctypes.c_uint32 * 6)(effective & 0xFFFFFFFF, permitted & 0xFFFFFFFF,
                                 inheritable & 0xFFFFFFFF, effective >> 32, permitted >> 32,
                                 inheritable >> 32)
    _check(_libc.capset(header, data), "capset", hex(effective), hex(permitted))


# --- seccomp, from <linux/seccomp.h> and <linux/filter.h> -------------------
SECCOMP_SET_MODE_FILTER = 1       # operation: attach a BPF filter
SECCOMP_FILTER_FLAG_TSYNC = 1     # flags: apply it to every thread of the process
SECCOMP_FILTER_FLAG_LOG = 2       # flags: log every verdict but ALLOW


class sock_fprog(ctypes.Structure):
    """struct sock_fprog: a BPF program, ``len`` instructions of 8 bytes at ``filter``.

    ``filter`` is declared as a char pointer so that the program's ``bytes``
    can be given as they are (the kernel only reads them): no copy, and no new
    ctypes array type, which costs ~0.1 ms the first time a process makes one.
    """

    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_char_p)]

    def __repr__(self) -> str:
        return f"sock_fprog(len={self.len})"


def seccomp(operation: int, flags: int, args) -> int:
    """Set the calling thread's secure computing state.  seccomp(2)

    With ``SECCOMP_SET_MODE_FILTER``, ``args`` is a :class:`sock_fprog`: from
    then on the kernel runs that program on every system call this thread
    (and its future children) makes, and nothing can remove it.  The caller
    needs no_new_privs or CAP_SYS_ADMIN.  glibc has no wrapper, so this goes
    through syscall(2).
    """
    nr = _SECCOMP_NR[os.uname().machine]
    name = "SECCOMP_SET_MODE_FILTER" if operation == SECCOMP_SET_MODE_FILTER else operation
    return _check(_libc.syscall(ctypes.c_long(nr), ctypes.c_uint(operation),
                                ctypes.c_uint(flags), None if args is None else ctypes.byref(args)),
                  "seccomp", _Spelled(name), flags, _Spelled(repr(args)))


_SECCOMP_NR = {  # __NR_seccomp from each architecture's unistd.h
    "x86_64": 317, "aarch64": 277, "armv7l": 383, "ppc64le": 358, "s390x": 348, "riscv64": 277,
}


def socket(domain: int, kind: int, protocol: int = 0) -> int:
    """A bare socket descriptor.  socket(2)

    (Python's socket module would do, but importing it costs more than
    starting a container.)
    """
    return _check(_libc.socket(domain, kind, protocol), "socket", domain, kind, protocol)


# --- bpf(2): load a program into the kernel, attach it to a cgroup -----------------
# The parts of <linux/bpf.h> that the cgroup v2 device rules need (sandbox/isolation/devices.py).
BPF_PROG_LOAD = 5                  # enum bpf_cmd
BPF_PROG_ATTACH = 8
BPF_PROG_DETACH = 9
BPF_PROG_QUERY = 16
BPF_PROG_TYPE_CGROUP_DEVICE = 15   # enum bpf_prog_type
BPF_CGROUP_DEVICE = 6              # enum bpf_attach_type
BPF_F_ALLOW_MULTI = 2              # programs of parent and child cgroups all run; all must allow

_BPF_NR = {  # __NR_bpf from each architecture's unistd.h
    "x86_64": 321, "aarch64": 280, "armv7l": 386, "ppc64le": 361, "s390x": 351, "riscv64": 280,
}
_BPF_NAMES = {
    ("cmd", BPF_PROG_LOAD): "BPF_PROG_LOAD", ("cmd", BPF_PROG_ATTACH): "BPF_PROG_ATTACH",
    ("cmd", BPF_PROG_DETACH): "BPF_PROG_DETACH", ("cmd", BPF_PROG_QUERY): "BPF_PROG_QUERY",
    ("prog_type", BPF_PROG_TYPE_CGROUP_DEVICE): "BPF_PROG_TYPE_CGROUP_DEVICE",
    ("attach_type", BPF_CGROUP_DEVICE): "BPF_CGROUP_DEVICE",
    ("attach_flags", BPF_F_ALLOW_MULTI): "BPF_F_ALLOW_MULTI",
}


class bpf_attr_prog_load(ctypes.Structure):
    """The BPF_PROG_LOAD part of ``union bpf_attr``; the kernel reads the rest as zeros.

    ``insns``, ``license`` and ``log_buf`` are addresses: keep what they point
    to alive until the call returns.
    """
    _fields_ = [("prog_type", ctypes.c_uint32), ("insn_cnt", ctypes.c_uint32),
                ("insns", ctypes.c_uint64), ("license", ctypes.c_uint64),
                ("log_level", ctypes.c_uint32), ("log_size", ctypes.c_uint32),
                ("log_buf", ctypes.c_uint64), ("kern_version", ctypes.c_uint32),
                ("prog_flags", ctypes.c_uint32), ("prog_name", ctypes.c_char * 16)]
    _shown = ("prog_type", "insn_cnt", "prog_name")


class bpf_attr_prog_attach(ctypes.Structure):
    """The BPF_PROG_ATTACH (and _DETACH) part of ``union bpf_attr``."""
    _fields_ = [("target_fd", ctypes.c_uint32), ("attach_bpf_fd", ctypes.c_uint32),
                ("attach_type", ctypes.c_uint32), ("attach_flags", ctypes.c_uint32)]
    _shown = ("target_fd", "attach_bpf_fd", "attach_type", "attach_flags")


def bpf(cmd: int, attr: ctypes.Structure) -> int:
    """Run one command of the BPF subsystem; returns its result (BPF_PROG_LOAD: a new
    close-on-exec descriptor of the program).  bpf(2)

    ``attr`` is the command's part of ``union bpf_attr``.  glibc has no wrapper,
    so this goes through syscall(2).  When a BPF_PROG_LOAD that carries a log
    buffer fails, the verifier's last words join the reason, and the whole
    log is the error's ``verifier_log``.
    """
    nr = _BPF_NR[os.uname().machine]
    result = _libc.syscall(ctypes.c_long(nr), ctypes.c_int(cmd), ctypes.byref(attr),
                           ctypes.c_uint(ctypes.sizeof(attr)))
    if result != -1:
        return result
    err = ctypes.get_errno()
    log = ""
    if getattr(attr, "log_buf", 0):
        log = ctypes.string_at(attr.log_buf).decode(errors="replace").strip()
    why = _WHY.get(("bpf", err)) or os.strerror(err)
    if log:  # its last lines say what it refused; "processed N insns ..." is statistics
        words = [line for line in log.splitlines() if not line.startswith("processed ")]
        why = f"{why}; the verifier says: " + "; ".join(words[-2:])
    shown = ", ".join(f"{name}={_bpf_value(name, getattr(attr, name))}"
                      for name in getattr(attr, "_shown", ()))
    error = KernelCallError("bpf", (_Spelled(_BPF_NAMES.get(("cmd", cmd), str(cmd))),
                                    _Spelled("{" + shown + "}")), err, why)
    error.verifier_log = log
    raise error


def _bpf_value(name: str, value) -> str:
    """A field of ``union bpf_attr`` as the header spells it: BPF_CGROUP_DEVICE, not 6."""
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    return _BPF_NAMES.get((name, value), str(value))
