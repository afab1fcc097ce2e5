"""Hostile: every call raises."""


def safe_softmax(x, block_size=128):
    raise RuntimeError("student bug: index out of range")


online_softmax = safe_softmax
