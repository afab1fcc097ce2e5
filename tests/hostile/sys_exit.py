"""Hostile: every call exits the interpreter with status 3."""

import sys


def safe_softmax(x, block_size=128):
    sys.exit(3)


online_softmax = safe_softmax
