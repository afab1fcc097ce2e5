"""Wrong: every request goes whole into part 0; the other parts stay empty.

A valid walk (every block once, in order, empty requests included, deterministic),
but one SM does all the work: part 0 costs total_cost, far over the budget.
"""

import torch


def plan_splits(cache_seqlens, num_parts, block_size=64, fixed_cost=5):
    """Everything on the first part."""
    if num_parts < 1 or block_size < 1 or fixed_cost < 0 or isinstance(num_parts, bool):
        raise ValueError("num_parts, block_size, fixed_cost out of range")
    if cache_seqlens.dtype != torch.int32:
        raise ValueError("cache_seqlens must be int32")
    lengths = [int(n) for n in cache_seqlens]
    if any(n < 0 for n in lengths):
        raise ValueError("cache_seqlens must be >= 0")
    pieces = [(i, 0, -(-n // block_size)) for i, n in enumerate(lengths)]
    return [pieces] + [[] for _ in range(num_parts - 1)]
