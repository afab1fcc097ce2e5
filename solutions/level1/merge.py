"""Level 1 — Merging partial softmax and attention states.

A softmax over a row can be computed in pieces: each piece keeps a small state, and
two states merge into the state of their union. The merge is what lets FlashAttention
walk K/V in blocks, and what lets split-KV decoding (flash-decoding, level 4) give
parts of one long sequence to different thread blocks and combine them at the end.
Here you write the two merges and meet the empty state that makes them a monoid.

Task
----
* ``merge_softmax_stats(m_a, l_a, m_b, l_b) -> (m, l)``: each state is a running max
  ``m`` and a sum ``l = sum exp(x - m)`` over some set of logits; return the state of
  the union of the two sets.
* ``merge_attention_states(o_a, lse_a, o_b, lse_b) -> (o, lse)``: each part is a
  normalised attention result ``o`` over a disjoint set of keys with its logsumexp
  ``lse``; return the attention result over the union of the key sets.

The empty state is ``(m, l) = (-inf, 0)`` (no logits yet), and it is the identity:
merging with it changes nothing. Merging two empty states gives ``(-inf, 0)``, not NaN.
An empty attention part has ``lse = -inf`` and may hold any finite ``o``, which must
not leak into the result; two empty parts give ``o = 0``, ``lse = -inf``. Both merges
are commutative and associative up to rounding.

Math
----
Softmax statistics::

    m = max(m_a, m_b)
    l = l_a * exp(m_a - m) + l_b * exp(m_b - m)

Attention states: a part over key set A holds
``o_a = sum_{j in A} exp(s_j - lse_a) v_j`` with ``lse_a = log sum_{j in A} exp(s_j)``,
so ``exp(lse_a) * o_a`` is an unnormalised sum and the union is::

    lse = log(exp(lse_a) + exp(lse_b))
        = m + log(exp(lse_a - m) + exp(lse_b - m)),   m = max(lse_a, lse_b)
    o   = exp(lse_a - lse) * o_a + exp(lse_b - lse) * o_b

The two weights ``exp(lse_a - lse)`` and ``exp(lse_b - lse)`` are at most 1 and sum to 1.

Signature
---------
``merge_softmax_stats(m_a, l_a, m_b, l_b) -> (m, l)``
``merge_attention_states(o_a, lse_a, o_b, lse_b) -> (o, lse)``

==============  ============  ======================  ==================================
name            shape         dtype                   constraints
==============  ============  ======================  ==================================
m_a, l_a        (...)         fp32, fp16, bf16, fp64  all four of one shape; l >= 0
m_b, l_b        (...)         fp32, fp16, bf16, fp64  (-inf, 0) is the empty state
m, l            (...)         float32 (fp64 if any    (-inf, 0) when both are empty
                              input is fp64)
o_a, o_b        (..., N, Dv)  fp32, fp16, bf16, fp64  one shape; any finite values
lse_a, lse_b    (..., N)      float32                 -inf marks an empty part
o               (..., N, Dv)  o_a.dtype               0 where both parts are empty
lse             (..., N)      float32                 -inf where both parts are empty
==============  ============  ======================  ==================================

Cost
----
A few FLOPs per element: per row, two exps and a log, then ``2 * Dv`` multiply-adds
for ``o``. Merging ``S`` parts reads ``S * N * (Dv + 1)`` elements and writes
``N * (Dv + 1)``, which is why the level 4 combine is cheap next to the split kernels.

Hints
-----
1. Check the identity on paper: with ``(m_b, l_b) = (-inf, 0)`` the formula must
   return ``(m_a, l_a)`` whatever ``m_a`` is.
2. When both maxima are ``-inf``, ``m_a - m`` is ``-inf - (-inf) = NaN``. Subtract 0
   instead of ``m`` where ``m`` is ``-inf`` (``torch.where``): ``exp(-inf) = 0``.
3. The same trick gives ``lse``; where it comes out ``-inf`` (both parts empty) the
   weights need the same guard.
4. Do not multiply an empty part's ``o`` by a zero weight: select it away with
   ``torch.where`` on ``lse == -inf`` so that nothing from it can reach the result.
5. Do the arithmetic in float32 (``o_a.float()``), then cast ``o`` back to
   ``o_a.dtype``; unsqueeze the per-row weights to broadcast over ``Dv``.

Grading
-------
``course grade level1.merge`` checks both merges against a float64 oracle on random
splits of random rows, the identity and the two-empty case (bitwise, no NaN),
commutativity and associativity up to rounding, and that garbage in an empty part's
``o`` never shows in the result.
"""

import math

import torch

from grader.contract import check_tensor

_FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16, torch.float64)


def _finite_or_zero(m: torch.Tensor) -> torch.Tensor:
    # x - (-inf) is NaN when x is -inf too; subtracting 0 instead gives exp(-inf) = 0.
    return torch.where(m == -math.inf, 0.0, m)


def merge_softmax_stats(
    m_a: torch.Tensor, l_a: torch.Tensor, m_b: torch.Tensor, l_b: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """The softmax state (max, normaliser) of the union of two sets of logits.

    Arguments:
        m_a, l_a: (...), the max and sum(exp(x - m_a)) of the first set;
            (-inf, 0) for an empty set.
        m_b, l_b: (...), the same for the second set; all four of one shape.
    Returns:
        m: (...), max(m_a, m_b).
        l: (...), sum(exp(x - m)) over both sets; (-inf, 0) when both are empty.
        float32, or float64 when an input is float64.
    """
    for name, t in (("m_a", m_a), ("l_a", l_a), ("m_b", m_b), ("l_b", l_b)):
        check_tensor(name, t, dtypes=_FLOAT_DTYPES)
        if t.shape != m_a.shape:
            raise ValueError(f"{name} has shape {tuple(t.shape)}; m_a has {tuple(m_a.shape)}")
    dtype = torch.promote_types(torch.float32, torch.result_type(m_a, m_b))
    dtype = torch.promote_types(dtype, torch.result_type(l_a, l_b))
    m_a, l_a, m_b, l_b = (t.to(dtype) for t in (m_a, l_a, m_b, l_b))

    m = torch.maximum(m_a, m_b)
    m_safe = _finite_or_zero(m)
    l = l_a * torch.exp(m_a - m_safe) + l_b * torch.exp(m_b - m_safe)
    return m, l


def merge_attention_states(
    o_a: torch.Tensor, lse_a: torch.Tensor, o_b: torch.Tensor, lse_b: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention over the union of two disjoint key sets, from the two partial results.

    Arguments:
        o_a: (..., seqlen, head_dim_v), normalised attention output over key set A.
        lse_a: (..., seqlen), float32, logsumexp of the scores over A; -inf when A
            is empty for that row (o_a is then ignored, whatever it holds).
        o_b, lse_b: the same over key set B, disjoint from A.
    Returns:
        o: (..., seqlen, head_dim_v), o_a.dtype; 0 where both parts are empty.
        lse: (..., seqlen), float32; -inf where both parts are empty.
    """
    check_tensor("o_a", o_a, dtypes=_FLOAT_DTYPES)
    check_tensor("o_b", o_b, dtypes=_FLOAT_DTYPES)
    check_tensor("lse_a", lse_a, dtypes=(torch.float32,))
    check_tensor("lse_b", lse_b, dtypes=(torch.float32,))
    if o_a.dim() < 2 or o_b.shape != o_a.shape:
        raise ValueError(
            f"o_a and o_b must share one shape (..., seqlen, head_dim_v), "
            f"got {tuple(o_a.shape)} and {tuple(o_b.shape)}"
        )
    for name, t in (("lse_a", lse_a), ("lse_b", lse_b)):
        if t.shape != o_a.shape[:-1]:
            raise ValueError(f"{name} has shape {tuple(t.shape)}; expected {tuple(o_a.shape[:-1])}")

    m = torch.maximum(lse_a, lse_b)
    m_safe = _finite_or_zero(m)
    lse = m_safe + torch.log(torch.exp(lse_a - m_safe) + torch.exp(lse_b - m_safe))
    lse_safe = _finite_or_zero(lse)
    empty_a = (lse_a == -math.inf)[..., None]
    empty_b = (lse_b == -math.inf)[..., None]
    # Select, not multiply: an empty part's o must not reach the result at all.
    o = torch.where(empty_a, 0.0, torch.exp(lse_a - lse_safe)[..., None] * o_a.float())
    o = o + torch.where(empty_b, 0.0, torch.exp(lse_b - lse_safe)[..., None] * o_b.float())
    return o.to(o_a.dtype), lse
