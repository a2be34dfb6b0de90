"""The ``sandbox`` command line: Docker's verbs and flags.

Only the flag tables live here, so that ``sandbox --help`` starts fast; each
verb's code is imported from :mod:`sandbox.cli.commands` when it runs.
"""

from __future__ import annotations

import os
import sys

from ..errors import SandboxError, UsageError
from .flags import Command, Flag, parse

_CREATE_FLAGS = [
    Flag("env", "e", "list", "Set environment variables", metavar="list"),
    Flag("name", "", "str", "Assign a name to the container", metavar="string"),
    Flag("workdir", "w", "str", "Working directory inside the container", metavar="string"),
    Flag("user", "u", "str", "Username or UID (format: <name|uid>[:<group|gid>])",
         metavar="string"),
    Flag("hostname", "h", "str", "Container host name", metavar="string"),
    Flag("entrypoint", "", "str", "Overwrite the default ENTRYPOINT of the image",
         metavar="string"),
    Flag("interactive", "i", "bool", "Keep STDIN open even if not attached"),
    Flag("tty", "t", "bool", "Allocate a pseudo-TTY"),
    Flag("rm", "", "bool", "Automatically remove the container when it exits"),
    Flag("memory", "m", "str", "Memory limit (format: <number>[<unit>], e.g. 64m)",
         metavar="bytes"),
    Flag("memory-swap", "", "str", "Swap limit equal to memory plus swap: -1 for unlimited",
         metavar="bytes"),
    Flag("cpus", "", "str", "Number of CPUs (e.g. 0.5)", metavar="decimal"),
    Flag("cpu-shares", "c", "str", "CPU shares (relative weight)", metavar="int"),
    Flag("pids-limit", "", "str", "Tune container pids limit (-1 for unlimited)", metavar="int"),
    Flag("volume", "v", "list", "Bind mount a volume or a host path "
         "(format: [name|/host:]/container[:ro])", metavar="list"),
    Flag("mount", "", "list", "Attach a filesystem mount to the container "
         "(type=volume|bind|tmpfs,source=,target=[,readonly])", metavar="mount"),
    Flag("volumes-from", "", "list", "Mount volumes from the specified container(s) "
         "(format: CONTAINER[:ro|:rw])", metavar="list"),
    Flag("env-file", "", "list", "Read in a file of environment variables", metavar="list"),
    Flag("tmpfs", "", "list", "Mount a tmpfs directory (format: /path[:options])", metavar="list"),
    Flag("network", "", "str", "Connect a container to a network (bridge, none, host, "
         "container:NAME, or a network's name)", metavar="network"),
    Flag("network-alias", "", "list", "Add network-scoped alias for the container",
         metavar="list"),
    Flag("ip", "", "str", "IPv4 address (e.g., 172.30.100.104)", metavar="string"),
    Flag("publish", "p", "list", "Publish a container's port(s) to the host "
         "([IP:][HOSTPORT:]CONTAINERPORT[/tcp|/udp])", metavar="list"),
    Flag("publish-all", "P", "bool", "Publish all exposed ports to random ports"),
    Flag("add-host", "", "list", "Add a custom host-to-IP mapping (host:ip)", metavar="list"),
    Flag("dns", "", "list", "Set custom DNS servers", metavar="list"),
    Flag("cap-add", "", "list", "Add Linux capabilities", metavar="list"),
    Flag("cap-drop", "", "list", "Drop Linux capabilities", metavar="list"),
    Flag("privileged", "", "bool", "Give extended privileges to this container"),
    Flag("security-opt", "", "list", "Security Options (seccomp=unconfined|PROFILE.json, "
         "no-new-privileges, systempaths=unconfined)", metavar="list"),
    Flag("read-only", "", "bool", "Mount the container's root filesystem as read only"),
    Flag("uidmap", "", "str", "Run root as this host uid range, in a user namespace "
         "(format: 0:HOST_UID:SIZE; root only)", metavar="string"),
    Flag("gidmap", "", "str", "The same for groups (format: 0:HOST_GID:SIZE)",
         metavar="string"),
    Flag("init", "", "bool", "Run an init inside the container that forwards signals and "
         "reaps processes"),
    Flag("stop-signal", "", "str", "Signal to stop the container", metavar="string"),
    Flag("stop-timeout", "", "int", "Timeout (in seconds) to stop a container", metavar="int"),
    Flag("log-opt", "", "list", "Log driver options: max-size=SIZE, max-file=N (json-file; "
         "default max-size=10m, max-file=3, unlike Docker's unbounded default)", metavar="list"),
    Flag("label", "l", "list", "Set meta data on a container (KEY=VALUE)", metavar="list"),
    Flag("restart", "", "str", "Restart policy to apply when a container exits: no, "
         "on-failure[:max-retries], always, unless-stopped (nothing restarts after a reboot)",
         default="no", metavar="string"),
    Flag("health-cmd", "", "str", "Command to run to check health", metavar="string"),
    Flag("health-interval", "", "str", "Time between running the check (ms|s|m|h) "
         "(default 0s)", metavar="duration"),
    Flag("health-retries", "", "int", "Consecutive failures needed to report unhealthy",
         metavar="int"),
    Flag("health-timeout", "", "str", "Maximum time to allow one check to run (ms|s|m|h) "
         "(default 0s)", metavar="duration"),
    Flag("health-start-period", "", "str", "Start period for the container to initialize "
         "before starting health-retries countdown (ms|s|m|h) (default 0s)",
         metavar="duration"),
    Flag("health-start-interval", "", "str", "Time between running the check during the "
         "start period (ms|s|m|h) (default 0s)", metavar="duration"),
    Flag("no-healthcheck", "", "bool", "Disable any container-specified HEALTHCHECK"),
]
_DETACH_KEYS = Flag("detach-keys", "", "str", "Override the key sequence for detaching a "
                    "container (default ctrl-p,ctrl-q)", metavar="string")

COMMANDS = {c.name: c for c in [
    Command("run", "[OPTIONS] IMAGE [COMMAND] [ARG...]",
            "Create and run a new container from an image",
            [Flag("detach", "d", "bool", "Run container in background and print container ID"),
             _DETACH_KEYS] + _CREATE_FLAGS, min_args=1, interspersed=False),
    Command("create", "[OPTIONS] IMAGE [COMMAND] [ARG...]", "Create a new container",
            _CREATE_FLAGS, min_args=1, interspersed=False),
    Command("start", "[OPTIONS] CONTAINER [CONTAINER...]", "Start one or more stopped containers",
            [Flag("attach", "a", "bool", "Attach STDOUT/STDERR and forward signals"),
             Flag("interactive", "i", "bool", "Attach container's STDIN"), _DETACH_KEYS],
            min_args=1),
    Command("attach", "[OPTIONS] CONTAINER",
            "Attach local standard input, output, and error streams to a running container",
            [_DETACH_KEYS, Flag("no-stdin", "", "bool", "Do not attach STDIN"),
             Flag("sig-proxy", "", "bool", "Proxy all received signals to the process "
                  "(default true)", default=True)], min_args=1, max_args=1),
    Command("ps", "[OPTIONS]", "List containers",
            [Flag("all", "a", "bool", "Show all containers (default shows just running)"),
             Flag("quiet", "q", "bool", "Only display container IDs"),
             Flag("filter", "f", "list", "Filter output based on conditions provided "
                  "(label=KEY[=VALUE], name=, id=, status=)", metavar="filter"),
             Flag("no-trunc", "", "bool", "Don't truncate output")], max_args=0),
    Command("exec", "[OPTIONS] CONTAINER COMMAND [ARG...]",
            "Execute a command in a running container",
            [Flag("interactive", "i", "bool", "Keep STDIN open even if not attached"),
             Flag("tty", "t", "bool", "Allocate a pseudo-TTY"),
             Flag("env", "e", "list", "Set environment variables", metavar="list"),
             Flag("env-file", "", "list", "Read in a file of environment variables",
                  metavar="list"),
             Flag("workdir", "w", "str", "Working directory inside the container",
                  metavar="string"),
             Flag("user", "u", "str", "Username or UID (format: <name|uid>[:<group|gid>])",
                  metavar="string")], min_args=2, interspersed=False),
    Command("stop", "[OPTIONS] CONTAINER [CONTAINER...]", "Stop one or more running containers",
            [Flag("time", "t", "int", "Seconds to wait before killing the container",
                  metavar="int"),
             Flag("signal", "s", "str", "Signal to send to the container", metavar="string")],
            min_args=1),
    Command("restart", "[OPTIONS] CONTAINER [CONTAINER...]", "Restart one or more containers",
            [Flag("time", "t", "int", "Seconds to wait before killing the container",
                  metavar="int"),
             Flag("signal", "s", "str", "Signal to send to the container", metavar="string")],
            min_args=1),
    Command("wait", "CONTAINER [CONTAINER...]",
            "Block until one or more containers stop, then print their exit codes", min_args=1),
    Command("top", "CONTAINER [ps OPTIONS]", "Display the running processes of a container",
            min_args=1, interspersed=False),
    Command("rename", "CONTAINER NEW_NAME", "Rename a container", min_args=2, max_args=2),
    Command("pause", "CONTAINER [CONTAINER...]",
            "Pause all processes within one or more containers", min_args=1),
    Command("unpause", "CONTAINER [CONTAINER...]",
            "Unpause all processes within one or more containers", min_args=1),
    Command("kill", "[OPTIONS] CONTAINER [CONTAINER...]", "Kill one or more running containers",
            [Flag("signal", "s", "str", "Signal to send to the container", default="KILL",
                  metavar="string")], min_args=1),
    Command("rm", "[OPTIONS] CONTAINER [CONTAINER...]", "Remove one or more containers",
            [Flag("force", "f", "bool", "Force the removal of a running container (uses SIGKILL)"),
             Flag("volumes", "v", "bool", "Remove anonymous volumes associated with the "
                  "container")],
            min_args=1),
    Command("logs", "[OPTIONS] CONTAINER", "Fetch the logs of a container",
            [Flag("follow", "f", "bool", "Follow log output"),
             Flag("since", "", "str", "Show logs since timestamp (e.g. 2013-01-02T13:23:37Z) "
                  "or relative (e.g. 42m for 42 minutes)", metavar="string"),
             Flag("tail", "n", "str", 'Number of lines to show from the end of the logs',
                  default="all", metavar="string"),
             Flag("timestamps", "t", "bool", "Show timestamps"),
             Flag("until", "", "str", "Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) "
                  "or relative (e.g. 42m for 42 minutes)", metavar="string")],
            min_args=1, max_args=1),
    Command("inspect", "[OPTIONS] NAME|ID [NAME|ID...]",
            "Return low-level information on containers and images",
            [Flag("format", "f", "str", "Format output using a Go-like template: {{.State.Status}}",
                  metavar="string")], min_args=1),
    Command("stats", "[OPTIONS] [CONTAINER...]",
            "Display a live stream of container(s) resource usage statistics",
            [Flag("no-stream", "", "bool", "Disable streaming stats and only pull the first result"),
             Flag("all", "a", "bool", "Show all containers (default shows just running)")]),
    Command("cp", "[OPTIONS] CONTAINER:SRC_PATH DEST_PATH|-\n\tsandbox cp [OPTIONS] "
            "SRC_PATH|- CONTAINER:DEST_PATH",
            "Copy files/folders between a container and the local filesystem",
            [Flag("archive", "a", "bool", "Archive mode (copy all uid/gid information)"),
             Flag("follow-link", "L", "bool", "Always follow symlinks in SRC_PATH"),
             Flag("quiet", "q", "bool", "Suppress progress output during copy (there is none)")],
            min_args=2, max_args=2),
    Command("images", "[OPTIONS]", "List images",
            [Flag("quiet", "q", "bool", "Only show image IDs")], max_args=0),
    Command("diff", "CONTAINER", "Inspect changes to files or directories on a container's "
                                 "filesystem", min_args=1, max_args=1),
    Command("commit", "[OPTIONS] CONTAINER [REPOSITORY[:TAG]]",
            "Create a new image from a container's changes",
            [Flag("message", "m", "str", "Commit message", metavar="string"),
             Flag("author", "a", "str", 'Author (e.g., "John Hannibal Smith '
                                        '<hannibal@a-team.com>")', metavar="string")],
            min_args=1, max_args=2),
    Command("rmi", "[OPTIONS] IMAGE [IMAGE...]", "Remove one or more images",
            [Flag("force", "f", "bool", "Force removal of the image")], min_args=1),
    Command("tag", "SOURCE_IMAGE[:TAG] TARGET_IMAGE[:TAG]",
            "Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE", min_args=2, max_args=2),
    Command("history", "[OPTIONS] IMAGE", "Show the history of an image",
            [Flag("no-trunc", "", "bool", "Don't truncate output")], min_args=1, max_args=1),
    Command("save", "[OPTIONS] IMAGE [IMAGE...]",
            "Save one or more images to a tar archive (docker-archive and OCI layout in one)",
            [Flag("output", "o", "str", "Write to a file, instead of STDOUT", metavar="string")],
            min_args=1),
    Command("load", "[OPTIONS]", "Load an image from a tar archive or STDIN",
            [Flag("input", "i", "str", "Read from tar archive file, instead of STDIN",
                  metavar="string"),
             Flag("quiet", "q", "bool", "Suppress the load output")], max_args=0),
    Command("import", "[OPTIONS] file|- [REPOSITORY[:TAG]]",
            "Import the contents from a tarball to create a filesystem image",
            min_args=1, max_args=2),
    Command("export", "[OPTIONS] CONTAINER", "Export a container's filesystem as a tar archive",
            [Flag("output", "o", "str", "Write to a file, instead of STDOUT", metavar="string")],
            min_args=1, max_args=1),
    Command("pull", "[OPTIONS] NAME[:TAG|@DIGEST]", "Download an image from a registry",
            [Flag("platform", "", "str", "Set platform if server is multi-platform capable "
                                         "(e.g. linux/arm64)", metavar="string"),
             Flag("quiet", "q", "bool", "Suppress verbose output")], min_args=1, max_args=1),
    Command("push", "[OPTIONS] NAME[:TAG]", "Upload an image to a registry",
            [Flag("quiet", "q", "bool", "Suppress verbose output")], min_args=1, max_args=1),
    Command("login", "[OPTIONS] [SERVER]", "Log in to a registry (default: Docker Hub)",
            [Flag("username", "u", "str", "Username", metavar="string"),
             Flag("password", "p", "str", "Password", metavar="string"),
             Flag("password-stdin", "", "bool", "Take the password from stdin")], max_args=1),
    Command("logout", "[SERVER]", "Log out from a registry (default: Docker Hub)", max_args=1),
    Command("doctor", "", "Check what this machine offers containers, and how to fix what is "
                         "missing", max_args=0),
    Command("prune", "[OPTIONS]", "Remove all stopped containers and leftovers of crashed runs",
            [Flag("force", "f", "bool", "Do not prompt for confirmation")], max_args=0),
    Command("version", "", "Show the sandbox version", max_args=0),
    Command("port", "CONTAINER [PRIVATE_PORT[/PROTO]]",
            "List port mappings or a specific mapping for the container",
            min_args=1, max_args=2),
    Command("network create", "[OPTIONS] NETWORK", "Create a network",
            [Flag("driver", "d", "str", "Driver to manage the Network (only bridge)",
                  default="bridge", metavar="string"),
             Flag("subnet", "", "str", "Subnet in CIDR format that represents a network "
                  "segment", metavar="string"),
             Flag("gateway", "", "str", "IPv4 Gateway for the master subnet", metavar="string"),
             Flag("internal", "", "bool", "Restrict external access to the network"),
             Flag("label", "", "list", "Set metadata on a network", metavar="list")],
            min_args=1, max_args=1),
    Command("network ls", "[OPTIONS]", "List networks",
            [Flag("quiet", "q", "bool", "Only display network IDs"),
             Flag("no-trunc", "", "bool", "Do not truncate the output")], max_args=0),
    Command("network inspect", "[OPTIONS] NETWORK [NETWORK...]",
            "Display detailed information on one or more networks",
            [Flag("format", "f", "str", "Format output using a Go-like template",
                  metavar="string")], min_args=1),
    Command("network rm", "NETWORK [NETWORK...]", "Remove one or more networks", min_args=1),
    Command("network prune", "[OPTIONS]", "Remove all unused networks",
            [Flag("force", "f", "bool", "Do not prompt for confirmation")], max_args=0),
    Command("network connect", "[OPTIONS] NETWORK CONTAINER", "Connect a container to a network",
            [Flag("alias", "", "list", "Add network-scoped alias for the container",
                  metavar="strings"),
             Flag("ip", "", "str", "IPv4 address (e.g., 172.30.100.104)", metavar="string")],
            min_args=2, max_args=2),
    Command("network disconnect", "[OPTIONS] NETWORK CONTAINER",
            "Disconnect a container from a network",
            [Flag("force", "f", "bool", "Force the container to disconnect from a network")],
            min_args=2, max_args=2),
    Command("volume create", "[OPTIONS] [VOLUME]", "Create a volume",
            [Flag("driver", "d", "str", "Specify volume driver name (only local)",
                  default="local", metavar="string"),
             Flag("label", "", "list", "Set metadata for a volume", metavar="list"),
             Flag("opt", "o", "list", "Set driver specific options (type=tmpfs, o=size=64m)",
                  metavar="map")], max_args=1),
    Command("volume ls", "[OPTIONS]", "List volumes",
            [Flag("quiet", "q", "bool", "Only display volume names")], max_args=0),
    Command("volume inspect", "[OPTIONS] VOLUME [VOLUME...]",
            "Display detailed information on one or more volumes",
            [Flag("format", "f", "str", "Format output using a Go-like template: {{.Mountpoint}}",
                  metavar="string")], min_args=1),
    Command("volume rm", "[OPTIONS] VOLUME [VOLUME...]", "Remove one or more volumes",
            [Flag("force", "f", "bool", "Do not complain about volumes that do not exist")],
            min_args=1),
    Command("volume prune", "[OPTIONS]", "Remove unused anonymous volumes",
            [Flag("all", "a", "bool", "Remove all unused volumes, not just anonymous ones"),
             Flag("force", "f", "bool", "Do not prompt for confirmation")], max_args=0),
    Command("build", "[OPTIONS] PATH | -", "Build an image from a Dockerfile",
            [Flag("tag", "t", "list", 'Name and optionally a tag in the "name:tag" format',
                  metavar="list"),
             Flag("file", "f", "str", "Name of the Dockerfile (default: \"PATH/Dockerfile\"; "
                  "- reads it from stdin)", metavar="string"),
             Flag("build-arg", "", "list", "Set build-time variables", metavar="list"),
             Flag("target", "", "str", "Set the target build stage to build", metavar="string"),
             Flag("no-cache", "", "bool", "Do not use cache when building the image"),
             Flag("pull", "", "bool", "Always attempt to pull a newer version of the image"),
             Flag("rm", "", "bool", "Remove intermediate containers after a successful build "
                  "(default true)", default=True),
             Flag("force-rm", "", "bool", "Always remove intermediate containers"),
             Flag("quiet", "q", "bool", "Suppress the build output and print image ID on "
                  "success"),
             Flag("progress", "", "str", "Set type of progress output (auto, plain, tty)",
                  default="auto", metavar="string"),
             Flag("network", "", "str", "Set the networking mode for the RUN instructions "
                  "during build (default, none, host)", default="default", metavar="string"),
             Flag("label", "", "list", "Set metadata for an image", metavar="list")],
            min_args=1, max_args=1),
    Command("builder prune", "[OPTIONS]", "Remove build cache",
            [Flag("force", "f", "bool", "Do not prompt for confirmation"),
             Flag("all", "a", "bool", "Remove all unused build cache (all of it is, here)")],
            max_args=0),
    Command("release", "SOURCE... --out DIR", "Make the student, solution and autograder "
            "versions of exercise notebooks marked as nbgrader marks them",
            [Flag("out", "o", "str", "Directory to write student/, solution/, autograder/ into",
                  metavar="string")], min_args=1),
    Command("grade", "ASSIGNMENT SUBMISSION... --out DIR [--shard K/N] | "
            "--merge SHARD_DIR... --out DIR", "Grade notebooks, each in its own "
            "container with no network and resource limits; write final_grades.csv",
            [Flag("out", "o", "str", "Directory for final_grades.csv, results/ and feedback/",
                  metavar="string"),
             Flag("workers", "j", "int", "Submissions graded at once (default: the number of "
                  "CPUs, at most the sandbox-grader uid ranges)", metavar="int"),
             Flag("timeout", "", "float", "Wall-clock seconds for one submission (default 300)",
                  default=300.0, metavar="seconds"),
             Flag("cell-timeout", "", "float", "Seconds one cell may run (default 60)",
                  default=60.0, metavar="seconds"),
             Flag("memory", "m", "str", "Memory limit of each grading container", default="1g",
                  metavar="bytes"),
             Flag("pids-limit", "", "str", "Process limit of each grading container",
                  default="256", metavar="int"),
             Flag("cpus", "", "str", "CPUs for each grading container", default="1",
                  metavar="decimal"),
             Flag("shard", "", "str", "Grade only shard K of N: the submissions whose place "
                  "in the sorted names, counted from 0, is K-1 modulo N", metavar="K/N"),
             Flag("merge", "", "bool", "Merge the shards' folders given as arguments into "
                  "--out"),
             Flag("emit-job", "", "int", "Print the Kubernetes Jobs that grade N shards "
                  "(paths in the volume claim, mounted at /data)", metavar="N"),
             Flag("image", "", "str", "With --emit-job: the course image the pods run",
                  metavar="string"),
             Flag("claim", "", "str", "With --emit-job: the PersistentVolumeClaim holding "
                  "assignment, submissions and results (default grading)", metavar="string")],
            min_args=1),
]}
VOLUME_VERBS = {"create", "ls", "inspect", "rm", "prune"}
NETWORK_VERBS = {"create", "ls", "inspect", "rm", "prune", "connect", "disconnect"}
GROUP_ONLY = {"prune", "release", "grade", "builder prune"} | {f"volume {v}" for v in VOLUME_VERBS} | \
    {f"network {v}" for v in NETWORK_VERBS}
GROUPS = {"system": {"prune"}, "container": {"prune", "ls", "run", "create", "start", "stop",
                                             "kill", "rm", "logs", "inspect", "exec", "stats",
                                             "restart", "wait", "top", "rename", "pause",
                                             "unpause", "cp", "attach", "port"},
          "image": {"ls", "inspect", "rm", "tag", "history", "save", "load", "import", "pull",
                    "push", "build"},
          "builder": {"prune"},
          "course": {"release", "grade"}, "volume": VOLUME_VERBS, "network": NETWORK_VERBS}
ALIASES = {("container", "ls"): "ps", ("image", "ls"): "images", ("image", "rm"): "rmi",
           ("container", "diff"): "diff", ("container", "commit"): "commit",
           ("container", "export"): "export",
           ("builder", "prune"): "builder prune",
           **{("volume", v): f"volume {v}" for v in VOLUME_VERBS},
           **{("network", v): f"network {v}" for v in NETWORK_VERBS}}


IMAGE_VERBS = {"images", "diff", "commit", "rmi", "tag", "history", "save", "load", "import",
               "export", "pull", "push", "login", "logout"}


def usage() -> str:
    width = max(len(n) for n in COMMANDS)
    lines = ["Usage:  sandbox [OPTIONS] COMMAND", "",
             "Build and run containers with the Linux kernel's own features: namespaces, "
             "cgroups, overlayfs.", "", "Commands:"]
    lines += [f"  {name:<{width}}  {c.summary}" for name, c in COMMANDS.items()
              if name not in GROUP_ONLY]
    lines += ["", "Management Commands:",
              "  compose    Define and run multi-container applications (up, down, ps, ...)",
              "  container  Manage containers (ls, prune, and the verbs above)",
              "  image      Manage images (ls, inspect)",
              "  system     Manage sandbox (prune)",
              "  builder    Manage builds (prune)",
              "  volume     Manage volumes (create, ls, inspect, rm, prune)",
              "  network    Manage networks (create, ls, inspect, rm, prune, connect, "
              "disconnect)",
              "  course     Release exercises and grade submissions (release, grade)", "",
              "Run 'sandbox COMMAND --help' for more information on a command.",
              "State lives in $SANDBOX_ROOT (default: /var/lib/sandbox as root, "
              "~/.local/share/sandbox otherwise)."]
    return "\n".join(lines)


def exit_code(verb: str, err: SandboxError) -> int:
    """What Docker's command line exits with when a verb fails.

    125 is ``docker run``'s (and ``create``'s) code for "the container never
    ran" and every verb's code for a bad flag; 126 and 127 are the program's
    (cannot be invoked, not found), for ``run`` and ``exec``.  Any other
    failure of any other verb (a container that is not running, a name in
    use) exits 1, as the docker command does for an error from the daemon.
    """
    if verb in ("run", "create") or isinstance(err, UsageError) or verb in GROUPS["course"]:
        return err.exit_code
    if verb == "exec" and err.exit_code in (126, 127):
        return err.exit_code
    return 1


def _later_verb(name: str, rest: list[str]) -> str:
    """``compose``: verbs a later chapter brings (:mod:`sandbox.chapters`), or "" for any
    other word."""
    from ..chapters import VERBS  # a few lines, no imports of its own beyond errors
    return name if name in VERBS else ""


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not argv or argv[0] in ("-h", "--help", "help"):
        print(usage())
        return 0
    if argv[0] in ("-v", "--version"):
        argv = ["version"]
    name, rest = argv[0], argv[1:]
    if name in GROUPS and (not rest or rest[0] in ("-h", "--help")):  # `sandbox network`
        print(f"Usage:  sandbox {name} COMMAND\n\nCommands: " + ", ".join(sorted(GROUPS[name])))
        return 0
    if name in GROUPS and rest and rest[0] in GROUPS[name]:
        name, rest = ALIASES.get((name, rest[0]), rest[0]), rest[1:]
    if name == "compose":  # its own global flags and verbs (sandbox.cli.compose_commands)
        from .compose_commands import main as compose
        return compose(rest)
    command = COMMANDS.get(name)
    later = _later_verb(name, rest)
    if command is None and later:
        from ..chapters import not_yet
        print(f"sandbox: {not_yet(f'`sandbox {later}`', later.split()[-1])}", file=sys.stderr)
        return 1
    if command is None or name in GROUP_ONLY and argv[0] not in GROUPS:
        print(f"sandbox: '{argv[0]}' is not a sandbox command.\nSee 'sandbox --help'",
              file=sys.stderr)
        return 1
    try:
        values, args = parse(command, rest)
        if values.pop("help"):
            print(command.help())
            return 0
        if name in IMAGE_VERBS:
            from . import image_commands as verbs
        elif name in GROUPS["course"]:
            from . import course_commands as verbs
        elif name.startswith("volume "):
            from . import volume_commands as verbs
        elif name.startswith("network "):
            from . import network_commands as verbs
        elif name in ("build", "builder prune"):
            from . import build_commands as verbs
        else:
            from . import commands as verbs
        return getattr(verbs, "cmd_" + name.replace(" ", "_"))(args, **values) or 0
    except SandboxError as err:
        print(f"sandbox: {err}", file=sys.stderr)
        return exit_code(name, err)
    except KeyboardInterrupt:
        return 130


def entry() -> None:
    """The ``sandbox`` command: :func:`main`, then a quick exit.

    A normal exit tears the interpreter down: it frees every module and object
    one by one, about 3 ms after a ``run``, for memory the kernel takes back at
    once anyway.  So the command flushes its output and leaves with
    ``os._exit`` (see _exit(2)).  ``course`` verbs drive notebook kernels and
    thread pools, whose own exit handlers must run: they exit normally.
    """
    try:
        code = main()
    except BrokenPipeError:  # `sandbox images | head -1`: the reader left, as SIGPIPE would say
        code = 128 + 13
    if sys.argv[1:2] == ["course"]:
        sys.exit(code)
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (BrokenPipeError, ValueError):  # a reader that left (`| head`), or closed
            pass
    os._exit(code)
