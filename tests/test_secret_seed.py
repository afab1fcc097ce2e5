"""Secret seeds for final grading: $COURSE_SECRET_SEED mixes a secret into the seed.
The same secret gives the same grade, another secret other examples, and no report
(JSON, table, Gradescope) shows the secret or the mixed seed; student code cannot
read it either."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from conftest import SUBMISSIONS, make_submission, set_course_setting
from grader.cli import main
from grader.manifest import load_manifest
from grader.runner import SECRET_ENV, mix_secret

SECRET = "final-exam-7f3a9c"
OTHER = "another-secret-0b12"
# online_softmax forgets the rescale (fails on some examples); safe_softmax raises
# with what it can read of the secret, so the report shows whether it leaked.
READS_SECRET = """
import os


def safe_softmax(x):
    raise RuntimeError(f"secret={os.environ.get('COURSE_SECRET_SEED')!r}")
"""


def test_mix_secret():
    assert mix_secret(20240601, None) == mix_secret(20240601, "") == 20240601
    mixed = mix_secret(20240601, SECRET)
    assert mixed == mix_secret(20240601, SECRET)
    assert len({mixed, mix_secret(20240601, OTHER), mix_secret(20240602, SECRET), 20240601}) == 4
    assert 0 <= mixed < 2**31


@pytest.fixture
def submission(course_copy: Path, tmp_path: Path) -> Path:
    """Failures depend on the seed alone: no shrinking, so the first failure drawn is reported."""
    set_course_setting(course_copy, "shrink_budget_s", 0)
    source = (SUBMISSIONS / "level1" / "softmax" / "online_no_rescale.py").read_text() + READS_SECRET
    return make_submission(tmp_path / "submission", {"level1/softmax.py": source})


def grade(submission: Path, monkeypatch: pytest.MonkeyPatch, secret: str | None, fmt: str = "json") -> Result:
    if secret is None:
        monkeypatch.delenv(SECRET_ENV, raising=False)
    else:
        monkeypatch.setenv(SECRET_ENV, secret)
    result = CliRunner().invoke(main, ["grade", "level1.softmax", "--submission", str(submission), "--format", fmt,
                                       "--examples", "8"])
    assert result.exit_code == 1, result.output
    return result


def failing_example(report: dict) -> str:
    return next(c["example"] for c in report["exercises"][0]["checks"] if c["name"] == "online_softmax")


def test_secret_seed_same_grade_other_examples_never_shown(submission: Path, monkeypatch: pytest.MonkeyPatch):
    seed = load_manifest().course.seed
    hidden = (SECRET, str(mix_secret(seed, SECRET)))

    first = grade(submission, monkeypatch, SECRET)
    report = json.loads(first.stdout)
    assert (report["seed"], report["secret_seed"]) == (seed, True)
    example = failing_example(report)
    assert example
    table = grade(submission, monkeypatch, SECRET, "table")
    gradescope = grade(submission, monkeypatch, SECRET, "gradescope")
    assert example in " ".join(table.stdout.split())  # same secret, same failing example
    assert f"seed {seed} + secret" in table.stdout
    assert json.loads(gradescope.stdout)["score"] == report["score"]
    assert example in gradescope.stdout

    for result in (first, table, gradescope):
        assert "secret=''" in result.stdout  # student code ran and read an empty variable
        for text in hidden:
            assert text not in result.output  # stdout and stderr

    other = json.loads(grade(submission, monkeypatch, OTHER).stdout)
    plain = json.loads(grade(submission, monkeypatch, None).stdout)
    assert "secret_seed" not in plain
    assert len({example, failing_example(other), failing_example(plain)}) == 3
    seeds = {int(s) for r in (report, other, plain) for s in re.findall(r"seed=(\d+)", failing_example(r))}
    assert len(seeds) == 3
