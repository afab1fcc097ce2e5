"""Correct, written another way: one sequence at a time, its pages gathered in a Python
loop, torch.softmax over the visible keys, an empty row handled explicitly."""

import math

import torch

from grader.contract import check_paged_inputs, resolve_scale


def mla_decode_reference(q, k_cache, block_table, cache_seqlens, head_dim_v, softmax_scale=None, causal=False):
    """Per-sequence loop."""
    check_paged_inputs(q, k_cache, block_table, cache_seqlens, head_dim_v)
    batch, s_q, heads_q, dim = q.shape
    block_size, heads_kv = k_cache.shape[1], k_cache.shape[2]
    scale = resolve_scale(softmax_scale, dim)
    out = torch.zeros(batch, s_q, heads_q, head_dim_v, dtype=q.dtype, device=q.device)
    lse = torch.full((batch, heads_q, s_q), float("-inf"), device=q.device)
    for i in range(batch):
        length = int(cache_seqlens[i])
        if length == 0:
            continue
        pages = [int(block_table[i, p]) for p in range(math.ceil(length / block_size))]
        keys = torch.cat([k_cache[p] for p in pages])[:length].float()  # [L, h_kv, d]
        keys = keys.repeat_interleave(heads_q // heads_kv, dim=1).transpose(0, 1)  # [h_q, L, d]
        scores = scale * (q[i].float().transpose(0, 1) @ keys.transpose(1, 2))  # [h_q, s_q, L]
        for t in range(s_q):
            seen = length - (s_q - 1 - t) if causal else length
            if seen <= 0:
                continue
            row = scores[:, t, :seen]
            lse[i, :, t] = torch.logsumexp(row, dim=-1)
            out[i, t] = (torch.softmax(row, dim=-1).unsqueeze(1) @ keys[:, :seen, :head_dim_v]).squeeze(1).to(q.dtype)
    return out, lse
