"""Wrong: safe_softmax calls torch.softmax, which the exercise bans.
(online_softmax is the reference's: only safe_softmax is under test.)"""

import torch

from solutions.level1.softmax import online_softmax  # noqa: F401


def safe_softmax(x):
    return torch.softmax(x.float(), dim=-1).to(x.dtype)
