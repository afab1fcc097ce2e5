"""Hostile: prints 1.5 GB (a grader that keeps the child's output grows by as much)."""

import sys

CHUNK = "x" * (1 << 20)


def safe_softmax(x, block_size=128):
    for _ in range(1500):
        sys.stdout.write(CHUNK)
    return x


online_softmax = safe_softmax
