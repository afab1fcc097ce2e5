"""Correct, written another way: cut the cost line into equal stretches.

Lay the requests end to end on a line where request i takes n_i + fixed_cost units
(its fixed cost first, then one unit per block); part p owns the units
[p * C, (p + 1) * C) with C = ceil(total_cost / num_parts). A request goes to the
part that owns its blocks (split where a cut falls among them); an empty request to
the part that owns its last unit. Only a part's first piece can pay for units outside
its stretch (a continuation, or fixed units left before the cut), so no part costs
more than C + fixed_cost. The plans differ from FlashMLA's greedy walk.
"""

import torch


def plan_splits(cache_seqlens, num_parts, block_size=64, fixed_cost=5):
    """Plan by cutting the cost line at multiples of ceil(total_cost / num_parts)."""
    if not isinstance(cache_seqlens, torch.Tensor) or cache_seqlens.dim() != 1 \
            or cache_seqlens.dtype != torch.int32:
        raise ValueError("cache_seqlens must be a 1-D int32 tensor")
    for name, value, least in (("num_parts", num_parts, 1), ("block_size", block_size, 1),
                               ("fixed_cost", fixed_cost, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{name} must be an int >= {least}, got {value!r}")
    lengths = [int(n) for n in cache_seqlens]
    if any(n < 0 for n in lengths):
        raise ValueError("cache_seqlens must be >= 0")
    blocks = [-(-n // block_size) for n in lengths]
    stretch = max(1, -(-sum(n + fixed_cost for n in blocks) // num_parts))
    parts = [[] for _ in range(num_parts)]
    start = 0  # the unit where the current request begins
    for request, n in enumerate(blocks):
        first_block_unit = start + fixed_cost
        if n == 0:
            owner = min((start + fixed_cost - 1) // stretch, num_parts - 1) if fixed_cost else min(
                start // stretch, num_parts - 1)
            parts[owner].append((request, 0, 0))
        block = 0
        while block < n:
            owner = min((first_block_unit + block) // stretch, num_parts - 1)
            end = min(n, (owner + 1) * stretch - first_block_unit) if owner < num_parts - 1 else n
            parts[owner].append((request, block, end))
            block = end
        start += n + fixed_cost
    return parts
