"""Correct, unusual: the softmax in base 2, with log2(e) folded into the scale as
Triton kernels do, and lse converted back to the natural log at the end."""

import math

import torch

LOG2E = 1.0 / math.log(2.0)
LN2 = math.log(2.0)


def naive_attention(q, k, v, causal=False, softmax_scale=None):
    scale = 1 / math.sqrt(q.shape[-1]) if softmax_scale is None else softmax_scale
    group = q.shape[1] // k.shape[1]
    k = k.repeat_interleave(group, dim=1).float()
    v = v.repeat_interleave(group, dim=1).float()
    s2 = (scale * LOG2E) * (q.float() @ k.transpose(-2, -1))
    if causal:
        n_q, n_k = q.shape[2], k.shape[2]
        hidden = torch.arange(n_k)[None, :] > torch.arange(n_q)[:, None] + (n_k - n_q)
        s2 = s2.masked_fill(hidden, -math.inf)
    m2 = s2.amax(dim=-1, keepdim=True)
    m2 = torch.where(m2 == -math.inf, 0.0, m2)
    p = torch.exp2(s2 - m2)
    l = p.sum(dim=-1, keepdim=True)
    out = (p / torch.where(l == 0, 1.0, l)) @ v
    return out.to(q.dtype), ((m2 + torch.log2(l)) * LN2).squeeze(-1)
