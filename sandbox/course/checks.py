"""Checks for exercises: they judge outside the learner's code, record pass or fail with a hint,
and never raise.

A graded cell looks like this::

    with question("q1_hostname_in_new_uts", points=2) as q:
        seen = q.call("hostname_in_new_uts", "box")
        q.expect(seen == "box", "hostname_in_new_uts('box') should return 'box': did you "
                                "call sethostname *inside* the child?")
        q.expect(q.inode("uts") == q.run("namespaces.inode('self', 'uts')"), ...)

Everything that touches the learner's work goes through ``q``:

    q.call(name, *args)   call one of the learner's functions; its return value, as plain data
    q.run(code)           run a snippet in the learner's namespace; the value of its last line
    q.inode(kind)         the learner process's namespace inode, read from outside (/proc/PID/ns)
    q.proc(path)          a file of /proc/PID of the learner's process, read from outside
    q.expect(cond, hint)  the verdict: the first one that does not hold fails the question
    q.not_applicable(why) ends the question as *not applicable* on this machine: 0 of 0 points

Where the verdict is decided is the point.  In JupyterLab the check runs in
the learner's own kernel (self-study: there is no one to fool but oneself).
When homework is graded, the same cell runs in the *runner*
(:mod:`sandbox.course.runner`), a process of another user that the learner's
code cannot signal, trace or write to; ``q.call`` and ``q.run`` send only the
call itself to the kernel and get a value back (:mod:`sandbox.course.probe`).
Expected values are computed in the check, so they never enter the learner's
process; replacing ``question`` or the probe in the kernel changes nothing
but the learner's own answers.

The first failed ``expect`` ends the block, and so does any exception the
learner's code raised (``q.call`` raises :class:`LearnerError` for it, unless
asked for it as a value with ``errors=True``).  Either way the block shows one
line: ✔ or ✘, the points, and a hint.  A question this machine cannot pose (a
cgroup limit where the user may set none: :func:`sandbox.course.machine.cgroup_missing_for`,
which asks as the learner's user, from outside) ends with ``q.not_applicable(why)``:
it shows –, is worth 0 of 0 points, and says why, so a learner is neither
failed nor given points for what the machine did not let them try.  A check that takes longer than
``timeout`` seconds (30 by default) fails with a hint too.
"""

from __future__ import annotations

import json
import os
import signal
import threading

# The result display's own MIME type, next to its text/plain line (:func:`_publish`).  It is
# read only where the check ran in the learner's kernel: self-study, and tests/test_exercises.py,
# which runs the released notebooks and collects the results from it.  Grading never reads it
# (the learner's cells can display it too); scores come from the runner's verdicts.
MIME = "application/vnd.sandbox.check+json"
RESULTS: dict[str, dict] = {}  # grade_id → the last result in this process


class LearnerError(Exception):
    """The learner's code raised: its exception's type name, message and fields, as data."""

    def __init__(self, type_name: str, message: str, fields: dict | None = None):
        super().__init__(f"{type_name}: {message}")
        self.type, self.message = type_name, message
        self.fields = dict(fields or {})
        self.call = self.fields.get("call")  # KernelCallError's: which system call failed
        self.errno = self.fields.get("errno")
        classes = self.fields.get("classes")
        self.classes = [str(c) for c in classes] if isinstance(classes, list) else [type_name]

    def is_a(self, class_name: str) -> bool:
        """Was it raised as ``class_name`` or a subclass of it (``err.is_a("ValueError")``)?"""
        return class_name in self.classes

    def __repr__(self) -> str:
        return f"LearnerError({self.type}: {self.message})"


class _Missed(Exception):
    """An ``expect`` that did not hold; carries the hint."""


class _TooSlow(_Missed):
    """The check ran out of time."""


class _NotApplicable(Exception):
    """The machine cannot pose this question (:meth:`question.not_applicable`); carries why."""


# --- where the learner's code is -------------------------------------------------------------
class LocalLink:
    """The learner's code is in this very process (JupyterLab, self-study)."""

    @property
    def pid(self) -> int:
        return os.getpid()  # asked each time: a fork's child has its own

    def evaluate(self, code: str, deadline: float | None) -> str:
        from .probe import answer
        return answer(code)


_link = None  # set by the grading runner (:func:`use`); None means LocalLink


def use(link) -> None:
    """Judge against another process: the runner's link to the learner's kernel."""
    global _link
    _link = link


def _current_link():
    return LocalLink() if _link is None else _link


def decode(text: str):
    """A probe's JSON answer → a value, or a :class:`LearnerError` for what the code raised
    (or ``BadAnswer``, if what came back is not JSON: a probe the learner's code replaced)."""
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):  # RecursionError: lists nested thousands deep
        return LearnerError("BadAnswer", "the kernel's answer was not JSON")
    if isinstance(value, dict) and "__raised__" in value:
        raised = value["__raised__"] if isinstance(value["__raised__"], dict) else {}
        fields = {k: v for k, v in raised.items() if k not in ("type", "message")}
        return LearnerError(str(raised.get("type", "Exception")), str(raised.get("message", "")),
                            fields)
    if isinstance(value, dict) and "__too_large__" in value:
        return LearnerError("AnswerTooLarge", f"the answer was {value['__too_large__']} "
                                              "characters of JSON; return something smaller")
    return value


# --- the question --------------------------------------------------------------------------
class question:  # noqa: N801 - read as a phrase: `with question("q1", points=2) as q`
    """One graded question: a block of ``expect`` calls worth ``points`` together."""

    def __init__(self, grade_id: str, points: float = 1, timeout: float | None = 30):
        self.grade_id = grade_id
        self.points = points
        self.timeout = timeout
        self._previous_handler = None
        self._deadline: float | None = None
        self._link = _current_link()

    # what the check may ask of the learner's process
    def call(self, name: str, *args, errors: bool = False, **kwargs):
        """``name(*args, **kwargs)`` in the learner's namespace; its value as plain data."""
        if not name.isidentifier():
            raise ValueError(f"not a function name: {name!r}")
        parts = [repr(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
        return self.run(f"{name}({', '.join(parts)})", errors=errors)

    def run(self, code: str, errors: bool = False):
        """Run ``code`` where the learner's names are; the value of its last expression."""
        import time
        if self._deadline is not None and time.monotonic() > self._deadline:
            raise self._too_slow_error()
        try:
            value = decode(self._link.evaluate(code, self._deadline))
        except TimeoutError:  # the runner's link: the kernel did not answer by the deadline
            raise self._too_slow_error() from None
        if isinstance(value, LearnerError) and not errors:
            raise value
        return value

    @property
    def pid(self) -> int:
        """The learner's process (the kernel), as this process numbers it."""
        return self._link.pid

    def inode(self, kind: str) -> int:
        """The inode of the learner process's namespace ``kind`` (``uts``, ``net``, ...)."""
        return os.stat(f"/proc/{self.pid}/ns/{kind}").st_ino

    def proc(self, relative: str) -> str:
        """``/proc/<learner's pid>/<relative>``, read here: ``q.proc("mountinfo")``."""
        with open(f"/proc/{self.pid}/{relative.lstrip('/')}") as f:
            return f.read()

    def expect(self, condition, hint: str) -> None:
        """Check ``condition``; if it is false, the question fails with ``hint``."""
        if not condition:
            raise _Missed(hint)

    def not_applicable(self, why: str) -> None:
        """End the question as not applicable here, saying ``why``: 0 of 0 points, not a failure."""
        raise _NotApplicable(why)

    # the block
    def __enter__(self) -> "question":
        import time
        if self.timeout:
            self._deadline = time.monotonic() + self.timeout
        # Signal handlers can only be set from the main thread (a notebook cell runs there).
        if self.timeout and isinstance(self._link, LocalLink) and \
                threading.current_thread() is threading.main_thread():
            self._previous_handler = signal.signal(signal.SIGALRM, self._on_alarm)
            signal.setitimer(signal.ITIMER_REAL, self.timeout)
        return self

    def _too_slow_error(self) -> _TooSlow:
        within = f"within {self.timeout:g} s" if self.timeout else "in time"
        return _TooSlow(f"the check did not finish {within}: look for a loop that never "
                        "ends, or a read from a pipe whose writer never closes it")

    def _on_alarm(self, _signum, _frame):
        raise self._too_slow_error()

    def _stop_timer(self) -> None:
        if self._previous_handler is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, self._previous_handler)
            self._previous_handler = None

    def __exit__(self, kind, error, _traceback) -> bool:
        self._stop_timer()
        if kind is not None and issubclass(kind, KeyboardInterrupt):
            return False  # an interrupt (or the grader's timeout) must stop the cell
        show = isinstance(self._link, LocalLink)
        if kind is not None and issubclass(kind, _NotApplicable):
            _publish(self.grade_id, False, 0, 0, str(error), show=show, applicable=False)
            return True
        passed = kind is None
        hint = "" if passed else explain(error)
        _publish(self.grade_id, passed, self.points if passed else 0, self.points, hint,
                 show=show)
        return True


def explain(error: BaseException) -> str:
    """A hint for a learner from what went wrong: a missed expectation or their code's error."""
    if isinstance(error, _Missed):
        return str(error)
    kind = error.type if isinstance(error, LearnerError) else type(error).__name__
    message = error.message if isinstance(error, LearnerError) else str(error)
    if kind == "NotImplementedError":
        return ("not answered yet: replace `raise NotImplementedError()` with your code, "
                "then run that cell and this one again")
    if kind == "NameError":
        return (f"{message}: run the cell that defines it first "
                "(Run ▸ Run All Above Selected Cell)")
    if kind == "SystemExit":
        return "your code called sys.exit(); return a value instead"
    if isinstance(error, LearnerError):
        return f"your code raised {kind}: {message}"[:500]
    if isinstance(error, KernelGone):
        return str(error)
    return check_failed(f"{kind}: {message}")


def check_failed(what: str) -> str:
    """The hint when the check itself went wrong, not the learner's code: nothing to fix."""
    return f"the check itself failed ({what[:400]}); tell your instructor"


class KernelGone(Exception):
    """The learner's kernel died or stopped answering before the check could ask it."""


def _publish(grade_id: str, passed: bool, score: float, points: float, hint: str,
             show: bool = True, applicable: bool = True) -> None:
    RESULTS[grade_id] = {"passed": passed, "score": score, "points": points, "hint": hint,
                         "applicable": applicable}
    if not show:
        return  # the grading runner collects RESULTS; its stdout carries the reply
    if applicable:
        line = f"{'✔' if passed else '✘'} {grade_id}: {score:g} / {points:g} points"
        if hint:
            line += f"\n  hint: {hint}"
    else:
        line = f"– {grade_id}: not applicable on this machine (0 / 0 points)\n  why: {hint}"
    record = {"grade_id": grade_id, "passed": passed, "hint": hint, "applicable": applicable}
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
