"""Correct, written another way: flash-decoding in PyTorch. The whole batch walks its
pages one at a time (page p of every sequence at once) with a running max, normaliser
and accumulator; unused table entries are replaced by page 0 before indexing, and the
slots past each length are excluded by torch.where."""

import torch

from grader.contract import check_paged_inputs, resolve_scale


def mla_decode_reference(q, k_cache, block_table, cache_seqlens, head_dim_v, softmax_scale=None, causal=False):
    """Online softmax over pages."""
    check_paged_inputs(q, k_cache, block_table, cache_seqlens, head_dim_v)
    batch, s_q, heads_q, dim = q.shape
    block_size, heads_kv = k_cache.shape[1], k_cache.shape[2]
    group = heads_q // heads_kv
    scale = resolve_scale(softmax_scale, dim)
    lengths = cache_seqlens.long()
    qf = q.float().reshape(batch, s_q, heads_kv, group, dim)
    m = torch.full((batch, heads_kv, group, s_q), float("-inf"), device=q.device)
    l = torch.zeros_like(m)
    acc = torch.zeros(batch, heads_kv, group, s_q, head_dim_v, device=q.device)
    queries = torch.arange(s_q, device=q.device)
    ends = lengths[:, None] - ((s_q - 1 - queries) if causal else 0)  # [b, s_q]: keys < end are visible
    pages = -(-int(lengths.max()) // block_size) if batch else 0
    for p in range(pages):
        used = p * block_size < lengths  # [b]
        page = torch.where(used, block_table[:, p].long(), 0)
        tile = k_cache[page].float()  # [b, block_size, h_kv, d]
        token = p * block_size + torch.arange(block_size, device=q.device)
        tile = torch.where((token[None, :] < lengths[:, None])[:, :, None, None], tile, 0.0)
        s = scale * torch.einsum("bthgd,bjhd->bhgtj", qf, tile)
        visible = token[None, None, :] < ends[:, :, None]  # [b, s_q, block_size]
        s = s.masked_fill(~visible[:, None, None], float("-inf"))
        m_new = torch.maximum(m, s.amax(dim=-1))
        m_safe = torch.where(torch.isinf(m_new), 0.0, m_new)
        alpha = torch.exp(m - m_safe)
        probs = torch.exp(s - m_safe.unsqueeze(-1))
        l = alpha * l + probs.sum(dim=-1)
        acc = alpha.unsqueeze(-1) * acc + torch.einsum("bhgtj,bjhe->bhgte", probs, tile[..., :head_dim_v])
        m = m_new
    seen = l > 0
    out = torch.where(seen.unsqueeze(-1), acc / torch.where(seen, l, 1.0).unsqueeze(-1), 0.0)
    lse = torch.where(seen, m + torch.log(torch.where(seen, l, 1.0)), float("-inf"))
    out = out.permute(0, 3, 1, 2, 4).reshape(batch, s_q, heads_q, head_dim_v).to(q.dtype)
    return out, lse.reshape(batch, heads_q, s_q)
