"""A container's output, kept as Docker's ``json-file`` log driver keeps it.

    ROOT/containers/ID/ID-json.log        the current file, one JSON object a line:
    ROOT/containers/ID/ID-json.log.1      {"log":"hi\\n","stream":"stdout","time":"2026-...Z"}
    ROOT/containers/ID/ID-json.log.2      older files, up to max-file in all

The monitor (:mod:`sandbox.engine.monitor`) reads the container's stdout and stderr
(or its terminal) and writes every line here, with the stream it came on and
the time it arrived (RFC 3339 with nanoseconds, UTC), exactly the format of
``/var/lib/docker/containers/ID/ID-json.log``.  ``sandbox logs`` reads it
back.  A terminal merges both streams: its lines are all "stdout", as Docker's.

Docker's default is unbounded; a course machine's disk is not, so the
default here is ``max-size=10m, max-file=3`` (at most 30 MB per container):
when the current file would pass max-size it becomes ``.1``, ``.1`` becomes
``.2`` and the oldest is dropped, as ``--log-opt max-size/max-file`` do in Docker.

The files are the owner's only (0600): whatever the container prints, a
secret it was given included, stays there.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

DEFAULT_OPTS = {"max-size": "10m", "max-file": "3"}
PARTIAL = 16 * 1024  # a line longer than this is written in pieces, as Docker's copier does
UNITS = {"": 1, "b": 1, "k": 1000, "m": 1000 ** 2, "g": 1000 ** 3}  # go-units FromHumanSize


def log_path(cdir: Path) -> Path:
    return cdir / f"{cdir.name}-json.log"


def parse_opts(items: list[str]) -> dict:
    """``--log-opt max-size=10m --log-opt max-file=3`` → a checked dict with the defaults."""
    from ..errors import UsageError
    opts = dict(DEFAULT_OPTS)
    for item in items:
        key, eq, value = item.partition("=")
        if not eq or key not in DEFAULT_OPTS:
            raise UsageError(f"invalid --log-opt {item!r}: the json-file driver takes "
                             "max-size=SIZE and max-file=N")
        opts[key] = value
    try:
        size, files = to_bytes(opts["max-size"]), int(opts["max-file"])
    except ValueError:
        raise UsageError(f"invalid --log-opt: max-size={opts['max-size']} or "
                         f"max-file={opts['max-file']} is not a size or a number") from None
    if size <= 0 or files < 1:
        raise UsageError("invalid --log-opt: max-size must be more than 0 and max-file at least 1")
    return opts


def to_bytes(text: str) -> int:
    """``10m`` → 10000000, as Docker's go-units ``FromHumanSize`` reads it (decimal units)."""
    text = text.strip().lower().removesuffix("b")
    number, unit = (text[:-1], text[-1]) if text[-1:] in "kmg" else (text, "")
    return int(float(number) * UNITS[unit])


def timestamp(ns: int | None = None) -> str:
    """RFC 3339 with nanoseconds, UTC: Go's ``time.RFC3339Nano`` as json-file writes it."""
    ns = time.time_ns() if ns is None else ns
    seconds, rest = divmod(ns, 10 ** 9)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds)) + f".{rest:09d}Z"


class JsonLog:
    """The writing side: lines in, JSON lines out, rotated at max-size."""

    def __init__(self, path: Path, opts: dict | None = None):
        opts = opts or DEFAULT_OPTS
        self.path = path
        self.max_size = to_bytes(opts["max-size"])
        self.max_file = int(opts["max-file"])
        self.partial = {"stdout": b"", "stderr": b""}
        self.fd = -1  # opened at the first line: a container that prints nothing costs nothing
        self.size = 0

    def _open(self) -> None:
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
        os.fchmod(self.fd, 0o600)
        self.size = os.fstat(self.fd).st_size  # a restarted container appends

    def write(self, stream: str, data: bytes) -> None:
        """Log whole lines now; keep an unfinished one until its newline (or 16 KiB) comes."""
        data = self.partial[stream] + data
        lines = data.split(b"\n")
        rest = lines.pop()
        for line in lines:
            self._entry(stream, line + b"\n")
        while len(rest) >= PARTIAL:
            self._entry(stream, rest[:PARTIAL])
            rest = rest[PARTIAL:]
        self.partial[stream] = rest

    def close(self) -> None:
        """Write what is left of an unfinished line (without a newline, as Docker does)."""
        for stream, rest in self.partial.items():
            if rest:
                self._entry(stream, rest)
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def _entry(self, stream: str, line: bytes) -> None:
        record = json.dumps({"log": line.decode(errors="replace"), "stream": stream,
                             "time": timestamp()}, ensure_ascii=False,
                            separators=(",", ":")) + "\n"
        encoded = record.encode()
        if self.fd < 0:
            self._open()
        if self.size and self.size + len(encoded) > self.max_size:
            self._rotate()
        os.write(self.fd, encoded)
        self.size += len(encoded)

    def _rotate(self) -> None:
        """ID-json.log → .1 → .2 …; the file past max-file is dropped."""
        os.close(self.fd)
        rotate_files(self.path, self.max_file)
        self._open()


def rotate_files(path: Path, max_file: int) -> None:
    """Shift ``path.N-1`` → ``path.N`` … ``path`` → ``path.1``; drop what passes max_file."""
    if max_file <= 1:
        os.unlink(path)
        return
    for n in range(max_file - 1, 1, -1):
        try:
            os.replace(f"{path}.{n - 1}", f"{path}.{n}")
        except FileNotFoundError:
            pass
    os.replace(path, f"{path}.1")


# --- reading ----------------------------------------------------------------------
def files(cdir: Path) -> list[Path]:
    """The container's log files, oldest first."""
    path = log_path(cdir)
    rotated = sorted((p for p in cdir.glob(path.name + ".*") if p.suffix[1:].isdigit()),
                     key=lambda p: int(p.suffix[1:]), reverse=True)
    return rotated + ([path] if path.exists() else [])


def read(cdir: Path) -> list[dict]:
    """Every entry, oldest first; a log of an older sandbox (stdout.log, stderr.log) too."""
    entries = []
    for legacy in ("stdout", "stderr"):  # written before json-file: no times, one stream each
        try:
            with open(cdir / f"{legacy}.log", "rb") as f:
                entries += [{"log": line.decode(errors="replace"), "stream": legacy, "time": ""}
                            for line in f.read().splitlines(keepends=True)]
        except FileNotFoundError:
            pass
    for path in files(cdir):
        with open(path, "rb") as f:
            entries += parse_lines(f.read())
    return entries


def parse_lines(data: bytes) -> list[dict]:
    """JSON lines → entries; a line cut short by a crash (or being written now) is skipped."""
    out = []
    for line in data.splitlines():
        try:
            out.append(json.loads(line))
        except ValueError:
            continue
    return out


# --- --since and --until ----------------------------------------------------------
_GO_UNITS = {"ns": 1, "us": 10 ** 3, "µs": 10 ** 3, "ms": 10 ** 6, "s": 10 ** 9,
             "m": 60 * 10 ** 9, "h": 3600 * 10 ** 9}


def parse_time(text: str, now_ns: int, flag: str = "--since") -> int:
    """``--since``/``--until`` as Docker reads them, in nanoseconds since the epoch.

    A Go duration (``10m``, ``1h30m``, ``2.5s``) counts back from now; a number is
    Unix seconds (``1700000000.5``); otherwise an RFC 3339 time or date
    (``2026-01-02T13:23:37Z``, ``2026-01-02T13:23:37.5+01:00``, ``2026-01-02``).
    """
    import re
    from ..errors import UsageError
    if re.fullmatch(r"(\d+(\.\d+)?(ns|us|µs|ms|s|m|h))+", text):
        total = sum(float(n) * _GO_UNITS[u]
                    for n, _, u in re.findall(r"(\d+(\.\d+)?)(ns|us|µs|ms|s|m|h)", text))
        return now_ns - int(total)
    if re.fullmatch(r"\d+(\.\d+)?", text):
        return int(float(text) * 10 ** 9)
    match = re.fullmatch(r"(\d{4}-\d\d-\d\d)(?:[T ](\d\d:\d\d(?::\d\d)?)(\.\d+)?)?"
                         r"(Z|[+-]\d\d:\d\d)?", text)
    if not match:
        raise UsageError(f"invalid value for {flag}: {text!r}: use a time such as "
                         "2026-01-02T13:23:37Z or a duration such as 10m")
    import calendar
    date, clock, fraction, zone = match.groups()
    clock = (clock or "00:00:00") + (":00" if clock and clock.count(":") == 1 else "")
    parsed = time.strptime(f"{date} {clock}", "%Y-%m-%d %H:%M:%S")
    if zone is None:  # no zone: the local time, as Docker reads it
        seconds = int(time.mktime(parsed))
    else:
        seconds = calendar.timegm(parsed)
        if zone != "Z":
            sign = 1 if zone[0] == "+" else -1
            seconds -= sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    nanos = int((fraction or ".0")[1:].ljust(9, "0")[:9])
    return seconds * 10 ** 9 + nanos



def between(entries: list[dict], since: int | None, until: int | None) -> list[dict]:
    """The entries written in [since, until).  Our times are all UTC with nine digits of
    fraction, so comparing the strings compares the times; an old log's lines (no time)
    are kept."""
    low = timestamp(since) if since is not None else ""
    high = timestamp(until) if until is not None else None
    return [e for e in entries if not e.get("time")
            or (e["time"] >= low and (high is None or e["time"] < high))]
