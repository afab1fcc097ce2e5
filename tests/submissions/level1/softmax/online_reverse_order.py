"""Correct, unusual: pass 1 walks the blocks from the last to the first (the
running max and normaliser do not care about the order), pass 2 writes the
output with one elementwise expression over the whole row (no reduction)."""

import math

import torch


def safe_softmax(x):
    x32 = x.float()
    m = x32.max(dim=-1, keepdim=True).values
    e = (x32 - m).exp()
    return (e / e.sum(dim=-1, keepdim=True)).to(x.dtype)


def online_softmax(x, block_size=128):
    x32 = x.float()
    n = x.shape[-1]
    m = torch.full((*x.shape[:-1], 1), -math.inf)
    l = torch.zeros_like(m)
    for start in reversed(range(0, n, block_size)):
        x_blk = x32[..., start:start + block_size]
        m_new = torch.maximum(m, x_blk.amax(dim=-1, keepdim=True))
        m_safe = torch.where(torch.isneginf(m_new), 0.0, m_new)
        l = l * torch.exp(m - m_safe) + torch.exp(x_blk - m_safe).sum(dim=-1, keepdim=True)
        m = m_new
    return (torch.exp(x32 - m) / l).to(x.dtype)
