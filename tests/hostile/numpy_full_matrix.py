"""Hostile: a right flash_attn_v2 that builds the whole Nq x Nk score matrix in numpy,
where the op recorder (which watches torch) cannot see it."""

import math

import numpy as np
import torch


def flash_attn_v2(q, k, v, causal=False, softmax_scale=None, block_m=64, block_n=64):
    scale = 1.0 / math.sqrt(q.shape[-1]) if softmax_scale is None else softmax_scale
    group = q.shape[1] // k.shape[1]
    qn = q.double().numpy()
    kn = k.double().repeat_interleave(group, dim=1).numpy()
    vn = v.double().repeat_interleave(group, dim=1).numpy()
    s = scale * (qn @ kn.swapaxes(-1, -2))
    if causal:
        n_q, n_k = s.shape[-2:]
        hidden = np.arange(n_k)[None, :] > np.arange(n_q)[:, None] + (n_k - n_q)
        s = np.where(hidden, -np.inf, s)
    m = s.max(axis=-1, keepdims=True)
    m_safe = np.where(np.isfinite(m), m, 0.0)
    p = np.exp(s - m_safe)
    l = p.sum(axis=-1, keepdims=True)
    out = np.where(l > 0, (p @ vn) / np.where(l > 0, l, 1.0), 0.0)
    lse = np.where(l[..., 0] > 0, m_safe[..., 0] + np.log(np.where(l[..., 0] > 0, l[..., 0], 1.0)), -np.inf)
    return torch.from_numpy(out).to(q.dtype), torch.from_numpy(lse).float()
