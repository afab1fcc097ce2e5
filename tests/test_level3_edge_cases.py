"""Level 3's edge cases can tell a float32 accumulator from a float16 one. Checked on
the CPU with a tiled FlashAttention-2 forward in PyTorch that rounds O to the
accumulator's dtype after every key tile, as a kernel keeping O in 16-bit registers
would; the verdict is the grader's own (oracle, tolerance) on the grader's own case."""

import math

import pytest
import torch

from grader import oracle
from grader.checks.level3 import EDGE_CASES
from grader.manifest import load_manifest
from grader.tolerance import compare, naive_attention_in_dtype

BLOCK_N = 64


def tiled_forward(q, k, v, accumulator: torch.dtype):
    scale = 1 / math.sqrt(q.shape[-1])
    group = q.shape[1] // k.shape[1]
    k, v = (t.repeat_interleave(group, dim=1).float() for t in (k, v))
    m = torch.full(q.shape[:3], -math.inf)
    l = torch.zeros(q.shape[:3])
    o = torch.zeros(*q.shape[:3], v.shape[-1])
    for j in range(0, k.shape[2], BLOCK_N):
        s = scale * q.float() @ k[:, :, j:j + BLOCK_N].transpose(-1, -2)
        m_new = torch.maximum(m, s.amax(-1))
        p = torch.exp(s - m_new[..., None])
        alpha = torch.exp(m - m_new)
        l = alpha * l + p.sum(-1)
        o = (alpha[..., None] * o + p.to(q.dtype).float() @ v[:, :, j:j + BLOCK_N]).to(accumulator).float()
        m = m_new
    return (o / l[..., None]).to(q.dtype)


@pytest.mark.parametrize("accumulator, rejected", [(torch.float32, False), (torch.float16, True)])
def test_shifted_values_expose_a_16_bit_accumulator(accumulator, rejected):
    case = next(c for c in EDGE_CASES if c.v_shift)
    q, k, v = case.tensors()
    expected = oracle.attention(q, k, v, case.causal, case.softmax_scale)
    baseline = naive_attention_in_dtype(q, k, v, 1 / math.sqrt(case.head_dim), None)
    mismatch = compare("out", tiled_forward(q, k, v, accumulator), expected[0], want_dtype=q.dtype,
                       dtype=case.dtype, tol=load_manifest().tolerance, baseline=baseline[0])
    assert (mismatch is not None) == rejected, mismatch and mismatch.message


class _Answers:
    """A stand-in for the student's process that answers with a precomputed (out, lse)."""

    path, module_name = "flash_fwd.cu", "student"

    def __init__(self, out, lse):
        self.value = (out, lse)

    def call(self, fn, args, kwargs=None, **options):
        from grader.isolation import CallResult

        return CallResult("ok", value=self.value, devices=["cpu", "cpu"])


@pytest.mark.parametrize("accumulator", [torch.float32, torch.float16])
def test_the_edge_judge_names_the_accumulator(accumulator):
    from pathlib import Path

    from grader.checks.base import Context
    from grader.checks.level3 import _edge_judge

    manifest = load_manifest()
    exercise = manifest.exercise("level3.flash_fwd")
    case = next(c for c in EDGE_CASES if c.v_shift)
    q, k, v = case.tensors()
    lse = oracle.attention(q, k, v, case.causal, case.softmax_scale)[1].float()
    ctx = Context(manifest=manifest, exercise=exercise, check=exercise.checks[2], device="cpu", seed=0, examples=1,
                  student=_Answers(tiled_forward(q, k, v, accumulator), lse), reference_path=Path("unused"))
    outcome = _edge_judge(ctx)(case)
    if accumulator is torch.float32:
        assert outcome is None
    else:
        assert outcome.status == "failed" and "accumulated in 16 bits" in outcome.hint and "float32" in outcome.hint
