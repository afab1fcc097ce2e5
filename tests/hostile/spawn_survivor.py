"""Hostile: starts processes meant to outlive the grade (a shell sleeping, and a fork)."""

import os
import subprocess

MARKER = "hostile-survivor-5f3a"


def safe_softmax(x, block_size=128):
    try:
        subprocess.Popen(["sh", "-c", f"exec -a {MARKER} sleep 300"], start_new_session=True)
    finally:
        if os.fork() == 0:
            os.execvp("sleep", ["sleep", "300"])
    return x


online_softmax = safe_softmax
