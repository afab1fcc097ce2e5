"""The correctness policy of COURSE_SPEC.md, in one function: `compare`.

A result passes when
1. its shape, dtype and device are as specified (every element written: the child
   fills fresh allocations with NaN, so an unwritten element shows up as NaN);
2. its NaN and +-inf positions are exactly the oracle's;
3. ``|got - oracle| <= factor * max|baseline - oracle| + floor[dtype]`` where the
   baseline is plain attention computed in the input dtype, the error that
   precision allows anyway (FlashAttention's own test method), the max taken over
   each row (see `allowed_error`);
4. it is not constant where the oracle is not.

`factor` and `floor` come from course.toml; docs/TOLERANCE.md records how they
were measured.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from grader.manifest import Tolerance


@dataclass(frozen=True)
class Mismatch:
    """Why one output failed; `kind` lets diagnosis pick a hint."""

    output: str  # "out", "lse", ...
    kind: str  # type | shape | dtype | device | nan | inf | error | constant
    message: str
    measured: float | None = None
    allowed: float | None = None
    index: tuple[int, ...] | None = None


def _index(flat: int, shape) -> tuple[int, ...]:
    return tuple(int(i) for i in torch.unravel_index(torch.tensor(flat), tuple(shape)))


def _first(mask: torch.Tensor) -> tuple[int, ...]:
    return _index(int(mask.reshape(-1).nonzero()[0]), mask.shape)


def allowed_error(expected: torch.Tensor, baseline: torch.Tensor | None, dtype: str,
                  tol: Tolerance) -> torch.Tensor:
    """factor * (baseline's error) + floor[dtype], broadcastable to ``expected``.

    The baseline's error is the max over each row (the last dim: a query row of
    ``out``, a head's sequence of ``lse``), so every row gets the bound its own
    precision allows; one global max would let the sloppiest row (a large-logit
    row in bf16) set a loose bar for all the others. The floor alone applies when
    there is no baseline."""
    floor = torch.tensor(tol.floor[dtype], dtype=torch.float64)
    if baseline is None:
        return floor
    err = (baseline.double() - expected).abs()
    err = torch.where(torch.isfinite(expected) & torch.isfinite(err), err, torch.zeros_like(err))
    if err.dim() >= 1 and err.shape[-1] > 0:
        err = err.amax(dim=-1, keepdim=True)
    return tol.factor * err + floor


def compare(
    output: str,
    got,
    expected: torch.Tensor,
    *,
    want_dtype: torch.dtype,
    dtype: str,
    tol: Tolerance,
    baseline: torch.Tensor | None = None,
    device: str | None = None,
    got_device: str | None = None,
) -> Mismatch | None:
    """Check one output tensor against the float64 oracle ``expected``."""
    if not isinstance(got, torch.Tensor):
        return Mismatch(output, "type", f"{output}: expected a tensor, got {type(got).__name__}: {str(got)[:80]}")
    if tuple(got.shape) != tuple(expected.shape):
        return Mismatch(output, "shape", f"{output}: expected shape {list(expected.shape)}, got {list(got.shape)}")
    if got.dtype != want_dtype:
        return Mismatch(output, "dtype", f"{output}: expected dtype {str(want_dtype)[6:]}, got {str(got.dtype)[6:]}")
    if device is not None and got_device is not None and got_device != device:
        return Mismatch(output, "device", f"{output}: expected a {device} tensor, got one on {got_device}")
    if got.numel() == 0:
        return None
    got64 = got.double()
    for kind, test in (("nan", torch.isnan), ("inf", torch.isposinf), ("inf", torch.isneginf)):
        bad = test(got64) != test(expected)
        if bool(bad.any()):
            where = _first(bad)
            return Mismatch(
                output, kind,
                f"{output}{list(where)}: expected {expected[where].item():.6g}, got {got64[where].item():.6g}",
                index=where,
            )
    finite = torch.isfinite(expected)
    if not bool(finite.any()):
        return None
    allowed = allowed_error(expected, baseline, dtype, tol).expand_as(expected)
    diff = torch.where(finite, (got64 - expected).abs(), torch.zeros_like(got64))
    excess = diff - allowed
    worst = _index(int(excess.reshape(-1).argmax()), diff.shape)
    measured, bound = diff[worst].item(), allowed[worst].item()
    exp_f, got_f = expected[finite], got64[finite]
    if got_f.numel() > 1 and bool((got_f == got_f[0]).all()) and not bool((exp_f == exp_f[0]).all()):
        return Mismatch(output, "constant", f"{output} is constant ({got_f[0].item():.6g}) but the oracle is not",
                        measured, bound)
    if measured > bound:
        return Mismatch(
            output, "error",
            f"|{output} - oracle| = {measured:.3g} at {list(worst)} "
            f"(expected {expected[worst].item():.6g}, got {got64[worst].item():.6g}); allowed there {bound:.3g}",
            measured, bound, worst,
        )
    return None


def _masked_scores(q, k, scale: float, visible: torch.Tensor | None) -> torch.Tensor:
    scores = (q @ k.transpose(-1, -2)) * scale
    return scores if visible is None else scores.masked_fill(~visible, float("-inf"))


def naive_attention_in_dtype(q, k, v, scale: float, visible: torch.Tensor | None):
    """Plain attention in the inputs' own dtype: the precision floor of that dtype.

    ``out``: scores and ``P @ V`` in the input dtype, the softmax in float32, as in
    FlashAttention's ``attention_ref(upcast=False)``. ``lse``: from the scores in
    float32, as every kernel computes them (tensor cores accumulate in float32);
    scores rounded to bf16 would make the lse bound meaninglessly loose."""
    heads_q, heads_kv = q.shape[1], k.shape[1]
    kv_head_of = torch.arange(heads_q) // (heads_q // heads_kv)
    k, v = k[:, kv_head_of], v[:, kv_head_of]
    scores = _masked_scores(q, k, scale, visible).float()
    row_lse = torch.logsumexp(scores, dim=-1)
    probs = torch.exp(scores - torch.where(torch.isinf(row_lse), 0.0, row_lse).unsqueeze(-1))
    lse = torch.logsumexp(_masked_scores(q.float(), k.float(), scale, visible), dim=-1)
    return probs.to(q.dtype) @ v, lse


def naive_softmax_in_dtype(x: torch.Tensor) -> torch.Tensor:
    """Max-subtracted softmax with every step in x's dtype."""
    e = torch.exp(x - x.amax(dim=-1, keepdim=True))
    return e / e.sum(dim=-1, keepdim=True)
