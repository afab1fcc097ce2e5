"""Hostile: every call blocks forever (on a pipe nobody writes, using no CPU), far past
the short per-call timeout the test sets. It passes the source fence (os is allowed),
so it also serves the tests that grade it in a separate grader process."""

import os


def safe_softmax(x, block_size=128):
    read_end, _write_end = os.pipe()
    os.read(read_end, 1)


online_softmax = safe_softmax
