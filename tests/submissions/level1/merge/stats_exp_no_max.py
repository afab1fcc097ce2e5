"""Wrong: merges the softmax states through the unnormalised sums, without
subtracting the max first:

    m = max(m_a, m_b)
    l = (l_a * exp(m_a) + l_b * exp(m_b)) / exp(m)

Right while |m| stays below ~88, but in float32 exp(m) is inf past 88.7 and 0 below
-103, where long rows of large logits put the running max. Two empty states are
handled, so the overflow is the only bug. (merge_attention_states is the reference's.)"""

import torch

from solutions.level1.merge import merge_attention_states  # noqa: F401


def merge_softmax_stats(m_a, l_a, m_b, l_b):
    m = torch.maximum(m_a, m_b)
    total = l_a * torch.exp(m_a) + l_b * torch.exp(m_b)
    return m, torch.where(torch.isneginf(m), 0.0, total / torch.exp(m))
