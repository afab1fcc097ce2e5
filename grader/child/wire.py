"""The messages between the grader and the student's process, and how they travel.

A message is a ``torch.save`` payload read back with ``weights_only=True``: plain
containers, numbers, strings and tensors, nothing executable. On the socket each
message is a frame: an 8-byte little-endian length, then the payload.

The parent reads with `read_frame` under a deadline for the whole frame, and refuses
a length over its cap before reading any of it: a child that announces a huge frame,
sends half of one and sleeps, or never answers costs the parent its deadline, never a
hang or its memory.
"""

from __future__ import annotations

import io
import select
import socket
import struct
import time

HEADER = struct.Struct("<Q")


class FrameError(Exception):
    """The peer broke the protocol: no answer in time, a bad length, a closed socket."""


def encode(message) -> bytes:
    import torch

    buf = io.BytesIO()
    torch.save(message, buf)
    return buf.getvalue()


def decode(payload: bytes):
    import torch

    return torch.load(io.BytesIO(payload), weights_only=True)


def send_frame(sock: socket.socket, payload: bytes) -> None:
    sock.sendall(HEADER.pack(len(payload)) + payload)


def _read_exactly(sock: socket.socket, size: int, deadline: float | None, what: str) -> bytes:
    chunks, got = [], 0
    while got < size:
        if deadline is not None:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([sock], [], [], left)[0]:
                raise FrameError(f"no complete {what} before the deadline")
        chunk = sock.recv(min(size - got, 1 << 20))
        if not chunk:
            raise FrameError(f"the connection closed during the {what}")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def read_frame(sock: socket.socket, *, deadline: float | None = None, max_bytes: int | None = None) -> bytes:
    """One frame's payload. ``deadline`` (time.monotonic) bounds the whole frame;
    a length over ``max_bytes`` is refused before its payload is read."""
    (size,) = HEADER.unpack(_read_exactly(sock, HEADER.size, deadline, "frame header"))
    if max_bytes is not None and size > max_bytes:
        raise FrameError(f"a reply of {size} bytes (the limit is {max_bytes})")
    return _read_exactly(sock, size, deadline, "reply")
