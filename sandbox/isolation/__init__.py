"""Kernel concerns: one module for each thing the kernel isolates or limits.

Namespaces (``namespaces``, ``userns``), the root filesystem and its mounts (``rootfs``,
``mounts``, ``copyup``, ``systempaths``), cgroups (``cgroups``, ``freezer``, ``devices``),
privileges (``capabilities``, ``seccomp`` with ``seccomp_bpf``) and network devices
(``links``).  They build on ``sandbox.kernel`` and know nothing of images or containers.
"""
