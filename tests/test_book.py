"""The course as a static book: jupyter-book 1.x builds the chapters and the exercises into HTML.

The book is built as the README says (``jupyter-book build book``), into a temporary folder,
with ``-W -n --keep-going``: every warning fails the build (a link to a page that is not
there, a toc entry without its file, an image that is missing), and all of them are listed.
The build runs **offline**: its process cannot open a network connection at all, so it
cannot quietly depend on a web site. It never runs a cell either (``execute_notebooks:
off``): the book shows the outputs stored in the chapters (tests/store_outputs.py runs them),
and builds as well without them.

Then the HTML is read back: every chapter and exercise has its page, every relative
``href`` and ``src`` resolves to a file of the build (and its ``#anchor`` to an element of
that page), the bookkeeping cells (tagged ``remove-input``) show no code, stored outputs
are shown, and nothing of ``exercises/source/`` (the answers, the hidden tests) reached any
page. External links (``https://...``) are not checked: that needs the network, which the
suite does without.
"""

from __future__ import annotations

import base64
import html.parser
import json
import os
import re
import shutil
import struct
import subprocess
import sys
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import pytest
import yaml

pytest.importorskip("jupyter_book", reason="jupyter-book (the test extra) builds the book: "
                                            "./course test installs it")

REPO = Path(__file__).resolve().parent.parent
BOOK = REPO / "book"
CHAPTERS = sorted(p.stem for p in (REPO / "notebooks").glob("[0-9][0-9]_*.ipynb"))
EXERCISES = sorted(p.stem for p in (REPO / "exercises").glob("[0-9][0-9]_*.ipynb"))
PAGES = [f"notebooks/{name}" for name in CHAPTERS] + [f"exercises/{name}" for name in EXERCISES]

# The build's process refuses every connection and name lookup, then runs jupyter-book's
# own command line: a build that needs the internet fails here, with this sentence.
OFFLINE_BUILD = """
import socket, sys

def refuse(*args, **kwargs):
    raise OSError("the book must build offline, but something tried to reach the network")

socket.socket.connect = socket.socket.connect_ex = refuse
socket.getaddrinfo = socket.create_connection = refuse
sys.argv[0] = "jupyter-book"
from jupyter_book.cli.main import main
main()
"""

NBGRADER_MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


@dataclass
class Build:
    html: Path
    returncode: int
    log: str
    seconds: float

    @property
    def warnings(self) -> list[str]:
        plain = re.sub(r"\x1b\[[0-9;]*m", "", self.log)
        return [line for line in plain.splitlines() if "WARNING" in line or "ERROR" in line]


def build_book(source: Path, out: Path) -> Build:
    """``jupyter-book build SOURCE`` into OUT/_build/html, offline, every warning an error."""
    args = [sys.executable, "-c", OFFLINE_BUILD, "build", str(source), "--path-output", str(out),
            "--builder", "html", "-W", "-n", "--keep-going"]
    # No __pycache__ left in the checkout by book/_ext (the rootless pass cannot write it anyway).
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    started = time.monotonic()
    done = subprocess.run(args, capture_output=True, text=True, env=env, timeout=900)
    return Build(out / "_build" / "html", done.returncode, done.stdout + done.stderr,
                 time.monotonic() - started)


@pytest.fixture(scope="module")
def book(tmp_path_factory) -> Build:
    built = build_book(BOOK, tmp_path_factory.mktemp("book"))
    assert (built.html / "index.html").is_file(), f"no HTML was written:\n{built.log[-3000:]}"
    return built


class Page(html.parser.HTMLParser):
    """One HTML file read back: its links (href, src), its anchors (id) and its visible text."""

    def __init__(self, path: Path):
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.ids: set[str] = set()
        self._text: list[str] = []
        self._hidden = 0  # inside <script> or <style>
        self.feed(path.read_text(encoding="utf-8"))

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if name in ("href", "src") and value is not None:
                self.links.append(value)
            elif name in ("id", "name") and value:
                self.ids.add(value)
        if tag in ("script", "style"):
            self._hidden += 1

    def handle_endtag(self, tag):
        if tag in ("script", "style"):
            self._hidden = max(0, self._hidden - 1)

    def handle_data(self, data):
        if not self._hidden:
            self._text.append(data)

    @property
    def text(self) -> str:
        """The page's text with every run of whitespace made one space."""
        return squeeze("".join(self._text))


def squeeze(text: str) -> str:
    return " ".join(text.split())


def notebook(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def source(cell: dict) -> str:
    return "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]


def toc_files() -> list[str]:
    """The files _toc.yml lists, root first, in the order the book shows them."""
    toc = yaml.safe_load((BOOK / "_toc.yml").read_text())
    files = [toc["root"]]

    def walk(entries):
        for entry in entries:
            if "file" in entry:
                files.append(entry["file"])
            walk(entry.get("sections", []))

    for part in toc.get("parts", []):
        walk(part["chapters"])
    walk(toc.get("chapters", []))
    return files


# --- the build ----------------------------------------------------------------------------


def test_the_book_builds_offline_without_a_warning(book, record_property):
    record_property("book_build_seconds", round(book.seconds, 1))
    print(f"the book built in {book.seconds:.1f} s")
    assert book.returncode == 0, (
        "`jupyter-book build book -W` failed (each warning is a broken link, a missing page "
        "or image, or a cell it could not show):\n"
        + "\n".join(book.warnings or [book.log[-3000:]]))


def test_the_build_takes_less_than_five_minutes(book):
    # About 10 s of CPU on the machine this was written on; the whole suite has 20 minutes.
    assert book.seconds < 300, f"the book took {book.seconds:.0f} s to build"


def test_the_toc_lists_every_chapter_then_every_exercise_in_order():
    listed = toc_files()
    chapters = [f for f in listed if f.startswith("notebooks/")]
    exercises = [f for f in listed if f.startswith("exercises/")]
    assert chapters == [f"notebooks/{name}" for name in CHAPTERS], \
        "book/_toc.yml should list notebooks/NN_*.ipynb, each once, in order"
    assert exercises == [f"exercises/{name}" for name in EXERCISES], \
        "book/_toc.yml should list exercises/NN_*.ipynb, each once, in order"
    assert listed.index(exercises[0]) > listed.index(chapters[-1]), "the exercises come last"
    assert not [f for f in listed if "source" in f.split("/")], \
        "exercises/source/ holds the answers: it must never be in the book"


@pytest.mark.parametrize("page", PAGES)
def test_every_chapter_and_exercise_has_its_page(book, page):
    path = book.html / f"{page}.html"
    assert path.is_file(), f"{page}.ipynb has no page in the book: is it in book/_toc.yml?"
    first = notebook(REPO / f"{page}.ipynb")["cells"][0]
    title = source(first).splitlines()[0].lstrip("#").replace("`", "").strip()
    assert title in Page(path).text, f"{page}.html does not show its title {title!r}"


# --- links --------------------------------------------------------------------------------


def html_files(root: Path) -> list[Path]:
    # _static holds the theme's templates (webpack-macros.html), not pages.
    return [p for p in sorted(root.rglob("*.html")) if "_static" not in p.relative_to(root).parts]


def broken_links(root: Path) -> list[str]:
    pages = {path: Page(path) for path in html_files(root)}
    broken = []
    for path, page in pages.items():
        for link in page.links:
            parts = urlsplit(link)
            if parts.scheme or link.startswith("//"):
                continue  # https:, mailto:, data:, javascript: — not checked offline
            target = (path.parent / unquote(parts.path)).resolve() if parts.path else path
            where = f"{path.relative_to(root)}: {link}"
            if not target.exists() or not target.resolve().is_relative_to(root.resolve()):
                broken.append(f"{where} (no such file in the build)")
            elif parts.fragment and target.suffix == ".html":
                ids = pages[target].ids if target in pages else Page(target).ids
                if unquote(parts.fragment) not in ids:
                    broken.append(f"{where} (no #{parts.fragment} on that page)")
    return broken


def test_no_page_links_to_a_file_or_anchor_the_book_does_not_have(book):
    broken = broken_links(book.html)
    assert not broken, f"{len(broken)} broken links:\n" + "\n".join(broken[:30])


# --- what the pages show --------------------------------------------------------------------


def secret_lines(student: Path, instructor: Path) -> set[str]:
    """The lines nbgrader's markers enclose in the instructor's notebook, which the learners'
    version does not have (an answer's code, a hidden test's values)."""
    # Compared without Markdown's backticks: "raise `KeyError(ref)`" in a question's text is
    # shown as "raise KeyError(ref)", which is also a line of the answer.
    learners = "\n".join(source(cell) for cell in notebook(student)["cells"])
    visible = squeeze(learners.replace("`", ""))
    secrets, inside = set(), False
    for cell in notebook(instructor)["cells"]:
        for line in source(cell).splitlines():
            text = line.strip()
            if text.startswith("### BEGIN"):
                inside = True
            elif text.startswith("### END"):
                inside = False
            elif inside and len(text) >= 12 and squeeze(text.replace("`", "")) not in visible:
                secrets.add(squeeze(text))
    return secrets


def searchable_files(root: Path):
    """(relative path, text) of every text file of the build: a page or notebook as its text
    (whitespace squeezed), the rest as it is."""
    for path in sorted(root.rglob("*")):
        if not path.is_file() or path.suffix in (".png", ".svg", ".woff", ".woff2", ".ttf",
                                                 ".eot", ".ico", ".gif", ".jpg", ".inv"):
            continue
        if path.suffix == ".html":
            text = Page(path).text
        elif path.suffix == ".ipynb":  # _sources/: the notebook offered for download
            text = squeeze("\n".join(source(cell) for cell in notebook(path)["cells"]))
        else:
            text = path.read_text(encoding="utf-8", errors="replace")
        yield path.relative_to(root), text


def test_no_answer_or_hidden_test_reaches_the_book(book):
    """exercises/source/ has the answers and the hidden tests: not one line of them is in the
    book, its pages, their downloadable sources or the search index."""
    leaked = [str(path) for path in book.html.rglob("*")
              if "source" in path.relative_to(book.html).parts]
    assert not leaked, f"exercises/source/ was built into the book: {leaked[:5]}"

    files = dict(searchable_files(book.html))
    for rel, text in files.items():
        for marker in NBGRADER_MARKERS:
            assert marker not in text, \
                f"{rel} shows nbgrader's {marker!r}: an answer or a hidden test"

    secrets_found = 0
    for name in EXERCISES:
        secrets = secret_lines(REPO / "exercises" / f"{name}.ipynb",
                               REPO / "exercises" / "source" / f"{name}.ipynb")
        assert secrets, f"exercises/source/{name}.ipynb has no answer or hidden test to look for"
        secrets_found += len(secrets)
        page = files[Path("exercises") / f"{name}.html"]
        shown = page + "\n" + files.get(Path("_sources") / "exercises" / f"{name}.ipynb", "")
        # The search below can find code: a check's first line is on the page.
        student = notebook(REPO / "exercises" / f"{name}.ipynb")
        first_check = next(squeeze(line) for cell in student["cells"]
                           for line in source(cell).splitlines() if "with question(" in line)
        assert first_check in page, f"exercises/{name}.html does not show {first_check!r}"
        for secret in secrets:
            assert secret not in shown, f"exercises/{name} in the book shows {secret!r}, " \
                                        f"from exercises/source/{name}.ipynb"
    assert secrets_found >= len(EXERCISES)


@pytest.mark.parametrize("page", [f"notebooks/{name}" for name in CHAPTERS])
def test_bookkeeping_cells_show_no_code_and_the_others_do(book, page):
    text = Page(book.html / f"{page}.html").text
    for cell in notebook(REPO / f"{page}.ipynb")["cells"]:
        code = squeeze(source(cell))
        if cell["cell_type"] != "code" or not code:
            continue
        if "remove-input" in cell.get("metadata", {}).get("tags", []):
            assert code not in text, \
                f"{page}: a cell tagged remove-input shows its code: {code[:80]!r}"
        else:
            assert code in text, f"{page}: a code cell is missing from its page: {code[:80]!r}"


def stored_texts(cell: dict) -> list[str]:
    """The first and last lines of each text a code cell stored as its output."""
    texts = []
    for output in cell.get("outputs", []):
        if output["output_type"] == "stream":
            text = output["text"]
        elif set(output.get("data", {})) == {"text/plain"}:  # richer kinds are shown instead
            text = output["data"]["text/plain"]
        else:
            continue
        text = re.sub(r"\x1b\[[0-9;]*[A-Za-z]", "", "".join(text))
        lines = [squeeze(line) for line in text.splitlines() if line.strip()]
        texts += lines[:1] + lines[-1:]
    return texts


@pytest.mark.parametrize("page", [f"notebooks/{name}" for name in CHAPTERS])
def test_stored_outputs_are_shown(book, page):
    """Each chapter is committed with the outputs of the reference run (tests/store_outputs.py),
    and each text it stored as output is on its page."""
    text = Page(book.html / f"{page}.html").text
    stored = [line for cell in notebook(REPO / f"{page}.ipynb")["cells"]
              for line in stored_texts(cell)]
    assert len(stored) >= 5, f"{page}.ipynb has (almost) no stored output: tests/store_outputs.py"
    for line in stored:
        assert line in text, f"{page}: the stored output {line[:80]!r} is not on the page"


def one_pixel_png() -> str:
    """A 1x1 PNG, base64 as a notebook stores a plot."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        checksum = zlib.crc32(kind + data)
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", checksum)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0))
           + chunk(b"IDAT", zlib.compress(b"\x00\xff\xff\xff\xff")) + chunk(b"IEND", b""))
    return base64.b64encode(png).decode()


def stored_chapter() -> dict:
    """A chapter with stored outputs, whose cells fail if anything runs them."""
    def code(text, outputs, tags=()):
        return {"cell_type": "code", "execution_count": 1, "metadata": {"tags": list(tags)},
                "outputs": outputs, "source": text}

    return {"nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                        "language": "python"}},
            "cells": [
                {"cell_type": "markdown", "metadata": {}, "source": "# A chapter run elsewhere"},
                code('raise SystemExit("the book ran a cell")\n!ls /proc',
                     [{"output_type": "stream", "name": "stdout", "text": "stored output 4711\n"}]),
                code("assert bookkeeping_is_hidden",
                     [{"output_type": "stream", "name": "stdout",
                       "text": "kept under the hidden code\n"}],
                     tags=["remove-input"]),
                code("plot()", [{"output_type": "display_data", "metadata": {},
                                 "data": {"image/png": one_pixel_png(),
                                          "text/plain": "<Figure>"}}]),
            ]}


def test_a_stored_output_is_shown_and_never_run(tmp_path):
    """book/_config.yml on a chapter with stored outputs: they are shown as stored (nothing
    runs), a remove-input cell keeps its output and loses its code, a plot is an image."""
    book_dir = tmp_path / "book"
    book_dir.mkdir()
    shutil.copy(BOOK / "_config.yml", book_dir)
    shutil.copytree(BOOK / "_ext", book_dir / "_ext")
    (book_dir / "intro.md").write_text("# Intro\n")
    (book_dir / "_toc.yml").write_text(
        "format: jb-book\nroot: intro\nchapters:\n  - file: chapter\n")
    (book_dir / "chapter.ipynb").write_text(json.dumps(stored_chapter()))

    built = build_book(book_dir, tmp_path / "out")
    assert built.returncode == 0, "\n".join(built.warnings or [built.log[-3000:]])
    page = Page(built.html / "chapter.html")
    assert "stored output 4711" in page.text
    assert "the book ran a cell" in page.text  # as code, never as an error
    assert "SystemExit: the book ran a cell" not in page.text
    assert "kept under the hidden code" in page.text
    assert "bookkeeping_is_hidden" not in page.text
    images = [link for link in page.links if link.endswith(".png") and "_images" in link]
    assert images and all((built.html / link).is_file() for link in images), page.links
    assert not broken_links(built.html)
