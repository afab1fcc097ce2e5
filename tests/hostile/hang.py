"""Hostile: every call sleeps for a minute, far past the short per-call timeout the
test sets (and short enough that a broken timeout fails the test, not hangs it)."""

import time


def safe_softmax(x, block_size=128):
    time.sleep(60)


online_softmax = safe_softmax
