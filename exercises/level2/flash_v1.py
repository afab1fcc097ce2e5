"""Level 2 — FlashAttention v1: tiling with the online softmax.

FlashAttention (Dao et al., 2022) computes exact attention without ever storing the
Nq x Nk score matrix: it cuts Q, K and V into blocks that fit in on-chip SRAM and
merges the blocks' partial softmaxes with the running max and normaliser of
level 1. This exercise writes Algorithm 1 of the paper in PyTorch, block for block,
so that you see every read and write it makes to HBM (here: the full-size tensors).

Task
----
Implement ``flash_attn_v1(q, k, v, causal=False, softmax_scale=None, block_m=64,
block_n=64) -> (out, lse)`` with the loop order of Algorithm 1: the **outer** loop
runs over K/V blocks of ``block_n`` keys, the **inner** loop over Q blocks of
``block_m`` queries. The running output ``O``, normaliser ``l`` and max ``m`` live in
full-size buffers, read and written back for every (K/V block, Q block) pair.
Vectorise over batch and heads with tensor ops; loop only over blocks. Never build a
tensor as large as the Nq x Nk score matrix, not even a causal mask.

The semantics are those of ``level1.naive_attention``: grouped-query heads, causal
aligned to the bottom-right corner (query ``i`` sees key ``j`` iff
``j <= i + Nk - Nq``), float32 accumulation, and ``out = 0``, ``lse = -inf`` on a row
that sees no key.

Math
----
Algorithm 1 of the paper, with ``s = softmax_scale``, ``Tc = ceil(Nk / block_n)``,
``Tr = ceil(Nq / block_m)``, ``Q_i`` the i-th block of ``block_m`` query rows, and
``K_j``, ``V_j`` the j-th block of ``block_n`` keys::

    O = 0 (Nq x Dv),  l = 0 (Nq),  m = -inf (Nq)          in HBM
    for j in 1..Tc:                                        outer: K/V blocks
        load K_j, V_j
        for i in 1..Tr:                                    inner: Q blocks
            load Q_i, O_i, l_i, m_i
            S_ij  = s * Q_i K_jᵀ                           (block_m x block_n, masked: -inf)
            m~_ij = rowmax(S_ij)
            P~_ij = exp(S_ij - m~_ij)
            l~_ij = rowsum(P~_ij)
            m_new = max(m_i, m~_ij)
            l_new = exp(m_i - m_new) * l_i + exp(m~_ij - m_new) * l~_ij
            O_i   = (l_i * exp(m_i - m_new) * O_i + exp(m~_ij - m_new) * P~_ij V_j) / l_new
            write O_i, l_i = l_new, m_i = m_new
    lse = m + log(l)

``O_i`` stays normalised after every step, which costs a division per step; v2 will
remove it.

Signature
---------
``flash_attn_v1(q, k, v, causal=False, softmax_scale=None, block_m=64, block_n=64) -> (out, lse)``

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
FLOPs: ``2 * B * Hq * Nq * Nk * (D + Dv)``, the same as naive attention (about half of
it under causal when blocks above the diagonal are skipped). HBM traffic for one head
with ``Nq = Nk = n`` and ``D = Dv = d``: K and V are read once, but Q, O, l and m are
read and O, l, m written once per K/V block, so the traffic grows like
``Tc * n * d``; ``level2.io_model`` asks you to count it exactly. Extra memory is
``O(n)`` per head, not ``O(n^2)``.

Hints
-----
1. Allocate ``O`` (zeros, float32, shape of out), ``l`` (zeros) and ``m`` (``-inf``),
   both ``(B, Hq, Nq)`` float32, then loop ``for j0 in range(0, Nk, block_n)`` outside
   and ``for i0 in range(0, Nq, block_m)`` inside; slices like
   ``q[:, :, i0:i0 + block_m]`` handle the ragged last block by themselves.
2. Upcast each block with ``.float()`` as you load it. For grouped-query attention,
   expand each K/V block to ``Hq`` heads with ``repeat_interleave(Hq // Hkv, dim=1)``.
3. Causal masks come per block, from ``torch.arange(i0, i1)`` and
   ``torch.arange(j0, j1)``: hidden where ``j > i + Nk - Nq``. A Q block whose last
   row cannot see key ``j0`` sees nothing of the K/V block: skip it.
4. Rows may see no key of a block (``m~_ij = -inf``), or none so far
   (``m_new = -inf``). Wherever a maximum you subtract is ``-inf``, subtract 0
   instead (``exp(-inf) = 0``), and divide by ``l_new`` only where it is positive.
5. At the end ``lse = m + log(l)`` is ``-inf`` by itself on rows that saw no key,
   and their ``O`` was never touched, so it is still 0.

Grading
-------
``course grade level2.flash_v1`` compares with a float64 oracle on random shapes
(lengths that are not multiples of the blocks, GQA, ``Dv != D``, causal with ``Nq``
above and below ``Nk``, transposed views, several block sizes) in fp32, fp16 and
bf16, within the course's tolerance of plain attention in the input dtype. On calls
whose results are right, it also records every tensor your code creates and fails if
one has ``B * Hq * Nq * Nk / 2`` elements or more (a causal mask included), and it
reads the loop order from your matrix products: scores in ``[block_m, block_n]``
tiles, each (Q block, K/V block) pair once with all batches and heads in one
product, K/V blocks in the outer loop.
"""

import math
import torch
from grader.contract import check_attention_inputs, check_positive_int, resolve_scale


def flash_attn_v1(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    causal: bool = False,
    softmax_scale: float | None = None,
    block_m: int = 64,
    block_n: int = 64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact attention by Algorithm 1 of FlashAttention: K/V blocks outside, Q blocks inside.

    Arguments:
        q: (batch, heads_q, seqlen_q, head_dim), fp32 / fp16 / bf16.
        k: (batch, heads_kv, seqlen_k, head_dim), heads_q % heads_kv == 0.
        v: (batch, heads_kv, seqlen_k, head_dim_v).
        causal: bool. Bottom-right aligned: query i sees key j iff
            j <= i + seqlen_k - seqlen_q.
        softmax_scale: float. Defaults to 1 / sqrt(head_dim).
        block_m: int, query rows per Q block (inner loop).
        block_n: int, keys per K/V block (outer loop).
    Returns:
        out: (batch, heads_q, seqlen_q, head_dim_v), q.dtype; 0 on rows that see no key.
        lse: (batch, heads_q, seqlen_q), float32, natural-log logsumexp of the scaled
            scores over the visible keys; -inf on rows that see no key.
    """
    raise NotImplementedError('level2.flash_v1.flash_attn_v1: not implemented yet')
