"""What the sandbox does not do yet, and which chapter of the course brings it.

A learner who types ``sandbox compose up`` after
reading about Docker deserves better than "unknown command": one sentence
that says the feature is coming, and where.  The chapters are the course
map's (COURSE.md):

    11  Compose       ``sandbox compose``

When a chapter's code arrives, its entries leave this table.
"""

from __future__ import annotations

from .errors import MissingFeature

CHAPTERS = {
    "compose": ("11", "Compose"),
}
VERBS = ("compose",)  # `sandbox VERB ...`


class NotYet(MissingFeature):
    """A Docker verb or flag that a later chapter of the course brings."""


def not_yet(what: str, chapter: str, until: str = "") -> NotYet:
    """``what`` is not here yet: chapter NN (title) brings it[; until]."""
    number, title = CHAPTERS[chapter]
    return NotYet(f"{what} is not here yet: chapter {number} ({title}) brings it"
                  + (f"; {until}" if until else ""))
