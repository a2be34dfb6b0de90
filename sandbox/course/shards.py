"""Grading in shards: which submissions ``--shard K/N`` grades, and ``--merge`` of the shards.

A batch too large for one machine is cut into N shards, each graded on its
own (a pod of an indexed Kubernetes Job, or one run after another), then
merged into the one ``final_grades.csv`` a single run would have written.

Every shard is given the *whole* batch, so that each submission gets the same
NAME in every shard (:func:`sandbox.course.results.output_names` looks at the
whole batch to tell ``a/bob.ipynb`` from ``b/bob.ipynb``).  The rule:

    sort the NAMEs (by code point: the shell's glob order depends on the locale,
    and the pods' locales may differ); the one at position i (from 0) belongs
    to shard  i % N + 1.

    names, sorted   alice  bob  carol  dave  erin        N = 2
    shard            1      2    1      2     1

Shards count from 1, as ``K/N`` is read; Kubernetes numbers an indexed Job's
pods from 0 (``JOB_COMPLETION_INDEX``), so a pod grades ``--shard
$((JOB_COMPLETION_INDEX + 1))/N``.  Round robin keeps the shards within one
submission of each other's size.

Each shard writes, next to its partial ``final_grades.csv``, a ``shard.json``
(last, so a shard that stopped half-way has none): which assignment (its
sha256), K and N, the whole batch in the order given, and the NAMEs it
graded.  ``--merge`` refuses, in one sentence, shards of two assignments or
batches, a submission graded twice (a shard given twice), or one graded by
none (a shard missing), and writes the rows in the order the batch was given:
the CSV of one unsharded run, byte for byte.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from pathlib import Path

from ..errors import SandboxError, UsageError
from .results import Outputs

MANIFEST = "shard.json"
FOLDERS = {"results": ".json", "feedback": ".ipynb"}  # what each submission has in a shard
FILE_CAP = 256 * 2**20  # a feedback notebook is at most the grader's OUTPUT_CAP, and a summary


# --- which submissions a shard grades --------------------------------------------------
def parse_shard(text: str) -> tuple[int, int]:
    """``"K/N"`` → (K, N), 1 ≤ K ≤ N; anything else is a :class:`UsageError` saying why."""
    k, slash, n = str(text).partition("/")
    if not slash or not k.strip().isdigit() or not n.strip().isdigit():
        raise UsageError(f'invalid --shard "{text}": write K/N, shard K of N, counting from 1 '
                         "(in an indexed Kubernetes Job: $((JOB_COMPLETION_INDEX+1))/N)")
    k, n = int(k), int(n)
    if n < 1 or not 1 <= k <= n:
        raise UsageError(f'invalid --shard "{text}": K must be between 1 and N, and N at '
                         f"least 1 (shards count from 1: --shard 1/{max(n, 1)} is the first)")
    return k, n


def shard_of(names: list[str], n: int) -> dict[str, int]:
    """Each NAME's shard (1 to ``n``): its position in the sorted NAMEs, modulo ``n``, plus 1."""
    return {name: i % n + 1 for i, name in enumerate(sorted(names))}


def select(named: list[tuple[Path, str]], k: int, n: int) -> list[tuple[Path, str]]:
    """The (path, NAME) pairs of shard ``k`` of ``n``, in the order given."""
    shards = shard_of([name for _, name in named], n)
    return [(path, name) for path, name in named if shards[name] == k]


# --- what a shard leaves for the merge ---------------------------------------------------
def assignment_digest(assignment: Path) -> str:
    """sha256 of the autograder notebook: how the merge knows two shards graded one assignment."""
    return "sha256:" + hashlib.sha256(Path(assignment).read_bytes()).hexdigest()


def manifest(assignment: Path, k: int, n: int, named: list[tuple[Path, str]],
             graded: list[tuple[Path, str]]) -> dict:
    """shard.json: the assignment, K/N, the whole batch, and the NAMEs this shard graded."""
    return {"assignment": str(assignment), "digest": assignment_digest(assignment),
            "shard": [k, n], "batch": [[str(path), name] for path, name in named],
            "graded": [name for _, name in graded]}


# --- merging -------------------------------------------------------------------------------
class Shard:
    """One shard's folder, read for the merge: its manifest and its final_grades.csv rows."""

    def __init__(self, folder: Path):
        self.folder = Path(folder)
        text = _read(self.folder / MANIFEST, f"{self.folder} has no readable {MANIFEST}: only a "
                     "folder written by `sandbox course grade --shard K/N`, to its end, can be "
                     "merged")
        try:
            data = json.loads(text)
            self.assignment, self.digest = str(data["assignment"]), str(data["digest"])
            self.k, self.n = (int(x) for x in data["shard"])
            self.batch = [(str(f), str(name)) for f, name in data["batch"]]
            self.graded = [str(name) for name in data["graded"]]
        except (ValueError, KeyError, TypeError) as err:
            raise SandboxError(f"{self.folder / MANIFEST} is not a shard manifest ({err}): "
                               "grade that shard again") from None
        self.header, self.rows = _grades(self.folder, self.graded)

    @property
    def label(self) -> str:
        return f"{self.folder} (shard {self.k}/{self.n})"


def merge(folders: list[Path], out: Path) -> str:
    """``sandbox course grade --merge``: the shards' results as one --out; return a summary."""
    if any(Path(out).resolve() == Path(f).resolve() for f in folders):
        raise UsageError(f"--out {out} is one of the shards being merged: choose a folder of "
                         "its own")
    shards = [Shard(f) for f in folders]
    check_together(shards)
    first = shards[0]
    rows = {name: row for shard in shards for name, row in shard.rows.items()}
    with Outputs(out) as outputs:
        for shard in shards:
            for name in shard.graded:
                for folder, suffix in FOLDERS.items():
                    text = _read(shard.folder / folder / f"{name}{suffix}",
                                 f"{shard.label} lacks {folder}/{name}{suffix}: grade that "
                                 "shard again")
                    outputs.write_text(folder, f"{name}{suffix}", text)
        outputs.write_text("", "final_grades.csv",
                           _csv([first.header] + [rows[name] for _, name in first.batch]))
    return (f"merged {len(shards)} shard(s) of {first.n}: {len(rows)} submission(s) of "
            f"{first.assignment}\nresults: {Path(out) / 'final_grades.csv'}")


def check_together(shards: list[Shard]) -> None:
    """Refuse, in one sentence, shards that do not make one whole batch of one assignment."""
    first = shards[0]
    for shard in shards[1:]:
        if shard.digest != first.digest:
            raise SandboxError(f"{shard.label} graded another assignment ({shard.assignment}, "
                               f"{shard.digest[:19]}) than {first.label} ({first.assignment}, "
                               f"{first.digest[:19]}): merge the shards of one assignment")
        if shard.n != first.n or sorted(shard.batch) != sorted(first.batch):
            raise SandboxError(f"{shard.label} and {first.label} were cut from different "
                               "batches: give every shard the same submissions and the same N")
        if shard.header != first.header:
            raise SandboxError(f"{shard.label}'s final_grades.csv has other columns than "
                               f"{first.label}'s: grade both shards again")
    graded_by: dict[str, Shard] = {}
    for shard in shards:
        for name in shard.graded:
            if name in graded_by:
                raise SandboxError(f"{name} was graded by both {graded_by[name].label} and "
                                   f"{shard.label}: merge each shard once")
            graded_by[name] = shard
    missing = [name for _, name in first.batch if name not in graded_by]
    if missing:
        shards_missing = sorted(shard_of([name for _, name in first.batch], first.n)[name]
                                for name in set(missing))
        absent = ", ".join(f"{k}/{first.n}" for k in dict.fromkeys(shards_missing))
        raise SandboxError(f"{len(missing)} submission(s) are in no shard given (the first: "
                           f"{missing[0]}): grade and merge shard(s) {absent} too")


def _grades(folder: Path, graded: list[str]) -> tuple[list[str], dict[str, list[str]]]:
    """A shard's final_grades.csv: its header, and its rows by NAME, which must be ``graded``."""
    text = _read(folder / "final_grades.csv", f"{folder} has no final_grades.csv: grade that "
                 "shard again")
    table = list(csv.reader(io.StringIO(text, newline="")))
    header, body = (table[0], table[1:]) if table else ([], [])
    if "name" not in header:
        raise SandboxError(f"{folder / 'final_grades.csv'} has no name column: grade that "
                           "shard again")
    column = header.index("name")
    rows = {row[column]: row for row in body if len(row) == len(header)}
    if sorted(rows) != sorted(graded) or len(body) != len(graded):
        raise SandboxError(f"{folder / 'final_grades.csv'} does not list the submissions its "
                           f"{MANIFEST} says were graded: grade that shard again")
    return header, rows


def _read(path: Path, missing: str) -> str:
    """The text of ``path``, a regular file itself (never through a link), or ``missing`` raised.

    The merge may run as root over folders others could write to: a
    ``results/alice.json`` planted as a link to /etc/shadow must not be
    copied into the merged results.
    """
    from .grader import Refused, read_regular_file
    try:
        return read_regular_file(path, FILE_CAP).decode("utf-8")
    except Refused as refusal:
        if not os.path.lexists(path):
            raise SandboxError(missing) from None
        raise SandboxError(f"{path} cannot be merged, {refusal}") from None
    except UnicodeDecodeError:
        raise SandboxError(f"{path} is not UTF-8 text: grade that shard again") from None


def _csv(rows: list[list[str]]) -> str:
    """Rows as Outputs.write_grades writes them (csv's defaults), so the bytes match."""
    text = io.StringIO(newline="")
    csv.writer(text).writerows(rows)
    return text.getvalue()
