"""Pictures for the chapters: what the kernel holds for a container, drawn as SVG.

Each picture is two functions.  A *drawing* function takes plain data (names,
inode numbers, paths, digests) and returns an SVG document as a string; it
reads nothing, so the tests draw it from sample data on any machine.  A
*reading* function collects that data from the live kernel or the store, so
that a notebook cell can draw what is there right now:

    picture                         draw (pure)             read (live)
    a container's namespaces (03)   namespaces_svg          namespaces_of(pid)
    the cgroup tree (04)            cgroup_tree_svg         cgroup_branches(cgroup)
    overlay copy-up, whiteout (05)  overlay_svg             overlay_state(lower, upper)
    a pull (07)                     pull_svg                (the manifest and index documents)
    a bridge network (09)           bridge_svg              bridge_state(root, network, pids)
    a project on a cluster (13)     cluster_svg             (compose convert's objects)

In a notebook: ``display(SVG(pictures.namespaces_svg(...)))`` (IPython.display).

matplotlib draws them (the course extra has it), imported inside :func:`_canvas`
only, so that importing this module costs nothing and the command line never
loads it.  A figure is made with ``matplotlib.figure.Figure``, not pyplot: no
global state, no GUI backend, and nothing is drawn twice in a notebook.  Text
stays text in the SVG (``svg.fonttype: none``), and the ids matplotlib puts in an
SVG come from a fixed salt, so that the same data gives the same document.
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Mapping, Sequence

# Colours: one meaning each, in every picture.
SHARED = "#d9d9d9"     # the host's: shared, untouched, read-only
OWN = "#9ecae1"        # the container's own
CHANGED = "#fdae6b"    # written: copied up, a new file, a limit
GONE = "#636363"       # a whiteout: "no such file here"
NOTE = "#fff7bc"       # files and values shown beside a node
CHOSEN = "#a1d99b"     # the one pull chose


# --- drawing helpers --------------------------------------------------------------------------
def _canvas(width: float, height: float, title: str):
    """A figure of ``width`` × ``height`` inches whose axes count in inches, origin at the
    bottom left, with no axis drawn."""
    from matplotlib.figure import Figure  # here: only a picture needs matplotlib

    fig = Figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(0, height)
    ax.axis("off")
    ax.text(0.15, height - 0.2, title, fontsize=11, fontweight="bold", va="top")
    return fig, ax


def _box(ax, x: float, y: float, w: float, h: float, text: str, color: str = SHARED,
         size: float = 8, text_color: str = "black", align: str = "center", **style) -> None:
    """A rounded box with its lower left corner at (x, y), and centred text."""
    from matplotlib.patches import FancyBboxPatch

    ax.add_patch(FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.02,rounding_size=0.06",
                                facecolor=color, edgecolor="#444444", linewidth=0.8, **style))
    tx = x + w / 2 if align == "center" else x + 0.08
    ax.text(tx, y + h / 2, text, ha=align, va="center", fontsize=size, color=text_color,
            family="monospace")


def _line(ax, start, end, label: str = "", arrow: bool = False, color: str = "#444444",
          dashed: bool = False) -> None:
    """A line (an arrow if ``arrow``) from ``start`` to ``end``, labelled at its middle."""
    ax.annotate("", xy=end, xytext=start, arrowprops={
        "arrowstyle": "-|>" if arrow else "-", "color": color, "linewidth": 0.9,
        "linestyle": "--" if dashed else "-", "shrinkA": 0, "shrinkB": 0})
    if label:
        ax.text((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 + 0.05, label, fontsize=7,
                ha="center", va="bottom", color=color, style="italic")


def _svg(fig) -> str:
    """The figure as an SVG document (text as text, ids from a fixed salt, no date)."""
    import matplotlib

    buffer = io.StringIO()
    with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "sandbox-course"}):
        fig.savefig(buffer, format="svg", metadata={"Date": None})
    return buffer.getvalue()


def _short(text: str, most: int) -> str:
    return text if len(text) <= most else text[:most - 1] + "…"


def _lines(text: str, most: int) -> str:
    """Each line of ``text`` cut to ``most`` characters."""
    return "\n".join(_short(line, most) for line in text.splitlines())


def short_digest(digest: str, hex_digits: int = 12) -> str:
    """``sha256:3f2a9c1b7d0e…``: the algorithm and the first hex digits."""
    algorithm, _, hexpart = digest.partition(":")
    return f"{algorithm}:{hexpart[:hex_digits]}…"


def _size(n: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return ""


# --- 03: a container's namespaces ---------------------------------------------------------------
def namespaces_of(pid: int | str) -> dict[str, int]:
    """{kind: inode} of every namespace of process ``pid`` (its links in /proc/PID/ns)."""
    from ..isolation.namespaces import inode

    return {kind: inode(pid, kind) for kind in sorted(os.listdir(f"/proc/{pid}/ns"))}


def namespaces_svg(left: tuple[str, Mapping[str, int]], right: tuple[str, Mapping[str, int]],
                   title: str = "Namespaces: the same inode is the same namespace") -> str:
    """Two processes and the namespaces they point to, one row per kind.

    ``left`` and ``right`` are (label, {kind: inode}), e.g. ("the notebook, pid 812",
    namespaces_of(812)).  A namespace both share is one grey box in the middle, joined to
    both; one of the right-hand process's own is a blue box beside it.
    """
    (left_label, left_ns), (right_label, right_ns) = left, right
    kinds = sorted(set(left_ns) | set(right_ns))
    row, top = 0.34, 0.9
    height = top + row * len(kinds) + 0.3
    fig, ax = _canvas(10.5, height, title)
    y_mid = height - top - row * len(kinds) / 2
    _box(ax, 0.15, y_mid - 0.3, 2.0, 0.6, _lines(left_label, 24), SHARED, size=8)
    _box(ax, 8.35, y_mid - 0.3, 2.0, 0.6, _lines(right_label, 24), OWN, size=8)
    for i, kind in enumerate(kinds):
        y = height - top - row * (i + 1) + 0.05
        a, b = left_ns.get(kind), right_ns.get(kind)
        if a == b:
            _box(ax, 4.0, y, 2.5, 0.26, f"{kind}:[{a}]", SHARED, size=7)
            _line(ax, (2.15, y_mid), (4.0, y + 0.13))
            _line(ax, (8.35, y_mid), (6.5, y + 0.13))
        else:
            if a is not None:
                _box(ax, 2.6, y, 2.5, 0.26, f"{kind}:[{a}]", SHARED, size=7)
                _line(ax, (2.15, y_mid), (2.6, y + 0.13))
            if b is not None:
                _box(ax, 5.4, y, 2.5, 0.26, f"{kind}:[{b}]", OWN, size=7)
                _line(ax, (8.35, y_mid), (7.9, y + 0.13))
    ax.text(0.15, 0.12, "grey: shared by both  ·  blue: the right-hand process's own",
            fontsize=7, color="#555555")
    return _svg(fig)


# --- 04: the cgroup tree ------------------------------------------------------------------------
def _mount_of(directory: str, mount_points: Sequence[str]) -> str:
    """The cgroup mount point that holds ``directory`` (the longest that is a prefix)."""
    found = [m for m in mount_points
             if directory == m or directory.startswith(m.rstrip("/") + "/")]
    return max(found, key=len) if found else "/"


def cgroup_branches(dirs: Sequence[str]) -> tuple[dict[str, list[str]], dict[str, list[int]]]:
    """For cgroup directories (``cg.dirs.values()`` on v1, ``[cg.dir]`` on v2): {mount point:
    the path below it, split}, and {mount point: how many other cgroups sit beside each
    step}, read from the live hierarchy."""
    from ..isolation.cgroups import mounts

    points = [m.path for m in mounts()]
    branches, others = {}, {}
    for directory in sorted(set(dirs)):
        mount = _mount_of(directory, points)
        parts = [p for p in os.path.relpath(directory, mount).split("/") if p not in ("", ".")]
        branches[mount] = parts
        beside = []
        for depth in range(len(parts)):
            parent = os.path.join(mount, *parts[:depth])
            try:
                siblings = [e for e in os.scandir(parent) if e.is_dir(follow_symlinks=False)]
                beside.append(max(len(siblings) - 1, 0))
            except OSError:
                beside.append(0)
        others[mount] = beside
    return branches, others


def cgroup_tree_svg(branches: Mapping[str, Sequence[str]],
                    files: Mapping[str, str] | None = None,
                    others: Mapping[str, Sequence[int]] | None = None,
                    title: str = "A container's place in the cgroup tree") -> str:
    """One column per hierarchy: its mount point, then each cgroup down to the container's.

    ``branches`` is {mount point: path components}, e.g. {"/sys/fs/cgroup":
    ["user.slice", "sandbox", "3f2a…"]}; the last component (the container's cgroup) is
    drawn in colour, with ``files`` ({name: value}, e.g. {"memory.max": "33554432"}) in a
    note below the columns.  ``others`` counts the cgroups beside each step.
    """
    columns = list(branches.items())
    depth = max((len(parts) for _, parts in columns), default=0)
    col_w, row = 2.6, 0.42
    note_h = 0.2 + 0.16 * len(files) if files else 0
    width = max(0.3 + col_w * len(columns), 5.0)
    height = 0.9 + row * (depth + 1) + 0.45 + note_h
    fig, ax = _canvas(width, height, title)
    for c, (mount, parts) in enumerate(columns):
        x = 0.2 + col_w * c
        y = height - 0.85 - row
        _box(ax, x, y, col_w - 0.25, 0.3, _short(mount, 30), SHARED, size=7)
        beside = list((others or {}).get(mount, []))
        for d, part in enumerate(parts):
            indent = min(0.15 * (d + 1), 0.6)
            y_next = y - row
            _line(ax, (x + indent - 0.08, y), (x + indent - 0.08, y_next + 0.15))
            _line(ax, (x + indent - 0.08, y_next + 0.15), (x + indent, y_next + 0.15))
            more = f" +{beside[d]}" if d < len(beside) and beside[d] else ""
            label = _short(part, 27 - len(more) - int(indent / 0.07)) + more
            _box(ax, x + indent, y_next, col_w - 0.25 - indent, 0.3, label,
                 OWN if d == len(parts) - 1 else "white", size=7, align="left")
            y = y_next
    if files:
        text = "in the blue cgroup:\n" + "\n".join(
            f"  {k} = {_short(str(v), 40)}" for k, v in files.items())
        ax.text(0.2, 0.35 + note_h / 2, text, fontsize=7, family="monospace", va="center",
                bbox={"boxstyle": "round", "facecolor": NOTE, "edgecolor": "#999999"})
    ax.text(0.2, 0.12, "blue: the container's cgroup (or the notebook's)  ·  "
            "+N: other cgroups beside this one",
            fontsize=7, color="#555555")
    return _svg(fig)


# --- 05: overlay copy-up and whiteouts ----------------------------------------------------------
def overlay_state(lower: str | Path, upper: str | Path) -> tuple[list[str], dict[str, str]]:
    """The names in ``lower``, and {name: "copied up" | "new" | "whiteout"} for ``upper``:
    what an overlay's two directories hold after its container ran (top level only)."""
    from ..content.changes import is_whiteout

    below = sorted(os.listdir(lower))
    above = {}
    for name in sorted(os.listdir(upper)):
        if is_whiteout(os.lstat(os.path.join(upper, name))):
            above[name] = "whiteout"
        else:
            above[name] = "copied up" if name in below else "new"
    return below, above


def overlay_svg(lower: Sequence[str], upper: Mapping[str, str],
                title: str = "overlayfs: merged/ is upper/ on top of lower/") -> str:
    """Three rows, one column per name: lower/, upper/ and what merged/ shows.

    ``upper`` says what each of its entries is: ``copied up`` (the file is also in
    lower/: the first write copied all of it up), ``new``, or ``whiteout`` (a character
    device 0/0 that hides the lower file).
    """
    names = sorted(set(lower) | set(upper))
    col = 1.55
    width = 1.5 + col * len(names) + 0.2
    fig, ax = _canvas(max(width, 5.5), 3.4, title)
    rows = {"merged/": 2.45, "upper/": 1.45, "lower/": 0.45}
    for label, y in rows.items():
        ax.text(0.15, y + 0.17, label, fontsize=9, family="monospace", va="center")
    ax.text(0.15, rows["lower/"] - 0.12, "read-only", fontsize=6.5, color="#555555")
    ax.text(0.15, rows["upper/"] - 0.12, "writable", fontsize=6.5, color="#555555")
    for i, name in enumerate(names):
        x = 1.4 + col * i
        w = col - 0.2
        kind = upper.get(name)
        if name in lower:
            _box(ax, x, rows["lower/"], w, 0.34, _short(name, 14), SHARED)
        if kind == "whiteout":
            _box(ax, x, rows["upper/"], w, 0.34, f"{_short(name, 9)} c 0/0", GONE,
                 text_color="white")
            _box(ax, x, rows["merged/"], w, 0.34, _short(name, 14), "white", linestyle=":",
                 text_color="#999999")
            _line(ax, (x + 0.1, rows["merged/"] + 0.05), (x + w - 0.1, rows["merged/"] + 0.29),
                  color="#cc0000")
            ax.text(x + w / 2, rows["merged/"] + 0.42, "hidden", fontsize=6.5, ha="center",
                    color="#cc0000")
        elif kind is not None:
            _box(ax, x, rows["upper/"], w, 0.34, _short(name, 14), CHANGED)
            _box(ax, x, rows["merged/"], w, 0.34, _short(name, 14), CHANGED)
            _line(ax, (x + w / 2, rows["upper/"] + 0.34), (x + w / 2, rows["merged/"]),
                  arrow=True)
            if kind == "copied up":
                _line(ax, (x + w / 2, rows["lower/"] + 0.34), (x + w / 2, rows["upper/"]),
                      label="copy-up", arrow=True, color="#d94801")
            else:
                ax.text(x + w / 2, rows["upper/"] - 0.14, "new", fontsize=6.5, ha="center",
                        color="#d94801")
        else:
            _box(ax, x, rows["merged/"], w, 0.34, _short(name, 14), SHARED)
            _line(ax, (x + w / 2, rows["lower/"] + 0.34), (x + w / 2, rows["merged/"]),
                  arrow=True, dashed=True)
    ax.text(0.15, 0.08, "grey: from lower/  ·  orange: from upper/ (written)  ·  "
            "dark: a whiteout", fontsize=7, color="#555555")
    return _svg(fig)


# --- 07: a pull ---------------------------------------------------------------------------------
def pull_svg(reference: str, manifest: Mapping, manifest_digest: str,
             index: Mapping | None = None, index_digest: str | None = None,
             title: str = "A pull: from a name to the layers, every arrow a digest") -> str:
    """The documents a pull reads, left to right: the name, the index (if the name points
    to one; the chosen platform in green), the manifest, then its config and layers.

    ``manifest`` and ``index`` are the JSON documents as the registry sent them (dicts);
    each box shows the short digest and size its descriptor gives.
    """
    layers = list(manifest.get("layers", []))
    platforms = list(index.get("manifests", [])) if index else []
    rows = max(len(layers) + 1, len(platforms), 2)
    height = 1.2 + 0.5 * rows
    x = 0.2
    # the columns below: name 2.0, index 0.5 + 2.4, manifest 1.0 + 2.1, blobs 0.6 + 3.3
    width = 9.4 + (2.9 if index else 0)
    fig, ax = _canvas(width, height, title)
    mid = (height - 0.6) / 2
    _box(ax, x, mid - 0.25, 2.0, 0.5, _lines(reference, 26), "white", size=7)
    ax.text(x + 1.0, mid - 0.4, "a tag: the registry's word", fontsize=6.5, ha="center",
            color="#555555")
    x += 2.0
    chosen_y = mid
    if index:
        xi = x + 0.5
        box_h = 0.5 + 0.32 * len(platforms)
        top = mid + box_h / 2
        _box(ax, xi, mid - box_h / 2, 2.4, box_h, "", "white")
        ax.text(xi + 1.2, top - 0.2, "index " + short_digest(index_digest or "?:?", 8),
                fontsize=7, ha="center", family="monospace")
        _line(ax, (x, mid), (xi, mid), arrow=True, label="GET")
        for i, entry in enumerate(platforms):
            p = entry.get("platform", {})
            name = "/".join(v for v in (p.get("os"), p.get("architecture"), p.get("variant")) if v)
            chosen = entry.get("digest") == manifest_digest
            y = top - 0.55 - 0.32 * i
            _box(ax, xi + 0.1, y, 2.2, 0.26, f"{_short(name, 12)} {entry['digest'][7:13]}…",
                 CHOSEN if chosen else SHARED, size=6.5)
            if chosen:
                chosen_y = y + 0.13
        x = xi + 2.4
        start = (x - 0.1, chosen_y)
    else:
        start = (x, mid)
    xm = x + 1.0
    _box(ax, xm, mid - 0.3, 2.1, 0.6, "manifest\n" + short_digest(manifest_digest, 8), OWN,
         size=7)
    _line(ax, start, (xm, mid), arrow=True, label="GET" + (" by digest" if index else ""))
    xb = xm + 2.1 + 0.6
    blobs = [("config", manifest.get("config", {}))] + [
        (f"layer {i + 1}", layer) for i, layer in enumerate(layers)]
    for i, (what, descriptor) in enumerate(blobs):
        y = height - 0.95 - 0.5 * i
        text = (f"{what} {short_digest(descriptor.get('digest', '?:?'), 8)} · "
                f"{_size(int(descriptor.get('size', 0)))}")
        _box(ax, xb, y, 3.3, 0.36, text, NOTE if what == "config" else SHARED, size=6.5)
        _line(ax, (xm + 2.1, mid), (xb, y + 0.18), arrow=True)
    ax.text(0.2, 0.12, "each box is a blob named by the sha256 of its bytes; "
            "pull checks every one" + ("  ·  green: the platform pull chose" if index else ""),
            fontsize=7, color="#555555")
    return _svg(fig)


# --- 09: a bridge network -----------------------------------------------------------------------
def bridge_state(root: str | Path, network: str,
                 pids: Mapping[str, int] | None = None) -> tuple[dict, list[dict]]:
    """A network's bridge ({name, gateway, subnet}) and its endpoints (one dict per
    container: container, address, veth, device, and netns when ``pids`` gives the
    container's pid by name), read from the network's files under the state root."""
    from ..isolation.namespaces import inode
    from ..network import networks

    record = networks.lookup(Path(root), network)
    subnet, gateway = networks.subnet_of(record)
    bridge = {"name": networks.device(record), "gateway": gateway, "subnet": subnet,
              "network": record["Name"]}
    found = []
    for _cid, endpoint in sorted(networks.endpoints(Path(root), network).items(),
                                 key=lambda item: item[1].get("IPv4Address", "")):
        name = endpoint.get("Name", "?")
        entry = {"container": name, "address": endpoint.get("IPv4Address", "?"),
                 "veth": endpoint.get("HostVeth", "?"), "device": endpoint.get("Device", "eth0")}
        pid = (pids or {}).get(name)
        if pid:
            entry["netns"] = inode(pid, "net")
        found.append(entry)
    return bridge, found


def bridge_svg(bridge: Mapping[str, str], endpoints: Sequence[Mapping],
               where: str = "the host", title: str = "A bridge network") -> str:
    """The bridge with its gateway address, one veth pair per container, and each
    container's network namespace with its ``eth0`` and address.

    ``bridge`` is {name, gateway, subnet}; each endpoint {container, address, veth,
    device, netns (an inode, optional)}.  ``where`` names the namespace that holds the
    bridge (the host; rootless, a network namespace of the user's own).
    """
    n = max(len(endpoints), 1)
    col = 2.6
    width = max(0.4 + col * n, 6.0)
    fig, ax = _canvas(width, 4.3, title)
    _box(ax, 0.15, 1.85, width - 0.3, 1.95, "", "white", linestyle="--")
    ax.text(0.3, 3.62, where, fontsize=8, style="italic", color="#555555")
    bx, bw = width / 2 - 1.6, 3.2
    _box(ax, bx, 3.05, bw, 0.42,
         f"bridge {bridge.get('name', '?')} · {bridge.get('gateway', '?')}\n"
         f"subnet {bridge.get('subnet', '?')}", SHARED, size=7)
    for i, e in enumerate(endpoints):
        x = 0.3 + col * i + (width - 0.4 - col * n) / 2
        cx = x + (col - 0.3) / 2
        _box(ax, x + 0.35, 2.05, col - 1.0, 0.32, e.get("veth", "?"), NOTE, size=7)
        _line(ax, (cx, 2.37), (bx + bw / 2 + (cx - width / 2) * 0.3, 3.05))
        netns = f"net:[{e['netns']}]\n" if e.get("netns") else ""
        _box(ax, x, 0.45, col - 0.3, 1.05,
             f"{_short(str(e.get('container', '?')), 20)}\n{netns}"
             f"{e.get('device', 'eth0')} {e.get('address', '?')}", OWN, size=7)
        _line(ax, (cx, 2.05), (cx, 1.5))
        ax.text(cx + 0.06, 1.62, "veth pair", fontsize=7, style="italic", color="#444444")
    ax.text(0.2, 0.12, "blue: a container's own network namespace  ·  yellow: the host end of "
            "its veth pair, a port of the bridge", fontsize=7, color="#555555")
    return _svg(fig)


# --- 13: a compose project as Kubernetes objects ---------------------------------------------
def cluster_svg(objects: Sequence[Mapping],
                title: str = "The project on a cluster: Services, Deployments, claims") -> str:
    """One column per workload (a Deployment, or a bare Pod): its Service above it (or a
    dashed box saying none reaches it by name), its replicas as Pods, and below them the
    PersistentVolumeClaims they mount.

    ``objects`` are the Kubernetes objects as dicts, as
    :func:`sandbox.compose.kubernetes.manifests` makes them; a Service belongs to the
    workload whose Pod labels its selector matches, as in the cluster.
    """
    workloads = [o for o in objects if o.get("kind") in ("Deployment", "Pod")]
    services = [o for o in objects if o.get("kind") == "Service"]
    claims = {o["metadata"]["name"]: o for o in objects if o.get("kind") == "PersistentVolumeClaim"}
    col = 2.5
    width = max(0.4 + col * len(workloads), 6.0)
    fig, ax = _canvas(width, 5.0, title)
    claim_x = {}
    for i, name in enumerate(claims):                     # the claims, in one row at the bottom
        claim_x[name] = width / 2 + (i - (len(claims) - 1) / 2) * col
        size = claims[name].get("spec", {}).get("resources", {}).get("requests", {}).get("storage", "?")
        _box(ax, claim_x[name] - 1.0, 0.4, 2.0, 0.42, f"PVC {_short(name, 14)}\n{size}", CHANGED, size=7)
    for i, workload in enumerate(workloads):
        x = 0.2 + col * i + (width - 0.4 - col * len(workloads)) / 2
        cx = x + col / 2 - 0.1
        pod = workload["spec"].get("template", {}).get("spec", workload["spec"])
        labels = workload["spec"].get("template", {}).get("metadata", {}).get("labels") \
            or workload["metadata"].get("labels", {})
        name = workload["metadata"]["name"]
        service = next((s for s in services if s["spec"].get("selector")
                        and s["spec"]["selector"].items() <= labels.items()), None)
        if service is None:
            _box(ax, x + 0.1, 3.55, col - 0.4, 0.55, f"no Service:\n\"{_short(name, 12)}\" unknown",
                 "white", size=7, text_color=GONE, linestyle="--")
        else:
            spec = service["spec"]
            kind = "headless" if spec.get("clusterIP") == "None" else spec.get("type", "ClusterIP")
            ports = ", ".join(f"{p['port']}→{p.get('targetPort', p['port'])}" for p in spec.get("ports", []))
            _box(ax, x + 0.1, 3.55, col - 0.4, 0.55,
                 f"Service {_short(name, 11)}\n{kind} {_short(ports, 14)}", NOTE, size=7)
            if kind in ("LoadBalancer", "NodePort"):
                _line(ax, (cx, 4.55), (cx, 4.1), arrow=True, label="from outside")
        replicas = int(workload["spec"].get("replicas", 1)) if workload["kind"] == "Deployment" else 1
        _box(ax, x, 1.35, col - 0.2, 1.85, "", "white", linestyle="--")
        ax.text(x + 0.08, 3.02, f"{workload['kind']} {_short(name, 12)} ×{replicas}", fontsize=7,
                style="italic", color="#444444")
        shown = min(replicas, 3)
        for r in range(shown):
            more = r == shown - 1 and replicas > shown
            _box(ax, x + 0.15 + 0.1 * r, 2.35 - 0.3 * r, col - 0.7, 0.45,
                 f"+{replicas - shown + 1} Pods" if more else f"Pod {_short(name, 10)}-{r + 1}",
                 OWN, size=7)
        _line(ax, (cx, 3.55), (cx, 2.8), arrow=True)
        for volume in pod.get("volumes", []):
            claim = volume.get("persistentVolumeClaim", {}).get("claimName")
            if claim in claim_x:
                _line(ax, (cx, 1.35), (claim_x[claim], 0.82), dashed=True, label="mounts")
    ax.text(0.2, 0.12, "yellow: a Service, a stable name and address  ·  blue: the Pods it "
            "balances to  ·  orange: storage the Pods claim", fontsize=7, color="#555555")
    return _svg(fig)
