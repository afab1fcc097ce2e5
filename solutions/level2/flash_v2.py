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


def _causal_hidden(i0: int, i1: int, j0: int, j1: int, offset: int, device) -> torch.Tensor:
    """(i1 - i0, j1 - j0) bool, True where key j is hidden from query i (j > i + offset)."""
    rows = torch.arange(i0, i1, device=device)[:, None]
    cols = torch.arange(j0, j1, device=device)[None, :]
    return cols > rows + offset


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
    check_attention_inputs(q, k, v)
    check_positive_int("block_m", block_m)
    check_positive_int("block_n", block_n)
    scale = resolve_scale(softmax_scale, q.shape[-1])
    batch, heads_q, n_q, _ = q.shape
    n_k, head_dim_v = k.shape[2], v.shape[3]
    group = heads_q // k.shape[1]
    offset = n_k - n_q  # bottom-right alignment: query i sees key j iff j <= i + offset

    out = torch.empty(batch, heads_q, n_q, head_dim_v, dtype=q.dtype, device=q.device)
    lse = torch.empty(batch, heads_q, n_q, dtype=torch.float32, device=q.device)

    for i0 in range(0, n_q, block_m):
        i1 = min(i0 + block_m, n_q)
        q_i = q[:, :, i0:i1].float()
        m_i = torch.full((batch, heads_q, i1 - i0), -math.inf, device=q.device)
        l_i = torch.zeros(batch, heads_q, i1 - i0, device=q.device)
        acc = torch.zeros(batch, heads_q, i1 - i0, head_dim_v, device=q.device)

        # One past the last key the block's last row sees; K/V blocks beyond are skipped.
        end = min(n_k, i1 + offset) if causal else n_k
        for j0 in range(0, end, block_n):
            j1 = min(j0 + block_n, n_k)
            k_j = k[:, :, j0:j1].float().repeat_interleave(group, dim=1)
            v_j = v[:, :, j0:j1].float().repeat_interleave(group, dim=1)

            s_ij = scale * (q_i @ k_j.transpose(-2, -1))
            if causal and j1 - 1 > i0 + offset:  # the block crosses the diagonal
                s_ij = s_ij.masked_fill(_causal_hidden(i0, i1, j0, j1, offset, q.device), -math.inf)
            m_new = torch.maximum(m_i, s_ij.amax(dim=-1))
            # A row that has seen only hidden keys keeps m_new = -inf; subtracting 0
            # instead makes its exp 0 rather than NaN.
            m_safe = torch.where(m_new == -math.inf, 0.0, m_new)
            p_ij = torch.exp(s_ij - m_safe[..., None])
            alpha = torch.exp(m_i - m_safe)
            l_i = alpha * l_i + p_ij.sum(dim=-1)
            acc = alpha[..., None] * acc + p_ij @ v_j
            m_i = m_new

        out[:, :, i0:i1] = acc / torch.where(l_i == 0, 1.0, l_i)[..., None]
        lse[:, :, i0:i1] = m_i + torch.log(l_i)  # -inf + log(0) = -inf on empty rows
    return out, lse
