"""Hostile: writes half a reply frame on the reply socket, then sleeps (a reader without
a deadline for the whole frame waits forever)."""

import os
import stat
import struct
import time


def safe_softmax(x, block_size=128):
    for fd in range(3, 256):
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                os.write(fd, struct.pack("<Q", 1000) + b"x" * 10)
        except OSError:
            pass
    time.sleep(600)
    return x


online_softmax = safe_softmax
