"""Correct, unusual: one head at a time in a Python loop, scores and output by
einsum, the kv head picked by index, the causal mask from torch.triu's diagonal."""

import math

import torch


def naive_attention(q, k, v, causal=False, softmax_scale=None):
    scale = 1 / math.sqrt(q.shape[-1]) if softmax_scale is None else softmax_scale
    heads_q, heads_kv = q.shape[1], k.shape[1]
    n_q, n_k = q.shape[2], k.shape[2]
    outs, lses = [], []
    for h in range(heads_q):
        kv = h // (heads_q // heads_kv)
        s = torch.einsum("bid,bjd->bij", q[:, h].float(), k[:, kv].float()) * scale
        if causal:
            hidden = torch.ones(n_q, n_k, dtype=torch.bool).triu(diagonal=n_k - n_q + 1)
            s = s.masked_fill(hidden, float("-inf"))
        m = s.amax(dim=-1)
        m = torch.where(torch.isinf(m), torch.zeros_like(m), m)
        p = torch.exp(s - m[..., None])
        l = p.sum(dim=-1)
        o = torch.einsum("bij,bjd->bid", p, v[:, kv].float()) / l.clamp(min=1e-30)[..., None]
        outs.append(o)
        lses.append(m + torch.log(l))
    return torch.stack(outs, dim=1).to(q.dtype), torch.stack(lses, dim=1)
