"""Level 1 — Naive attention: where the memory goes.

Standard attention builds the score matrix S = scale * Q Kᵀ and the probabilities
P = softmax(S), then multiplies P by V. Writing it out shows the memory wall every
later exercise tears down: S and P hold Nq x Nk numbers per head, quadratic in the
sequence length, while the inputs and the output are only linear in it.

Task
----
Implement ``naive_attention(q, k, v, causal=False, softmax_scale=None)`` returning
``(out, lse)``. Materialise S and P; that is the point of the exercise. Do not call
``torch.nn.functional.scaled_dot_product_attention`` or torch's softmax family
(``softmax``, ``log_softmax``, ``logsumexp``): write the max-subtracted softmax
yourself. Accumulate in float32 whatever the input dtype, and never modify an input.

Math
----
For one head, with ``s = softmax_scale`` (``1 / sqrt(D)`` when it is None)::

    S[i, j] = s * (q_i · k_j)            -inf where key j is hidden from query i
    m[i]    = max_j S[i, j]              subtracted so that exp never overflows
    l[i]    = sum_j exp(S[i, j] - m[i])  the normaliser
    P[i, j] = exp(S[i, j] - m[i]) / l[i]
    O[i]    = sum_j P[i, j] * v_j
    lse[i]  = m[i] + log(l[i])           = log sum_j exp(S[i, j]), natural log

``causal=True`` is aligned to the bottom-right corner, as in FlashAttention 2:
query ``i`` sees key ``j`` iff ``j <= i + Nk - Nq`` (``x`` = visible)::

    Nq = 3, Nk = 5          Nq = 5, Nk = 3
    keys -> 0 1 2 3 4       keys -> 0 1 2
    query 0  x x x . .      query 0  . . .    <- sees no key
    query 1  x x x x .      query 1  . . .    <- sees no key
    query 2  x x x x x      query 2  x . .
                            query 3  x x .
                            query 4  x x x

A query row that sees no key has ``m = -inf`` and ``l = 0``: it must give
``out = 0`` and ``lse = -inf``, never NaN.

Grouped-query attention: q has ``Hq`` heads, k and v have ``Hkv`` heads with
``Hq % Hkv == 0``; query head ``h`` reads kv head ``h // (Hq // Hkv)``.

Signature
---------
``naive_attention(q, k, v, causal=False, softmax_scale=None) -> (out, lse)``

=====  ================  ==================  ======================================
name   shape             dtype               constraints
=====  ================  ==================  ======================================
q      (B, Hq, Nq, D)    fp32, fp16, bf16    any strides (may be a transposed view)
k      (B, Hkv, Nk, D)   q.dtype             Hq % Hkv == 0
v      (B, Hkv, Nk, Dv)  q.dtype             Dv may differ from D
out    (B, Hq, Nq, Dv)   q.dtype             0 on rows that see no key
lse    (B, Hq, Nq)       float32             -inf on rows that see no key
=====  ================  ==================  ======================================

Cost
----
FLOPs: ``2 * B * Hq * Nq * Nk * (D + Dv)`` for the two matmuls (the exp, max and
sums are O(Nq * Nk) per head, a factor D smaller). Bytes: the inputs and output
are ``e * B * (Hq*Nq*D + Hkv*Nk*(D + Dv) + Hq*Nq*Dv)`` for ``e`` bytes per element,
but S and P in float32 are ``4 * B * Hq * Nq * Nk`` bytes each, written and read
back at least once. For B = 1, Hq = 32, Nq = Nk = 8192, S alone is 8 GiB while
q in bf16 is 32 MiB (D = 64): the naive version is bound by memory, not by FLOPs.

Hints
-----
1. Batched ``@`` on 4-D tensors multiplies the last two dims and broadcasts the
   first two, so one line computes S for every batch and head.
2. For grouped-query attention, repeat each kv head ``Hq // Hkv`` times along
   dim 1 (``repeat_interleave``) so k and v line up with q.
3. Upcast q, k, v with ``.float()`` before the matmuls: fp16 overflows above
   65504 and bf16 keeps only 8 bits of mantissa.
4. Build the causal mask from two ``torch.arange`` vectors: hidden where
   ``j > i + (Nk - Nq)``; then ``masked_fill`` S with ``-inf``.
5. On a row that sees no key, ``m = -inf`` and ``S - m`` is ``-inf - (-inf) = NaN``.
   Subtract 0 instead of ``m`` there (``torch.where``): ``exp(-inf) = 0`` gives
   ``l = 0``; then divide by ``l`` only where it is positive, and
   ``lse = 0 + log(0) = -inf`` comes out by itself.

Grading
-------
``course grade level1.naive_attention`` runs random shapes (awkward lengths, GQA,
``Dv != D``, causal with ``Nq`` above and below ``Nk``, transposed views) in fp32,
fp16 and bf16 against a float64 oracle: NaN/inf positions must match exactly and
the error must stay within the course's tolerance of plain attention computed in
the input dtype. Calling ``scaled_dot_product_attention`` or a softmax fails.
"""

import math

import torch

from grader.contract import check_attention_inputs, resolve_scale


def naive_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    causal: bool = False,
    softmax_scale: float | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention that materialises S = scale * Q Kᵀ and P = softmax(S) in full.

    Arguments:
        q: (batch, heads_q, seqlen_q, head_dim), fp32 / fp16 / bf16.
        k: (batch, heads_kv, seqlen_k, head_dim), heads_q % heads_kv == 0.
        v: (batch, heads_kv, seqlen_k, head_dim_v).
        causal: bool. Bottom-right aligned: query i sees key j iff
            j <= i + seqlen_k - seqlen_q.
        softmax_scale: float. The scaling of QKᵀ before the softmax; defaults to
            1 / sqrt(head_dim).
    Returns:
        out: (batch, heads_q, seqlen_q, head_dim_v), q.dtype; 0 on rows that see no key.
        lse: (batch, heads_q, seqlen_q), float32. The natural-log logsumexp of each
            row of S over its visible keys; -inf on rows that see no key.
    """
    check_attention_inputs(q, k, v)
    scale = resolve_scale(softmax_scale, q.shape[-1])
    n_q, n_k = q.shape[2], k.shape[2]
    group = q.shape[1] // k.shape[1]

    # Memory per line, in elements, for B batches and Hq query heads.
    k = k.repeat_interleave(group, dim=1)  # B*Hq*Nk*D: GQA stores each kv head `group` times
    v = v.repeat_interleave(group, dim=1)  # B*Hq*Nk*Dv
    s = scale * (q.float() @ k.float().transpose(-2, -1))  # B*Hq*Nq*Nk fp32: the score matrix S
    if causal:
        rows = torch.arange(n_q, device=q.device)[:, None]  # Nq
        cols = torch.arange(n_k, device=q.device)[None, :]  # Nk
        s = s.masked_fill(cols > rows + (n_k - n_q), -math.inf)  # Nq*Nk mask, a new B*Hq*Nq*Nk S
    m = s.amax(dim=-1, keepdim=True)  # B*Hq*Nq: row max
    m = torch.where(m == -math.inf, 0.0, m)  # B*Hq*Nq: an empty row would make S - m NaN
    p = torch.exp(s - m)  # B*Hq*Nq*Nk fp32: unnormalised P
    l = p.sum(dim=-1, keepdim=True)  # B*Hq*Nq: row sums
    p = p / torch.where(l == 0, 1.0, l)  # B*Hq*Nq*Nk fp32: P, all zero on an empty row
    out = p @ v.float()  # B*Hq*Nq*Dv fp32
    lse = (m + torch.log(l)).squeeze(-1)  # B*Hq*Nq fp32: log(0) = -inf on an empty row
    return out.to(q.dtype), lse  # B*Hq*Nq*Dv in q.dtype
