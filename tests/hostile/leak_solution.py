"""Hostile: reads the reference solution's text and leaks it into the report through an
exception message."""

import os


def safe_softmax(x, block_size=128):
    path = os.path.join(os.environ["COURSE_ROOT"], "solutions", "level1", "softmax.py")
    with open(path) as f:
        raise RuntimeError(f.read())


online_softmax = safe_softmax
