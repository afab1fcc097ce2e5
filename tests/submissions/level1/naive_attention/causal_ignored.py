"""Wrong: the causal flag is accepted but never used."""

import math

import torch


def naive_attention(q, k, v, causal=False, softmax_scale=None):
    scale = 1 / math.sqrt(q.shape[-1]) if softmax_scale is None else softmax_scale
    group = q.shape[1] // k.shape[1]
    k = k.repeat_interleave(group, dim=1).float()
    v = v.repeat_interleave(group, dim=1).float()
    s = scale * (q.float() @ k.transpose(-2, -1))
    m = s.amax(dim=-1, keepdim=True)
    p = torch.exp(s - m)
    l = p.sum(dim=-1, keepdim=True)
    return (p / l @ v).to(q.dtype), (m + torch.log(l)).squeeze(-1)
