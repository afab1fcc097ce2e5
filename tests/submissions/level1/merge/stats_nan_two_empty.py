"""Wrong: merge_softmax_stats is the textbook formula with no guard, so merging two
empty states computes exp(-inf - (-inf)) = NaN instead of (-inf, 0).
(merge_attention_states is the reference's.)"""

import torch

from solutions.level1.merge import merge_attention_states  # noqa: F401


def merge_softmax_stats(m_a, l_a, m_b, l_b):
    m = torch.maximum(m_a, m_b)
    return m, l_a * torch.exp(m_a - m) + l_b * torch.exp(m_b - m)
