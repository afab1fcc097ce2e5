"""Grade every wrong submission of the test suites under other seeds than the default.

Final grading mixes a secret into the seed (COURSE_SECRET_SEED), so a wrong submission
must lose its check on every seed, not only on the one the tests use. Slow (a grade
per submission and seed), so it is a tool, not a test; a miss it finds becomes a
battery case and a test (tests/test_batteries.py).

    python scripts/seed_probe.py level1,level2 1,2,3,4,5            # prints OK / MISS lines
    python scripts/seed_probe.py level4 1,2,3 --skip mla_decode     # leave slow exercises out
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "tests"), str(ROOT)]

from conftest import check_of, graded_submission  # noqa: E402 - after the path setup


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("levels", help="comma-separated: level1,level2,level3,level4")
    parser.add_argument("seeds", help="comma-separated ints")
    parser.add_argument("--skip", default="", help="comma-separated exercise names to leave out")
    args = parser.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    misses = 0
    for level in args.levels.split(","):
        wrongs = importlib.import_module(f"test_wrong_submissions_{level}").WRONG
        for wrong in (w for w in wrongs if w.exercise not in skip):
            for seed in map(int, args.seeds.split(",")):
                start = time.monotonic()
                result = graded_submission(level, wrong.exercise, wrong.submission, timing=False, seed=seed,
                                           examples=None)  # course.toml's count, as final grading uses
                check = check_of(result, wrong.check)
                caught = check.status != "passed" and check.score == 0
                misses += not caught
                print(f"{'OK  ' if caught else 'MISS'} {level}.{wrong.exercise}/{wrong.submission} seed={seed} "
                      f"{wrong.check}={check.status} {time.monotonic() - start:.0f}s :: {check.summary[:110]}",
                      flush=True)
    print(f"{misses} miss(es)")
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
