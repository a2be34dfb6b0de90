"""Image content: what a container is made from.

Digests, the OCI image layout (``store``), layers unpacked safely (``layers``), the base
image (``busybox``), a container's changes (``changes``), image names (``reference``),
save/load/import/export (``archive``) and the registry client (``registry/``).
They use the kernel concerns (a layer is unpacked in a namespace of its own), never a
container's record.
"""
