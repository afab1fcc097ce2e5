"""The fixed batteries every attention oracle check grades after its random draws:
they hold each hard condition within the exercise's bounds, so a grade does not
depend on the seed (final grading mixes in a secret one)."""

from __future__ import annotations

import pytest

from conftest import check_of, graded_submission
from grader.checks.level1 import NAIVE_BOUNDS
from grader.checks.level2 import BACKWARD_BOUNDS, TILED_BOUNDS, TRITON_CPU_BOUNDS, TRITON_GPU_BOUNDS
from grader.inputs import AttentionBounds, AttentionCase, attention_batteries


def largest_score(case: AttentionCase) -> float:
    q, k, _ = case.tensors()
    scale = case.softmax_scale or case.head_dim ** -0.5
    k = k.double().repeat_interleave(case.heads_q // case.heads_kv, dim=1)
    return float((scale * q.double() @ k.transpose(-1, -2)).max())


BOUNDS = {"naive": NAIVE_BOUNDS, "tiled": TILED_BOUNDS, "triton_cpu": TRITON_CPU_BOUNDS,
          "triton_gpu": TRITON_GPU_BOUNDS, "backward": BACKWARD_BOUNDS}


@pytest.mark.parametrize("bounds", BOUNDS.values(), ids=BOUNDS.keys())
def test_attention_batteries_stay_in_bounds_and_hold_every_hard_condition(bounds: AttentionBounds):
    cases = attention_batteries(bounds)
    for case in cases:
        assert case.dtype in bounds.dtypes and {case.head_dim, case.head_dim_v} <= set(bounds.head_dims)
        assert case.batch * case.heads_q <= bounds.max_batch_heads and max(case.n_q, case.n_k) <= bounds.max_len
        assert (case.block_m, case.block_n) in (bounds.block_sizes or ((None, None),))
        assert case.transposed and case.causal and case.heads_q % case.heads_kv == 0
        blocks = {b for pair in bounds.block_sizes for b in pair} or {16, 32, 64}
        assert all(n % b for n in (case.n_q, case.n_k) for b in blocks)  # every length ends in a partial block
    assert any(c.heads_kv >= 2 and c.heads_q // c.heads_kv >= 2 for c in cases)  # h // group differs from h % Hkv
    assert any(c.batch >= 2 and c.heads_q >= 2 for c in cases)  # a transposed view that .view() cannot flatten
    assert any(c.n_q < c.n_k for c in cases) and any(c.n_q > c.n_k for c in cases)  # the offset; unseen rows
    assert any(c.softmax_scale is not None for c in cases) and max(map(largest_score, cases)) > 88.7
    assert bounds.equal_head_dims or any(c.head_dim != c.head_dim_v for c in cases)
    assert len({c.dtype for c in cases}) == min(2, len(bounds.dtypes))


@pytest.mark.parametrize("seed", [3, 5])
def test_a_view_of_transposed_inputs_is_rejected_on_seeds_where_random_draws_miss_it(seed: int):
    """On these seeds the 25 random examples of level1.naive_attention hold no
    transposed input that .view() cannot flatten (found by probing seeds 1-5); only
    the battery rejects the submission there."""
    result = graded_submission("level1", "naive_attention", "view_non_contiguous", timing=False, seed=seed,
                               examples=None)
    check = check_of(result, "oracle")
    assert check.status == "error" and "view size is not compatible" in check.message, check.message
    assert "transposed views" in check.message
