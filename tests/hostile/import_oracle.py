"""Hostile: returns the grader's own float64 oracle as its answer."""

from grader.oracle import softmax as _oracle


def safe_softmax(x, block_size=128):
    return _oracle(x).to(x.dtype)


online_softmax = safe_softmax
