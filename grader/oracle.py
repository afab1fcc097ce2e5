"""The truth: float64 semantics of every graded function, independent of solutions/.

Everything here is written for clarity, not speed: it materialises full score
matrices in float64. Inputs are upcast, never modified; outputs are float64
(lse too) so the tolerance module can measure errors without rounding its own.
"""

from __future__ import annotations

import math

import torch

NEG_INF = float("-inf")


def visible_keys(n_q: int, n_k: int, causal: bool, *, offset: int | None = None) -> torch.Tensor | None:
    """Boolean ``[n_q, n_k]`` mask of the keys each query may see, or None for all.

    Bottom-right alignment: query ``i`` sees key ``j`` iff ``j <= i + offset`` with
    ``offset = n_k - n_q``. For ``n_q = 3, n_k = 5`` (x visible)::

        x x x . .
        x x x x .
        x x x x x

    ``offset`` exists so that diagnosis can build the top-left mask (offset 0).
    """
    if not causal:
        return None
    offset = n_k - n_q if offset is None else offset
    i = torch.arange(n_q).unsqueeze(1)
    j = torch.arange(n_k).unsqueeze(0)
    return j <= i + offset


def masked_attention(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    scale: float,
    visible: torch.Tensor | None,
    kv_head_of: torch.Tensor | None = None,
    dtype: torch.dtype = torch.float64,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention in float64 (or ``dtype``) with an explicit visibility mask.

    ``kv_head_of[h]`` is the kv head query head ``h`` reads (default: grouped,
    ``h // (Hq // Hkv)``). Rows with no visible key give ``out = 0``, ``lse = -inf``.
    """
    q, k, v = q.to(dtype), k.to(dtype), v.to(dtype)
    heads_q, heads_kv = q.shape[1], k.shape[1]
    if kv_head_of is None:
        kv_head_of = torch.arange(heads_q) // (heads_q // heads_kv)
    k, v = k[:, kv_head_of.to(k.device)], v[:, kv_head_of.to(v.device)]
    scores = scale * (q @ k.transpose(-1, -2))  # [B, Hq, Nq, Nk]
    if visible is not None:
        scores = scores.masked_fill(~visible.to(scores.device), NEG_INF)
    lse = torch.logsumexp(scores, dim=-1)  # -inf on rows with no visible key
    safe_lse = torch.where(torch.isinf(lse), torch.zeros_like(lse), lse)
    probs = torch.exp(scores - safe_lse.unsqueeze(-1))  # exp(-inf) = 0 on masked keys
    return probs @ v, lse


def attention(q, k, v, causal: bool = False, softmax_scale: float | None = None):
    """The spec's attention: ``(out, lse)`` in float64."""
    scale = 1.0 / math.sqrt(q.shape[-1]) if softmax_scale is None else softmax_scale
    return masked_attention(q, k, v, scale, visible_keys(q.shape[2], k.shape[2], causal))


def attention_backward(q, k, v, dout, causal: bool = False, softmax_scale: float | None = None):
    """``(dq, dk, dv)`` of ``sum(out * dout)`` in float64, by autograd through the oracle."""
    leaves = [t.detach().double().requires_grad_() for t in (q, k, v)]
    out, _ = attention(*leaves, causal=causal, softmax_scale=softmax_scale)
    return torch.autograd.grad(out, leaves, grad_outputs=dout.double())


def softmax(x: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dim in float64 (rows hold at least one finite value)."""
    x = x.double()
    e = torch.exp(x - x.amax(dim=-1, keepdim=True))
    return e / e.sum(dim=-1, keepdim=True)


def merge_softmax_stats(m_a, l_a, m_b, l_b):
    """Merge two (running max, sum of exp(x - max)) states; (-inf, 0) is empty."""
    m_a, l_a, m_b, l_b = (t.double() for t in (m_a, l_a, m_b, l_b))
    m = torch.maximum(m_a, m_b)
    finite = torch.isfinite(m)
    m_safe = torch.where(finite, m, torch.zeros_like(m))
    l = l_a * torch.exp(m_a - m_safe) + l_b * torch.exp(m_b - m_safe)
    return m, torch.where(finite, l, torch.zeros_like(l))


def merge_attention_states(o_a, lse_a, o_b, lse_b):
    """Combine attention over two disjoint key sets; lse = -inf marks an empty part."""
    o_a, lse_a, o_b, lse_b = (t.double() for t in (o_a, lse_a, o_b, lse_b))
    lse = torch.logaddexp(lse_a, lse_b)
    nonempty = torch.isfinite(lse)
    lse_safe = torch.where(nonempty, lse, torch.zeros_like(lse))
    w_a = torch.exp(lse_a - lse_safe).unsqueeze(-1)  # exp(-inf) = 0: an empty part weighs nothing
    w_b = torch.exp(lse_b - lse_safe).unsqueeze(-1)
    o = torch.where(nonempty.unsqueeze(-1), w_a * o_a + w_b * o_b, torch.zeros_like(o_a))
    return o, lse


def hbm_io_v1(n: int, d: int, block_m: int, block_n: int) -> tuple[int, int]:
    """FlashAttention v1, Algorithm 1, one head, elements: (reads, writes)."""
    tc = math.ceil(n / block_n)
    return 2 * n * d + tc * (2 * n * d + 2 * n), (n * d + 2 * n) + tc * (n * d + 2 * n)


def hbm_io_v2(n: int, d: int, block_m: int, block_n: int) -> tuple[int, int]:
    """FlashAttention-2 forward, one head, elements: (reads, writes)."""
    tr = math.ceil(n / block_m)
    return n * d + 2 * n * d * tr, n * d + n


def visible_pairs(n_q: int, n_k: int, causal: bool) -> int:
    """(query, key) pairs one head computes: all, or bottom-right causal (query i sees
    keys 0 .. i + n_k - n_q), counted row by row."""
    if not causal:
        return n_q * n_k
    return sum(min(n_k, max(0, i + n_k - n_q + 1)) for i in range(n_q))


def attention_flops(batch: int, heads: int, n_q: int, n_k: int, head_dim: int, head_dim_v: int,
                    causal: bool = False) -> int:
    """Forward FLOPs: 2 * head_dim for a score, 2 * head_dim_v for its share of P V."""
    return batch * heads * visible_pairs(n_q, n_k, causal) * 2 * (head_dim + head_dim_v)


def attention_min_bytes(batch: int, heads_q: int, heads_kv: int, n_q: int, n_k: int, head_dim: int,
                        head_dim_v: int, dtype_bytes: int) -> int:
    """q, k, v read once (k, v per kv head), out written once, float32 lse written once."""
    elements = batch * (heads_q * n_q * head_dim + heads_kv * n_k * (head_dim + head_dim_v) + heads_q * n_q * head_dim_v)
    return elements * dtype_bytes + batch * heads_q * n_q * 4


def roofline(flops: int, nbytes: int, peak_flops: float, peak_bytes_per_s: float) -> tuple[float, str]:
    """The slower resource's time, and its name ('compute' on a tie)."""
    compute, memory = flops / peak_flops, nbytes / peak_bytes_per_s
    return max(compute, memory), "compute" if compute >= memory else "memory"


def paged_sequence_keys(k_cache: torch.Tensor, block_table: torch.Tensor, length: int, row: int) -> torch.Tensor:
    """The ``length`` cached tokens of sequence ``row``, ``[length, h_kv, d]``: page by
    page through the first ``ceil(length / block_size)`` entries of its table row only
    (the entries after them may be any int32 and are never read)."""
    block_size = k_cache.shape[1]
    pages = [int(block_table[row, p]) for p in range(-(-length // block_size))]
    if not pages:
        return k_cache.new_zeros((0, *k_cache.shape[2:]))
    return torch.cat([k_cache[page] for page in pages])[:length]


def paged_mla(q, k_cache, block_table, cache_seqlens, head_dim_v: int, softmax_scale: float | None = None,
              causal: bool = False, dtype: torch.dtype = torch.float64, *, kv_head_of: torch.Tensor | None = None,
              causal_offset: int | None = None):
    """Level 4's decode over a paged cache, one sequence at a time: ``(out [b, s_q, h_q,
    dv], lse [b, h_q, s_q])`` in ``dtype`` (float64 for grading). The ``s_q`` queries
    are the last ``s_q`` tokens of the sequence, so the causal mask is the bottom-right
    one of `visible_keys`: ``j <= t + L - s_q``, i.e. ``j < L - (s_q - 1 - t)``.
    ``kv_head_of`` and ``causal_offset`` exist so that diagnosis can model mistakes
    (see `masked_attention`, `visible_keys`)."""
    batch, s_q, heads_q, dim = q.shape
    scale = dim ** -0.5 if softmax_scale is None else softmax_scale
    outs, lses = [], []
    for i in range(batch):
        length = int(cache_seqlens[i])
        keys = paged_sequence_keys(k_cache, block_table, length, i).to(dtype)  # [L, h_kv, d]
        k = keys.permute(1, 0, 2).unsqueeze(0)  # [1, h_kv, L, d]
        qi = q[i].to(dtype).permute(1, 0, 2).unsqueeze(0)  # [1, h_q, s_q, d]
        visible = visible_keys(s_q, length, causal, offset=causal_offset)
        out, lse = masked_attention(qi, k, k[..., :head_dim_v], scale, visible, kv_head_of, dtype=dtype)
        outs.append(out[0].permute(1, 0, 2))  # [s_q, h_q, dv]
        lses.append(lse[0])  # [h_q, s_q]
    return torch.stack(outs), torch.stack(lses)

