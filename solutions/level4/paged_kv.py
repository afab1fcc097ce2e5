"""MLA decode over a paged KV cache: the PyTorch reference.

You will write the function every decode kernel of this level is checked against:
attention of a few new query tokens over a long cached history that lives in a
*paged* KV cache, the way vLLM and FlashMLA store it. On the way you learn how a
block table maps a sequence onto pages of a shared pool, why the slots past a
sequence's end must be masked by selection (not by multiplying with 0), and the
shapes and conventions of DeepSeek's multi-head latent attention (MLA) at decode time.

The task
--------
Implement ``mla_decode_reference(q, k_cache, block_table, cache_seqlens, head_dim_v,
softmax_scale, causal)`` in PyTorch: gather each sequence's keys through its row of the
block table, then attention with float32 accumulation. There is no separate V tensor:
in MLA the values are the first ``head_dim_v`` channels of the cached keys (the
compressed latent ``c_kv``; the last 64 of DeepSeek's 576 channels are the rotary part
that only the scores use).

The memory picture
------------------
The cache is one pool of fixed-size pages shared by every sequence of the batch. A
sequence owns a list of pages, in order, wherever they happen to sit in the pool: its
row of ``block_table``. Token ``t`` of sequence ``i`` lives at
``k_cache[block_table[i, t // block_size], t % block_size]``. With ``block_size = 4``::

    k_cache (the pool, num_blocks = 6 pages of 4 slots)
      page:    0          1          2          3          4          5
            [a4 a5 a6 ~][b0 b1 b2 b3][a0 a1 a2 a3][~  ~  ~  ~][b4 ~  ~  ~][~  ~  ~  ~]

    block_table              cache_seqlens
      seq a: [ 2,  0,  7_000_000 ]   L = 7   pages 2, 0         (3rd entry unused)
      seq b: [ 1,  4,  -3        ]   L = 5   pages 1, 4         (3rd entry unused)

    ~ : slots past a sequence's length, and pages no sequence uses (NaN in the grader)

Only the first ``ceil(L / block_size)`` entries of a row are pages of the sequence; the
entries after them are leftovers of the allocator and may be any int32 (``7_000_000``,
``-3``), so they must never be used as an index. The slots past ``L`` in the last page,
and unused pages, may hold anything, NaN included: ``0 * NaN`` is NaN, so a key past
``L`` must be *excluded* (``torch.where``, ``masked_fill``, or not gathered), never
weighted by zero. ``L = 0`` is a sequence with no key: its rows give ``out = 0`` and
``lse = -inf``.

The math
--------
For sequence ``i`` with ``L`` cached tokens ``K`` (``[L, h_kv, d]``, gathered), values
``V = K[..., :head_dim_v]``, query token ``t`` and query head ``h`` (reading kv head
``h // (h_q // h_kv)``)::

    s_j    = softmax_scale * q[i, t, h] . K[j, kv(h)]       for the visible keys j
    lse    = log(sum_j exp(s_j))                            (natural log; -inf if none)
    out    = sum_j exp(s_j - lse) * V[j, kv(h)]             (0 if none)

``softmax_scale=None`` means ``d ** -0.5`` with ``d`` the full q/k dim (576 in DeepSeek,
not the 512 of V). The ``s_q`` query tokens of a step are the *last* ``s_q`` tokens of
the sequence (speculative decoding verifies several at once), so with ``causal`` query
``t`` sees key ``j`` iff ``j < L - (s_q - 1 - t)``; with ``s_q = 1`` causal changes
nothing. With ``L = 5``, ``s_q = 3``::

      key  0 1 2 3 4
    q0     x x x . .
    q1     x x x x .
    q2     x x x x x

The signature
-------------
``mla_decode_reference(q, k_cache, block_table, cache_seqlens, head_dim_v, softmax_scale=None, causal=False) -> (out, lse)``

=============  ===============================  ============  ================================
name           shape                            dtype         constraints
=============  ===============================  ============  ================================
q              (b, s_q, h_q, d)                 fp32, fp16,   any strides
                                                bf16
k_cache        (num_blocks, block_size, h_kv,   same as q     h_q % h_kv == 0; any block_size
               d)
block_table    (b, max_blocks)                  int32         used entries are pages of the
                                                              pool; the rest any int32
cache_seqlens  (b,)                             int32         0 <= L <= max_blocks*block_size
head_dim_v     int                                            1 <= head_dim_v <= d
out            (b, s_q, h_q, head_dim_v)        q.dtype       0 on a row with no visible key
lse            (b, h_q, s_q)                    float32       note the axis order (FlashMLA's)
=============  ===============================  ============  ================================

Accumulate in float32 whatever the input dtype; never modify an input. Bad input
raises ``ValueError`` (or ``TypeError``) naming the argument:
``grader.contract.check_paged_inputs`` does every check, the used block-table entries
and the lengths included.

The cost
--------
Every cached token is read once per kv head: ``sum(L) * h_kv * d`` elements, plus ``q``
and ``out``. Each token costs ``2 * s_q * h_q * (d + head_dim_v)`` FLOPs (the scores
and ``P V``). At DeepSeek's ``d = 576``, ``head_dim_v = 512``, ``h_kv = 1`` in bf16 that
is about ``1.9 * h_q * s_q`` FLOPs per byte read: with few query heads the cache read
sets the time. This reference materialises the gathered keys and the scores (memory
``b * max(L) * (h_kv * d + h_q * s_q)`` floats): fine for checking, not a kernel.

Hints
-----
1. Work out the page count once: ``pages = ceil(max(L) / block_size)``; the keys of the
   whole batch fit in ``[b, pages * block_size]`` token slots.
2. Which table entries are used: ``torch.arange(pages) < ceil(L / block_size)[:, None]``.
   Replace the unused ones by a valid page (0) *before* indexing ``k_cache`` with them,
   then gather ``k_cache[table]`` and flatten pages and slots into tokens.
3. Which token slots are real: ``torch.arange(pages * block_size) < L[:, None]``. Zero
   the keys elsewhere with ``torch.where`` (this removes the NaN) and set those scores to
   ``-inf``. Add the causal condition ``j < L - (s_q - 1 - t)`` to the same mask.
4. Group the query heads by kv head (``q.reshape(b, s_q, h_kv, h_q // h_kv, d)``) so one
   ``einsum`` computes every score in float32.
5. ``lse = torch.logsumexp(scores, -1)`` is ``-inf`` on a row with no visible key;
   ``exp(scores - lse)`` there is ``exp(-inf + inf)`` = NaN: subtract ``0`` on such rows.
6. ``lse`` is ``[b, h_q, s_q]`` while ``out`` is ``[b, s_q, h_q, head_dim_v]``.

How it is graded
----------------
``course grade level4.paged_kv``. Random cases built the way FlashMLA's tests build
them (shuffled block tables, NaN in every slot past each length and in unused pages,
random int32 entries, out of range too, past the used pages, lengths of 0 and at page
boundaries, ``s_q`` in 1, 2, 4, up to 128 query heads, block sizes 16 to 64, ``d``
and ``head_dim_v`` up to 576 and 512, small and large logits, fp32/fp16/bf16) are
compared with a float64 oracle on NaN-poisoned outputs, then edge cases (empty
sequences, causal rows that see nothing) and a NaN-and-garbage case. A point is for
rejecting bad input with a clear error, counted once the oracle check passed.
"""

import torch

from grader.contract import check_paged_inputs, resolve_scale


def mla_decode_reference(q, k_cache, block_table, cache_seqlens, head_dim_v, softmax_scale=None, causal=False):
    """Attention of ``q`` over a paged KV cache, in PyTorch with float32 accumulation.

    Arguments:
        q: (b, s_q, h_q, d), float32, float16 or bfloat16; any strides.
        k_cache: (num_blocks, block_size, h_kv, d), dtype of q; h_q % h_kv == 0. V is
            k_cache[..., :head_dim_v].
        block_table: (b, max_blocks) int32. Token t of sequence i lives in page
            block_table[i, t // block_size], slot t % block_size; entries past the
            first ceil(L / block_size) of a row may be any int32 and are never read.
        cache_seqlens: (b,) int32, the lengths L, 0 <= L <= max_blocks * block_size.
        head_dim_v: int, 1 <= head_dim_v <= d.
        softmax_scale: float; None means d ** -0.5 (d the full q/k dim).
        causal: bool. Query t sees key j iff j < L - (s_q - 1 - t).
    Return:
        out: (b, s_q, h_q, head_dim_v), dtype of q; 0 on a row with no visible key.
        lse: (b, h_q, s_q) float32, natural-log logsumexp of the scaled scores over the
            visible keys; -inf on a row with none.
    """
    check_paged_inputs(q, k_cache, block_table, cache_seqlens, head_dim_v)
    batch, s_q, heads_q, dim = q.shape
    _, block_size, heads_kv, _ = k_cache.shape
    group = heads_q // heads_kv
    scale = resolve_scale(softmax_scale, dim)
    lengths = cache_seqlens.long()
    pages = -(-int(lengths.max()) // block_size) if batch else 0
    slots = pages * block_size

    used = torch.arange(pages, device=q.device) < (-(-lengths // block_size)).unsqueeze(1)  # [b, pages]
    table = torch.where(used, block_table[:, :pages].long(), 0)  # unused entries are never an index
    keys = k_cache[table].reshape(batch, slots, heads_kv, dim)  # [b, slots, h_kv, d]: the sequences' pages
    token = torch.arange(slots, device=q.device)
    real = token < lengths.unsqueeze(1)  # [b, slots]
    keys = torch.where(real[:, :, None, None], keys, 0).float()  # NaN past L removed by selection, not * 0

    # query t sees key j iff j < L - (s_q - 1 - t); without causal, iff j < L
    hidden_tail = (s_q - 1 - torch.arange(s_q, device=q.device)) * int(causal)
    limit = lengths.unsqueeze(1) - hidden_tail  # [b, s_q]: the keys each query sees end here
    visible = token < limit.unsqueeze(2)  # [b, s_q, slots]

    q_groups = q.float().reshape(batch, s_q, heads_kv, group, dim)
    scores = scale * torch.einsum("bthgd,bjhd->bhgtj", q_groups, keys)  # [b, h_kv, group, s_q, slots]
    scores = scores.masked_fill(~visible[:, None, None], float("-inf"))
    lse = torch.logsumexp(scores, dim=-1)  # -inf on a row with no visible key
    probs = torch.exp(scores - torch.where(torch.isinf(lse), 0.0, lse).unsqueeze(-1))
    out = torch.einsum("bhgtj,bjhe->bthge", probs, keys[..., :head_dim_v])
    out = out.reshape(batch, s_q, heads_q, head_dim_v).to(q.dtype)
    return out, lse.reshape(batch, heads_q, s_q)
