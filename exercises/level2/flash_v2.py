"""Level 2 — FlashAttention-2: swap the loops, rescale once.

FlashAttention-2 (Dao, 2023) keeps the tiling of v1 but swaps its loops: each Q block
is loaded once and stays on chip while every K/V block streams past it. The running
max, normaliser and output accumulator then live in registers for the whole inner
loop, are never written back to HBM in between, and the output is divided by the
normaliser once at the end instead of after every block. It is also the loop order
that parallelises over Q blocks, and the one the Triton and CUDA kernels of this
course follow, so write it here in PyTorch first.

Task
----
Implement ``flash_attn_v2(q, k, v, causal=False, softmax_scale=None, block_m=64,
block_n=64) -> (out, lse)`` with the **outer** loop over Q blocks of ``block_m`` rows
and the **inner** loop over K/V blocks of ``block_n`` keys. Keep ``m_i``, ``l_i`` and
``acc`` in float32 for the current Q block only, rescale once after the inner loop,
and write that block's ``out`` and ``lse``. Under ``causal``, do not visit the K/V
blocks that the Q block cannot see at all. Vectorise over batch and heads; loop only
over blocks; never build a tensor as large as the Nq x Nk score matrix.

Semantics as in ``level1.naive_attention``: grouped-query heads, causal aligned to the
bottom-right corner (query ``i`` sees key ``j`` iff ``j <= i + Nk - Nq``), float32
accumulation, ``out = 0`` and ``lse = -inf`` on a row that sees no key.

Math
----
Algorithm 1 of FlashAttention-2, with ``s = softmax_scale``::

    for i in 1..Tr:                                       outer: Q blocks, Tr = ceil(Nq / block_m)
        load Q_i
        m_i = -inf,  l_i = 0,  acc = 0                     on chip, float32
        for j in 1..(last K/V block Q_i can see):          inner: K/V blocks
            load K_j, V_j
            S_ij  = s * Q_i K_jᵀ                           (block_m x block_n, masked: -inf)
            m_new = max(m_i, rowmax(S_ij))
            P_ij  = exp(S_ij - m_new)                      unnormalised
            l_i   = exp(m_i - m_new) * l_i + rowsum(P_ij)
            acc   = exp(m_i - m_new) * acc + P_ij V_j
            m_i   = m_new
        O_i   = acc / l_i                                  the one rescale
        lse_i = m_i + log(l_i)
        write O_i, lse_i

With bottom-right causal masking, the last key that row ``i`` sees is ``i + Nk - Nq``,
so the last key a Q block covering rows ``[i0, i1)`` sees is
``min(Nk - 1, i1 - 1 + Nk - Nq)``; K/V blocks past it are skipped, and only blocks
that cross the diagonal need a mask::

    Nq = Nk = 8, block_m = block_n = 4     (x = visible, . = hidden)
               K/V block 0   K/V block 1
    Q block 0  x . . .       skipped
               x x . .
               x x x .
               x x x x
    Q block 1  x x x x       x . . .
               x x x x       x x . .
               x x x x       x x x .
               x x x x       x x x x

Signature
---------
``flash_attn_v2(q, k, v, causal=False, softmax_scale=None, block_m=64, block_n=64) -> (out, lse)``

================  ================  ================  ===================================
name              shape             dtype             constraints
================  ================  ================  ===================================
q                 (B, Hq, Nq, D)    fp32, fp16, bf16  any strides
k                 (B, Hkv, Nk, D)   q.dtype           Hq % Hkv == 0
v                 (B, Hkv, Nk, Dv)  q.dtype           Dv may differ from D
block_m, block_n  int                                 >= 1; Nq, Nk need not be multiples
out               (B, Hq, Nq, Dv)   q.dtype           0 on rows that see no key
lse               (B, Hq, Nq)       float32           -inf on rows that see no key
================  ================  ================  ===================================

Cost
----
FLOPs: ``2 * B * Hq * Nq * Nk * (D + Dv)``, about half under causal thanks to the
skipped blocks. HBM traffic for one head with ``Nq = Nk = n``, ``D = Dv = d``: Q is read
once and O and lse written once, while K and V are read once per Q block, so the
traffic grows like ``Tr * n * d``; ``level2.io_model`` counts it exactly. Compared with
v1, the reads and writes of O, l and m inside the loop are gone.

Hints
-----
1. Preallocate ``out`` (``torch.empty``, q.dtype) and ``lse`` (float32) and fill them
   one Q block at a time; ``m_i``, ``l_i``, ``acc`` are fresh tensors per Q block.
2. Upcast each block with ``.float()``; for grouped-query attention expand each K/V
   block to ``Hq`` heads with ``repeat_interleave(Hq // Hkv, dim=1)``.
3. The inner loop is ``for j0 in range(0, end, block_n)`` where ``end`` is ``Nk``, or
   under causal ``min(Nk, i1 + Nk - Nq)`` (one past the last visible key), which
   may be 0 or negative: then no key is visible and the loop does not run.
4. Mask a block only when it crosses the diagonal, with a ``(block_m, block_n)`` mask
   built from ``torch.arange(i0, i1)`` and ``torch.arange(j0, j1)``.
5. A row that has seen only hidden keys has ``m_new = -inf``: subtract 0 instead of it
   (``torch.where``) so that ``exp`` gives 0, not NaN; at the end divide by ``l_i``
   only where it is positive, and ``m_i + log(l_i)`` is ``-inf`` on empty rows.

Grading
-------
``course grade level2.flash_v2`` compares with a float64 oracle on random shapes
(lengths that are not multiples of the blocks, GQA, ``Dv != D``, causal with ``Nq``
above and below ``Nk``, transposed views, several block sizes) in fp32, fp16 and
bf16, within the course's tolerance of plain attention in the input dtype. On calls
whose results are right, it also records every tensor your code creates and fails if
one has ``B * Hq * Nq * Nk / 2`` elements or more (a causal mask included); reads the
loop order from your matrix products (scores in ``[block_m, block_n]`` tiles, each
(Q block, K/V block) pair once with all batches and heads in one product, Q blocks in
the outer loop); and counts them under ``causal``: with ``Nq = Nk`` eight blocks long,
at most 3/4 of the non-causal count (skipping leaves 36 of 64 block pairs).
"""

import math
import torch
from grader.contract import check_attention_inputs, check_positive_int, resolve_scale


def flash_attn_v2(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    causal: bool = False,
    softmax_scale: float | None = None,
    block_m: int = 64,
    block_n: int = 64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact attention by FlashAttention-2: Q blocks outside, K/V blocks inside.

    Arguments:
        q: (batch, heads_q, seqlen_q, head_dim), fp32 / fp16 / bf16.
        k: (batch, heads_kv, seqlen_k, head_dim), heads_q % heads_kv == 0.
        v: (batch, heads_kv, seqlen_k, head_dim_v).
        causal: bool. Bottom-right aligned: query i sees key j iff
            j <= i + seqlen_k - seqlen_q; K/V blocks a Q block cannot see are skipped.
        softmax_scale: float. Defaults to 1 / sqrt(head_dim).
        block_m: int, query rows per Q block (outer loop).
        block_n: int, keys per K/V block (inner loop).
    Returns:
        out: (batch, heads_q, seqlen_q, head_dim_v), q.dtype; 0 on rows that see no key.
        lse: (batch, heads_q, seqlen_q), float32, natural-log logsumexp of the scaled
            scores over the visible keys; -inf on rows that see no key.
    """
    raise NotImplementedError('level2.flash_v2.flash_attn_v2: not implemented yet')
