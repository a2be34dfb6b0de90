"""JupyterHub for a workshop on one server: each learner's JupyterLab runs as their own Unix user.

    browser ──▶ configurable-http-proxy (npm, .hub/node_modules) :8000
                  ├── /hub/        JupyterHub, as root: logs learners in (PAM), starts their servers
                  ├── /user/ana/   jupyterhub-singleuser, as ana   ─▶ kernel ─▶ ana's containers
                  └── /user/ben/   jupyterhub-singleuser, as ben   ─▶ kernel ─▶ ben's containers

``sudo ./course hub`` starts it with this file (``jupyterhub -f deploy/jupyterhub_config.py``).
The hub runs as root only to become each learner: their server is started by
JupyterHub's default LocalProcessSpawner as that learner's Unix user, from the
course's shared ``.venv``.  So every learner's containers are rootless: they run in
a user namespace of the learner's (root inside is the learner outside), and live in
the learner's own state root, ``~/.local/share/sandbox`` (0700): nobody lists,
stops or reads anyone else's (README.md, "Root and rootless").

Before each start, the learner's working copy of the notebooks and exercises is
made or completed in ``~/course``, as the learner (sandbox/course/workcopy.py), and
JupyterLab opens there; the package and the venv stay shared.

Learners log in with their Unix password (PAM) and must be in the group
``learners`` (COURSE_HUB_GROUP); instructors listed in COURSE_HUB_ADMINS
(comma-separated) may see and stop every server.

Per-learner limits.  On a cgroup v2 host with systemd, each learner's server is
started in a systemd scope of their own user manager (``systemd-run --user --scope``,
after ``loginctl enable-linger``), and the learner's slice gets a memory, CPU and
process limit (COURSE_HUB_MEMORY, COURSE_HUB_CPUS, COURSE_HUB_TASKS): everything a
learner runs, kernels and containers, shares it, and their containers' own
``--memory``/``--cpus`` work too, below their user manager's delegated cgroup.
On a cgroup v1 or hybrid host (``sandbox doctor`` says which) cgroups cannot be
delegated to a user: learners' containers run without limits there, and the hub
says so once when it starts.
"""

import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

c = get_config()  # noqa: F821 (JupyterHub's config loader provides it)

COURSE = Path(os.environ.get("COURSE_DIR") or Path(__file__).resolve().parent.parent)
# The database, the cookie secret and the proxy's pid: root's, private.
STATE = Path(os.environ.get("COURSE_HUB_STATE") or COURSE / ".hub")
VENV_BIN = Path(sys.executable).parent  # the hub runs from the course's .venv
PROXY = COURSE / ".hub" / "node_modules" / ".bin" / "configurable-http-proxy"
WORKDIR = os.environ.get("COURSE_WORKDIR", "course")  # below each learner's home
FIRST_PAGE = "/lab/tree/notebooks/00_setup_check.ipynb"

LIMITS = {"MemoryMax": os.environ.get("COURSE_HUB_MEMORY", "2G"),
          "CPUQuota": os.environ.get("COURSE_HUB_CPUS", "100%"),  # one core
          "TasksMax": os.environ.get("COURSE_HUB_TASKS", "512")}

# --- the hub and its proxy ---------------------------------------------------------------
c.JupyterHub.bind_url = os.environ.get("COURSE_HUB_URL", "http://:8000")
c.JupyterHub.db_url = f"sqlite:///{STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(STATE / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.command = [str(PROXY)]
c.ConfigurableHTTPProxy.pid_file = str(STATE / "jupyterhub-proxy.pid")

# --- who may log in ----------------------------------------------------------------------
c.JupyterHub.authenticator_class = "pam"
c.PAMAuthenticator.allowed_groups = {os.environ.get("COURSE_HUB_GROUP", "learners")}
c.Authenticator.admin_users = {name for name in
                               os.environ.get("COURSE_HUB_ADMINS", "").split(",") if name}

# --- each learner's server: as the learner, from the shared venv, on their working copy --
c.JupyterHub.spawner_class = "localprocess"
c.Spawner.cmd = [str(VENV_BIN / "jupyterhub-singleuser")]
c.Spawner.default_url = FIRST_PAGE
# The venv first on PATH, so that `!sandbox ps` in a cell is the course's sandbox.
LEARNER_PATH = f"{VENV_BIN}:{os.environ.get('PATH', '/usr/bin:/bin')}"
c.Spawner.environment = {"PATH": LEARNER_PATH}
# A first start imports JupyterLab from a cold disk, and a class logs in at once.
c.Spawner.http_timeout = 120
c.Spawner.start_timeout = 120


def cgroup_v2_with_systemd() -> bool:
    """Can a learner's server get a delegated cgroup of its own (systemd on cgroup v2)?"""
    return (os.path.exists("/sys/fs/cgroup/cgroup.controllers")
            and os.path.isdir("/run/systemd/system") and shutil.which("systemd-run") is not None)


def as_learner(user: pwd.struct_passwd, args: list[str]) -> subprocess.CompletedProcess:
    """Run a command as the learner, in their home, with the hub's PYTHONPATH (if any)."""
    env = {"HOME": user.pw_dir, "USER": user.pw_name, "PATH": LEARNER_PATH,
           "LANG": os.environ.get("LANG", "C.UTF-8")}
    if os.environ.get("PYTHONPATH"):
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return subprocess.run(args, user=user.pw_uid, group=user.pw_gid,
                          extra_groups=os.getgrouplist(user.pw_name, user.pw_gid),
                          cwd=user.pw_dir, env=env, capture_output=True, text=True, timeout=60)


def make_working_copy(spawner, user: pwd.struct_passwd) -> None:
    """~/course/notebooks and ~/course/exercises, made or completed as the learner."""
    workdir = os.path.join(user.pw_dir, WORKDIR)
    done = as_learner(user, [sys.executable, "-m", "sandbox.course.workcopy", str(COURSE),
                             workdir])
    if done.returncode != 0:
        raise RuntimeError(f"the working copy for {user.pw_name} could not be made: "
                           f"{done.stderr.strip()}")
    spawner.log.info("%s", done.stdout.strip())
    spawner.notebook_dir = workdir


def limit_learner(spawner, user: pwd.struct_passwd) -> None:
    """Start the learner's server in their own user manager, their slice limited (cgroup v2)."""
    uid = user.pw_uid
    subprocess.run(["loginctl", "enable-linger", user.pw_name], check=True)
    subprocess.run(["systemctl", "start", f"user@{uid}.service"], check=True)
    properties = [f"{key}={value}" for key, value in LIMITS.items()]
    subprocess.run(["systemctl", "set-property", "--runtime", f"user-{uid}.slice", *properties],
                   check=True)
    runtime = f"/run/user/{uid}"
    spawner.environment = {**spawner.environment, "XDG_RUNTIME_DIR": runtime,
                           "DBUS_SESSION_BUS_ADDRESS": f"unix:path={runtime}/bus"}
    # In --scope mode systemd-run execs the command: the spawner's pid is the server's.
    spawner.cmd = ["systemd-run", "--user", "--scope", "--quiet", "--", *c.Spawner.cmd]


def before_start(spawner) -> None:
    user = pwd.getpwnam(spawner.user.name)
    make_working_copy(spawner, user)
    if LIMITED:
        limit_learner(spawner, user)


LIMITED = cgroup_v2_with_systemd()
if not LIMITED:
    print("[course] learners' servers and containers run without resource limits: this host "
          "has no cgroup v2 with systemd to delegate one to each learner (`sandbox doctor` "
          "shows its cgroups)", file=sys.stderr)
c.Spawner.pre_spawn_hook = before_start
