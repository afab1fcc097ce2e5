"""Hostile: every call kills its own process with SIGKILL."""

import os
import signal


def safe_softmax(x, block_size=128):
    os.kill(os.getpid(), signal.SIGKILL)


online_softmax = safe_softmax
