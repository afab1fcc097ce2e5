"""Hostile: every call sleeps far past any sensible per-call timeout."""

import time


def safe_softmax(x, block_size=128):
    time.sleep(600)


online_softmax = safe_softmax
