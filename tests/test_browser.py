"""Every chapter as a learner sees it: JupyterLab in Chromium, Run All, and what shows.

    pytest ──starts──> jupyter lab     as `./course lab` starts it, on a copy of notebooks/
       │                   ▲
       └──drives──> chromium           open a chapter, Run > Run All Cells, wait until
                    (Playwright)       the kernel is idle, look at the page, screenshot,
                                       File > Close and Shut Down Notebook (never saved)

What each chapter must show once Run All is over:
- every code cell ran (JupyterLab stops Run All at the first cell that raises);
- no output is a traceback (JupyterLab 4 renders tracebacks as
  ``application/vnd.jupyter.stderr``, like any stderr, so they are told apart by text);
- its ipywidgets render as widgets, not "Loading widget..." or a text repr (WIDGETS);
- its plots render as pictures (PLOTS).
A first test runs a notebook made to fail every check, so that the checks are shown to see
what they look for in this JupyterLab.

Screenshots of each chapter, the whole notebook in one picture, are kept in
``$SANDBOX_TEST_ARTIFACTS/browser`` (else ``tests/artifacts/browser``, git-ignored).

Chromium is Debian's (`./course` installs it: `playwright install` downloads its own, which
needs the internet); Playwright drives it through ``executable_path``.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import pytest

from conftest import IS_ROOT, REPO, wait_for

# Debian's chromium; Google Chrome where a CI machine has it and no chromium (Ubuntu's
# chromium package is a snap, which Playwright cannot start).
BROWSERS = (Path("/usr/bin/chromium"), Path("/usr/bin/google-chrome"))
CHAPTERS = sorted((REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
RUN_ALL_TIMEOUT = 300          # seconds; the slowest chapter takes about a minute
VIEWPORT = {"width": 1400, "height": 1000}
TALLEST_SCREENSHOT = 30000     # pixels: Chromium draws no taller page


def can_limit() -> bool:
    """Whether this user may set cgroup limits here: chapter 04's experiments run only then."""
    import sandbox
    from sandbox.isolation import cgroups
    try:
        cgroups.check(cgroups.parse_limits(memory="32m", cpus=0.5, pids_limit=20))
        return True
    except sandbox.MissingFeature:
        return False


# What a chapter must show beyond "no error": its widgets {chapter: [(what, CSS selector,
# how many, needs limits)]} and its plots {chapter: [(what, needs limits)]}.  Chapter 04's monitor and
# plot come from experiments that run only where this user may set cgroup limits.
BARS = ".widget-vbox .widget-hbox .widget-hprogress"     # progress bars in a row, in a column
PICKER = ".widget-vbox .widget-dropdown select"
PRINTED = ".widget-vbox .widget-output pre"             # what an Output widget printed
WIDGETS = {
    "04_cgroups.ipynb": [("the live monitor's progress bars", BARS, 3, True)],
    "05_layers.ipynb": [("the layer explorer's image picker", PICKER, 1, False),
                        ("the layer explorer's report", PRINTED, 1, False)],
}
PLOTS = {"04_cgroups.ipynb": [("the CPU quota plot", True)]}


# --- the browser and the lab ------------------------------------------------------------
def find_browser() -> Path | None:
    return next((b for b in BROWSERS if b.exists()), None)


def artifacts() -> Path:
    """Where the screenshots go: $SANDBOX_TEST_ARTIFACTS/browser, else tests/artifacts/browser
    (or, where this user may not write in the clone, a folder of theirs in /tmp)."""
    folder = Path(os.environ.get("SANDBOX_TEST_ARTIFACTS") or REPO / "tests" / "artifacts")
    try:
        (folder / "browser").mkdir(parents=True, exist_ok=True)
    except PermissionError:
        folder = Path(tempfile.gettempdir()) / f"sandbox-test-artifacts-{os.geteuid()}"
        (folder / "browser").mkdir(parents=True, exist_ok=True)
    return folder / "browser"


def course_lab_flags(course_dir: Path) -> list[str]:
    """The flags `./course lab` gives JupyterLab, read from the script so that the two agree."""
    script = (REPO / "course").read_text()
    found = re.search(r'exec "\$venv/bin/jupyter" lab (.*?)"\$\{extra\[@\]\}"', script, re.S)
    assert found, "./course no longer starts JupyterLab with `exec \"$venv/bin/jupyter\" lab`: " \
                  "update course_lab_flags in tests/test_browser.py"
    flags = shlex.split(found.group(1).replace("\\\n", " "))
    # $dir: the course itself, or a learner's working copy of it (./course lab's workdir)
    flags = [flag.replace("$here", str(course_dir)).replace("$dir", str(course_dir))
             for flag in flags]
    assert f"--notebook-dir={course_dir}" in flags, flags
    return flags + (["--allow-root"] if IS_ROOT else [])


def as_never_run(path: Path) -> None:
    """In the test's copy of a chapter: drop the outputs and prompts stored in it, and unfold
    the code of cells it folds away (its bookkeeping checks, metadata ``jupyter.source_hidden``,
    which JupyterLab shows without a prompt). What the page shows after Run All is then only
    what Run All did, and every cell's prompt says whether it was reached."""
    notebook = json.loads(path.read_text())
    for cell in notebook["cells"]:
        cell.get("metadata", {}).get("jupyter", {}).pop("source_hidden", None)
        if cell["cell_type"] == "code":
            cell["outputs"], cell["execution_count"] = [], None
    path.write_text(json.dumps(notebook, indent=1))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lab:
    """A JupyterLab server of our own: its URL, token, and the course folder it serves."""

    def __init__(self, home: Path):
        self.home = home
        self.course = home / "course"
        shutil.copytree(REPO / "notebooks", self.course / "notebooks",
                        ignore=shutil.ignore_patterns(".ipynb_checkpoints"))
        for notebook in (self.course / "notebooks").glob("*.ipynb"):
            as_never_run(notebook)
        self.port, self.token = free_port(), secrets.token_hex(16)
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = home / "jupyter.log"
        # What Jupyter, IPython and matplotlib write goes below `home`, not in the user's
        # (the chapters keep $HOME, as under `./course lab`, and the suite's SANDBOX_ROOT).
        env = {**os.environ, "IPYTHONDIR": str(home / "ipython"),
               "JUPYTER_CONFIG_DIR": str(home / "jupyter-config"),
               "JUPYTER_DATA_DIR": str(home / "jupyter-data"),
               "JUPYTER_RUNTIME_DIR": str(home / "jupyter-runtime"),
               "MPLCONFIGDIR": str(home / "matplotlib")}
        jupyter = Path(sys.executable).with_name("jupyter")
        args = [str(jupyter), "lab", *course_lab_flags(self.course), "--no-browser",
                "--ip=127.0.0.1", f"--port={self.port}", f"--IdentityProvider.token={self.token}"]
        with open(self.log, "w") as log:
            self.server = subprocess.Popen(args, env=env, cwd=self.course, stdout=log,
                                           stderr=subprocess.STDOUT, start_new_session=True)
        if not wait_for(self.answers, timeout=90, step=0.25):
            self.stop()
            raise AssertionError(f"JupyterLab did not answer within 90 s:\n{self.log_tail()}")

    def api(self, path: str, method: str = "GET"):
        request = urllib.request.Request(f"{self.url}/api/{path}", method=method,
                                         headers={"Authorization": f"token {self.token}"})
        with urllib.request.urlopen(request, timeout=10) as r:
            return json.loads(r.read() or "null")

    def answers(self) -> bool:
        assert self.server.poll() is None, f"JupyterLab exited while starting:\n{self.log_tail()}"
        try:
            return bool(self.api("status"))
        except OSError:
            return False

    def log_tail(self) -> str:
        return "\n".join(self.log.read_text(errors="replace").splitlines()[-30:])

    def stop(self):
        # SIGTERM: JupyterLab shuts its kernels down, then exits; the group catches stragglers.
        self.server.send_signal(signal.SIGTERM)
        try:
            self.server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(self.server.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.server.wait()


@pytest.fixture(scope="module")
def lab():
    if find_browser() is None:
        pytest.skip(f"no Chromium at {BROWSERS[0]} to show the chapters in: `./course test` "
                    "installs it as root (Debian package chromium)")
    home = Path(tempfile.mkdtemp(prefix="sandbox-browser-"))
    try:
        server = Lab(home)
        yield server
        server.stop()
    finally:
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture(scope="module")
def page(lab):
    """One Chromium, one JupyterLab page, for every chapter (opening JupyterLab takes ~5 s).

    Playwright's driver is a child process, and a thread of ours waits for it."""
    from playwright.sync_api import sync_playwright
    threads_before = threading.active_count()
    playwright = sync_playwright().start()
    try:
        # Playwright passes --no-sandbox (its default), which Chromium needs as root; the
        # crash reports and caches Chromium keeps in $HOME go to the lab's folder.
        chromium = playwright.chromium.launch(executable_path=str(find_browser()),
                                              env={**os.environ, "HOME": str(lab.home)})
        page = chromium.new_page(viewport=VIEWPORT)
        page.goto(f"{lab.url}/lab?reset&token={lab.token}")   # no notebook open; token: a cookie
        yield page
        chromium.close()
    finally:
        playwright.stop()
    # The test suite forks into new user namespaces later, which a threaded process cannot.
    assert wait_for(lambda: threading.active_count() <= threads_before, timeout=10), \
        f"Playwright left threads running: {threading.enumerate()}"


# --- one notebook, run in the browser -------------------------------------------------------
NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"

# What the page says about the open notebook: its code cells' prompts, the kernel's status,
# each output's text and kind.
PAGE_STATE = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  if (!panel) return null;
  const cells = [...panel.querySelectorAll('.jp-Notebook .jp-CodeCell')];
  return {
    status: panel.querySelector('.jp-Notebook-ExecutionIndicator')?.dataset.status ?? null,
    cells: cells.map((cell, index) => ({
      index: [...cell.parentNode.children].indexOf(cell),
      prompt: cell.querySelector('.jp-InputPrompt')?.textContent.trim() ?? '',
      source: cell.querySelector('.jp-InputArea-editor')?.textContent.slice(0, 80) ?? '',
      outputs: [...cell.querySelectorAll('.jp-OutputArea-output')].map(o => ({
        mime: o.dataset.mimeType ?? '', text: o.innerText.slice(0, 3000)})),
    })),
  };
}"""

# IPython's tracebacks: "Traceback (most recent call last)" or, for a SyntaxError, "Cell In[3]".
TRACEBACK = re.compile(r"Traceback \(most recent call last\)|^\s*Cell In\[\d+\], line \d+", re.M)
# What ipywidgets shows instead of a widget it could not draw.
NOT_A_WIDGET = ("Loading widget...", "Error displaying widget", "Failed to load model class",
                "Click to show javascript error")


class Run:
    """A notebook opened in JupyterLab and Run All: what its page showed."""

    def __init__(self, page, name: str, seconds: float, selectors: list[str]):
        self.name, self.seconds = name, seconds
        self.state = page.evaluate(PAGE_STATE)
        self.plots = page.evaluate(PLOTS_SHOWN)
        self.seen = {selector: visible(page, selector) for selector in selectors}

    def not_run(self) -> list[str]:
        return [f"cell {c['index'] + 1} [{c['prompt']}] {c['source']!r}"
                for c in self.state["cells"] if not re.fullmatch(r"\[\d+\]:", c["prompt"])]

    def tracebacks(self) -> list[str]:
        return [f"cell {c['index'] + 1} {c['source']!r}:\n{o['text'][-1500:]}"
                for c in self.state["cells"] for o in c["outputs"]
                if o["mime"] == "application/vnd.jupyter.stderr" and TRACEBACK.search(o["text"])]

    def broken_widgets(self) -> list[str]:
        return [f"cell {c['index'] + 1}: {o['text'][:200]!r}"
                for c in self.state["cells"] for o in c["outputs"]
                if any(sign in o["text"] for sign in NOT_A_WIDGET)]


def visible(page, selector: str) -> int:
    """How many elements ``selector`` finds in the notebook's outputs that are drawn."""
    found = page.locator(f"{NOTEBOOK} .jp-OutputArea-output").locator(selector)
    return sum(1 for i in range(found.count()) if found.nth(i).is_visible())


# Pictures in the outputs that the browser decoded: PNGs with a size, or SVGs.
PLOTS_SHOWN = """() => {
  const panel = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden)');
  const pngs = [...panel.querySelectorAll('.jp-OutputArea-output[data-mime-type="image/png"] img')]
    .filter(img => img.complete && img.naturalWidth > 50 && img.naturalHeight > 50);
  const svgs = panel.querySelectorAll('.jp-OutputArea-output[data-mime-type="image/svg+xml"] svg');
  return pngs.length + svgs.length;
}"""


def menu(page, top: str, item: str):
    page.locator(".lm-MenuBar-itemLabel", has_text=re.compile(f"^{top}$")).click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(f"^{re.escape(item)}…?$")).click()


def idle_and_done(page) -> bool:
    state = page.evaluate(PAGE_STATE)
    return bool(state and state["status"] == "idle"
                and not any("*" in c["prompt"] for c in state["cells"]))


def open_notebook(page, name: str):
    """File > Open from Path…, as a learner would; ready when the status bar says "| Idle"."""
    menu(page, "File", "Open from Path")
    page.locator(".jp-Dialog input").fill(f"notebooks/{name}")
    page.locator(".jp-Dialog .jp-mod-accept").click()
    page.locator(".lm-TabBar-tab.lm-mod-current .lm-TabBar-tabLabel",
                 has_text=re.compile(f"^{re.escape(name)}$")).wait_for(timeout=30_000)
    page.locator(".jp-StatusBar-TextItem", has_text=re.compile(r"\| Idle$")).wait_for(
        timeout=60_000)


def run_all(lab: Lab, page, name: str, selectors: list[str]) -> Run:
    """Open notebooks/``name``, Run All, wait for the kernel, screenshot, see what shows
    (and how many of ``selectors`` are drawn), close it unsaved."""
    try:
        open_notebook(page, name)
        started = time.monotonic()
        menu(page, "Run", "Run All Cells")
        # Queued cells show [*]; wait until one changed, then until none shows [*] and the kernel
        # is idle, twice half a second apart (it is idle for an instant between two cells).
        page.wait_for_function("""() => [...document.querySelectorAll(
            '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-InputPrompt')]
            .some(p => p.textContent.trim() != '[ ]:')""", timeout=10_000)
        deadline = started + RUN_ALL_TIMEOUT
        while not (idle_and_done(page) and (page.wait_for_timeout(500) or idle_and_done(page))):
            assert time.monotonic() < deadline, f"{name}: Run All still busy after " \
                                                f"{RUN_ALL_TIMEOUT} s"
            page.wait_for_timeout(250)
        seconds = time.monotonic() - started
        screenshot(page, artifacts() / f"{Path(name).stem}.png")
        run = Run(page, name, seconds, selectors)   # with every cell in the window
        page.set_viewport_size(VIEWPORT)
        close_unsaved(page)
        assert wait_for(lambda: not lab.api("sessions"), timeout=20), \
            f"{name}: its kernel still runs after Close and Shut Down: {lab.api('sessions')}"
        return run
    except BaseException:
        # Leave the next chapter a clean lab: no kernel of this one running, no tab open.
        for session in lab.api("sessions"):
            lab.api(f"sessions/{session['id']}", method="DELETE")
        page.goto(f"{lab.url}/lab?reset")
        raise


def screenshot(page, path: Path):
    """The whole notebook in one picture: the window is made as tall as the notebook."""
    tall = page.evaluate(f"""() => {{
      const scroller = document.querySelector('{NOTEBOOK} .jp-WindowedPanel-outer');
      return scroller.scrollHeight - scroller.clientHeight + window.innerHeight;
    }}""")
    page.set_viewport_size({"width": VIEWPORT["width"],
                            "height": min(max(tall, VIEWPORT["height"]), TALLEST_SCREENSHOT)})
    # Run All left the notebook scrolled to its end: back to the top, where the picture starts.
    page.evaluate(f"() => document.querySelector('{NOTEBOOK} .jp-WindowedPanel-outer')"
                  ".scrollTo(0, 0)")
    page.wait_for_timeout(500)   # JupyterLab lays the cells out again for the new height
    page.screenshot(path=str(path), full_page=True)


def close_unsaved(page):
    # "Close and Shut Down Notebook" asks once, then closes without asking to save.
    menu(page, "File", "Close and Shut Down Notebook")
    page.locator(".jp-Dialog .jp-mod-accept").click()
    page.wait_for_selector(NOTEBOOK, state="detached", timeout=20_000)


# --- the tests --------------------------------------------------------------------------------
CANARY = [
    "import sys\nprint('a warning on stderr is not an error', file=sys.stderr)",
    "import ipywidgets as widgets\nwidgets.VBox([widgets.HBox([widgets.IntProgress(value=3)]),"
    " widgets.Dropdown(options=['a', 'b'])])",
    "import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()",
    "from IPython.display import display\ndisplay({'application/vnd.jupyter.widget-view+json':"
    " {'model_id': 'nowhere', 'version_major': 2, 'version_minor': 0}}, raw=True)",
    "1 / 0",
    "print('never runs: Run All stops at the error')",
]


def test_the_checks_see_what_they_look_for(lab, page):
    """A notebook with a widget, a plot, a widget that cannot draw and an error, seen as such."""
    cells = [{"cell_type": "code", "id": f"c{i}", "metadata": {}, "source": source,
              "outputs": [], "execution_count": None} for i, source in enumerate(CANARY)]
    notebook = {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
                "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                            "language": "python"}}}
    (lab.course / "notebooks" / "canary.ipynb").write_text(json.dumps(notebook))
    run = run_all(lab, page, "canary.ipynb", [BARS, PICKER])

    assert run.not_run() == [f"cell 6 [[ ]:] {CANARY[5][:80]!r}"]
    tracebacks = run.tracebacks()
    assert len(tracebacks) == 1 and "ZeroDivisionError" in tracebacks[0], tracebacks
    assert len(run.broken_widgets()) == 1, run.broken_widgets()
    assert run.seen == {BARS: 1, PICKER: 1}
    assert run.plots == 1
    assert (artifacts() / "canary.png").stat().st_size > 10_000


def test_every_chapter_with_widgets_or_plots_is_named_here():
    """A chapter that imports ipywidgets or matplotlib has its widgets and plots checked."""
    for chapter in CHAPTERS:
        cells = json.loads(chapter.read_text())["cells"]
        code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
        if "import ipywidgets" in code:
            assert chapter.name in WIDGETS, f"{chapter.name} shows widgets: add them to WIDGETS"
        if "import matplotlib" in code:
            assert chapter.name in PLOTS, f"{chapter.name} plots: add its plots to PLOTS"


@pytest.mark.slow
@pytest.mark.parametrize("chapter", [c.name for c in CHAPTERS])
def test_the_chapter_runs_in_jupyterlab(lab, page, chapter):
    run = run_all(lab, page, chapter, [selector for _, selector, _, _ in WIDGETS.get(chapter, [])])
    print(f"{chapter}: Run All took {run.seconds:.0f} s")
    assert not run.tracebacks(), f"{chapter} shows a traceback:\n" + "\n\n".join(run.tracebacks())
    assert not run.not_run(), f"{chapter}: Run All did not reach {run.not_run()[:3]}"
    assert not run.broken_widgets(), f"{chapter}: a widget did not draw: {run.broken_widgets()}"
    limits = can_limit()
    for what, selector, count, needs_limits in WIDGETS.get(chapter, []):
        if needs_limits and not limits:
            continue
        assert run.seen[selector] >= count, \
            f"{chapter}: {what} did not render ({run.seen[selector]} of {count} {selector!r})"
    plots = [what for what, needs_limits in PLOTS.get(chapter, []) if limits or not needs_limits]
    assert run.plots >= len(plots), f"{chapter}: {plots} did not all render"
