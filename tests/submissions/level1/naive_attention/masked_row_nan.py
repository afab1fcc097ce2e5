"""Wrong: the plain max-subtracted softmax, with no guard for a row that sees no
key (causal, Nq > Nk): its max is -inf and -inf - (-inf) is NaN."""

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
    p = torch.exp(s - m)
    l = p.sum(dim=-1, keepdim=True)
    return (p / l @ v).to(q.dtype), (m + torch.log(l)).squeeze(-1)
