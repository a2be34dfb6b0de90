"""Networks: containers joined to bridges, with addresses, names and published ports.

``networks`` (a network's whole state in one directory), ``ipam`` (its addresses), ``nat``
(nftables), ``ports`` (``-p``) and ``portproxy``, ``dns`` (names on a user network),
``netconfig`` (/etc/hosts and /etc/resolv.conf), ``wiring`` (plugging a container in and
out), ``rootless_net`` and ``rootless_netns`` (rootless).  Veths and bridges are made by
``sandbox.isolation.links``.  A container comes in as an argument: this layer reads no
container records, for it is below ``sandbox.engine``, whose monitor and runtime plug
containers in.
"""
