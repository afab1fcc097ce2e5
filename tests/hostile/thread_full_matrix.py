"""Hostile: a right flash_attn_v2 that computes plain attention (the whole Nq x Nk
matrix) in another thread, which the op recorder (a per-thread dispatch mode) does not
watch."""

import math
import threading

import torch


def _naive(q, k, v, causal, scale, out):
    group = q.shape[1] // k.shape[1]
    k, v = (t.float().repeat_interleave(group, dim=1) for t in (k, v))
    s = scale * (q.float() @ k.transpose(-1, -2))
    if causal:
        n_q, n_k = s.shape[-2:]
        hidden = torch.arange(n_k)[None, :] > torch.arange(n_q)[:, None] + (n_k - n_q)
        s = s.masked_fill(hidden, float("-inf"))
    m = s.amax(dim=-1, keepdim=True)
    m_safe = torch.where(torch.isfinite(m), m, 0.0)
    p = torch.exp(s - m_safe)
    l = p.sum(dim=-1, keepdim=True)
    out.append((torch.where(l > 0, (p @ v) / torch.where(l > 0, l, 1.0), 0.0).to(q.dtype),
                (m_safe + torch.log(l)).squeeze(-1)))


def flash_attn_v2(q, k, v, causal=False, softmax_scale=None, block_m=64, block_n=64):
    scale = 1.0 / math.sqrt(q.shape[-1]) if softmax_scale is None else softmax_scale
    out = []
    worker = threading.Thread(target=_naive, args=(q, k, v, causal, scale, out))
    worker.start()
    worker.join()
    return out[0]
