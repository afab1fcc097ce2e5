"""Hostile: hides the banned torch.softmax behind a torch.library custom op, whose body
runs out of the op recorder's sight."""

import torch


@torch.library.custom_op("hostile::hidden_softmax", mutates_args=())
def _hidden_softmax(x: torch.Tensor) -> torch.Tensor:
    return torch.softmax(x.float(), dim=-1).to(x.dtype)


def safe_softmax(x, block_size=128):
    return _hidden_softmax(x)


online_softmax = safe_softmax
