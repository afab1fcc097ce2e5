"""Wrong: the softmax exponentiates the raw scores, without subtracting the row max, so
a row whose scores pass ~88 overflows to inf and gives NaN."""

import math

import torch


def naive_attention(q, k, v, causal=False, softmax_scale=None):
    scale = 1.0 / math.sqrt(q.shape[-1]) if softmax_scale is None else softmax_scale
    group = q.shape[1] // k.shape[1]
    k, v = (t.float().repeat_interleave(group, dim=1) for t in (k, v))
    s = scale * (q.float() @ k.transpose(-1, -2))
    if causal:
        n_q, n_k = s.shape[-2:]
        hidden = torch.arange(n_k)[None, :] > torch.arange(n_q)[:, None] + (n_k - n_q)
        s = s.masked_fill(hidden, float("-inf"))
    e = torch.exp(s)
    l = e.sum(dim=-1, keepdim=True)
    out = torch.where(l > 0, (e @ v) / torch.where(l > 0, l, 1.0), 0.0)
    return out.to(q.dtype), torch.log(l).squeeze(-1)
