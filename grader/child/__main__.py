"""``python -m grader.child FD``: the student's process (see worker.py)."""

import os
import sys

from grader.child.worker import main

main(int(sys.argv[1]))
os._exit(0)  # skip interpreter teardown: student threads or atexit hooks must not hang us
