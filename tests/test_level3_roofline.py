"""Level 3's roofline, graded on the CPU: the solution earns full marks, the stub
nothing, and each realistic wrong count is rejected with a message naming the bug."""

import pytest

import grader
from grader import oracle
from conftest import Wrong, check_of, graded_submission


def test_solution_full_marks():
    (result,) = grader.grade("level3.roofline", solutions=True, device="cpu", examples=10).exercises
    assert [c.status for c in result.checks] == ["passed"] * 4 and result.score == result.max_score


def test_stub_not_implemented():
    (result,) = grader.grade("level3.roofline", device="cpu", examples=3).exercises
    assert {c.status for c in result.checks} == {"not implemented"} and result.score == 0


@pytest.mark.parametrize("n_q, n_k, pairs", [(3, 5, 12), (5, 3, 6), (4, 4, 10), (1, 7, 7), (7, 1, 1)])
def test_oracle_counts_the_pictures(n_q, n_k, pairs):
    # The stub's two pictures, and their edges, counted by hand.
    assert oracle.visible_pairs(n_q, n_k, causal=True) == pairs
    assert oracle.attention_flops(2, 3, n_q, n_k, 64, 32, causal=True) == 2 * 3 * pairs * 2 * 96


WRONG = [
    Wrong("roofline", "causal_top_left", "flops", ("top-left", "bottom-right")),
    Wrong("roofline", "causal_half", "flops", ("half",)),
    Wrong("roofline", "float_counts", "flops", ("float", "exact int")),
    Wrong("roofline", "no_lse_bytes", "min_bytes", ("lse",)),
    Wrong("roofline", "kv_per_query_head", "min_bytes", ("per kv head",)),
    Wrong("roofline", "bound_inverted", "roofline", ("expected bound", "larger")),
    Wrong("roofline", "tie_as_memory", "roofline", ("a tie", "'compute'")),
]


@pytest.mark.parametrize("wrong", WRONG, ids=str)
def test_wrong_submission_rejected(wrong):
    result = graded_submission("level3", wrong.exercise, wrong.submission)
    check = check_of(result, wrong.check)
    assert check.status == wrong.status, check.summary
    text = f"{check.summary} {check.example} {check.hint}"
    for phrase in wrong.phrases:
        assert phrase in text, text
    assert check_of(result, "rejects_bad_input").status != "passed"  # it pays only for working functions
