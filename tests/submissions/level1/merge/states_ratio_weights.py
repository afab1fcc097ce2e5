"""Correct, unusual: the weights are exp(lse_a - m) / s and exp(lse_b - m) / s with
m = max(lse_a, lse_b) and s their sum, so no weight depends on a float32 lse in the
thousands (more accurate than exp(lse_a - lse) there); lse = m + log(s) is returned
alongside."""

import torch

from solutions.level1.merge import merge_softmax_stats  # noqa: F401


def merge_attention_states(o_a, lse_a, o_b, lse_b):
    m = torch.maximum(lse_a, lse_b)
    m_safe = torch.where(torch.isneginf(m), 0.0, m)
    e_a, e_b = torch.exp(lse_a - m_safe), torch.exp(lse_b - m_safe)
    s = e_a + e_b
    s_safe = torch.where(s == 0, 1.0, s)[..., None]  # both parts empty: s = 0, and o must be 0
    o = torch.where(torch.isneginf(lse_a)[..., None], 0.0, e_a[..., None] / s_safe * o_a.float())
    o = o + torch.where(torch.isneginf(lse_b)[..., None], 0.0, e_b[..., None] / s_safe * o_b.float())
    return o.to(o_a.dtype), m_safe + torch.log(s)
