"""A workshop on one server, for real: JupyterHub (deploy/jupyterhub_config.py) with two learners.

Two Unix users are created for the test.  Each logs in through the hub's login form,
asks the hub for an API token of their own, starts their server, and runs chapter 00's
first cells up to its first container in their own JupyterLab, from their own working
copy.  Then learner B tries to see, stop, remove, signal and read learner A's container,
and fails at each, while A's container runs on.

The cells run through each learner's server API as JupyterLab runs them: a session for the
notebook (``POST /user/NAME/api/sessions``) starts its kernel, driven over its websocket
(``/user/NAME/api/kernels/ID/channels``, Jupyter's messaging protocol as JSON) with
websocket-client, which jupyter_server depends on.

The hub uses SharedPasswordAuthenticator, JupyterHub's successor of DummyAuthenticator
with a password (deprecated in 5.3); the README's hub uses PAM.  Root only: creating
users takes root.  Nothing is left behind: servers, hub, proxy, the users, their homes.
"""

from __future__ import annotations

import json
import os
import pwd
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parent.parent
PROXY = REPO / ".hub" / "node_modules" / ".bin" / "configurable-http-proxy"
NPM_INSTALL = ["npm", "install", "--prefix", str(REPO / ".hub"), "--no-audit", "--no-fund",
               "--loglevel=error", "configurable-http-proxy@5"]  # as ./course does
PASSWORD = "workshop-" + secrets.token_hex(8)
FIRST_NOTEBOOK = "notebooks/00_setup_check.ipynb"

if os.geteuid() != 0:
    pytest.skip("the hub test creates two Unix users with useradd, which only root may do",
                allow_module_level=True)

import requests  # noqa: E402  (JupyterHub's and JupyterLab's dependencies)
import websocket  # noqa: E402  (websocket-client, jupyter_server's)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _proxy_installed() -> bool:
    if not PROXY.exists() and shutil.which("npm"):
        (REPO / ".hub").mkdir(mode=0o700, exist_ok=True)
        subprocess.run(NPM_INSTALL, capture_output=True, timeout=300)
    return PROXY.exists()


# --- the two learners: Unix users of the test's own, removed afterwards -------------------
def _create_user(name: str, homes: Path) -> pwd.struct_passwd:
    subprocess.run(["useradd", "--create-home", "--home-dir", str(homes / name),
                    "--shell", "/bin/bash", name], check=True, capture_output=True)
    return pwd.getpwnam(name)


def _processes_of(uid: int) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    pids.append(int(entry))
            except FileNotFoundError:
                pass
    return pids


def _remove_user(user: pwd.struct_passwd) -> list[int]:
    """Kill what is left of the user's processes (by pid), remove them and their home;
    return the pids that were left, so that the test can say so."""
    deadline = time.monotonic() + 10   # kernels leave a moment after their server
    while _processes_of(user.pw_uid) and time.monotonic() < deadline:
        time.sleep(0.2)
    left = _processes_of(user.pw_uid)
    for pid in left:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    deadline = time.monotonic() + 10
    while _processes_of(user.pw_uid) and time.monotonic() < deadline:
        time.sleep(0.1)
    subprocess.run(["userdel", "--remove", user.pw_name], capture_output=True)
    shutil.rmtree(user.pw_dir, ignore_errors=True)
    return left


# --- the hub --------------------------------------------------------------------------
TEST_CONFIG = """\
# The course's hub, as ./course hub runs it, with a test's authenticator and ports.
c = get_config()
load_subconfig({deploy!r})
c.JupyterHub.authenticator_class = "shared-password"
c.SharedPasswordAuthenticator.user_password = {password!r}
c.Authenticator.allowed_users = {users!r}
c.JupyterHub.hub_bind_url = "http://127.0.0.1:{hub_port}"
c.ConfigurableHTTPProxy.api_url = "http://127.0.0.1:{api_port}"
# The hub's API answers at once (202) rather than waiting up to 10 s for a start or a stop:
# the two learners' servers start side by side.
c.JupyterHub.tornado_settings = {{"slow_spawn_timeout": 0, "slow_stop_timeout": 0}}
"""


class Hub:
    def __init__(self, state: Path, users: list[str]):
        self.state, self.port = state, _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = state / "jupyterhub_config.py"
        config.write_text(TEST_CONFIG.format(
            deploy=str(REPO / "deploy" / "jupyterhub_config.py"), password=PASSWORD,
            users=set(users), hub_port=_free_port(), api_port=_free_port()))
        env = {k: v for k, v in os.environ.items() if k != "SANDBOX_ROOT"}
        env.update(COURSE_DIR=str(REPO), COURSE_HUB_STATE=str(state),
                   COURSE_HUB_URL=self.url, PYTHONPATH=str(REPO))  # learners import this checkout
        self.log = open(state / "hub.log", "wb")
        self.process = subprocess.Popen(
            [str(Path(sys.executable).parent / "jupyterhub"), "-f", str(config)],
            cwd=state, env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{self.url}/hub/api", timeout=2).ok:
                    return
            except requests.ConnectionError:
                pass
            assert self.process.poll() is None, f"JupyterHub exited:\n{self.tail()}"
            assert time.monotonic() < deadline, f"JupyterHub did not answer in 60 s:\n{self.tail()}"
            time.sleep(0.3)

    def tail(self) -> str:
        return (self.state / "hub.log").read_text(errors="replace")[-4000:]

    def stop(self) -> None:
        """SIGTERM: the hub stops every server it started (cleanup_servers) and its proxy."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        self.log.close()


class Learner:
    """One learner in a browser's place: logs in, gets a token, starts a server, runs cells."""

    def __init__(self, hub: Hub, name: str):
        self.hub, self.name = hub, name
        session = requests.Session()
        session.get(f"{hub.url}/hub/login", timeout=10)  # sets the _xsrf cookie
        xsrf = session.cookies["_xsrf"]
        login = session.post(f"{hub.url}/hub/login", allow_redirects=False, timeout=30,
                             data={"username": name, "password": PASSWORD, "_xsrf": xsrf})
        assert login.status_code == 302, f"{name} could not log in: {login.status_code}"
        # Logging in starts a new session, to which a new _xsrf token belongs: a page gives it.
        session.get(f"{hub.url}/hub/token", timeout=10)
        xsrf = session.cookies["_xsrf"]
        made = session.post(f"{hub.url}/hub/api/users/{name}/tokens", timeout=10,
                            headers={"X-XSRFToken": xsrf},
                            json={"note": "test_hub", "expires_in": 900})
        assert made.status_code == 201, made.text
        self.token = made.json()["token"]
        self.headers = {"Authorization": f"token {self.token}"}
        self.server = f"{hub.url}/user/{name}"
        self.kernel = None

    def api(self, method: str, path: str, **kwargs):
        return requests.request(method, f"{self.hub.url}{path}", headers=self.headers,
                                timeout=30, **kwargs)

    def start_server(self) -> None:
        started = self.api("POST", f"/hub/api/users/{self.name}/server")
        assert started.status_code in (201, 202), f"{started.status_code}: {started.text}"

    def wait_for_server(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            model = self.api("GET", f"/hub/api/users/{self.name}").json()
            server = model.get("servers", {}).get("")
            if server and server.get("ready"):
                return
            assert time.monotonic() < deadline, \
                f"{self.name}'s server was not ready in 60 s:\n{self.hub.tail()}"
            time.sleep(0.3)

    def stop_server(self) -> None:
        self.api("DELETE", f"/hub/api/users/{self.name}/server")

    def notebook(self, path: str) -> dict:
        got = self.api("GET", f"/user/{self.name}/api/contents/{path}")
        assert got.status_code == 200, f"{path} in {self.name}'s working copy: {got.status_code}"
        return got.json()["content"]

    def open_notebook(self, path: str) -> None:
        """A kernel for the notebook, as JupyterLab opens one: a session (the kernel's
        working directory is the notebook's), then the kernel's websocket."""
        made = self.api("POST", f"/user/{self.name}/api/sessions",
                        json={"path": path, "type": "notebook", "kernel": {"name": "python3"}})
        assert made.status_code == 201, made.text
        kernel_id = made.json()["kernel"]["id"]
        url = f"ws://127.0.0.1:{self.hub.port}/user/{self.name}/api/kernels/{kernel_id}/channels"
        self.kernel = websocket.create_connection(
            url, header=[f"Authorization: token {self.token}"], timeout=120)
        self.session = uuid.uuid4().hex

    def run(self, code: str) -> str:
        """Execute one cell in the learner's kernel; return its printed output, raise on error."""
        msg_id = uuid.uuid4().hex
        self.kernel.send(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": "execute_request", "session": self.session,
                       "username": self.name, "version": "5.3"},
            "parent_header": {}, "metadata": {}, "channel": "shell", "buffers": [],
            "content": {"code": code, "silent": False, "store_history": True,
                        "user_expressions": {}, "allow_stdin": False, "stop_on_error": True}}))
        output, error = [], None
        while True:
            msg = json.loads(self.kernel.recv())
            if msg.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            kind, content = msg["msg_type"], msg["content"]
            if kind == "stream":
                output.append(content["text"])
            elif kind in ("execute_result", "display_data"):
                output.append(content["data"].get("text/plain", "") + "\n")
            elif kind == "error":
                error = f"{content['ename']}: {content['evalue']}"
            elif kind == "status" and content["execution_state"] == "idle":
                break
        text = "".join(output)
        if error:
            raise AssertionError(f"{self.name}'s cell failed with {error}\n{code}\n{text}")
        return text


def _first_container_cells(notebook: dict) -> list[str]:
    """The notebook's code cells, up to and including the first that runs a container."""
    cells = []
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            source = cell["source"] if isinstance(cell["source"], str) else "".join(cell["source"])
            cells.append(source)
            if "sandbox.run(" in source:
                return cells
    raise AssertionError("the notebook runs no container")


@pytest.fixture(scope="module")
def workshop():
    """The hub, started from deploy/jupyterhub_config.py, and two learners logged in."""
    if not _proxy_installed():
        pytest.skip("configurable-http-proxy could not be installed with npm "
                    "(./course hub installs it; npm is needed)")
    for path in (REPO / "pyproject.toml", Path(sys.executable)):
        probe = subprocess.run(["runuser", "-u", "nobody", "--", "test", "-r", str(path)])
        assert probe.returncode == 0, (f"learners cannot read {path}: clone the course into "
                                       "a folder every user can read")
    tag = secrets.token_hex(3)
    names = [f"hub-a-{tag}", f"hub-b-{tag}"]
    homes = Path(tempfile.mkdtemp(prefix="hub-homes-"))
    homes.chmod(0o755)
    state = Path(tempfile.mkdtemp(prefix="hub-state-"))
    users, hub, learners, left = [], None, [], {}
    try:
        users = [_create_user(name, homes) for name in names]
        hub = Hub(state, names)
        learners = [Learner(hub, name) for name in names]
        for learner in learners:
            learner.start_server()
        for learner in learners:
            learner.wait_for_server()
            learner.open_notebook(FIRST_NOTEBOOK)
        yield hub, learners, users
    finally:
        for learner in learners:
            if learner.kernel is not None:
                learner.kernel.close()
            learner.stop_server()
        if hub is not None:
            hub.stop()
        for user in users:
            left[user.pw_name] = _remove_user(user)
        with open("/proc/self/mountinfo") as f:
            mounts = [line for line in f if str(homes) in line]
        shutil.rmtree(homes, ignore_errors=True)
        shutil.rmtree(state, ignore_errors=True)
    assert not any(left.values()), f"processes left behind by the learners: {left}"
    assert not mounts, f"mounts left behind in the learners' homes: {mounts}"


def test_each_learner_runs_the_first_container_cells_as_themselves(workshop):
    _hub, learners, users = workshop
    for learner, user in zip(learners, users):
        notebook = learner.notebook(FIRST_NOTEBOOK)   # from their working copy, ~/course
        for cell in _first_container_cells(notebook):
            learner.run(cell)
        facts = json.loads(learner.run(
            "import json\nprint(json.dumps({'uid': os.geteuid(), 'cwd': os.getcwd(), "
            "'root': str(sandbox.paths.state_root()), 'map': uid_map.stdout.split()}))"))
        home = Path(user.pw_dir)
        assert facts["uid"] == user.pw_uid                    # the learner's own Unix user
        assert facts["map"][:2] == ["0", str(user.pw_uid)]    # root inside, the learner outside
        assert facts["root"] == str(home / ".local/share/sandbox")
        assert Path(facts["cwd"]) == home / "course" / "notebooks"
        copy = home / "course"
        assert (copy / "exercises" / "03_namespaces.ipynb").stat().st_uid == user.pw_uid
        assert not (copy / "exercises" / "source").exists()  # the instructor's answers stay out


def test_a_learner_can_neither_see_nor_stop_another_learners_container(workshop):
    hub, (ana, ben), (ana_user, ben_user) = workshop
    made = json.loads(ana.run(
        "c = sandbox.run('busybox', 'sleep 300', detach=True, name='mine')\n"
        "print(json.dumps({'id': c.id, 'pid': c.pid, 'root': str(sandbox.paths.state_root())}))"))
    ben.run("mine = sandbox.run('busybox', 'sleep 300', detach=True, name='mine')")  # his own
    try:
        with open(f"/proc/{made['pid']}/status") as f:
            uids = next(line for line in f if line.startswith("Uid:")).split()[1:]
        assert set(uids) == {str(ana_user.pw_uid)}   # on the host, ana's container is ana's

        tried = json.loads(ben.run(_BENS_ATTEMPTS.format(id=made["id"], pid=made["pid"],
                                                         root=made["root"])))
        code, listing = tried["ps"]
        assert code == 0 and made["id"] not in listing, listing   # he sees only his own 'mine'
        assert "mine" in listing
        for verb in ("stop", "rm", "ps_in_her_root"):
            code, said = tried[verb]
            assert code != 0, f"ben's `sandbox {verb}` of ana's container succeeded: {said}"
        assert tried["list"] == "denied" and tried["signal"] == "denied", tried

        forbidden = requests.get(f"{hub.url}/user/{ana.name}/api/contents", timeout=10,
                                 headers=ben.headers)
        assert forbidden.status_code in (403, 404), forbidden.status_code  # nor her server

        still = ana.run("print(sandbox.containers(all=True)[0].status)")
        assert still.strip() == "running"
    finally:
        ana.run("c.remove(force=True)")
        ben.run("mine.remove(force=True)")
    assert ana.run("print(len(sandbox.containers(all=True)))").strip() == "0"


_BENS_ATTEMPTS = """\
import json, os, subprocess, sys

def sandbox_cli(*args, **env):
    done = subprocess.run([sys.executable, "-m", "sandbox", *args], capture_output=True,
                          text=True, env={{**os.environ, **env}}, timeout=60)
    return done.returncode, done.stdout + done.stderr

tried = {{"ps": sandbox_cli("ps", "-a", "--no-trunc"),
         "stop": sandbox_cli("stop", "{id}"),
         "rm": sandbox_cli("rm", "-f", "{id}"),
         "ps_in_her_root": sandbox_cli("ps", "-a", SANDBOX_ROOT="{root}")}}
try:
    os.listdir("{root}")
    tried["list"] = "listed"
except PermissionError:
    tried["list"] = "denied"
try:
    os.kill({pid}, 0)
    tried["signal"] = "sent"
except PermissionError:
    tried["signal"] = "denied"
print(json.dumps(tried))
"""
