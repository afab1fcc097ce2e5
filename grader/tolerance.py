"""The correctness policy of COURSE_SPEC.md, in one function: `compare`.

A result passes when
1. its shape, dtype and device are as specified (every element written: the child
   fills fresh allocations with NaN, so an unwritten element shows up as NaN);
2. its NaN and +-inf positions are exactly the oracle's;
3. ``max|got - oracle| <= factor * max|baseline - oracle| + floor[dtype]`` where the
   baseline is plain attention computed in the input dtype, the error that
   precision allows anyway (FlashAttention's own test method);
4. it is not constant where the oracle is not.

`factor` and `floor` come from course.toml; docs/TOLERANCE.md records how they
were measured.
"""

from __future__ import annotations

import math
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


def allowed_error(expected: torch.Tensor, baseline: torch.Tensor | None, dtype: str, tol: Tolerance) -> float:
    """factor * (baseline's error) + floor[dtype]; floor alone when there is no baseline."""
    slack = tol.floor[dtype]
    if baseline is None:
        return slack
    finite = torch.isfinite(expected)
    if not bool(finite.any()):
        return slack
    err = (baseline.double() - expected)[finite].abs().max().item()
    return tol.factor * (err if math.isfinite(err) else 0.0) + slack


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
    allowed = allowed_error(expected, baseline, dtype, tol)
    diff = torch.where(finite, (got64 - expected).abs(), torch.zeros_like(got64))
    measured = diff.max().item()
    exp_f, got_f = expected[finite], got64[finite]
    if got_f.numel() > 1 and bool((got_f == got_f[0]).all()) and not bool((exp_f == exp_f[0]).all()):
        return Mismatch(output, "constant", f"{output} is constant ({got_f[0].item():.6g}) but the oracle is not",
                        measured, allowed)
    if measured > allowed:
        where = _index(int(diff.reshape(-1).argmax()), diff.shape)
        return Mismatch(
            output, "error",
            f"max |{output} - oracle| = {measured:.3g} at {list(where)} "
            f"(expected {expected[where].item():.6g}, got {got64[where].item():.6g}); allowed {allowed:.3g}",
            measured, allowed, where,
        )
    return None


def naive_attention_in_dtype(q, k, v, scale: float, visible: torch.Tensor | None):
    """Plain attention in the inputs' own dtype: the precision floor of that dtype.

    Scores and ``P @ V`` are computed in the input dtype; the softmax itself in
    float32, as in FlashAttention's ``attention_ref(upcast=False)``."""
    heads_q, heads_kv = q.shape[1], k.shape[1]
    kv_head_of = torch.arange(heads_q) // (heads_q // heads_kv)
    k, v = k[:, kv_head_of], v[:, kv_head_of]
    scores = (q @ k.transpose(-1, -2)) * scale
    if visible is not None:
        scores = scores.masked_fill(~visible, float("-inf"))
    scores = scores.float()
    lse = torch.logsumexp(scores, dim=-1)
    probs = torch.exp(scores - torch.where(torch.isinf(lse), 0.0, lse).unsqueeze(-1))
    return probs.to(q.dtype) @ v, lse


def naive_softmax_in_dtype(x: torch.Tensor) -> torch.Tensor:
    """Max-subtracted softmax with every step in x's dtype."""
    e = torch.exp(x - x.amax(dim=-1, keepdim=True))
    return e / e.sum(dim=-1, keepdim=True)
