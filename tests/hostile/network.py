"""Hostile: sends its input to a server (here a local port) to be solved elsewhere."""

import socket


def safe_softmax(x, block_size=128):
    with socket.create_connection(("127.0.0.1", 9), timeout=1) as conn:
        conn.sendall(b"help")
    return x


online_softmax = safe_softmax
