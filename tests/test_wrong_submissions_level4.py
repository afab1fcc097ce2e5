"""Realistic wrong Level 4 submissions are rejected on the check that should catch them
with a message that names the bug; correct submissions written in unusual ways get
full marks.

Each submission is a self-contained student file under
tests/submissions/level4/<exercise>/ (the wrong Triton kernels: made from the solution
by scripts/level4_wrong_kernels.py) whose docstring says what is wrong with it,
graded as that exercise through the grader's Python API; the Triton ones
(mla_decode) run under Triton's interpreter on a CPU.
"""

from __future__ import annotations

import pytest

from conftest import Wrong, check_of, graded_submission, wrong_kernels
from grader.results import ExerciseResult


def graded(exercise: str, name: str) -> ExerciseResult:
    # no timing: a slow but correct kernel is not this suite's subject
    return graded_submission("level4", exercise, name, timing=False)


WRONG = [
    # ------------------------------------------------------------ paged_kv (PyTorch reference)
    Wrong("paged_kv", "pool_order", "oracle", ("pool order", "block_table[i, t // block_size]")),
    Wrong("paged_kv", "nan_times_zero", "oracle", ("got nan", "0 * NaN is NaN", "by selection")),
    Wrong("paged_kv", "nan_times_zero", "nan_and_garbage", ("0 * NaN is NaN",)),
    Wrong("paged_kv", "lse_seq_major", "oracle", ("lse: expected shape", "[b, h_q, s_q]")),
    Wrong("paged_kv", "scale_from_dv", "edge_cases", ("head_dim_v ** -0.5", "full q/k dim")),
    Wrong("paged_kv", "top_left_causal", "oracle", ("causal=True", "top-left", "j < L - (s_q - 1 - t)")),
    Wrong("paged_kv", "empty_nan", "edge_cases", ("got nan", "no visible key", "cache_seqlens[0] = 0")),
    Wrong("paged_kv", "empty_nan", "oracle", ("got nan", "no visible key")),
    Wrong("paged_kv", "garbage_dereferenced", "nan_and_garbage",
          ("leftovers of the allocator", "never use one as a page index"), status="error"),
    Wrong("paged_kv", "garbage_dereferenced", "oracle", ("leftovers of the allocator",), status="error"),
    # ------------------------------------------------------------ scheduler
    Wrong("scheduler", "uncovered_block", "cover", ("block 0 of request 0", "is in no piece", "partial")),
    Wrong("scheduler", "all_on_one_part", "cost_bound", ("more than the budget", "not spread over the parts")),
    Wrong("scheduler", "fixed_cost_once", "cost_bound", ("more than the budget", "+ 5")),
    Wrong("scheduler", "skips_empty", "empty_requests", ("is empty", "appears in no piece", "(0, 0, 0)")),
    Wrong("scheduler", "nondeterministic", "deterministic", ("different plan when called again",)),
    # ------------------------------------------------------------ mla_decode (Triton, under the interpreter on a CPU)
    Wrong("mla_decode", "combine_overflow", "num_splits",
          ("num_splits=2", "got nan", "overflows float32 past 88", "the Level 1 merge")),
    Wrong("mla_decode", "block_table_ignored", "oracle", ("pool order",)),
    Wrong("mla_decode", "nan_leak", "oracle", ("got nan", "0 * NaN is NaN")),
    Wrong("mla_decode", "garbage_pages_read", "oracle", ("leftovers of the allocator",), status="error"),
    Wrong("mla_decode", "top_left_causal", "oracle", ("top-left", "j < L - (s_q - 1 - t)")),
    Wrong("mla_decode", "torch_answer", "oracle", ("no Triton kernel of yours ran", "defines no @triton.jit")),
    Wrong("mla_decode", "decoy_kernel", "oracle", ("computed with torch besides its kernel (aten.bmm",)),
    Wrong("paged_kv", "only_raises", "rejects_bad_input", ("the oracle check must pass first",)),
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
    ("mla_decode", "torch_answer"),
    ("mla_decode", "decoy_kernel"),
    ("paged_kv", "only_raises"),
]


@pytest.mark.parametrize(("exercise", "submission"), CHEATS, ids=lambda s: s)
def test_a_submission_without_the_work_scores_nothing(exercise: str, submission: str):
    result = graded(exercise, submission)
    assert result.score == 0, "\n".join(f"{c.name}: {c.status}" for c in result.checks)


@pytest.mark.parametrize(("exercise", "submission", "failing"), [
    ("scheduler", "all_on_one_part", {"cost_bound", "rejects_bad_input"}),
    ("scheduler", "fixed_cost_once", {"cost_bound", "rejects_bad_input"}),
    ("scheduler", "skips_empty", {"empty_requests"}),
    ("scheduler", "nondeterministic", {"deterministic"}),
    ("paged_kv", "empty_nan", {"oracle", "edge_cases", "rejects_bad_input"}),  # not nan_and_garbage: no empty row
], ids=lambda s: s if isinstance(s, str) else "")
def test_a_submission_loses_only_the_property_it_breaks(exercise: str, submission: str, failing: set[str]):
    """(rejects_bad_input pays only once the correctness checks it names hold.)"""
    result = graded(exercise, submission)
    statuses = {c.name: c.status for c in result.checks if c.status != "not verified here"}
    assert statuses == {name: ("failed" if name in failing else "passed") for name in statuses}, statuses


def test_a_scheduler_counterexample_is_shrunk_to_the_smallest_batch():
    """Hypothesis shrinks a missing partial block to one request of one token."""
    check = check_of(graded("scheduler", "uncovered_block"), "cover")
    assert "cache_seqlens=[1], num_parts=1" in check.message, check.message


CORRECT = [
    ("paged_kv", "per_sequence_loop"),  # a Python loop over sequences and queries, torch.softmax per row
    ("paged_kv", "page_by_page_online"),  # flash-decoding in PyTorch: online softmax over pages
    ("scheduler", "cut_points"),  # cuts of the cost line, not FlashMLA's greedy walk: other valid plans
]


@pytest.mark.parametrize(("exercise", "submission"), CORRECT, ids=lambda s: s)
def test_correct_but_unusual_submission_gets_full_marks(exercise: str, submission: str):
    result = graded(exercise, submission)
    verified = [c for c in result.checks if c.status != "not verified here"]
    assert [c.status for c in verified] == ["passed"] * len(verified), "\n".join(
        f"{c.name}: {c.message}" for c in verified)
    assert sum(c.score for c in verified) == sum(c.max_score for c in verified) > 0


def test_every_wrong_kernel_is_made_from_todays_solution():
    """The wrong kernels are edits of the reference (scripts/level4_wrong_kernels.py):
    each edit must still find its text in the solution, and change it."""
    generator = wrong_kernels("level4")
    for stem in generator.WRONG:
        text = generator.wrong_kernel(stem)  # asserts that each edit finds its text
        assert text.startswith('"""Wrong on purpose'), stem
        assert not text.endswith(generator.BODY), f"{stem}: the edits change nothing"
