"""Splitting a decode batch across the GPU: FlashMLA's tile scheduler.

You will write the planner that decides which streaming multiprocessor decodes which
part of which sequence. A decode batch mixes sequences of very different lengths
(a chat turn of 300 tokens beside a document of 30 000); one program per sequence
leaves most SMs idle while the longest sequence finishes. FlashMLA instead lays every
sequence's KV blocks end to end and cuts that walk into ``num_parts`` stretches of
nearly equal cost, one per SM, splitting a sequence where a cut falls inside it; the
partial results of a split sequence are merged afterwards (the Level 1 merge).

The task
--------
Implement ``plan_splits(cache_seqlens, num_parts, block_size, fixed_cost)``: plan the
work of one decode step. Request (sequence) ``i`` of length ``L_i`` has
``n_i = ceil(L_i / block_size)`` KV blocks. Return ``num_parts`` lists, one per part;
part ``p`` is a list of *pieces* ``(batch, first_block, end_block)``: blocks
``first_block .. end_block - 1`` of request ``batch``.

The cost model
--------------
Processing a piece costs its blocks plus a fixed cost (starting on a request: loading
its queries, setting up the softmax state, writing a partial result to be merged)::

    cost(piece)  = (end_block - first_block) + fixed_cost
    cost(part)   = sum of cost(piece) over the part's pieces
    total_cost   = sum over requests of (n_i + fixed_cost)      (every request in one piece)
    budget       = ceil(total_cost / num_parts) + fixed_cost

Every piece pays ``fixed_cost``, so a request cut into three pieces costs ``n_i + 3 *
fixed_cost``: splitting is not free, which is why the budget has one ``fixed_cost`` of
slack above the even share. An empty request (``L_i = 0``) still costs ``fixed_cost``:
its output row (zeros, ``lse = -inf``) must be written by someone.

The plan must satisfy (these are what the grader checks, each on its own):

1. **cover**: every block of every request is in exactly one piece; a piece of a
   non-empty request covers at least one block (``first_block < end_block <= n_i``).
2. **order**: read part 0, then part 1, ..., the pieces walk the requests in increasing
   order and each request's blocks in increasing order, each piece starting where the
   previous one ended; so each part is one contiguous stretch of the walk, and a
   request is split only between consecutive parts.
3. **cost_bound**: no part costs more than ``budget``.
4. **empty_requests**: an empty request appears exactly once, as ``(i, 0, 0)``, at its
   place in the walk.
5. **deterministic**: the same input gives the same plan (the kernel and the combine
   read it at different times).

With ``block_size = 64``, ``fixed_cost = 5``, lengths ``[640, 0, 64, 1280]`` (10, 0, 1
and 20 blocks: total ``15 + 5 + 6 + 25 = 51``) and ``num_parts = 3`` the budget is
``17 + 5 = 22``; one valid plan (FlashMLA's greedy)::

    part 0: (0, 0, 10) cost 15, (1, 0, 0) cost 5           -> 20; request 2 (cost 6) does not fit
    part 1: (2, 0, 1) cost 6, (3, 0, 11) cost 16            -> 22, request 3 split
    part 2: (3, 11, 20) cost 14                              -> 14

The signature
-------------
``plan_splits(cache_seqlens, num_parts, block_size=64, fixed_cost=5) -> list[list[tuple[int, int, int]]]``

=============  ======================  =================================================
name           type                    constraints
=============  ======================  =================================================
cache_seqlens  (b,) int32 tensor       every L_i >= 0; b may be 0
num_parts      int                     >= 1 (FlashMLA: a share of the SM count)
block_size     int                     >= 1
fixed_cost     int                     >= 0
return         list of num_parts       each a list (maybe empty) of (batch, first_block,
               lists                   end_block) tuples of Python ints
=============  ======================  =================================================

Bad arguments raise ``ValueError`` (or ``TypeError``) naming the argument.

The cost
--------
``O(b + num_parts)`` Python steps. On the GPU FlashMLA runs this once per decode step
(``get_mla_metadata``) in a tiny kernel, and the same plan serves all of a model's
layers: the lengths do not change between layers.

Hints
-----
1. Read the lengths with ``int(n)`` for ``n`` in the tensor, and make the block counts
   ``-(-L // block_size)`` (ceil without floats).
2. Walk the parts in order with a cursor ``(request, block)`` that survives from one
   part to the next, and a remaining ``budget`` per part.
3. If the rest of the current request (``n_i - block`` blocks plus ``fixed_cost``) fits
   in what remains, take it whole and move to the next request (an empty request costs
   ``fixed_cost`` only).
4. Otherwise, if more than ``fixed_cost`` remains, take ``remaining - fixed_cost`` blocks
   of it; the cursor stays inside the request and the next part continues it. Then
   close the part either way.
5. Why this always covers everything: a part closes with at most ``fixed_cost`` unused,
   or after a split whose continuation pays one extra ``fixed_cost`` in the next part;
   ``num_parts`` budgets hold ``total_cost + num_parts * fixed_cost``, more than the
   walk plus those ``num_parts - 1`` losses.

How it is graded
----------------
``course grade level4.scheduler``. Random batches (0 to 40 requests, many empty, lengths
up to several thousand, ``num_parts`` from 1 to 132, block sizes 16 to 128, fixed costs
0 to 10) are planned by your function and each property above is checked separately;
a failure shows the smallest batch hypothesis could shrink it to and says which block,
part or piece breaks the property. A point is for rejecting bad arguments, counted once
the properties hold.
"""

import torch


def plan_splits(cache_seqlens, num_parts, block_size=64, fixed_cost=5):
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
    raise NotImplementedError('level4.scheduler.plan_splits: not implemented yet')
