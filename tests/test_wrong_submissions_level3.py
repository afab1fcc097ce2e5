"""Realistic wrong Level 3 kernels are rejected on a GPU with a message that names the bug.

Each wrong kernel is the reference (solutions/level3/flash_fwd.cu) with one mistake,
made from it by scripts/level3_wrong_kernels.py and described in its header: the tail of
the keys read without predication or left unmasked, either __syncthreads missing, O
accumulated in 16 bits, a top-left causal mask, ignored strides. They compile, so
`compiles` passes everywhere; the GPU checks reject them (these tests skip without a
GPU). Value bugs are asserted on `edge_cases`, whose shapes are fixed: the first
failing case, and so its hint, is always the same. benchmarks/flash_fwd_cuda.py shows, case by case,
how each kernel fails (docs/PERFORMANCE.md, Level 3).
"""

from __future__ import annotations

import functools

import pytest
import torch
from conftest import Wrong, check_of, graded_submission

from grader.results import ExerciseResult

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")]

# Where a bug shows: a wrong value on the fixed edge cases, or, for what can give right
# values (a race, an unpredicated read into memory that happens to hold zeros),
# compute-sanitizer's report in the `sanitizer` check.
WRONG = [
    Wrong("flash_fwd", "top_left_causal", "edge_cases", ("top-left", "j <= i + Nk - Nq")),
    Wrong("flash_fwd", "strides_ignored", "edge_cases", ("ignores the strides",)),
    Wrong("flash_fwd", "no_tail_mask", "edge_cases", ("score 0 instead of -inf", "boundary mask")),
    Wrong("flash_fwd", "no_tail_predication", "sanitizer", ("reads past the end", "predicate")),
    Wrong("flash_fwd", "missing_syncthreads_after_load", "sanitizer", ("racecheck", "__syncthreads")),
    Wrong("flash_fwd", "missing_syncthreads_before_refill", "sanitizer", ("racecheck", "__syncthreads")),
    Wrong("flash_fwd", "fp16_accumulation", "edge_cases", ("accumulat", "float32")),
]


@functools.cache
def graded(name: str) -> ExerciseResult:
    # no timing: a slow but correct kernel is not this suite's subject
    return graded_submission("level3", "flash_fwd", name, timing=False)


@pytest.mark.parametrize("wrong", WRONG, ids=str)
def test_wrong_kernel_is_rejected(wrong: Wrong):
    result = graded(wrong.submission)
    check = check_of(result, wrong.check)
    print(f"\n--- {wrong}: " + "; ".join(f"{c.name} {c.status}" for c in result.checks) + f"\n{check.message}")
    assert check_of(result, "compiles").status == "passed"
    assert check.status == wrong.status, check.message
    assert check.score == 0 and result.score < result.max_score


@pytest.mark.parametrize("wrong", WRONG, ids=str)
def test_the_message_names_the_bug(wrong: Wrong):
    message = check_of(graded(wrong.submission), wrong.check).message
    for phrase in wrong.phrases:
        assert phrase in message, f"{phrase!r} not in the message:\n{message}"
