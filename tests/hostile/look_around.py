"""Hostile: lists what it can see of the course (solutions/, the grader) and reports it
in an exception message. Under `course grade --sandbox` the course is not mounted."""

import os


def safe_softmax(x, block_size=128):
    root = os.environ["COURSE_ROOT"]
    seen = {}
    for place in ("solutions", "grader", "."):
        try:
            seen[place] = sorted(os.listdir(os.path.join(root, place)))
        except OSError as err:
            seen[place] = type(err).__name__
    raise RuntimeError(f"seen: {seen}")


online_softmax = safe_softmax
