"""Many containers' logs as one stream, each line prefixed with its container, as Compose prints them.

    shop-db-1   | ready to accept connections
    shop-web-1  | GET / 200
    shop-web-1 exited with code 0

Every container's output is already on disk, in its json-file log
(:mod:`sandbox.engine.jsonlog`); ``logs`` reads those files, and ``logs -f`` and a
foreground ``up`` follow them: one loop looks at each file in turn and prints the
whole lines that were added (no thread per container: the package starts none).
The prefixes are padded to one width and, on a terminal, coloured per container
from Compose's rainbow (``cmd/formatter/colors.go``: cyan, yellow, green, magenta,
blue, then their bold forms).
"""

from __future__ import annotations

import os
import sys
import time

from ..engine import jsonlog
from ..engine.records import Container

RAINBOW = ["36", "33", "32", "35", "34", "36;1", "33;1", "32;1", "35;1", "34;1"]
POLL = 0.1  # seconds between looks at the files when nothing new came


def colour(code: str | None, text: str) -> str:
    return f"\033[{code}m{text}\033[0m" if code else text


class Prefixes:
    """``name  | `` for each container: padded to the longest name and one space more (the
    longest gets two, as in Compose's output), coloured if asked."""

    def __init__(self, names: list[str], coloured: bool):
        self.width = max((len(n) for n in names), default=0)
        self.codes = {n: RAINBOW[i % len(RAINBOW)] if coloured else None
                      for i, n in enumerate(names)}

    def add(self, name: str) -> None:
        if name not in self.codes:
            coloured = any(self.codes.values())
            self.codes[name] = RAINBOW[len(self.codes) % len(RAINBOW)] if coloured else None
            self.width = max(self.width, len(name))

    def __call__(self, name: str) -> str:
        return colour(self.codes.get(name), f"{name:<{self.width + 1}} | ")

    def plain(self, name: str, text: str) -> str:
        """A line about the container rather than from it (``... exited with code 0``)."""
        return colour(self.codes.get(name), text)


def write_entry(prefixes: Prefixes, name: str, entry: dict, timestamps: bool) -> None:
    """One log entry, prefixed, to our stdout or stderr as it came from the container."""
    text = entry.get("log", "")
    if timestamps and entry.get("time"):
        text = entry["time"] + " " + text
    out = sys.stderr if entry.get("stream") == "stderr" else sys.stdout
    out.write(prefixes(name) + text + ("" if text.endswith("\n") else "\n"))
    out.flush()


def show(containers: list[Container], prefixes: Prefixes, tail: int | None = None,
         timestamps: bool = False) -> None:
    """What the containers have printed so far (``compose logs``), in time order; ``tail``:
    only each container's last lines."""
    lines = []
    for c in containers:
        entries = jsonlog.read(c.dir)
        if tail is not None:
            entries = entries[len(entries) - tail:] if tail > 0 else []
        lines += [(e.get("time", ""), i, c.name, e) for i, e in enumerate(entries)]
    for _, _, name, entry in sorted(lines, key=lambda line: line[:2]):
        write_entry(prefixes, name, entry, timestamps)


class Follower:
    """Follows the log files of several containers: :meth:`poll` prints what is new."""

    def __init__(self, prefixes: Prefixes, timestamps: bool = False):
        self.prefixes, self.timestamps = prefixes, timestamps
        self.watched: dict[str, _Watched] = {}

    def watch(self, c: Container, from_start: bool = True) -> None:
        """Follow ``c``: from its first line (a container started now), or from now on."""
        if c.id not in self.watched:
            self.prefixes.add(c.name)
            self.watched[c.id] = _Watched(c, from_start)

    def poll(self) -> bool:
        """Print the whole lines written since the last poll; True if there were any."""
        printed = False
        for w in self.watched.values():
            for entry in w.new_entries():
                write_entry(self.prefixes, w.container.name, entry, self.timestamps)
                printed = True
        return printed

    def follow(self, until_exited: bool = True, announce_exits: bool = False) -> None:
        """Print as the containers write, until every one has exited (``up``, ``logs -f``)."""
        done: set[str] = set()
        while True:
            statuses = {cid: w.container.status() for cid, w in self.watched.items()}
            printed = self.poll()  # after reading the states: an exit's last lines are read too
            for cid, state in statuses.items():
                if cid not in done and state.get("Status") in ("exited", "removed"):
                    done.add(cid)
                    if announce_exits:
                        name = self.watched[cid].container.name
                        code = state.get("ExitCode", 0)
                        print(self.prefixes.plain(name, f"{name} exited with code {code}"),
                              flush=True)
            if until_exited and len(done) == len(self.watched):
                return
            if not printed:
                time.sleep(POLL)


class _Watched:
    """One container's current log file, read up to its last whole line."""

    def __init__(self, container: Container, from_start: bool):
        self.container = container
        self.path = jsonlog.log_path(container.dir)
        self.file, self.inode = None, None
        self.at_end = not from_start

    def new_entries(self) -> list[dict]:
        if self.file is None and not self._open():
            return []
        data = self.file.read()
        cut = data.rfind(b"\n") + 1  # whole lines only; the rest next time
        if cut < len(data):
            self.file.seek(cut - len(data), os.SEEK_CUR)
        entries = jsonlog.parse_lines(data[:cut])
        try:
            inode = os.stat(self.path).st_ino
        except FileNotFoundError:
            inode = None
        if inode != self.inode:  # rotated: the old file was read to its end; the new one next
            self.file.close()
            self.file, self.at_end = None, False
        return entries

    def _open(self) -> bool:
        try:
            self.file = open(self.path, "rb")
        except FileNotFoundError:
            return False
        if self.at_end:
            self.file.seek(0, os.SEEK_END)
        self.inode = os.fstat(self.file.fileno()).st_ino
        return True

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
