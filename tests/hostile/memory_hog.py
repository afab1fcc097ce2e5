"""Hostile: asks for far more memory than the grading machine should give one student
(an address-space limit turns it into an error instead of a machine thrashing)."""

import torch


def safe_softmax(x, block_size=128):
    hog = torch.empty(4 << 30, dtype=torch.uint8)  # 4 GiB; the test sets the limit to 3 GiB
    hog.fill_(1)
    return x


online_softmax = safe_softmax
