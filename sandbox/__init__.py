"""sandbox: containers built from the Linux kernel's own features, for learning how they work.

From a notebook::

    import sandbox
    sandbox.doctor()                                   # what this machine offers
    result = sandbox.run("busybox", "echo hello")      # exit_code, stdout, stderr
    with sandbox.run("busybox", "sleep 300", detach=True) as c:
        print(c.exec("ps").stdout)

The package is layered; each layer imports only from the ones below it in this list
(pyproject.toml's import-linter contract checks it: tests/test_layers.py):

    api cli/ course/ checks        the faces: Python API, command line, grading, doctor,
    terminal chapters              foreground I/O, what later chapters bring
    builder/                       Dockerfiles: parse, expand, the context, COPY, RUN, the cache
    engine/                        container records, volumes, the monitor, the process tree;
                                   create, start, stop, kill, rm, prune; cp, commit, top
    network/                       networks, addresses, nftables, -p, DNS, rootless networking
    content/                       digests, the OCI layout, layers, busybox, archives, registry/
    isolation/                     one kernel concern each: namespaces, rootfs, mounts, cgroups,
                                   devices, capabilities, seccomp, links
    kernel/                        ctypes wrappers (unshare, setns, mount, pivot_root, ...),
                                   syscall numbers, /proc, netlink
    errors paths humanize          used by all

Names are imported lazily, so ``import sandbox`` (and ``sandbox --help``) stay fast.
"""

__version__ = "0.1.0"

_API = {"run": "api", "create": "api", "Container": "api", "Completed": "api",
        "containers": "api", "get": "api", "images": "api", "prune": "api",
        "pull": "api", "push": "api", "cp": "api", "build": "api", "prune_builds": "api", "create_volume": "api", "get_volume": "api",
        "list_volumes": "api", "remove_volume": "api", "prune_volumes": "api",
        "compose_project": "api", "ComposeProject": "api",
        "doctor": "checks",
        "SandboxError": "errors", "KernelCallError": "errors", "NotFound": "errors",
        "ImageNotFound": "errors", "ContainerNotFound": "errors", "Conflict": "errors",
        "MissingFeature": "errors"}
__all__ = sorted(_API)


def __getattr__(name):
    if name in _API:
        import importlib
        module = importlib.import_module(f".{_API[name]}", __name__)
        return getattr(module, name)
    raise AttributeError(f"module 'sandbox' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
