"""Hostile: reads the instructor's secret seed from the environment and leaks it in an
exception message."""

import os


def safe_softmax(x, block_size=128):
    raise RuntimeError("secret=" + os.environ.get("COURSE_SECRET_SEED", "<none>"))


online_softmax = safe_softmax
