"""What a build prints while it works, in BuildKit's words.

BuildKit calls each step of a build a *vertex* and numbers them as they start.
Its ``--progress=plain`` output is one line per event, each prefixed with the
vertex's number, so the output of two steps never blurs together:

    #5 [2/3] RUN echo hello
    #5 0.213 hello                   ← the step's own output, with seconds since it started
    #5 DONE 0.3s

    #6 [3/3] COPY app.py /app/
    #6 CACHED                        ← the cache had this step: nothing ran

A RUN step's output is always shown as it comes (BuildKit's ``tty`` view folds
it away once a step is done, which its users often complain about).
``--progress=tty`` here prints a compact line per finished step, Docker's
``=> [2/3] RUN echo hello  0.3s``, with the output in between; ``-q`` keeps
everything back and shows it only if the build fails.
"""

from __future__ import annotations

import time


class Progress:
    """Numbers the vertices of one build and writes their events to ``write``."""

    def __init__(self, write, mode: str = "plain"):
        if mode not in ("plain", "tty", "quiet"):
            raise ValueError(f"unknown progress mode {mode!r}: plain, tty or quiet")
        self.mode = mode
        self._write = write
        self.held: list[str] = []  # quiet: what would have been shown, for a failure
        self.count = 0
        self.started = time.monotonic()

    def emit(self, text: str) -> None:
        if self.mode == "quiet":
            self.held.append(text)
        else:
            self._write(text + "\n")

    def vertex(self, name: str) -> "Vertex":
        self.count += 1
        return Vertex(self, self.count, name)

    def finished(self) -> None:
        if self.mode == "tty":
            self.emit(f"[+] Building {time.monotonic() - self.started:.1f}s "
                      f"({self.count}/{self.count}) FINISHED")


class Vertex:
    """One step of the build as the progress output shows it."""

    def __init__(self, progress: Progress, number: int, name: str):
        self.progress, self.number, self.name = progress, number, name
        self.started = time.monotonic()
        if progress.mode != "tty":
            progress.emit("")
            progress.emit(f"#{number} {name}")

    def log(self, line: str) -> None:
        """A line of the step's own output."""
        if self.progress.mode == "tty":
            self.progress.emit(f" => => # {line}")
        else:
            self.progress.emit(f"#{self.number} {time.monotonic() - self.started:.3f} {line}")

    def note(self, text: str) -> None:
        """A line about the step (``transferring context: 2.1kB done``)."""
        if self.progress.mode != "tty":
            self.progress.emit(f"#{self.number} {text}")

    def cached(self) -> None:
        if self.progress.mode == "tty":
            self.progress.emit(f" => CACHED {self.name}")
        else:
            self.progress.emit(f"#{self.number} CACHED")

    def done(self) -> None:
        took = time.monotonic() - self.started
        if self.progress.mode == "tty":
            self.progress.emit(f" => {self.name:<60} {took:.1f}s")
        else:
            self.progress.emit(f"#{self.number} DONE {took:.1f}s")

    def error(self, message: str) -> None:
        if self.progress.mode == "tty":
            self.progress.emit(f" => ERROR {self.name}")
        self.progress.emit(f"#{self.number} ERROR: {message}")
