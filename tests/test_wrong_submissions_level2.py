"""Realistic wrong Level 2 submissions, and submissions that try to earn points
without the work, are rejected on the check that should catch them with a message
that names the bug; correct submissions written in unusual ways get full marks.

Each submission is a self-contained student file under
tests/submissions/level2/<exercise>/ whose docstring says what is wrong with it,
graded as that exercise through the grader's Python API (``grader.grade``); the
Triton ones run under Triton's interpreter on a CPU.
"""

from __future__ import annotations

from pathlib import Path

import pytest

import grader
from conftest import Wrong, check_of, graded_submission, make_submission
from grader.checks.level2 import LOOP_ORDER_CASE
from grader.results import ExerciseResult


def graded(exercise: str, name: str) -> ExerciseResult:
    # no timing: a slow but correct kernel is not this suite's subject, and on a GPU it costs minutes
    return graded_submission("level2", exercise, name, timing=False)


WRONG = [
    # ------------------------------------------------------------ v1
    Wrong("flash_v1", "q_tail_dropped", "oracle", ("the last partial block of queries", "ceil(Nq / block_m)")),
    Wrong("flash_v1", "kv_tail_dropped", "oracle", ("the last partial block of keys is dropped",)),
    Wrong("flash_v1", "top_left_causal", "oracle", ("top-left", "j <= i + Nk - Nq")),
    Wrong("flash_v1", "o_uninitialised", "oracle", ("got nan", "started uninitialised", "start O at zeros")),
    Wrong("flash_v1", "full_score_matrix", "no_full_matrix", ("B*Hq*Nq*Nk/2", "the Nq x Nk score matrix")),
    Wrong("flash_v1", "full_causal_mask", "no_full_matrix", ("from aten.gt", "causal=True", "a full-size mask")),
    Wrong("flash_v1", "chunked_rows", "loop_order",
          ("a 48 x 167 block of scores", "naive attention over chunks of rows")),
    Wrong("flash_v1", "v2_loop_order", "loop_order",
          ("wrong order", "last K/V block came at steps 6, 12, 18", "Algorithm 1")),
    Wrong("flash_v1", "head_loop", "loop_order", ("120 score tiles", "5 x 6 = 30", "vectorise over them")),
    # ------------------------------------------------------------ v2
    Wrong("flash_v2", "q_tail_dropped", "oracle", ("got nan", "the last partial block of queries")),
    Wrong("flash_v2", "kv_tail_dropped", "oracle", ("the last partial block of keys is dropped",)),
    Wrong("flash_v2", "no_causal_skip", "causal_skip", ("36 of 64 block pairs", "stop the inner loop")),
    Wrong("flash_v2", "full_causal_mask", "no_full_matrix", ("from aten.gt", "causal=True", "a full-size mask")),
    Wrong("flash_v2", "returns_none", "causal_skip", ("must return a pair (out, lse), got NoneType",)),
    Wrong("flash_v2", "chunked_rows", "loop_order", ("naive attention over chunks of rows",)),
    # ------------------------------------------------------------ Triton
    Wrong("flash_v2_triton", "kv_tail_dropped", "oracle", ("the last partial block of keys is dropped",)),
    Wrong("flash_v2_triton", "no_key_boundary_mask", "oracle", ("score 0 instead of -inf", "boundary mask")),
    Wrong("flash_v2_triton", "strides_ignored", "oracle", ("transposed views", "ignores the strides")),
    Wrong("flash_v2_triton", "batch_stride_ignored", "strided_views", ("ignores the batch stride",)),
    Wrong("flash_v2_triton", "contiguous_copy", "strided_views", ("aten.clone", "never through a .contiguous() copy")),
    Wrong("flash_v2_triton", "lse_base2", "oracle", ("base-2", "natural log")),
    Wrong("flash_v2_triton", "torch_answer", "oracle",
          ("no Triton kernel of yours ran", "defines no @triton.jit function")),
    Wrong("flash_v2_triton", "sdpa_answer", "oracle", ("no Triton kernel of yours ran", "never launches its kernel")),
    Wrong("flash_v2_triton", "decoy_kernel", "oracle",
          ("computed with torch besides its kernel (aten.bmm)", "must be computed by your Triton kernel")),
    Wrong("flash_v2_triton", "only_raises", "rejects_bad_input", ("the oracle check must pass first",)),
    # ------------------------------------------------------------ io_model
    Wrong("io_model", "no_value_error", "rejects_bad_input",
          ("returned normally where ValueError was expected", "n is not a positive int")),
    Wrong("io_model", "only_raises", "rejects_bad_input", ("the v1 and v2 checks must pass first",)),
]


@pytest.mark.parametrize("wrong", WRONG, ids=str)
def test_wrong_submission_is_rejected_with_a_message_naming_the_bug(wrong: Wrong):
    result = graded(wrong.exercise, wrong.submission)
    check = check_of(result, wrong.check)
    assert check.status == wrong.status, check.message
    assert check.score == 0
    assert result.score < result.max_score
    for phrase in wrong.phrases:
        assert phrase in check.message, f"{phrase!r} not in the message:\n{check.message}"


CHEATS = [  # every point of these would be unearned
    ("flash_v2", "returns_none"),
    ("flash_v2_triton", "torch_answer"),
    ("flash_v2_triton", "sdpa_answer"),
    ("flash_v2_triton", "decoy_kernel"),
    ("flash_v2_triton", "only_raises"),
    ("io_model", "only_raises"),
]


@pytest.mark.parametrize(("exercise", "submission"), CHEATS, ids=lambda s: s)
def test_a_submission_without_the_work_scores_nothing(exercise: str, submission: str):
    result = graded(exercise, submission)
    assert result.score == 0, "\n".join(f"{c.name}: {c.status}" for c in result.checks)


@pytest.mark.parametrize(("exercise", "submission", "failing"), [
    ("flash_v1", "v2_loop_order", "loop_order"),  # (chunked rows sit near no_full_matrix's memory bound)
    ("flash_v1", "full_causal_mask", "no_full_matrix"),
    ("flash_v2", "no_causal_skip", "causal_skip"),
    ("flash_v2_triton", "contiguous_copy", "strided_views"),
    ("io_model", "no_value_error", "rejects_bad_input"),
], ids=lambda s: s)
def test_a_right_valued_submission_loses_only_the_rule_it_breaks(exercise: str, submission: str, failing: str):
    result = graded(exercise, submission)
    statuses = {c.name: c.status for c in result.checks if c.status != "not verified here"}
    assert statuses == {name: ("failed" if name == failing else "passed") for name in statuses}, statuses


def test_the_tail_hint_is_on_the_oracle_row_itself():
    """The dropped Q block is named where the points are lost, on the smallest example
    (Nq smaller than one block), not only under no_full_matrix."""
    check = check_of(graded("flash_v1", "q_tail_dropped"), "oracle")
    assert "smallest failing example: q[1,1,1," in check.message
    assert "hint: " in check.message and "rows from 0 on are wrong" in check.message


def test_a_full_causal_mask_is_caught_on_the_single_head_causal_case():
    """With several heads a [Nq, Nk] mask stays under B*Hq*Nq*Nk/2: only one head, causal, catches it."""
    check = check_of(graded("flash_v2", "full_causal_mask"), "no_full_matrix")
    assert "smallest failing example: q[1,1," in check.message and "causal=True" in check.message


def test_the_loop_order_case_tells_every_product_apart():
    """The premise of loop_order: D, Dv, the two block sizes and both ragged tails
    are distinct, so the shape of a product says which tile it is."""
    case = LOOP_ORDER_CASE
    tails = (case.n_q % case.block_m, case.n_k % case.block_n)
    sizes = (case.head_dim, case.head_dim_v, case.block_m, case.block_n, *tails, case.n_q, case.n_k)
    assert len(set(sizes)) == len(sizes) and 0 not in tails
    assert -(-case.n_q // case.block_m) >= 2 and -(-case.n_k // case.block_n) >= 2


def test_a_submission_that_cannot_import_is_an_error_on_every_check(tmp_path: Path):
    """Including rejects_bad_input, which says so plainly (no 'but it import_error')."""
    directory = make_submission(tmp_path, {"level2/flash_v2_triton.py": "from torch import no_such_name_here\n"})
    (result,) = grader.grade("level2.flash_v2_triton", submission=directory, examples=2, timing=False).exercises
    for check in result.checks:
        if check.status != "not verified here":
            assert check.status == "error", check.message
            assert "importing flash_v2_triton.py failed" in check.message
            assert "but it" not in check.message


CORRECT = [
    ("flash_v1", "reversed_kv_blocks"),  # Algorithm 1 with the K/V blocks walked last to first
    ("flash_v2", "skip_by_mask"),  # causal blocks skipped by testing each block's mask, not by a loop bound
    ("flash_v2_triton", "single_loop_16x32"),  # 16 x 32 blocks, one masked key loop
    ("io_model", "math_ceil"),  # math.ceil for the block counts, its own argument checks
]


@pytest.mark.parametrize(("exercise", "submission"), CORRECT, ids=lambda s: s)
def test_correct_but_unusual_submission_gets_full_marks(exercise: str, submission: str):
    result = graded(exercise, submission)
    verified = [c for c in result.checks if c.status != "not verified here"]
    assert [c.status for c in verified] == ["passed"] * len(verified), "\n".join(
        f"{c.name}: {c.message}" for c in verified)
    assert sum(c.score for c in verified) == sum(c.max_score for c in verified) > 0
