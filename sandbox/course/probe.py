"""The kernel's side of a check: run what the check asks, hand back plain values, decide nothing.

A check (:mod:`sandbox.course.checks`) never trusts the learner's process
with a verdict.  It only *asks* it things: call ``hostname_in_new_uts("box")``,
run this snippet, and send back what came out.  This module is what answers,
inside the learner's kernel:

    the check (runner, root of the grading container)      the learner's kernel (uid 65534)
    ──────────────────────────────────────────────────     ──────────────────────────────────
    q.call("hostname_in_new_uts", "box")  ── code ──▶      answer(code): exec, encode as JSON
    judge the value, with hints           ◀── JSON ──      (or the exception it raised)

Values travel as JSON, so what a check sees is the same in JupyterLab (where
everything runs in one process) and in grading: tuples arrive as lists, sets
as sorted lists, an exception as ``{"__raised__": {"type": ..., "message": ...}}``,
anything else as its ``repr``.  A learner who patches this module changes
only the answers it sends, never the judgement, which happens elsewhere.
"""

from __future__ import annotations

import json

MAX_ANSWER = 1 << 20  # characters: an answer is a value, not a dump of the learner's memory


def answer(code: str, namespace: dict | None = None) -> str:
    """Run ``code`` in the notebook's namespace; the JSON of its last expression's value.

    The code's last statement, if it is an expression, is the answer (as in a
    notebook cell); otherwise the answer is ``None``.
    """
    import ast
    scope = _user_namespace() if namespace is None else namespace
    try:
        tree = ast.parse(code, "<check>", "exec")
        last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
        exec(compile(tree, "<check>", "exec"), scope)  # noqa: S102 - the check's own code
        value = None
        if last is not None:
            value = eval(compile(ast.Expression(last.value), "<check>", "eval"), scope)  # noqa: S307
    except BaseException as err:  # noqa: BLE001 - the learner's error is an answer too
        if isinstance(err, KeyboardInterrupt) or type(err).__module__ == "sandbox.course.checks":
            raise  # the check's own time limit (self-study) or an interrupt: not an answer
        value = raised(err)
    text = json.dumps(encode(value))
    if len(text) > MAX_ANSWER:
        text = json.dumps({"__too_large__": len(text)})
    return text


def raised(err: BaseException) -> dict:
    """An exception as a value: its type, message, and the fields a check may ask about."""
    fields = {k: getattr(err, k) for k in ("call", "errno", "errno_name")
              if isinstance(getattr(err, k, None), (str, int))}
    classes = [c.__name__ for c in type(err).__mro__]  # so a check can accept subclasses
    return {"__raised__": {"type": type(err).__name__, "message": str(err)[:2000],
                           "classes": classes, **fields}}


def encode(value, depth: int = 0):
    """A value as JSON can carry it."""
    if depth > 20:
        return {"__repr__": "(nested too deep)", "__type__": type(value).__name__}
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, dict) and "__raised__" in value and depth == 0:
        return value
    if isinstance(value, (list, tuple)):
        return [encode(v, depth + 1) for v in value]
    if isinstance(value, (set, frozenset)):
        items = [encode(v, depth + 1) for v in value]
        try:
            return sorted(items)
        except TypeError:
            return sorted(items, key=repr)
    if isinstance(value, dict):
        return {str(k): encode(v, depth + 1) for k, v in value.items()}
    if isinstance(value, bytes):
        return value.decode("latin-1")
    return {"__repr__": repr(value)[:2000], "__type__": type(value).__name__}


def _user_namespace() -> dict:
    """Where the notebook's names live: IPython's user namespace, else ``__main__``."""
    try:
        from IPython import get_ipython
        shell = get_ipython()
    except ImportError:
        shell = None
    if shell is not None:
        return shell.user_ns
    import __main__
    return __main__.__dict__
