"""Times, sizes and names the way Docker prints them."""

from __future__ import annotations

import os
import re
import time


def now_iso() -> str:
    """The current time as RFC 3339 in UTC, as Docker's inspect shows it."""
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e6):06d}Z"


def parse_iso(text: str) -> float:
    """Seconds since the epoch for an RFC 3339 time stamp (``2026-01-02T03:04:05.123Z``)."""
    import calendar
    whole, _, fraction = text.rstrip("Z").partition(".")
    seconds = calendar.timegm(time.strptime(whole, "%Y-%m-%dT%H:%M:%S"))
    return seconds + (float("0." + fraction) if fraction else 0.0)


def duration(seconds: float) -> str:
    """A duration in words, as Docker's go-units HumanDuration spells it."""
    s = int(seconds)
    if s < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    minutes = s // 60
    if minutes == 1:
        return "About a minute"
    if minutes < 46:
        return f"{minutes} minutes"
    hours = round(s / 3600)
    if hours == 1:
        return "About an hour"
    if hours < 48:
        return f"{hours} hours"
    if hours < 24 * 7 * 2:
        return f"{hours // 24} days"
    if hours < 24 * 30 * 2:
        return f"{hours // 24 // 7} weeks"
    if hours < 24 * 365 * 2:
        return f"{hours // 24 // 30} months"
    return f"{hours // 24 // 365} years"


def ago(iso: str) -> str:
    return duration(time.time() - parse_iso(iso)) + " ago"


def size(n: float, binary: bool = False) -> str:
    """Bytes as Docker prints them: decimal for images (``4.26MB``), binary for
    ``stats`` (``1.5MiB``)."""
    base, units = (1024, ("B", "KiB", "MiB", "GiB", "TiB")) if binary else \
        (1000, ("B", "kB", "MB", "GB", "TB"))
    for unit in units:
        if n < base or unit == units[-1]:
            return f"{n:.4g}{unit}" if unit != "B" else f"{int(n)}B"
        n /= base
    return f"{n}{units[-1]}"


def table(rows: list[list[str]], header: list[str]) -> str:
    """Columns padded with three spaces, like Docker's tabwriter output."""
    widths = [max(len(str(r[i])) for r in [header] + rows) for i in range(len(header))]
    lines = ["   ".join(str(cell).ljust(w) for cell, w in zip(row, widths)).rstrip()
             for row in [header] + rows]
    return "\n".join(lines)


_ADJECTIVES = ("admiring adoring affectionate amazing awesome blissful bold brave busy charming "
               "clever cool compassionate confident dazzling determined eager ecstatic elastic "
               "elegant epic festive focused friendly funny gallant gifted happy hopeful "
               "jolly keen kind laughing loving lucid magical modest nice nifty optimistic "
               "peaceful practical priceless quirky relaxed serene sharp silly stoic sweet "
               "tender thirsty trusting upbeat vibrant vigilant wizardly wonderful youthful "
               "zealous zen").split()
_SURNAMES = ("albattani allen archimedes babbage bardeen bell bohr booth brattain cerf curie "
             "darwin dijkstra einstein euclid euler fermat feynman franklin galileo gauss "
             "goldberg hamilton hawking heisenberg hopper hypatia johnson kepler knuth "
             "lamarr lamport leakey liskov lovelace mccarthy meitner mendel noether pasteur "
             "perlman pike ritchie shannon sinoussi thompson torvalds turing wilson wozniak "
             "yalow").split()


def random_name() -> str:
    """A name like Docker's, ``adjective_scientist``."""
    a, b = int.from_bytes(os.urandom(2), "big"), int.from_bytes(os.urandom(2), "big")
    return f"{_ADJECTIVES[a % len(_ADJECTIVES)]}_{_SURNAMES[b % len(_SURNAMES)]}"


# Go's durations, as Docker's flags (--health-interval), Dockerfiles (HEALTHCHECK) and compose
# files (healthcheck.interval) write them: Go's time.ParseDuration.
_GO_UNITS = {"ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000,
             "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000}
_GO_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def go_duration(text: str) -> int:
    """``"30s"``, ``"1m30s"``, ``"1.5h"``, ``"300ms"`` in nanoseconds; ValueError if not a
    duration (a number needs its unit, except ``"0"``)."""
    sign, body = (-1, text[1:]) if text.startswith("-") else (1, text.removeprefix("+"))
    if body == "0":
        return 0
    total, at = 0.0, 0
    while at < len(body):
        match = _GO_PART.match(body, at)
        if not match:
            break
        total += float(match.group(1)) * _GO_UNITS[match.group(2)]
        at = match.end()
    if not body or at != len(body):
        raise ValueError(f"invalid duration {text!r}")
    return sign * round(total)


def go_duration_text(nanoseconds: int) -> str:
    """Nanoseconds written as Go's ``Duration.String`` does: "1m30s", "1.5s", "500ms", "0s"."""
    if nanoseconds == 0:
        return "0s"
    sign, n = ("-" if nanoseconds < 0 else ""), abs(nanoseconds)
    if n < 1_000_000_000:
        for unit, size in (("ms", 1_000_000), ("µs", 1_000), ("ns", 1)):
            if n >= size:
                return sign + _decimal(n, size) + unit
    hours, rest = divmod(n, 3_600_000_000_000)
    minutes, rest = divmod(rest, 60_000_000_000)
    out = f"{hours}h" if hours else ""
    if hours or minutes:
        out += f"{minutes}m"
    return sign + out + _decimal(rest, 1_000_000_000) + "s"


def _decimal(n: int, size: int) -> str:
    """``n / size`` with only the decimals it needs: 1500, 1000 → "1.5"."""
    whole, fraction = divmod(n, size)
    if not fraction:
        return str(whole)
    return f"{whole}." + str(fraction).rjust(len(str(size)) - 1, "0").rstrip("0")
