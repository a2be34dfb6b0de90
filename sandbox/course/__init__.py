"""Exercises and grading: the checks a learner runs, and the tools an instructor runs;
and the pictures the chapters draw.

    checks      ``with question("q1", points=2) as q: q.expect(ok, hint)``: a check that
                records pass or fail and never raises, so a notebook always runs to the end
    nbgrader    nbgrader's markers and cell metadata; one instructor source → the student,
                solution and autograder versions (``sandbox course release``)
    grader      ``sandbox course grade``: every submission in its own container, in parallel
    results     scores from an executed notebook; final_grades.csv, Gradescope JSON, feedback
    runner      what runs inside that container: the learner's cells in a kernel (nbclient),
                then every check, judged in the runner itself
    probe       the kernel's side of a check: runs what it asks, answers with plain values
    outside     a container seen from outside its process: /proc/PID/ns, mountinfo, root
    machine     what this machine lets the learner's user do (a cgroup limit?), asked from outside
    dropuser    starts the notebook kernel as an unprivileged user with no capabilities
    image       the grading image: a skeleton root whose /usr is the host's
    pictures    the chapters' SVG pictures (namespaces, cgroup tree, overlay, pull, bridge),
                drawn with matplotlib from live state
"""

from .checks import question

__all__ = ["question"]
