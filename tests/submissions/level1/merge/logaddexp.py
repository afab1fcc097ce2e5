"""Correct, unusual: both merges through torch.logaddexp, the stats by way of
their logsumexp (lse = m + log l) and back, in float64 so no precision is lost."""

import torch


def _safe(t):
    return torch.where(torch.isneginf(t), torch.zeros_like(t), t)


def merge_softmax_stats(m_a, l_a, m_b, l_b):
    dtype = torch.promote_types(torch.float32, m_a.dtype)
    m_a, l_a, m_b, l_b = (t.double() for t in (m_a, l_a, m_b, l_b))
    lse = torch.logaddexp(m_a + torch.log(l_a), m_b + torch.log(l_b))
    m = torch.maximum(m_a, m_b)
    return m.to(dtype), torch.exp(lse - _safe(m)).to(dtype)


def merge_attention_states(o_a, lse_a, o_b, lse_b):
    lse = torch.logaddexp(lse_a, lse_b)
    lse_safe = _safe(lse)[..., None]
    both_empty = torch.isneginf(lse)[..., None]
    o = torch.exp(lse_a[..., None] - lse_safe) * o_a.float() + torch.exp(lse_b[..., None] - lse_safe) * o_b.float()
    return torch.where(both_empty, 0.0, o).to(o_a.dtype), lse
