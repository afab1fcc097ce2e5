"""Wrong: computes in float32 (right) but forgets to cast out back to q.dtype, so
fp16 and bf16 inputs get a float32 out."""

import math

import torch


def naive_attention(q, k, v, causal=False, softmax_scale=None):
    scale = 1 / math.sqrt(q.shape[-1]) if softmax_scale is None else softmax_scale
    group = q.shape[1] // k.shape[1]
    k = k.repeat_interleave(group, dim=1).float()
    v = v.repeat_interleave(group, dim=1).float()
    s = scale * (q.float() @ k.transpose(-2, -1))
    if causal:
        n_q, n_k = q.shape[2], k.shape[2]
        hidden = torch.arange(n_k)[None, :] > torch.arange(n_q)[:, None] + (n_k - n_q)
        s = s.masked_fill(hidden, -math.inf)
    m = s.amax(dim=-1, keepdim=True)
    m = torch.where(m == -math.inf, 0.0, m)
    p = torch.exp(s - m)
    l = p.sum(dim=-1, keepdim=True)
    out = (p / torch.where(l == 0, 1.0, l)) @ v
    return out, (m + torch.log(l)).squeeze(-1)
