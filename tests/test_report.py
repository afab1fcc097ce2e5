"""The report as a student and an instructor read it: the terminal layout at 80
columns (details under the row, each message once), the score line (bonus apart,
points not verified here), the JSON fields and Gradescope's results.json.

Reports are built by hand here, so these tests run in milliseconds.
"""

from __future__ import annotations

import io
import json
import math

from rich.console import Console

from grader.report import render, score_lines, to_gradescope, to_json
from grader.results import (FAILED, NOT_IMPLEMENTED, NOT_VERIFIED, PASSED, CheckResult, ExerciseResult, GradeReport,
                            not_verified_notes)

HINT = ("wrong only once a row spans several blocks: when the running max grows, rescale the normaliser, "
        "l = l * exp(m_old - m_new) + sum(exp(x_blk - m_new))")
NO_GPU = "needs a CUDA GPU; this run has no GPU in use"


def failing_check(**fields) -> CheckResult:
    base = dict(name="online_softmax", status=FAILED, max_score=3,
                summary="|softmax - oracle| = 0.0875 at [0, 29] (expected 0.201223, got 0.113766); allowed there 5e-05",
                example="x[1,33] float32 block_size=16 seed=0", measured=0.0875, allowed=5e-05, hint=HINT,
                repro="print('rebuilt')\n", seconds=1.23456)
    return CheckResult(**{**base, **fields})


def sample_report() -> GradeReport:
    """48/60 regular points, 3/5 bonus, 6 points that need a GPU."""
    softmax = ExerciseResult("level1.softmax", [CheckResult("safe_softmax", PASSED, 3, "8 random examples agree"),
                                                failing_check(max_score=6)])
    triton = ExerciseResult("level2.flash_v2_triton", [CheckResult("oracle", PASSED, 45, "12 random examples agree"),
                                                       CheckResult("long_sequences", NOT_VERIFIED, 2, NO_GPU),
                                                       CheckResult("speed", NOT_VERIFIED, 4, NO_GPU)])
    backward = ExerciseResult("level2.flash_v2_backward", [CheckResult("oracle", PASSED, 3, "15 random examples agree"),
                                                           CheckResult("no_full_matrix", FAILED, 2, "too big")],
                              bonus=True)
    return GradeReport("all", "cpu", 20240601, [softmax, triton, backward])


def as_text(renderable, width: int = 80) -> str:
    plain = Console(width=width, record=True, file=io.StringIO(), color_system=None)
    plain.print(renderable)
    return plain.export_text()


# ----------------------------------------------------------------------------- terminal layout


def test_report_reads_at_80_columns_with_details_under_the_row():
    text = as_text(render(sample_report(), repro=True))
    lines = text.splitlines()
    assert max(map(len, lines)) <= 80, text
    assert all(line == line.rstrip() for line in lines), "no trailing padding when piped"

    row = next(i for i, line in enumerate(lines) if line.split()[:1] == ["online_softmax"])
    assert lines[row].split()[-2:] == ["failed", "0/6"]
    details = []
    for line in lines[row + 1:]:
        if not line.startswith("      "):
            break
        details.append(line.strip())
    joined = " ".join(details)
    # the message, at the full width under its row, not in a narrow column
    assert joined.startswith("|softmax - oracle| = 0.0875 at [0, 29]")
    assert "smallest failing example: x[1,33] float32 block_size=16 seed=0" in joined
    assert "hint: " + HINT in joined
    assert "course repro level1.softmax.online_softmax" in joined
    assert any(len(line) > 60 for line in lines[row + 1:row + 1 + len(details)])


def test_each_message_is_shown_once():
    text = " ".join(as_text(render(sample_report())).split())
    assert text.count("0.0875") == 1  # the summary states the error: no second "error ..., allowed ..." line
    assert text.count("rescale the normaliser") == 1
    assert text.count("x[1,33]") == 1


def test_the_error_line_appears_when_the_summary_does_not_state_it():
    check = failing_check(summary="softmax is constant (0.03) but the oracle is not", measured=0.5, allowed=0.001)
    assert check.error_line == "error 0.5, allowed 0.001"
    assert check.message.count("error 0.5, allowed 0.001") == 1
    assert failing_check().error_line == ""  # "... allowed there 5e-05" already says it


def test_repro_pointer_only_where_a_script_was_saved():
    report = sample_report()
    assert "course repro" not in as_text(render(report, repro=False))
    report.exercises[0].checks[1].repro = ""
    assert "course repro" not in as_text(render(report, repro=True))


def test_passed_checks_show_no_details():
    text = as_text(render(sample_report()))
    assert "8 random examples agree" not in text


# ----------------------------------------------------------------------------- score line


def test_score_line_states_bonus_apart_and_the_points_not_verified_here():
    report = sample_report()
    assert (report.score, report.max_score, report.bonus_score) == (51, 60, 3)
    first, gpu = score_lines(report)
    assert first == "score 48/60, plus bonus 3/5 (seed 20240601): some checks did not pass"
    assert gpu == "6 points need a CUDA GPU and were not verified here"
    assert first in as_text(render(report), width=120)


def test_score_line_without_bonus_or_unverified_points():
    report = GradeReport("level1", "cpu", 7, [ExerciseResult("level1.softmax", [CheckResult("a", PASSED, 3)])])
    assert score_lines(report) == ["score 3/3 (seed 7): everything verifiable passed"]


def test_not_verified_notes_group_by_reason():
    notes = not_verified_notes([(NO_GPU, 2), (NO_GPU, 4), ("timing skipped (--no-timing)", 1),
                                ("needs a Hopper GPU (sm_90); this run has compute capability (8, 0)", 1)])
    assert notes == ["6 points need a CUDA GPU and were not verified here",
                     "1 point not verified here: timing skipped (--no-timing)",
                     "1 point needs a Hopper GPU (sm_90) and was not verified here"]
    assert not_verified_notes([(NO_GPU, 6)], short=True) == ["6 pts need a CUDA GPU"]


def test_a_secret_seed_is_named_not_shown():
    report = sample_report()
    report.secret = True
    assert report.seed_label == "20240601 + secret"
    assert "seed 20240601 + secret" in as_text(render(report))
    assert json.loads(to_json(report))["secret_seed"] is True
    assert "secret_seed" not in json.loads(to_json(sample_report()))


# ----------------------------------------------------------------------------- JSON and Gradescope


def test_json_checks_keep_message_and_add_structured_fields():
    data = json.loads(to_json(sample_report()))
    check = data["exercises"][0]["checks"][1]
    assert check == {
        "name": "online_softmax", "status": "failed", "score": 0, "max_score": 6,
        "message": failing_check().message,
        "example": "x[1,33] float32 block_size=16 seed=0", "error": 0.0875, "allowed": 5e-05, "hint": HINT,
        "seconds": 1.235,
    }
    passed = data["exercises"][0]["checks"][0]
    assert (passed["example"], passed["error"], passed["allowed"], passed["hint"]) == ("", None, None, "")
    assert "repro" not in check


def test_json_has_no_nan_or_infinity():
    report = sample_report()
    report.exercises[0].checks[1].measured = math.inf
    text = to_json(report)
    assert "Infinity" not in text and "NaN" not in text
    assert json.loads(text)["exercises"][0]["checks"][1]["error"] is None


def test_gradescope_one_test_per_check_and_the_score_lines():
    data = json.loads(to_gradescope(sample_report()))
    assert len(data["tests"]) == 7
    assert data["score"] == sum(t["score"] for t in data["tests"]) == 51
    assert data["max_score"] == 60
    assert "6 points need a CUDA GPU" in data["output"]
    failing = next(t for t in data["tests"] if t["name"] == "level1.softmax: online_softmax")
    assert failing["status"] == "failed" and "rescale the normaliser" in failing["output"]


def test_not_implemented_message_shows_no_example():
    check = CheckResult("oracle", NOT_IMPLEMENTED, 6, "naive_attention raises NotImplementedError")
    assert check.message == "naive_attention raises NotImplementedError"
