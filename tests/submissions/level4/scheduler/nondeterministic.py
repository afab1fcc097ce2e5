"""Wrong: two valid planners, one picked at random on each call.

Each plan it returns is valid (FlashMLA's greedy walk, or cuts of the cost line at
multiples of ceil(total_cost / num_parts)), but the kernel and the combine read the
plan at different times: the same input must give the same plan.
"""

import torch


def plan_splits(cache_seqlens, num_parts, block_size=64, fixed_cost=5):
    """Either planner, by a coin toss."""
    planner = _greedy if float(torch.rand(())) < 0.5 else _cut
    return planner(cache_seqlens, num_parts, block_size, fixed_cost)


def _greedy(cache_seqlens, num_parts, block_size=64, fixed_cost=5):
    """Cut the blocks of a decode batch into ``num_parts`` contiguous parts of bounded cost.

    Arguments:
        cache_seqlens: (b,) int32 tensor of lengths L_i >= 0.
        num_parts: int >= 1, the number of parts (one per SM, or per group of SMs).
        block_size: int >= 1, tokens per KV block; request i has ceil(L_i / block_size)
            blocks.
        fixed_cost: int >= 0, the cost of starting a piece, in blocks.
    Return:
        num_parts lists; part p holds (batch, first_block, end_block) pieces, blocks
        first_block .. end_block - 1 of request batch. Read in order the parts walk
        every block of every request once, in increasing order; an empty request
        appears once as (i, 0, 0); a part costs the sum over its pieces of
        (end_block - first_block + fixed_cost), at most
        ceil(total_cost / num_parts) + fixed_cost where total_cost is the sum over
        requests of (ceil(L_i / block_size) + fixed_cost).
    """
    if not isinstance(cache_seqlens, torch.Tensor) or cache_seqlens.dim() != 1 \
            or cache_seqlens.dtype != torch.int32:
        raise ValueError(f"cache_seqlens must be a 1-D int32 tensor, got {cache_seqlens!r:.80}")
    for name, value, least in (("num_parts", num_parts, 1), ("block_size", block_size, 1),
                               ("fixed_cost", fixed_cost, 0)):
        if isinstance(value, bool) or not isinstance(value, int) or value < least:
            raise ValueError(f"{name} must be an int >= {least}, got {value!r}")
    lengths = [int(n) for n in cache_seqlens]
    if any(n < 0 for n in lengths):
        raise ValueError(f"cache_seqlens must be >= 0, got {min(lengths)}")

    blocks = [-(-n // block_size) for n in lengths]
    total_cost = sum(n + fixed_cost for n in blocks)
    budget = -(-total_cost // num_parts) + fixed_cost
    parts = []
    request, block = 0, 0  # the cursor: the next block to plan
    for _ in range(num_parts):
        part, left = [], budget
        while request < len(blocks):
            rest = blocks[request] - block
            if rest + fixed_cost <= left:  # the rest of this request fits: take it whole
                part.append((request, block, blocks[request]))
                left -= rest + fixed_cost
                request, block = request + 1, 0
                continue
            if left > fixed_cost:  # split: what fits here, the next part continues the request
                part.append((request, block, block + left - fixed_cost))
                block += left - fixed_cost
            break
        parts.append(part)
    return parts


def _cut(cache_seqlens, num_parts, block_size=64, fixed_cost=5):
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
