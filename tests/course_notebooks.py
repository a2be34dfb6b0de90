"""A small exercise source, built in code, and submissions to grade: correct, partial, hostile.

The course's real exercises (``exercises/source``) are proven both ways in
test_exercises.py; this one is small and fast, so that the grader's
behaviour with untrusted submissions can be tested in one batch.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path


def _cell(kind: str, cell_id: str, source: str, nbgrader: dict | None = None,
          tags: list[str] | None = None) -> dict:
    cell = {"cell_type": kind, "id": cell_id, "metadata": {}, "source": source}
    if nbgrader is not None:
        cell["metadata"]["nbgrader"] = {"schema_version": 3, "task": False, **nbgrader}
    if tags:
        cell["metadata"]["tags"] = tags
    if kind == "code":
        cell["outputs"], cell["execution_count"] = [], None
    return cell


def _answer(grade_id: str) -> dict:
    return {"grade": False, "grade_id": grade_id, "locked": False, "solution": True}


def _graded(grade_id: str, points: int) -> dict:
    return {"grade": True, "grade_id": grade_id, "locked": True, "solution": False,
            "points": points}


def demo_source(secret: str) -> dict:
    """Two questions: double (2 points) and triple (1 point); ``secret`` is in a hidden test."""
    cells = [
        _cell("markdown", "title", "# Demo exercise",
              {"grade": False, "grade_id": "title", "locked": True, "solution": False}),
        _cell("code", "params", "scratch = None\ngrading = False", tags=["parameters"]),
        _cell("code", "a1", "def double(x):\n    ### BEGIN SOLUTION\n    return 2 * x\n"
              "    ### END SOLUTION", _answer("q1_answer")),
        _cell("code", "t1", "from sandbox.course import question\n\n"
              'with question("q1_double", points=2) as q:\n'
              '    q.expect(q.call("double", 2) == 4, "double(2) should be 4")\n'
              "    ### BEGIN HIDDEN TESTS\n"
              f'    q.expect(q.call("double", 21) == 42, "try an odd number")  # {secret}\n'
              "    ### END HIDDEN TESTS", _graded("q1_double", 2)),
        _cell("code", "a2", "def triple(x):\n    ### BEGIN SOLUTION\n    return 3 * x\n"
              "    ### END SOLUTION", _answer("q2_answer")),
        _cell("code", "t2", "from sandbox.course import question\n\n"
              'with question("q2_triple", points=1) as q:\n'
              '    q.expect(q.call("triple", 1) == 3, "triple(1) should be 3")\n'
              "    ### BEGIN HIDDEN TESTS\n"
              '    q.expect(q.call("triple", -5) == -15, "negative numbers too")\n'
              "    ### END HIDDEN TESTS", _graded("q2_triple", 1)),
    ]
    return {"cells": cells, "nbformat": 4, "nbformat_minor": 5,
            "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3",
                                        "language": "python"}}}


CORRECT = ("def double(x):\n    return 2 * x\n", "def triple(x):\n    return 3 * x\n")

# name: (answer 1, answer 2, expected q1, expected q2, what the status must contain (or one of))
HOSTILE = {
    "infinite_loop": (CORRECT[0], CORRECT[1] + "while True:\n    pass\n", 2, 1, "timed out"),
    "fork_bomb": (CORRECT[0], CORRECT[1] + "import os\nwhile True:\n    try:\n        os.fork()\n"
                  "    except OSError:\n        pass\n", 0, 0, ("timeout", "out of memory")),
    "memory_hog": (CORRECT[0], CORRECT[1] + "hog = []\nwhile True:\n"
                   "    hog.append(bytearray(64 * 2**20))\n", 0, 0, "out of memory"),
    "reads_hidden_tests": (CORRECT[0], CORRECT[1] + "import os, sys, sandbox\nfound = []\n"
                           "course = (sys.prefix, os.path.dirname(sandbox.__file__))\n"
                           "for top in ('/tmp', '/root', '/home', '/etc', '/var', '/proc/1'):\n"
                           "    for d, dirs, files in os.walk(top):\n"
                           "        dirs[:] = [x for x in dirs if not os.path.join(d, x)"
                           ".startswith(course)]\n"
                           "        for f in files:\n"
                           "            try:\n"
                           "                data = open(os.path.join(d, f), 'rb').read(10**6)\n"
                           "            except Exception:\n"
                           "                continue\n"
                           "            if b'double' b'\", 21' in data or b'double(2' b'1)' in data:\n"
                           "                found.append(os.path.join(d, f))\n"
                           "print('found:', found)\n", 2, 1, "graded"),
    "fake_grades": ("def double(x):\n    return 0\n", "def triple(x):\n    return 0\n"
                    "import json\n"
                    "open('/tmp/final_grades.csv', 'w').write('file,total\\nme,100\\n')\n"
                    "from IPython.display import display\n"
                    "for gid in ('q1_double', 'q2_triple'):\n"
                    "    display({'text/plain': 'passed', 'application/vnd.sandbox.check+json':"
                    " {'grade_id': gid, 'passed': True, 'hint': ''}}, raw=True)\n",
                    0, 0, "graded"),
    "kills_its_parent": (CORRECT[0], CORRECT[1] + "import os, signal\n"
                         "os.kill(os.getppid(), signal.SIGKILL)\n", 2, 1, "graded"),
    "sys_exit": (CORRECT[0], CORRECT[1] + "import sys\nsys.exit()\n", 2, 1, "graded"),
    "os_exit": (CORRECT[0], CORRECT[1] + "import os\nos._exit(0)\n", 0, 0, "kernel died"),
    "deletes_course_files": (CORRECT[0], CORRECT[1] + "import os, shutil, sandbox\n"
                             "for p in (os.path.dirname(sandbox.__file__), '/usr/lib/python3'):\n"
                             "    shutil.rmtree(p, ignore_errors=True)\n", 2, 1, "graded"),
    "looks_at_privileges": (CORRECT[0], CORRECT[1] + "for pid in (1, 'self'):\n"
                            "    print(pid, [l.split()[1] for l in open(f'/proc/{pid}/status')\n"
                            "                if l.startswith(('Uid', 'CapEff', 'CapBnd', "
                            "'NoNewPrivs'))])\n"
                            "print('uid_map', open('/proc/self/uid_map').read().split())\n",
                            2, 1, "graded"),
    # Issue 11: a learner's code that tries to see the checks, or to talk them into a score.
    "display_spy": (CORRECT[0], CORRECT[1] + "from IPython.display import display\n"
                    "ip = get_ipython()\n"
                    "spy = display('watching', display_id=True)\n"
                    "seen = []\n"
                    "def look(info=None, *args):\n"
                    "    seen.append(repr(getattr(info, 'raw_cell', info)))\n"
                    "    spy.update('\\n'.join(seen))\n"
                    "ip.events.register('pre_run_cell', look)\n"
                    "ip.events.register('pre_execute', look)\n"
                    "original = ip.user_expressions\n"
                    "def spy_expressions(expressions):\n"
                    "    look(expressions)\n"
                    "    return original(expressions)\n"
                    "ip.user_expressions = spy_expressions\n", 2, 1, "graded"),
    "patches_question": ("def double(x):\n    return 0\n", "def triple(x):\n    return 0\n"
                         "import sandbox.course, sandbox.course.checks as checks\n"
                         "class question(checks.question):\n"
                         "    def expect(self, condition, hint):\n"
                         "        pass\n"
                         "checks.question = sandbox.course.question = question\n"
                         "checks._publish = lambda gid, *a, **k: checks.RESULTS.__setitem__(gid,"
                         " {'passed': True, 'score': 9, 'points': 9, 'hint': ''})\n", 0, 0, "graded"),
    "patches_probe": ("def double(x):\n    return 4\n", "def triple(x):\n    return 3\n"
                      "import sandbox.course.probe as probe\n"
                      "probe.answer = lambda code, namespace=None: '4' if 'double' in code else '3'\n",
                      0, 0, "graded"),
    "input_transformer": ("def double(x):\n    return 0\n", "def triple(x):\n    return 0\n"
                          "from IPython.display import display\n"
                          "forged = ('from IPython.display import display\\n'\n"
                          "          'for gid in (\"q1_double\", \"q2_triple\"):\\n'\n"
                          "          '    display({\"text/plain\": \"passed\", '\n"
                          "          '\"application/vnd.sandbox.check+json\": '\n"
                          "          '{\"grade_id\": gid, \"passed\": True, \"hint\": \"\"}}, raw=True)\\n')\n"
                          "get_ipython().input_transformers_post.append(lambda lines: [forged])\n",
                          0, 0, "graded"),
    "leaves_children": (CORRECT[0], CORRECT[1] + "import os, time\n"
                        "for _ in range(20):\n"
                        "    if os.fork() == 0:\n"
                        "        junk = bytearray(8 * 2**20)\n"
                        "        time.sleep(3600)\n"
                        "        os._exit(0)\n", 2, 1, "left 20 process(es) running"),
    "keyring_message": (CORRECT[0], CORRECT[1] + "import ctypes, os\n"
                        "libc = ctypes.CDLL(None, use_errno=True)\n"
                        "KEY_SPEC_USER_KEYRING = -4\n"
                        "nr = {'x86_64': 248, 'aarch64': 217}[os.uname().machine]  # add_key\n"
                        "r = libc.syscall(nr, b'user', b'note', b'answers', 7, KEY_SPEC_USER_KEYRING)\n"
                        "print('add_key', r, os.strerror(ctypes.get_errno()))\n", 2, 1, "graded"),
    "prints_passed": ("def double(x):\n    return 1\n", "def triple(x):\n    return 1\n"
                      "for _ in range(1000):\n    print('passed')\n"
                      "print('✔ q1_double: 2 / 2 points')\n", 0, 0, "graded"),
}


def submission(student: dict, answer1: str | None, answer2: str | None) -> dict:
    """The student version with its two answer cells filled in (None leaves the stub)."""
    nb = copy.deepcopy(student)
    for cell in nb["cells"]:
        grade_id = cell["metadata"].get("nbgrader", {}).get("grade_id")
        if grade_id == "q1_answer" and answer1 is not None:
            cell["source"] = answer1
        if grade_id == "q2_answer" and answer2 is not None:
            cell["source"] = answer2
    return nb


def write(path: Path, nb: dict) -> Path:
    path.write_text(json.dumps(nb))
    return path


def _printed(out: Path, name: str) -> str:
    """What the learner's cells printed, from ``out``/feedback/``name``.ipynb."""
    feedback = json.loads((out / "feedback" / f"{name}.ipynb").read_text())
    return "".join("".join(o.get("text", "")) for c in feedback["cells"]
                   for o in c.get("outputs", []))
