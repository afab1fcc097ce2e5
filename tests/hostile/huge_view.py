"""Hostile: returns a small view of a storage just over 1 GiB (a naive reply ships the
whole storage and trips, or blocks on, the reader's size limit)."""

import torch


def safe_softmax(x, block_size=128):
    big = torch.zeros((1 << 30) // 4 + 1024, dtype=torch.float32)
    return big[: x.numel()].view(x.shape).to(x.dtype)


online_softmax = safe_softmax
