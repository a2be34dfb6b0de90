"""The README's promises: two commands, environment.yml in sync, JupyterLab serves the notebooks."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
import tomllib
import urllib.request
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent


def _requirement_name(spec: str) -> str:
    return re.split(r"[<>=!~ \[]", spec, maxsplit=1)[0].lower()


def test_environment_yml_lists_the_same_dependencies_as_pyproject():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    wanted = {spec.replace(" ", "") for extra in ("course", "test")
              for spec in project["optional-dependencies"][extra]}
    wanted |= {spec.replace(" ", "") for spec in project["dependencies"]}
    env = yaml.safe_load((REPO / "environment.yml").read_text())
    conda = {d.replace(" ", "") for d in env["dependencies"] if isinstance(d, str)
             and _requirement_name(d) not in ("python", "pip")}
    assert conda == wanted, f"only in pyproject: {wanted - conda}; only in environment.yml: {conda - wanted}"
    python = next(d for d in env["dependencies"] if isinstance(d, str) and d.startswith("python"))
    assert python.replace("python", "") == project["requires-python"]


def test_readme_gives_the_two_commands_and_ci_runs_the_test_one():
    readme = (REPO / "README.md").read_text()
    assert "./course lab" in readme and "./course test" in readme
    ci = [line for line in (REPO / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.startswith("#")]
    assert ci[-1].strip() == "exec ./course test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_jupyterlab_serves_the_notebooks(tmp_path):
    """Start JupyterLab headless, as `./course lab` does, list the notebooks over HTTP, stop it."""
    port, token = _free_port(), "course-test-token"
    args = [sys.executable, "-m", "jupyter", "lab", "--no-browser", f"--port={port}",
            "--ip=127.0.0.1", f"--IdentityProvider.token={token}",
            f"--notebook-dir={REPO}"]
    if os.geteuid() == 0:
        args.append("--allow-root")
    env = {**os.environ, "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
           "JUPYTER_CONFIG_DIR": str(tmp_path / "config"), "HOME": str(tmp_path)}
    server = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                              start_new_session=True)
    try:
        listing = None
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and listing is None:
            try:
                with urllib.request.urlopen(
                        f"http://127.0.0.1:{port}/api/contents/notebooks?token={token}",
                        timeout=5) as r:
                    listing = json.load(r)
            except OSError:
                assert server.poll() is None, "JupyterLab exited while starting"
                time.sleep(0.5)
        assert listing is not None, "JupyterLab did not answer within 90 s"
        names = {item["name"] for item in listing["content"]}
        assert {"00_setup_check.ipynb", "03_namespaces.ipynb"} <= names
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/contents/exercises"
                                    f"?token={token}", timeout=10) as r:
            exercises = {item["name"] for item in json.load(r)["content"]}
        assert {"01_files_and_processes.ipynb", "03_namespaces.ipynb"} <= exercises
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}",
                                    timeout=10) as r:
            assert r.status == 200 and b"JupyterLab" in r.read()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait()
