"""Realistic wrong Level 1 submissions are rejected with a message that names the
bug; correct submissions written in unusual ways are accepted.

Each submission is a small student file under tests/submissions/level1/<exercise>/,
graded as that exercise through the grader's Python API (``grader.grade``). A
submission about one function of an exercise imports the other from solutions/,
so exactly one thing is wrong. Every file's docstring says what is wrong with it.

"""

from __future__ import annotations

import importlib.util

import pytest
import torch

from conftest import ROOT, SUBMISSIONS, Wrong, check_of, graded_submission
from grader.results import ExerciseResult


def graded(exercise: str, name: str) -> ExerciseResult:
    return graded_submission("level1", exercise, name)


WRONG = [
    # ------------------------------------------------------------ naive attention
    Wrong("naive_attention", "top_left_causal", "oracle", ("top-left", "j <= i + Nk - Nq")),
    Wrong("naive_attention", "causal_ignored", "oracle", ("causal=True was ignored",)),
    Wrong("naive_attention", "gqa_modulo", "oracle", ("h % Hkv", "h // (Hq // Hkv)")),
    Wrong("naive_attention", "masked_row_nan", "oracle", ("got nan", "NaN on a row with no visible key")),
    Wrong("naive_attention", "torch_softmax", "oracle", ("torch.softmax", "torch.logsumexp", "write yourself")),
    Wrong("naive_attention", "lse_base2", "oracle", ("base-2", "natural log")),
    Wrong("naive_attention", "no_max_subtraction", "oracle", ("overflows float32", "subtract the row's (running) max")),
    Wrong("naive_attention", "fp32_out", "oracle", ("out: expected dtype", "got float32")),
    Wrong("naive_attention", "modifies_q", "oracle", ("modified its input q in place",)),
    Wrong("naive_attention", "zeros", "oracle", ("out is constant",)),
    Wrong("naive_attention", "returns_out_only", "oracle", ("must return a pair (out, lse)",)),
    Wrong("naive_attention", "view_non_contiguous", "oracle",
          ("raised an exception", "view size is not compatible", "transposed views"), status="error"),
    # ------------------------------------------------------------ softmax
    Wrong("softmax", "safe_torch_softmax", "safe_softmax", ("safe_softmax calls torch.softmax", "write yourself")),
    Wrong("softmax", "safe_no_max", "safe_softmax", ("got nan", "subtract the row max", "1e4")),
    Wrong("softmax", "online_no_rescale", "online_softmax", ("rescale", "l * exp(m_old - m_new)")),
    Wrong("softmax", "online_full_row_max", "online_blockwise", ("reduced", "aten.amax", "block_size is")),
    Wrong("softmax", "online_nan_all_inf_block", "online_softmax", ("got nan", "-inf")),
    # ------------------------------------------------------------ merge
    Wrong("merge", "stats_nan_two_empty", "stats_oracle", ("got nan", "NaN from an empty state")),
    Wrong("merge", "stats_nan_two_empty", "stats_properties",
          ("two empty states must merge to (-inf, 0)", "NaN from an empty state")),
    Wrong("merge", "states_nan_two_empty", "states_oracle", ("got nan", "NaN from an empty state")),
    Wrong("merge", "states_nan_two_empty", "states_properties", ("NaN from an empty state",)),
    Wrong("merge", "states_leak_sentinel", "states_properties",
          ("an empty part (lse = -inf, o arbitrary) must leave the other unchanged",)),
    Wrong("merge", "stats_exp_no_max", "stats_oracle", ("exp overflowed", "subtract the max", "m_a - m")),
    Wrong("merge", "stats_exp_no_max", "stats_properties", ("exp overflowed", "subtract the max")),
    Wrong("merge", "states_exp_lse_no_max", "states_oracle",
          ("exp overflowed", "hundreds and thousands", "subtract the max", "lse_a - m")),
    Wrong("merge", "states_exp_lse_no_max", "states_properties", ("exp overflowed", "subtract the max")),
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


def test_wrong_submission_names_its_smallest_failing_example():
    check = check_of(graded("naive_attention", "top_left_causal"), "oracle")
    assert "smallest failing example: q[" in check.message
    assert "causal=True" in check.message  # the flag that matters is in the reproducer
    assert check.measured is not None and check.allowed is not None and check.measured > check.allowed


def test_a_right_valued_but_row_wide_online_softmax_still_gets_its_value_points():
    """Only the structural check fails: the values are right, and the other checks say so."""
    result = graded("softmax", "online_full_row_max")
    assert [(c.name, c.status) for c in result.checks] == [
        ("safe_softmax", "passed"), ("online_softmax", "passed"), ("online_blockwise", "failed")]


def test_a_dtype_mismatch_is_not_diagnosed_as_another_bug():
    check = check_of(graded("naive_attention", "fp32_out"), "oracle")
    hints = [line for line in check.message.splitlines() if line.startswith("hint:")]
    assert all("dtype" in hint for hint in hints), check.message


def test_premise_online_nan_all_inf_block_is_wrong(monkeypatch: pytest.MonkeyPatch):
    """The submission rejected above really breaks the contract: a row
    whose first block is all -inf (allowed: the row still has a finite value)."""
    from grader import oracle

    monkeypatch.syspath_prepend(str(ROOT))  # the submission imports safe_softmax from solutions/
    path = SUBMISSIONS / "level1" / "softmax" / "online_nan_all_inf_block.py"
    spec = importlib.util.spec_from_file_location("online_nan_all_inf_block", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    x = torch.randn(2, 48)
    x[0, :16] = float("-inf")
    y = module.online_softmax(x, block_size=16)
    assert torch.isnan(y[0]).all()
    torch.testing.assert_close(y[1].double(), oracle.softmax(x)[1])


@pytest.mark.parametrize("submission", ["stats_exp_no_max", "states_exp_lse_no_max"])
def test_premise_a_merge_without_the_max_is_right_only_for_small_magnitudes(submission: str,
                                                                             monkeypatch: pytest.MonkeyPatch):
    """The merges rejected above are the textbook formula: they agree with the
    oracle while |lse| and |m| stay in the tens (all the old inputs drew), and break
    at the magnitudes the checks now draw."""
    from grader import oracle
    from grader.inputs import MergeCase

    monkeypatch.syspath_prepend(str(ROOT))  # the submission imports the other merge from solutions/
    path = SUBMISSIONS / "level1" / "merge" / f"{submission}.py"
    spec = importlib.util.spec_from_file_location(submission, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def merged(level: float):  # (the submission's pair, the oracle's pair)
        case = MergeCase(lead=(2,), n=16, dim_v=8, dtype="float32", empty_a=0.3, empty_b=0.3,
                         level=level, spread=4.0, seed=5)
        if submission.startswith("stats"):
            args = case.stats()[:4]
            return module.merge_softmax_stats(*args), oracle.merge_softmax_stats(*args)
        args = case.states()
        return module.merge_attention_states(*args), oracle.merge_attention_states(*args)

    got, want = merged(0.0)
    for g, w in zip(got, want):
        torch.testing.assert_close(g.double(), w, rtol=1e-5, atol=1e-5, equal_nan=False)
    for level in (300.0, -300.0):  # exp overflows, then underflows: inf / inf and 0 / 0
        got, want = merged(level)
        assert any(bool((~torch.isfinite(g) & torch.isfinite(w)).any()) for g, w in zip(got, want)), level


CORRECT = [
    ("naive_attention", "exp2_folded"),  # base-2 softmax, log2(e) folded into the scale, lse back in ln
    ("naive_attention", "einsum_head_loop"),  # a Python loop over heads, einsum, triu mask
    ("softmax", "online_reverse_order"),  # blocks walked last to first; one elementwise output pass
    ("softmax", "online_block_tree"),  # vectorised per-block stats merged as a tree of block_size fan-in
    ("merge", "logaddexp"),  # both merges through torch.logaddexp
    ("merge", "states_zero_weight"),  # an empty part multiplied by weight 0 (its o is finite by contract)
    ("merge", "states_ratio_weights"),  # weights exp(lse_x - m) / s: no float32 lse in the thousands in them
]


@pytest.mark.parametrize(("exercise", "submission"), CORRECT, ids=lambda s: s)
def test_correct_but_unusual_submission_gets_full_marks(exercise: str, submission: str):
    result = graded(exercise, submission)
    assert [c.status for c in result.checks] == ["passed"] * len(result.checks), "\n".join(
        f"{c.name}: {c.message}" for c in result.checks)
    assert result.score == result.max_score > 0
