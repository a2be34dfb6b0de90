"""What the sandbox does not do yet, and which chapter of the course brings it.

A learner who types a Docker verb a later chapter brings, after reading about
Docker, deserves better than "unknown command": one sentence that says the
feature is coming, and where.  The chapters are the course map's (COURSE.md).

When a chapter's code arrives, its entries leave this table: ``build`` left
with chapter 10, ``compose`` with chapter 11, and the table is empty for now.
"""

from __future__ import annotations

from .errors import MissingFeature

CHAPTERS: dict[str, tuple[str, str]] = {}  # verb → (chapter number, title)
VERBS: tuple[str, ...] = ()  # `sandbox VERB ...`


class NotYet(MissingFeature):
    """A Docker verb or flag that a later chapter of the course brings."""


def not_yet(what: str, chapter: str, until: str = "") -> NotYet:
    """``what`` is not here yet: chapter NN (title) brings it[; until]."""
    number, title = CHAPTERS[chapter]
    return NotYet(f"{what} is not here yet: chapter {number} ({title}) brings it"
                  + (f"; {until}" if until else ""))
