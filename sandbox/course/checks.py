"""Checks for exercises: they record pass or fail, with a hint, and never raise.

A graded cell looks like this::

    with question("q1_hostname", points=2) as q:
        q.expect(hostname_in_new_uts("box") == "box",
                 "hostname_in_new_uts('box') should return 'box': did you call "
                 "sethostname *inside* the child?")

The first failed ``expect`` ends the block; so does any exception raised by
the learner's code (a ``NameError`` because a cell was not run, the
``NotImplementedError`` of an unanswered exercise).  Either way the block
swallows it and shows one line: ✔ or ✘, the points, and a hint.  Why never
raise: papermill, which grades homework, stops at the first cell with an
error, and one unanswered question must not cost the points of the others.

A check that takes longer than ``timeout`` seconds (30 by default) fails
with a hint too: the learner's answer probably loops forever or waits on a
pipe that never closes.  The timer is setitimer(2)'s ITIMER_REAL, whose
SIGALRM interrupts even a blocking read (PEP 475: a handler that raises
ends the retry).

The result is also published as ``application/vnd.sandbox.check+json``
display data, which is what the grader reads (never the printed text, which
a submission could imitate by printing).
"""

from __future__ import annotations

import signal
import threading

MIME = "application/vnd.sandbox.check+json"
RESULTS: dict[str, dict] = {}  # grade_id → the last result of this kernel, for self-study


class _Missed(Exception):
    """An ``expect`` that did not hold; carries the hint."""


class _TooSlow(_Missed):
    """The check ran out of time."""


class question:  # noqa: N801 - read as a phrase: `with question("q1", points=2) as q`
    """One graded question: a block of ``expect`` calls worth ``points`` together."""

    def __init__(self, grade_id: str, points: float = 1, timeout: float | None = 30):
        self.grade_id = grade_id
        self.points = points
        self.timeout = timeout
        self._previous_handler = None

    def expect(self, condition, hint: str) -> None:
        """Check ``condition``; if it is false, the question fails with ``hint``."""
        if not condition:
            raise _Missed(hint)

    def __enter__(self) -> "question":
        # Signal handlers can only be set from the main thread (a notebook cell runs there).
        if self.timeout and threading.current_thread() is threading.main_thread():
            self._previous_handler = signal.signal(signal.SIGALRM, self._too_slow)
            signal.setitimer(signal.ITIMER_REAL, self.timeout)
        return self

    def _too_slow(self, _signum, _frame):
        raise _TooSlow(f"the check did not finish within {self.timeout:g} s: look for a loop "
                       "that never ends, or a read from a pipe whose writer never closes it")

    def _stop_timer(self) -> None:
        if self._previous_handler is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._previous_handler)
            self._previous_handler = None

    def __exit__(self, kind, error, _traceback) -> bool:
        self._stop_timer()
        if kind is not None and issubclass(kind, KeyboardInterrupt):
            return False  # an interrupt (or the grader's timeout) must stop the cell
        passed = kind is None
        hint = "" if passed else explain(error)
        _publish(self.grade_id, passed, self.points if passed else 0, self.points, hint)
        return True


def explain(error: BaseException) -> str:
    """A hint for a learner from what went wrong: a missed expectation or their code's error."""
    if isinstance(error, _Missed):
        return str(error)
    if isinstance(error, NotImplementedError):
        return ("not answered yet: replace `raise NotImplementedError()` with your code, "
                "then run that cell and this one again")
    if isinstance(error, NameError):
        return (f"{error}: run the cell that defines it first "
                "(Run ▸ Run All Above Selected Cell)")
    if isinstance(error, SystemExit):
        return "your code called sys.exit(); return a value instead"
    return f"your code raised {type(error).__name__}: {error}"


def _publish(grade_id: str, passed: bool, score: float, points: float, hint: str) -> None:
    RESULTS[grade_id] = {"passed": passed, "score": score, "points": points, "hint": hint}
    line = f"{'✔' if passed else '✘'} {grade_id}: {score:g} / {points:g} points"
    if hint:
        line += f"\n  hint: {hint}"
    record = {"grade_id": grade_id, "passed": passed, "hint": hint}
    try:
        from IPython import get_ipython
        from IPython.display import display
    except ImportError:  # plain Python: just print
        print(line)
        return
    if get_ipython() is None:
        print(line)
        return
    display({"text/plain": line, MIME: record}, raw=True)
