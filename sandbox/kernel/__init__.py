"""Kernel calls: the bottom layer, thin wrappers of what ``os`` does not offer.

``syscalls`` (ctypes, with the C names and argument order: unshare, setns, mount,
pivot_root, seccomp, bpf, ...), ``syscall_table`` (the numbers, from the kernel's headers),
``procfs`` (reading /proc) and ``netlink`` (rtnetlink messages over a socket).  They import
nothing of the package but ``sandbox.errors``.
"""
