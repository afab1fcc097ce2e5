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
MMA_K = 16  # keys per tensor-core step: where a kernel with 16-bit accumulators rounds O


def tiled_forward(q, k, v, accumulator: torch.dtype, causal: bool = False, softmax_scale: float | None = None,
                  round_every: int = BLOCK_N):
    """FlashAttention-2's forward over key tiles of BLOCK_N, P rounded to the input dtype
    as a kernel's P V product has it, O rounded to ``accumulator`` after every
    ``round_every`` keys. Bottom-right causal; rows that see no key give 0."""
    scale = 1 / math.sqrt(q.shape[-1]) if softmax_scale is None else softmax_scale
    group = q.shape[1] // k.shape[1]
    k, v = (t.repeat_interleave(group, dim=1).float() for t in (k, v))
    n_q, n_k = q.shape[2], k.shape[2]
    visible = oracle.visible_keys(n_q, n_k, causal)
    m = torch.full(q.shape[:3], -math.inf)
    l = torch.zeros(q.shape[:3])
    o = torch.zeros(*q.shape[:3], v.shape[-1])
    for j in range(0, n_k, BLOCK_N):
        s = scale * q.float() @ k[:, :, j:j + BLOCK_N].transpose(-1, -2)
        if visible is not None:
            s = s.masked_fill(~visible[:, j:j + BLOCK_N], -math.inf)
        m_new = torch.maximum(m, s.amax(-1))
        seen = torch.isfinite(m_new)[..., None]
        p = torch.where(seen, torch.exp(s - torch.where(seen, m_new[..., None], 0)), 0)
        alpha = torch.where(seen[..., 0], torch.exp(m - torch.where(seen[..., 0], m_new, 0)), 1)
        l = alpha * l + p.sum(-1)
        o = alpha[..., None] * o
        for c in range(0, p.shape[-1], round_every):
            o = (o + p[..., c:c + round_every].to(q.dtype).float() @ v[:, :, j + c:j + c + round_every])
            o = o.to(accumulator).float()
        m = m_new
    return torch.where(l[..., None] > 0, o / l.clamp_min(1e-30)[..., None], 0).to(q.dtype)


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


def _edge_context(out, lse):
    from pathlib import Path

    from grader.checks.base import Context

    manifest = load_manifest()
    exercise = manifest.exercise("level3.flash_fwd")
    return Context(manifest=manifest, exercise=exercise, check=next(c for c in exercise.checks if c.id.endswith("edge_cases")), device="cpu", seed=0,
                   examples=1, student=_Answers(out, lse), reference_path=Path("unused"))


@pytest.mark.parametrize("accumulator", ["float32", "16-bit"])
def test_a_16_bit_accumulator_is_named_on_the_first_case_it_fails(accumulator):
    """The wrong kernel rounds O after every tensor-core step (16 keys): whichever edge
    case it fails first, the hint names the accumulator; a float32 one passes them all."""
    from grader.checks.level3 import _edge_judge

    for case in EDGE_CASES:
        q, k, v = case.tensors()
        dtype = torch.float32 if accumulator == "float32" else q.dtype
        out = tiled_forward(q, k, v, dtype, case.causal, case.softmax_scale, round_every=MMA_K)
        lse = oracle.attention(q, k, v, case.causal, case.softmax_scale)[1].float()
        outcome = _edge_judge(_edge_context(out, lse))(case)
        if outcome is not None:
            assert accumulator == "16-bit", f"{case.describe()}: {outcome.summary}"
            assert "accumulat" in outcome.hint and "float32" in outcome.hint, (case.describe(), outcome.hint)
            return
    assert accumulator == "float32", "a 16-bit accumulator passed every edge case"
