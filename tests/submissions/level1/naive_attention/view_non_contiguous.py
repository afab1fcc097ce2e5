"""Wrong: flattens batch and heads with .view(), which raises on the transposed
(non-contiguous) inputs the contract allows; .reshape() would copy instead."""

import math

import torch


def naive_attention(q, k, v, causal=False, softmax_scale=None):
    scale = 1 / math.sqrt(q.shape[-1]) if softmax_scale is None else softmax_scale
    b, heads_q, n_q, d = q.shape
    dtype = q.dtype
    group = heads_q // k.shape[1]
    n_k, d_v = k.shape[2], v.shape[3]
    q = q.float().view(b * heads_q, n_q, d)
    k = k.repeat_interleave(group, dim=1).float().reshape(b * heads_q, n_k, d)
    v = v.repeat_interleave(group, dim=1).float().reshape(b * heads_q, n_k, d_v)
    s = scale * torch.bmm(q, k.transpose(1, 2))
    if causal:
        hidden = torch.arange(n_k)[None, :] > torch.arange(n_q)[:, None] + (n_k - n_q)
        s = s.masked_fill(hidden, -math.inf)
    m = s.amax(dim=-1, keepdim=True)
    m = torch.where(m == -math.inf, 0.0, m)
    p = torch.exp(s - m)
    l = p.sum(dim=-1, keepdim=True)
    out = torch.bmm(p / torch.where(l == 0, 1.0, l), v)
    lse = (m + torch.log(l)).squeeze(-1)
    return out.view(b, heads_q, n_q, d_v).to(dtype), lse.view(b, heads_q, n_q)
