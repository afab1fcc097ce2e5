"""Level 2 checks: tiled FlashAttention v1 and v2, the Triton kernel, the HBM-traffic
model, and the bonus backward pass."""

from __future__ import annotations

import dataclasses
import math

import torch
from hypothesis import strategies as st

from grader import oracle
from grader.checks.attention import attention_judge, modified_outcome, size_limit
from grader.checks.base import Context, Outcome, call_failure, check, run_cases, run_examples
from grader.inputs import DTYPES, AttentionBounds, AttentionCase, attention_cases, structural_attention_cases
from grader.results import FAILED, PASSED
from grader.timing import timing_check
from grader.tolerance import compare

TILED_BOUNDS = AttentionBounds(head_dims=(16, 24, 40), max_len=200,
                               block_sizes=((16, 16), (32, 16), (16, 32), (64, 64)))
TRITON_CPU_BOUNDS = AttentionBounds(dtypes=("float16", "bfloat16"), head_dims=(16, 32, 64, 128),
                                    equal_head_dims=True, max_len=160, max_batch_heads=4)
TRITON_GPU_BOUNDS = dataclasses.replace(TRITON_CPU_BOUNDS, max_len=2200, max_batch_heads=8)


def _tiled_correct(ctx: Context, fn: str):
    return run_examples(ctx, attention_cases(TILED_BOUNDS), attention_judge(ctx, fn))


def _tiled_structure(ctx: Context, fn: str):
    return run_cases(ctx, structural_attention_cases(TILED_BOUNDS), attention_judge(ctx, fn, enforce_size_limit=True),
                     "right results, and no intermediate reached B*Hq*Nq*Nk/2 elements")


@check("level2.flash_v1", "oracle")
def flash_v1_matches_oracle(ctx: Context):
    return _tiled_correct(ctx, "flash_attn_v1")


@check("level2.flash_v1", "no_full_matrix")
def flash_v1_never_materialises(ctx: Context):
    return _tiled_structure(ctx, "flash_attn_v1")


@check("level2.flash_v2", "oracle")
def flash_v2_matches_oracle(ctx: Context):
    return _tiled_correct(ctx, "flash_attn_v2")


@check("level2.flash_v2", "no_full_matrix")
def flash_v2_never_materialises(ctx: Context):
    return _tiled_structure(ctx, "flash_attn_v2")


@check("level2.flash_v2", "causal_skip")
def flash_v2_skips_masked_blocks(ctx: Context):
    """Causal v2 on Nq = Nk = 8 blocks visits 36 of 64 block pairs: it must run at most
    3/4 of the matrix products of the non-causal call on the same shape."""
    base = AttentionCase(1, 2, 1, 128, 128, 16, 16, "float32", False, None, False, 1.0, 5, 16, 16)
    counts = {}
    for case in (base, dataclasses.replace(base, causal=True)):
        q, k, v = case.tensors()
        call = ctx.student.call("flash_attn_v2", (q, k, v), case.kwargs(), device=ctx.device)
        ctx.tick()
        failure = call_failure(call, "flash_attn_v2")
        if failure is not None:
            return ctx.result(failure.status, failure.summary, details=failure.details)
        counts[case.causal] = call.report.contractions
    if counts[False] == 0 or counts[True] > 0.75 * counts[False]:
        return ctx.result(
            FAILED,
            f"causal flash_attn_v2 ran {counts[True]} matrix products, non-causal {counts[False]} "
            f"(Nq = Nk = 128, blocks of 16: skipping hidden blocks leaves 36 of 64 block pairs)",
            example=base.describe(),
            hint="under causal, stop the inner loop at the last K/V block the Q block can see: "
                 "min(Nk, i1 + Nk - Nq) keys",
        )
    return ctx.result(PASSED, f"causal ran {counts[True]} matrix products, non-causal {counts[False]}")


# ----------------------------------------------------------------------------- Triton


def _triton_bounds(ctx: Context) -> AttentionBounds:
    return TRITON_CPU_BOUNDS if ctx.interpreted else TRITON_GPU_BOUNDS


@check("level2.flash_v2_triton", "oracle")
def triton_matches_oracle(ctx: Context):
    return run_examples(ctx, attention_cases(_triton_bounds(ctx)), attention_judge(ctx, "flash_attn_v2_triton"))


@check("level2.flash_v2_triton", "long_sequences")
def triton_long_sequences(ctx: Context):
    """Lengths of a few thousand, ragged, on the GPU (too slow for the interpreter)."""
    cases = [
        AttentionCase(1, 4, 2, 1025, 2047, 128, 128, "float16", True, None, True, 1.0, 11),
        AttentionCase(2, 2, 2, 1999, 1999, 64, 64, "bfloat16", True, None, False, 4.0, 12),
        AttentionCase(1, 3, 1, 4097, 3001, 32, 32, "float16", False, 0.3, False, 1.0, 13),
    ]
    return run_cases(ctx, cases, attention_judge(ctx, "flash_attn_v2_triton"),
                     "ragged lengths up to 4097 agree with the oracle")


@dataclasses.dataclass(frozen=True)
class BadInput:
    what: str
    q_shape: tuple[int, ...]
    dtype: str
    on_cpu: bool = False

    def describe(self) -> str:
        return self.what


@check("level2.flash_v2_triton", "rejects_bad_input")
def triton_rejects_bad_input(ctx: Context):
    """Unsupported input must raise ValueError/TypeError naming the problem, not crash."""
    cases = [BadInput("fp32 inputs (only fp16/bf16 are supported)", (1, 2, 33, 64), "float32"),
             BadInput("head dim 80 (supported: 16, 32, 64, 128)", (1, 2, 33, 80), "float16")]
    if ctx.device == "cuda":
        cases.append(BadInput("CPU tensors on a GPU run", (1, 2, 33, 64), "float16", on_cpu=True))

    def judge(case: BadInput) -> Outcome | None:
        q = torch.randn(case.q_shape).to(DTYPES[case.dtype])
        args = (q, q.clone(), q.clone())
        # CPU tensors are sent as they are: the worker moves tensors only when device is cuda.
        call = ctx.student.call("flash_attn_v2_triton", args, device="cpu" if case.on_cpu else ctx.device)
        if call.status == "raised" and ("ValueError" in call.error or "TypeError" in call.error):
            return None
        if call.status == "not_implemented":
            return call_failure(call, "flash_attn_v2_triton")
        got = {"ok": "returned normally", "raised": "raised " + (call.error.strip().splitlines() or ["?"])[-1]}
        return Outcome(FAILED, f"{case.what}: expected ValueError or TypeError, but it "
                       f"{got.get(call.status, call.status + ': ' + call.error)}",
                       hint="check dtype, head dim and device first, and raise ValueError naming the "
                            "argument (grader.contract.check_attention_inputs does it)")

    return run_cases(ctx, cases, judge, "unsupported dtype, head dim and device raise a clear error")


@check("level2.flash_v2_triton", "speed")
def triton_speed(ctx: Context):
    return timing_check(ctx, "flash_attn_v2_triton", prerequisites=("oracle", "long_sequences"))


# ----------------------------------------------------------------------------- HBM-traffic model


@dataclasses.dataclass(frozen=True)
class IOCase:
    n: int
    d: int
    block_m: int
    block_n: int

    def describe(self) -> str:
        return f"n={self.n} d={self.d} block_m={self.block_m} block_n={self.block_n}"


@st.composite
def io_cases(draw) -> IOCase:
    return IOCase(draw(st.integers(1, 70000)), draw(st.sampled_from((16, 64, 80, 128, 256))),
                  draw(st.sampled_from((16, 32, 64, 128, 100))), draw(st.sampled_from((16, 32, 64, 128, 100))))


def _io_judge(ctx: Context, fn: str, model, hint: str):
    def judge(case: IOCase) -> Outcome | None:
        call = ctx.student.call(fn, (case.n, case.d, case.block_m, case.block_n), device=ctx.device)
        failure = call_failure(call, fn)
        if failure is not None:
            return failure
        want = model(case.n, case.d, case.block_m, case.block_n)
        got = call.value
        if isinstance(got, (list, tuple)) and len(got) == 2 and all(type(x) is int for x in got) \
                and tuple(got) == want:
            return None
        return Outcome(FAILED, f"{fn}: expected (reads, writes) = {want}, got {got!r}", hint=hint)

    return judge


@check("level2.io_model", "v1")
def io_v1(ctx: Context):
    hint = ("count per outer K/V step: K_j and V_j once; per inner step Q_i, O_i, l_i, m_i read and O_i, "
            "l_i, m_i written; plus the initial writes of O, l, m. Return Python ints")
    return run_examples(ctx, io_cases(), _io_judge(ctx, "hbm_io_v1", oracle.hbm_io_v1, hint))


@check("level2.io_model", "v2")
def io_v2(ctx: Context):
    hint = ("each Q block is read once and streams all of K and V; O and the logsumexp are written "
            "once. A ragged last block reads only its rows. Return Python ints")
    return run_examples(ctx, io_cases(), _io_judge(ctx, "hbm_io_v2", oracle.hbm_io_v2, hint))


# ----------------------------------------------------------------------------- backward (bonus)

BACKWARD_BOUNDS = AttentionBounds(head_dims=(16, 24), max_len=120, max_batch_heads=4,
                                  block_sizes=((16, 16), (32, 16), (16, 32)))


def _naive_backward_from_out(case: AttentionCase, q, k, v, out, dout):
    """The textbook backward in float32 from the *given* (rounded) out: the precision
    floor of this interface. D_i = rowsum(dO * O) cancels against dP where one key
    dominates, so the rounding of out shows in dk even for a perfect implementation."""
    group = case.heads_q // case.heads_kv
    scale = 1.0 / math.sqrt(case.head_dim) if case.softmax_scale is None else case.softmax_scale
    q32, dout32, out32 = q.float(), dout.float(), out.float()
    k32, v32 = (t.float().repeat_interleave(group, dim=1) for t in (k, v))
    scores = scale * (q32 @ k32.transpose(-1, -2))
    visible = oracle.visible_keys(case.n_q, case.n_k, case.causal)
    if visible is not None:
        scores = scores.masked_fill(~visible, float("-inf"))
    lse = torch.logsumexp(scores, dim=-1, keepdim=True)
    probs = torch.exp(scores - torch.where(torch.isinf(lse), 0.0, lse))
    d_probs = dout32 @ v32.transpose(-1, -2)
    d_scores = probs * (d_probs - (dout32 * out32).sum(dim=-1, keepdim=True)) * scale
    dq = d_scores @ k32
    dk = (d_scores.transpose(-1, -2) @ q32).unflatten(1, (case.heads_kv, group)).sum(dim=2)
    dv = (probs.transpose(-1, -2) @ dout32).unflatten(1, (case.heads_kv, group)).sum(dim=2)
    return dq.to(q.dtype), dk.to(k.dtype), dv.to(v.dtype)


def _backward_judge(ctx: Context, enforce_size_limit: bool = False):
    fn = "flash_attn_v2_backward"

    def judge(case: AttentionCase) -> Outcome | None:
        q, k, v = case.tensors()
        dout = torch.randn(q.shape[:3] + (case.head_dim_v,), generator=torch.Generator().manual_seed(case.seed + 7))
        dout = dout.to(q.dtype)
        out64, lse64 = oracle.attention(q, k, v, case.causal, case.softmax_scale)
        out, lse = out64.to(q.dtype), lse64.float()
        args = (q, k, v, out, lse, dout)
        call = ctx.student.call(fn, args, case.kwargs(), device=ctx.device)
        failure = call_failure(call, fn)
        if failure is not None:
            return failure
        if call.modified:
            return modified_outcome(fn, call.modified, names=("q", "k", "v", "out", "lse", "dout"))
        if enforce_size_limit and call.report.largest_numel >= size_limit(case):
            return Outcome(FAILED, f"{fn} built a tensor of {call.report.largest_numel} elements "
                           f"(shape {list(call.report.largest_shape)}); the limit is {size_limit(case)}",
                           hint="recompute P one [block_m, block_n] tile at a time from lse")
        got = call.value
        if not isinstance(got, (tuple, list)) or len(got) != 3:
            return Outcome(FAILED, f"{fn} must return (dq, dk, dv), got {type(got).__name__}")
        expected = oracle.attention_backward(q, k, v, dout, case.causal, case.softmax_scale)
        baseline = _naive_backward_from_out(case, q, k, v, out, dout)
        for name, g, e, b, like in zip(("dq", "dk", "dv"), got, expected, baseline, (q, k, v)):
            mismatch = compare(name, g, e, want_dtype=like.dtype, dtype=case.dtype, tol=ctx.tolerance, baseline=b,
                               device=ctx.device, got_device=None)
            if mismatch is not None:
                hint = ""
                if name in ("dk", "dv") and case.heads_q != case.heads_kv:
                    hint = "with grouped heads, dk and dv sum the contributions of every query head of the group"
                return Outcome(FAILED, mismatch.message, hint=hint, measured=mismatch.measured,
                               allowed=mismatch.allowed)
        return None

    return judge


@check("level2.flash_v2_backward", "oracle")
def backward_matches_autograd(ctx: Context):
    return run_examples(ctx, attention_cases(BACKWARD_BOUNDS), _backward_judge(ctx))


@check("level2.flash_v2_backward", "no_full_matrix")
def backward_never_materialises(ctx: Context):
    return run_cases(ctx, structural_attention_cases(BACKWARD_BOUNDS, block=16),
                     _backward_judge(ctx, enforce_size_limit=True),
                     "right gradients, and no intermediate reached B*Hq*Nq*Nk/2 elements")
