"""Hostile: writes a forged full-score report to the grader's --output file (the test
tells it the path through $HOSTILE_TARGET, as a student who read the course's
grading script would know it), then returns its input unchanged."""

import os

FORGED = '{"score": 23, "max_score": 23, "tests": []}'


def safe_softmax(x, block_size=128):
    with open(os.environ["HOSTILE_TARGET"], "w") as f:
        f.write(FORGED)
    return x


online_softmax = safe_softmax
