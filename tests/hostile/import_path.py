"""Hostile (a probe): reports the entries of its import path that lie in the course
checkout, where solutions/ and the grader's parent side live, and whether its working
directory (its own writable one) is on the path."""

import os
import sys


def safe_softmax(x, block_size=128):
    root = os.path.realpath(os.environ["HOSTILE_ROOT"])
    in_course = [p for p in sys.path if p and os.path.realpath(p).startswith(root)]
    raise RuntimeError(f"in the course: {in_course}; working directory on the path: {os.getcwd() in sys.path or '' in sys.path}")


online_softmax = safe_softmax
