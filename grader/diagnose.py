"""Name the likely bug behind a wrong attention result.

Each classic mistake is modelled as a *variant* of the float64 oracle (top-left
causal mask, lse in base 2, the wrong kv head, strides ignored, the tail block of
keys dropped, ...). When the student's output agrees with a variant under the same
tolerance, the hint names that mistake. Where no variant fits, the position of
the worst error (a NaN on a fully masked row, rows past the last full Q block,
keys spanning several blocks) points to the cause.
"""

from __future__ import annotations

import math

import torch

from grader import oracle
from grader.inputs import AttentionCase
from grader.manifest import Tolerance
from grader.tolerance import Mismatch, allowed_error

LOG2E = 1.0 / math.log(2.0)

HINTS = {
    "top_left": "the causal mask looks top-left aligned (key j visible iff j <= i); the course aligns it "
                "bottom-right, as FlashAttention 2: query i sees key j iff j <= i + Nk - Nq",
    "causal_ignored": "the result matches attention without the causal mask: causal=True was ignored",
    "causal_always": "the result matches causal attention although causal=False",
    "scale_ignored": "the result matches softmax_scale = 1/sqrt(D): the softmax_scale argument was ignored",
    "scale_missing": "the result matches softmax_scale = 1: scores were not scaled "
                     "(softmax_scale=None means 1/sqrt(D))",
    "lse_base2": "lse looks like a base-2 logsumexp (lse * log2(e)); the contract wants the natural log: "
                 "divide by log2(e) (or multiply by ln 2) before storing",
    "lse_no_max": "lse looks like log(l) without the running max: lse = m + log(l)",
    "gqa_modulo": "query head h reads kv head h % Hkv; grouped-query attention maps it to h // (Hq // Hkv)",
    "strides": "the result matches the inputs read as if contiguous: the kernel ignores the strides of "
               "a transposed view (use q.stride(), or index the tensor, never raw offsets)",
    "tail_keys": "the last partial block of keys is dropped: with Nk={n_k} and block_n={block}, keys "
                 "from {start} on are ignored (loop to ceil(Nk / block_n) and mask the tail)",
    "tail_queries": "rows from {start} on are wrong: the last partial block of queries (Nq={n_q}, "
                    "block_m={block}) is dropped or not masked; loop to ceil(Nq / block_m)",
    "masked_row_nan": "NaN on a row with no visible key (causal with Nq > Nk): guard exp(-inf - (-inf)) and "
                      "0/0 so such rows give out = 0 and lse = -inf",
    "masked_row_value": "a row with no visible key (causal with Nq > Nk) must give out = 0 and lse = -inf",
    "nan": "NaN where the oracle is finite: an output element never written (the grader fills fresh "
           "memory with NaN), an uninitialised O/l/m buffer, or inf - inf in the rescale",
    "rescale": "the error appears once the keys span several blocks (Nk={n_k}{blocks}): check the online "
               "rescale, acc and l must be multiplied by exp(m_old - m_new) whenever the running max grows, "
               "and the final division by l",
}

BLOCK_GUESSES = (16, 32, 64, 128)  # Triton kernels do not tell us their block sizes


def _matches(got: torch.Tensor, variant: torch.Tensor, expected: torch.Tensor, baseline, dtype, tol) -> bool:
    if got.shape != variant.shape:
        return False
    got, variant = got.double(), variant.double()
    same_nonfinite = torch.equal(torch.isfinite(got), torch.isfinite(variant))
    if not same_nonfinite:
        return False
    finite = torch.isfinite(variant)
    if not bool(finite.any()):
        return True
    allowed = allowed_error(expected, baseline, dtype, tol).expand_as(got)
    return bool(((got - variant).abs() <= allowed)[finite].all())


def _variants(case: AttentionCase, q, k, v):
    """(hint key, format fields, (out, lse)) for each modelled mistake that differs here."""
    scale = 1.0 / math.sqrt(case.head_dim) if case.softmax_scale is None else case.softmax_scale
    n_q, n_k = case.n_q, case.n_k
    mask = oracle.visible_keys(n_q, n_k, case.causal)

    def run(scale_=scale, visible=mask, kv_head_of=None, tensors=(q, k, v)):
        return oracle.masked_attention(*tensors, scale_, visible, kv_head_of)

    if case.causal and n_q != n_k:
        yield "top_left", {}, run(visible=oracle.visible_keys(n_q, n_k, True, offset=0))
    if case.causal:
        yield "causal_ignored", {}, run(visible=None)
    else:
        yield "causal_always", {}, run(visible=oracle.visible_keys(n_q, n_k, True))
    if case.softmax_scale is not None:
        yield "scale_ignored", {}, run(scale_=1.0 / math.sqrt(case.head_dim))
    else:
        yield "scale_missing", {}, run(scale_=1.0)
    if case.heads_q != case.heads_kv and case.heads_kv > 1:
        yield "gqa_modulo", {}, run(kv_head_of=torch.arange(case.heads_q) % case.heads_kv)
    if case.transposed:
        misread = tuple(t.transpose(1, 2).reshape(t.shape) for t in (q, k, v))
        yield "strides", {}, run(tensors=misread)
    for block in ([case.block_n] if case.block_n else BLOCK_GUESSES):
        start = (n_k // block) * block
        if 0 < start < n_k:
            keep = torch.arange(n_k) < start
            visible = keep.expand(n_q, n_k) if mask is None else mask & keep
            yield "tail_keys", {"n_k": n_k, "block": block, "start": start}, run(visible=visible)


def attention_hint(case: AttentionCase, inputs, got_out, got_lse, mismatch: Mismatch, expected, baseline,
                   tol: Tolerance) -> str:
    """The most likely bug, or '' when none of the models fits."""
    exp_out, exp_lse = expected
    base_out, base_lse = baseline
    q, k, v = inputs  # the case's tensors, as the student received them
    masked_rows = torch.isneginf(exp_lse)
    if mismatch.kind == "nan" and mismatch.index is not None:
        row = mismatch.index[:3]
        if bool(masked_rows[row]):
            return HINTS["masked_row_nan"]
    if mismatch.kind in ("type", "shape", "dtype", "device"):
        return ""  # the message says what is wrong; value models would only guess
    if isinstance(got_out, torch.Tensor) and isinstance(got_lse, torch.Tensor):
        out_ok = _matches(got_out, exp_out, exp_out, base_out, case.dtype, tol)
        if out_ok and got_lse.shape == exp_lse.shape:
            for key, variant in (("lse_base2", exp_lse * LOG2E), ("lse_no_max", None)):
                if variant is None:
                    scores_max = _row_max(case, q, k)
                    variant = exp_lse - scores_max
                if _matches(got_lse, variant, exp_lse, base_lse, case.dtype, tol):
                    return HINTS[key]
        fitting = [HINTS[key].format(**fields) for key, fields, (var_out, _) in _variants(case, q, k, v)
                   if not _matches(var_out, exp_out, exp_out, base_out, case.dtype, tol)  # the bug shows here
                   and _matches(got_out, var_out, exp_out, base_out, case.dtype, tol)]
        if fitting:  # on a tiny case two models can coincide (Nk = 1: top-left = no mask): name both
            return "; or: ".join(fitting)
    if mismatch.kind in ("error", "inf", "constant") and bool(masked_rows.any()) and isinstance(got_lse, torch.Tensor):
        if got_lse.shape == exp_lse.shape and not bool(torch.isneginf(got_lse[masked_rows]).all()):
            return HINTS["masked_row_value"]
    if mismatch.kind == "nan":
        return HINTS["nan"]
    return _positional_hint(case, got_out, exp_out, base_out, tol)


def _row_max(case: AttentionCase, q, k) -> torch.Tensor:
    scale = 1.0 / math.sqrt(case.head_dim) if case.softmax_scale is None else case.softmax_scale
    group = case.heads_q // case.heads_kv
    scores = scale * (q.double() @ k.double().repeat_interleave(group, dim=1).transpose(-1, -2))
    mask = oracle.visible_keys(case.n_q, case.n_k, case.causal)
    if mask is not None:
        scores = scores.masked_fill(~mask, float("-inf"))
    return scores.amax(dim=-1)


def _positional_hint(case: AttentionCase, got_out, exp_out, base_out, tol) -> str:
    """Where the error lives: only in the tail rows, or only with several key blocks."""
    if not isinstance(got_out, torch.Tensor) or got_out.shape != exp_out.shape:
        return ""
    allowed = allowed_error(exp_out, base_out, case.dtype, tol)
    bad = ((got_out.double() - exp_out).abs() > allowed) | (torch.isnan(got_out) != torch.isnan(exp_out))
    bad_rows = bad.any(dim=-1).any(dim=0).any(dim=0)  # [Nq]
    for block in ([case.block_m] if case.block_m else BLOCK_GUESSES):
        start = (case.n_q // block) * block
        if 0 < start < case.n_q and bool(bad_rows[start:].all()) and not bool(bad_rows[:start].any()):
            return HINTS["tail_queries"].format(start=start, n_q=case.n_q, block=block)
    if case.n_k > (case.block_n or min(BLOCK_GUESSES)):
        blocks = f", block_n={case.block_n}" if case.block_n else ""
        return HINTS["rescale"].format(n_k=case.n_k, blocks=blocks)
    return ""
