"""``python -m sandbox`` is the ``sandbox`` command."""

from .cli import entry

entry()
