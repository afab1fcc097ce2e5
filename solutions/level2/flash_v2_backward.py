"""Level 2 (bonus) — The FlashAttention-2 backward pass.

Training needs gradients, and the textbook backward of attention stores P, an
Nq x Nk matrix per head, between the forward and the backward pass. FlashAttention
stores only the logsumexp ``lse`` of every row instead, and recomputes each block of
P in the backward pass from Q, K and ``lse``: a few more FLOPs, far fewer bytes. This
exercise writes the tiled backward of FlashAttention-2 (Algorithm 2 of the paper).

Task
----
Implement ``flash_attn_v2_backward(q, k, v, out, lse, dout, causal=False,
softmax_scale=None, block_m=64, block_n=64) -> (dq, dk, dv)``, the gradients of a
scalar loss with respect to ``q``, ``k``, ``v`` given ``dout``, its gradient with
respect to ``out = attention(q, k, v)``, and the forward's ``out`` and ``lse``. Loop
over blocks (the paper's order: K/V blocks outside, Q blocks inside), recompute each
block of P from ``lse``, accumulate in float32, and never build a tensor as large as
the Nq x Nk score matrix. The semantics are those of the forward
(``level2.flash_v2``): grouped-query heads, bottom-right causal, rows that see no key
(``lse = -inf``) contribute nothing to any gradient.

Math
----
For one head, with ``s = softmax_scale``, forward ``S = s Q Kᵀ``,
``P = exp(S - lse)`` (rows of P sum to 1), ``O = P V``; the chain rule gives::

    dV = Pᵀ dO
    dP = dO Vᵀ
    dS = P ∘ (dP - D),   D_i = rowsum(dP_i ∘ P_i) = rowsum(dO_i ∘ O_i)
    dQ = s dS K
    dK = s dSᵀ Q

``D`` is computed once up front from ``dO`` and ``O`` (``Nq`` numbers per head), so no
row of ``dP`` is needed whole. Tiled, as in Algorithm 2 of FlashAttention-2::

    D = rowsum(dO ∘ O);   dQ = 0                       in HBM, float32
    for j in 1..Tc:                                      outer: K/V blocks
        load K_j, V_j;  dK_j = 0, dV_j = 0               on chip
        for i in 1..Tr:                                  inner: Q blocks (skip hidden ones)
            load Q_i, dO_i, lse_i, D_i
            P_ij  = exp(s Q_i K_jᵀ - lse_i)              masked entries: 0
            dV_j += P_ijᵀ dO_i
            dP_ij = dO_i V_jᵀ
            dS_ij = P_ij ∘ (dP_ij - D_i)
            dQ_i += s dS_ij K_j                          read-modify-write in HBM
            dK_j += s dS_ijᵀ Q_i
        write dK_j, dV_j

With grouped-query attention a kv head feeds ``Hq // Hkv`` query heads, so its
``dK`` and ``dV`` are the sums over those query heads.

Signature
---------
``flash_attn_v2_backward(q, k, v, out, lse, dout, causal=False, softmax_scale=None,
block_m=64, block_n=64) -> (dq, dk, dv)``

================  ================  ================  ===================================
name              shape             dtype             constraints
================  ================  ================  ===================================
q                 (B, Hq, Nq, D)    fp32, fp16, bf16  any strides
k                 (B, Hkv, Nk, D)   q.dtype           Hq % Hkv == 0
v                 (B, Hkv, Nk, Dv)  q.dtype           Dv may differ from D
out, dout         (B, Hq, Nq, Dv)   q.dtype           out from the forward pass
lse               (B, Hq, Nq)       float32           -inf on rows that see no key
block_m, block_n  int                                 >= 1; Nq, Nk need not be multiples
dq                (B, Hq, Nq, D)    q.dtype           0 on rows that see no key
dk                (B, Hkv, Nk, D)   k.dtype           summed over each group's q heads
dv                (B, Hkv, Nk, Dv)  v.dtype           summed over each group's q heads
================  ================  ================  ===================================

Cost
----
FLOPs: ``2 * B * Hq * Nq * Nk * (3 * D + 2 * Dv)`` (recomputing S, then dV, dP, dQ,
dK), 2.5 times the forward when ``D = Dv``; about half under causal. HBM traffic
per head: K and V are read and dK, dV written once, while Q, dO, lse and D are read,
and dQ read and written, once per K/V block; the extra memory is ``O(Nq + Nk)``
per head, against the ``Nq * Nk`` of storing P.

Hints
-----
1. Start with ``D = (dout.float() * out.float()).sum(-1)`` and a float32 ``dq`` of
   zeros; ``dk`` and ``dv`` blocks live only inside the outer loop.
2. Expand each K/V block to ``Hq`` heads with ``repeat_interleave(Hq // Hkv, dim=1)``
   and, before writing ``dK_j``, ``dV_j``, sum the expanded heads back per group:
   ``dk_j.unflatten(1, (Hkv, Hq // Hkv)).sum(2)``.
3. Under causal, query ``i`` sees key ``j0`` only when ``i >= j0 - (Nk - Nq)``: start
   the inner loop at the Q block holding that row, and mask only blocks that cross
   the diagonal (``-inf`` in S gives 0 in P).
4. A row with ``lse = -inf`` saw no key, and ``S - lse`` would be
   ``-inf - (-inf) = NaN`` on it: subtract ``+inf`` there instead, so its P is 0.
5. Compare with ``torch.autograd`` on a float64 naive attention while you work; the
   grader does the same.

Grading
-------
``course grade level2.flash_v2_backward`` compares ``dq``, ``dk``, ``dv`` with float64
autograd through the oracle on random shapes (ragged lengths, GQA, ``Dv != D``,
causal with ``Nq`` above and below ``Nk``, transposed views) in fp32, fp16 and bf16,
and applies the same rule on the largest tensor as ``level2.flash_v2``.
"""

import math

import torch

from grader.contract import check_attention_inputs, check_positive_int, check_tensor, resolve_scale


def _causal_hidden(i0: int, i1: int, j0: int, j1: int, offset: int, device) -> torch.Tensor:
    """(i1 - i0, j1 - j0) bool, True where key j is hidden from query i (j > i + offset)."""
    rows = torch.arange(i0, i1, device=device)[:, None]
    cols = torch.arange(j0, j1, device=device)[None, :]
    return cols > rows + offset


def flash_attn_v2_backward(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    out: torch.Tensor,
    lse: torch.Tensor,
    dout: torch.Tensor,
    causal: bool = False,
    softmax_scale: float | None = None,
    block_m: int = 64,
    block_n: int = 64,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients of attention with respect to q, k, v, recomputing P block by block from lse.

    Arguments:
        q: (batch, heads_q, seqlen_q, head_dim), fp32 / fp16 / bf16.
        k: (batch, heads_kv, seqlen_k, head_dim), heads_q % heads_kv == 0.
        v: (batch, heads_kv, seqlen_k, head_dim_v).
        out: (batch, heads_q, seqlen_q, head_dim_v), q.dtype, the forward's output.
        lse: (batch, heads_q, seqlen_q), float32, the forward's logsumexp; -inf on
            rows that see no key.
        dout: (batch, heads_q, seqlen_q, head_dim_v), q.dtype, the loss gradient
            with respect to out.
        causal: bool. Bottom-right aligned: query i sees key j iff
            j <= i + seqlen_k - seqlen_q.
        softmax_scale: float. Defaults to 1 / sqrt(head_dim).
        block_m: int, query rows per Q block (inner loop).
        block_n: int, keys per K/V block (outer loop).
    Returns:
        dq: (batch, heads_q, seqlen_q, head_dim), q.dtype.
        dk: (batch, heads_kv, seqlen_k, head_dim), k.dtype, summed over the query
            heads of each group.
        dv: (batch, heads_kv, seqlen_k, head_dim_v), v.dtype, likewise.
    """
    check_attention_inputs(q, k, v)
    check_positive_int("block_m", block_m)
    check_positive_int("block_n", block_n)
    batch, heads_q, n_q, _ = q.shape
    heads_kv, n_k, head_dim_v = k.shape[1], k.shape[2], v.shape[3]
    out_shape = (batch, heads_q, n_q, head_dim_v)
    for name, t in (("out", out), ("dout", dout)):
        check_tensor(name, t, ndim=4, dtypes=(q.dtype,))
        if t.shape != out_shape:
            raise ValueError(f"{name} has shape {tuple(t.shape)}; expected {out_shape}")
    check_tensor("lse", lse, ndim=3, dtypes=(torch.float32,))
    if lse.shape != (batch, heads_q, n_q):
        raise ValueError(f"lse has shape {tuple(lse.shape)}; expected {(batch, heads_q, n_q)}")
    scale = resolve_scale(softmax_scale, q.shape[-1])
    group = heads_q // heads_kv
    offset = n_k - n_q  # bottom-right alignment: query i sees key j iff j <= i + offset

    d = (dout.float() * out.float()).sum(dim=-1)  # D_i = rowsum(dO ∘ O), (B, Hq, Nq)
    # A row that saw no key has lse = -inf; subtracting +inf there makes its P exactly 0.
    lse_safe = torch.where(lse == -math.inf, math.inf, lse)
    dq = torch.zeros(q.shape, dtype=torch.float32, device=q.device)
    dk = torch.empty(k.shape, dtype=k.dtype, device=k.device)
    dv = torch.empty(v.shape, dtype=v.dtype, device=v.device)

    for j0 in range(0, n_k, block_n):
        j1 = min(j0 + block_n, n_k)
        k_j = k[:, :, j0:j1].float().repeat_interleave(group, dim=1)
        v_j = v[:, :, j0:j1].float().repeat_interleave(group, dim=1)
        dk_j = torch.zeros_like(k_j)
        dv_j = torch.zeros_like(v_j)
        # Under causal, query i sees key j0 only from i = j0 - offset on.
        first_row = max(0, j0 - offset) if causal else 0
        for i0 in range(first_row - first_row % block_m, n_q, block_m):
            i1 = min(i0 + block_m, n_q)
            q_i = q[:, :, i0:i1].float()
            do_i = dout[:, :, i0:i1].float()

            s_ij = scale * (q_i @ k_j.transpose(-2, -1))
            if causal and j1 - 1 > i0 + offset:  # the block crosses the diagonal
                s_ij = s_ij.masked_fill(_causal_hidden(i0, i1, j0, j1, offset, q.device), -math.inf)
            p_ij = torch.exp(s_ij - lse_safe[:, :, i0:i1, None])
            dv_j += p_ij.transpose(-2, -1) @ do_i
            dp_ij = do_i @ v_j.transpose(-2, -1)
            ds_ij = p_ij * (dp_ij - d[:, :, i0:i1, None])
            dq[:, :, i0:i1] += scale * (ds_ij @ k_j)
            dk_j += scale * (ds_ij.transpose(-2, -1) @ q_i)

        # Each kv head gets the sum over the query heads that read it.
        dk[:, :, j0:j1] = dk_j.unflatten(1, (heads_kv, group)).sum(dim=2)
        dv[:, :, j0:j1] = dv_j.unflatten(1, (heads_kv, group)).sum(dim=2)
    return dq.to(q.dtype), dk, dv
