"""Realistic wrong Level 3 kernels are rejected on a GPU with a message that names the bug.

Each submission under tests/submissions/level3/flash_fwd/ is the reference kernel
(solutions/level3/flash_fwd.cu) with one mistake, described in its header: the tail of
the keys read without predication or left unmasked, a missing __syncthreads, O
accumulated in 16 bits, a top-left causal mask, ignored strides. They compile, so
`compiles` passes everywhere; what rejects them are the GPU checks, which skip without a
GPU. benchmarks/flash_fwd_cuda.py shows, case by case, how each one fails.
"""

from __future__ import annotations

import pytest
import torch

from conftest import Wrong, check_of, graded_submission

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

WRONG = [
    # edge_cases: fixed shapes, so the first failing case (and its hint) is always the same
    Wrong("flash_fwd", "top_left_causal", "edge_cases", ("top-left", "j <= i + Nk - Nq")),
    Wrong("flash_fwd", "strides_ignored", "edge_cases", ("ignores the strides",)),
    Wrong("flash_fwd", "no_tail_mask", "edge_cases", ("score 0 instead of -inf", "boundary mask")),
    Wrong("flash_fwd", "no_tail_predication", "edge_cases", ()),
    Wrong("flash_fwd", "missing_syncthreads_after_load", "edge_cases", ()),
    Wrong("flash_fwd", "fp16_accumulation", "edge_cases", ()),
]


@pytest.mark.parametrize("wrong", WRONG, ids=str)
def test_wrong_kernel_is_rejected_with_a_message_naming_the_bug(wrong: Wrong):
    result = graded_submission("level3", wrong.exercise, wrong.submission, timing=False)
    check = check_of(result, wrong.check)
    print(f"\n--- {wrong}: " + "; ".join(f"{c.name} {c.status}" for c in result.checks) + f"\n{check.message}")
    assert check_of(result, "compiles").status == "passed"
    assert check.status == wrong.status, check.message
    assert check.score == 0 and result.score < result.max_score
    for phrase in wrong.phrases:
        assert phrase in check.message, f"{phrase!r} not in the message:\n{check.message}"
