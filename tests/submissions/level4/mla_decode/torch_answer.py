"""Cheat: the PyTorch reference handed in as the Triton exercise; no kernel at all."""


import torch

from grader.contract import check_paged_inputs, resolve_scale


def mla_decode(q, k_cache, block_table, cache_seqlens, head_dim_v, softmax_scale=None, causal=False, num_splits=None):
    """Attention of ``q`` over a paged KV cache, in PyTorch with float32 accumulation.

    Arguments:
        q: (b, s_q, h_q, d), float32, float16 or bfloat16; any strides.
        k_cache: (num_blocks, block_size, h_kv, d), dtype of q; h_q % h_kv == 0. V is
            k_cache[..., :head_dim_v].
        block_table: (b, max_blocks) int32. Token t of sequence i lives in page
            block_table[i, t // block_size], slot t % block_size; entries past the
            first ceil(L / block_size) of a row may be any int32 and are never read.
        cache_seqlens: (b,) int32, the lengths L, 0 <= L <= max_blocks * block_size.
        head_dim_v: int, 1 <= head_dim_v <= d.
        softmax_scale: float; None means d ** -0.5 (d the full q/k dim).
        causal: bool. Query t sees key j iff j < L - (s_q - 1 - t).
    Return:
        out: (b, s_q, h_q, head_dim_v), dtype of q; 0 on a row with no visible key.
        lse: (b, h_q, s_q) float32, natural-log logsumexp of the scaled scores over the
            visible keys; -inf on a row with none.
    """
    check_paged_inputs(q, k_cache, block_table, cache_seqlens, head_dim_v)
    batch, s_q, heads_q, dim = q.shape
    _, block_size, heads_kv, _ = k_cache.shape
    group = heads_q // heads_kv
    scale = resolve_scale(softmax_scale, dim)
    lengths = cache_seqlens.long()
    pages = -(-int(lengths.max()) // block_size) if batch else 0
    slots = pages * block_size

    used = torch.arange(pages, device=q.device) < (-(-lengths // block_size)).unsqueeze(1)  # [b, pages]
    table = torch.where(used, block_table[:, :pages].long(), 0)  # unused entries are never an index
    keys = k_cache[table].reshape(batch, slots, heads_kv, dim)  # [b, slots, h_kv, d]: the sequences' pages
    token = torch.arange(slots, device=q.device)
    real = token < lengths.unsqueeze(1)  # [b, slots]
    keys = torch.where(real[:, :, None, None], keys, 0).float()  # NaN past L removed by selection, not * 0

    # query t sees key j iff j < L - (s_q - 1 - t); without causal, iff j < L
    hidden_tail = (s_q - 1 - torch.arange(s_q, device=q.device)) * int(causal)
    limit = lengths.unsqueeze(1) - hidden_tail  # [b, s_q]: the keys each query sees end here
    visible = token < limit.unsqueeze(2)  # [b, s_q, slots]

    q_groups = q.float().reshape(batch, s_q, heads_kv, group, dim)
    scores = scale * torch.einsum("bthgd,bjhd->bhgtj", q_groups, keys)  # [b, h_kv, group, s_q, slots]
    scores = scores.masked_fill(~visible[:, None, None], float("-inf"))
    lse = torch.logsumexp(scores, dim=-1)  # -inf on a row with no visible key
    probs = torch.exp(scores - torch.where(torch.isinf(lse), 0.0, lse).unsqueeze(-1))
    out = torch.einsum("bhgtj,bjhe->bthge", probs, keys[..., :head_dim_v])
    out = out.reshape(batch, s_q, heads_q, head_dim_v).to(q.dtype)
    return out, lse.reshape(batch, heads_q, s_q)
