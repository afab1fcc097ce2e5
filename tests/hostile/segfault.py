"""Hostile: every call reads address 0 and dies of SIGSEGV."""

import ctypes


def safe_softmax(x, block_size=128):
    return ctypes.string_at(0)


online_softmax = safe_softmax
