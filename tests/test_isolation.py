"""Student code that raises, exits, kills itself, segfaults, hangs or prints a forged
result is contained: that exercise scores zero with the honest status, the other
exercises of the same run are still graded, and the report (API and CLI JSON) is
the grader's own.

Each hostile module under tests/hostile/ is submitted as
level1/softmax.py beside a correct level1/merge.py (a copy of the reference
solution) and no level1/naive_attention.py, then "level1" is graded.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from click.testing import CliRunner

import grader
from conftest import HOSTILE, ROOT, make_submission, with_course_settings
from grader.cli import main
from grader.results import GradeReport

EXAMPLES = 8
# Most of these files are stopped by the source fence before a child starts
# (tests/test_fence.py); here they test what stands behind it.
pytestmark = pytest.mark.usefixtures("behind_the_fence")
CALL_TIMEOUT_S = 2.0  # for the hanging module; a correct merge answers in milliseconds
FORGED = '{"score": 23, "max_score": 23}'


@dataclass(frozen=True)
class Hostile:
    module: str  # file stem under tests/hostile/
    status: str  # what every softmax check must report
    phrases: tuple[str, ...]  # each must appear in every softmax check's message

    def __str__(self) -> str:
        return self.module


CASES = [
    Hostile("raises", "error", ("raised an exception", "student bug: index out of range")),
    Hostile("sys_exit", "error", ("sys.exit(3)",)),
    Hostile("exit_at_import", "error", ("importing softmax.py failed", "exited with status 1")),
    Hostile("kill_self", "error", ("does not allow sending signals",)),
    Hostile("segfault", "error", ("killed by SIGSEGV",)),
    Hostile("hang", "timeout", (f"no answer within {CALL_TIMEOUT_S:g} s",)),
    Hostile("forged_print", "failed", ()),  # returns x unchanged: simply wrong
]


def hostile_submission(directory: Path, module: str) -> Path:
    return make_submission(directory, {
        "level1/softmax.py": HOSTILE / f"{module}.py",
        "level1/merge.py": ROOT / "solutions" / "level1" / "merge.py",
    })


def live_children() -> list[int]:
    """Pids of this process's children that are still running (not zombies)."""
    children = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == os.getpid() and fields[0] != "Z":
            children.append(int(stat.parent.name))
    return children


def assert_contained(report: GradeReport, hostile: Hostile) -> None:
    by_id = {e.id: e for e in report.exercises}
    assert list(by_id) == ["level1.naive_attention", "level1.softmax", "level1.merge"]

    softmax = by_id["level1.softmax"]
    assert softmax.score == 0
    assert softmax.status == hostile.status
    for check in softmax.checks:
        assert check.status == hostile.status, check.message
        for phrase in hostile.phrases:
            assert phrase in check.message, f"{phrase!r} not in {check.name}'s message:\n{check.message}"

    merge = by_id["level1.merge"]
    assert [c.status for c in merge.checks] == ["passed"] * len(merge.checks), [c.message for c in merge.checks]
    assert merge.score == merge.max_score > 0

    missing = by_id["level1.naive_attention"]
    assert missing.status == "error" and "not found" in missing.checks[0].message
    assert report.score == merge.max_score


@pytest.mark.parametrize("hostile", [pytest.param(h, marks=pytest.mark.slow) if h.module == "hang" else h
                                     for h in CASES], ids=str)
def test_hostile_student_code_is_contained(hostile: Hostile, tmp_path: Path, capfd: pytest.CaptureFixture):
    manifest = with_course_settings(call_timeout_s=CALL_TIMEOUT_S) if hostile.module == "hang" else None
    started = time.monotonic()
    report = grader.grade("level1", submission=hostile_submission(tmp_path, hostile.module),
                          examples=EXAMPLES, manifest=manifest)
    elapsed = time.monotonic() - started

    assert_contained(report, hostile)
    assert live_children() == []  # every child (a hung one included) was killed and reaped
    printed = capfd.readouterr()
    assert FORGED not in printed.out and FORGED not in printed.err  # student output stays in the child's log
    if hostile.module == "hang":
        assert elapsed < 45, "the hang should cost a few call timeouts, not the 60 s sleeps"


@pytest.mark.parametrize("hostile", [h for h in CASES if h.module in ("forged_print", "exit_at_import")], ids=str)
@pytest.mark.usefixtures("course_copy")  # whatever the CLI writes goes to a throw-away course root
def test_cli_json_is_one_honest_object(hostile: Hostile, tmp_path: Path, capfd: pytest.CaptureFixture):
    """`course grade level1 --format json`: stdout is exactly the JSON report, with the
    scores the API gives, whatever the student code printed or did. (CliRunner sees
    what the CLI writes to sys.stdout; capfd sees anything a child writes to fd 1.)"""
    submission = hostile_submission(tmp_path / "submission", hostile.module)
    result = CliRunner().invoke(main, ["grade", "level1", "--submission", str(submission), "--format", "json",
                                       "--examples", str(EXAMPLES)])

    assert result.exit_code == 1, result.output
    data = json.loads(result.stdout)  # the whole of stdout: one object, nothing around it
    assert isinstance(data, dict)
    assert FORGED not in result.stdout and FORGED not in result.stderr
    leaked = capfd.readouterr()
    assert FORGED not in leaked.out and FORGED not in leaked.err
    scores = {e["id"]: (e["status"], e["score"], e["max_score"]) for e in data["exercises"]}
    merge_max = sum(c["max_score"] for e in data["exercises"] if e["id"] == "level1.merge" for c in e["checks"])
    assert scores["level1.softmax"][:2] == (hostile.status, 0)
    assert scores["level1.merge"] == ("passed", merge_max, merge_max)
    assert scores["level1.naive_attention"][:2] == ("error", 0)
    assert (data["score"], data["max_score"]) == (merge_max, sum(s[2] for s in scores.values()))
