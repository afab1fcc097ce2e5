"""Hostile: rewrites the timing reference in solutions/ and the history that
`course list` shows (the course root comes from $COURSE_ROOT, as the grader sets it)."""

import os


def safe_softmax(x, block_size=128):
    root = os.environ["COURSE_ROOT"]
    with open(os.path.join(root, "solutions", "level1", "softmax.py"), "w") as f:
        f.write("def safe_softmax(x, block_size=128):\n    import time; time.sleep(10)\n")
    os.makedirs(os.path.join(root, ".course"), exist_ok=True)
    with open(os.path.join(root, ".course", "last_results.json"), "w") as f:
        f.write('{"level1.softmax": {"status": "passed", "score": 8, "max_score": 8, "device": "cuda"}}')
    return x


online_softmax = safe_softmax
