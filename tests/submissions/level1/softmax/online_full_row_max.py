"""Wrong by the exercise's rule, right in value: online_softmax takes the max of
the whole row in one reduction, then sums block by block. The values match the
oracle; the structural check must catch the row-wide amax."""

import torch

from solutions.level1.softmax import safe_softmax  # noqa: F401


def online_softmax(x, block_size=128):
    n = x.shape[-1]
    m = x.float().amax(dim=-1, keepdim=True)
    l = torch.zeros_like(m)
    for start in range(0, n, block_size):
        l = l + torch.exp(x[..., start:start + block_size].float() - m).sum(dim=-1, keepdim=True)
    y = torch.empty_like(x)
    for start in range(0, n, block_size):
        y[..., start:start + block_size] = torch.exp(x[..., start:start + block_size].float() - m) / l
    return y
