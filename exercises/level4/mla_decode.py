"""MLA decode in Triton: a split-KV kernel and its combine (flash-decoding).

You will write the kernel that serves DeepSeek's multi-head latent attention at decode
time, the job FlashMLA does in production: a few new query tokens per sequence attend
over a long history held in a paged KV cache. On the way you learn why decode is a
memory problem at few heads and a compute problem at many, why every query head of a
kv head must share each KV tile, and how splitting the keys across programs
(flash-decoding) and merging the partial results (the Level 1 merge, now on the GPU)
keeps every SM busy when the batch is small.

The task
--------
Implement ``mla_decode(q, k_cache, block_table, cache_seqlens, head_dim_v,
softmax_scale, causal, num_splits)``: the same function as ``level4.paged_kv``'s
reference (same inputs, same outputs, same NaN-safe tails and garbage table entries),
as two ``@triton.jit`` kernels and a wrapper:

1. a *split* kernel over the grid ``(row block, kv head x split, batch)``: each program
   walks its share of one sequence's pages through the block table, with all query
   rows of that kv head (``h_q / h_kv`` heads times ``s_q`` tokens) in one tile, and
   writes a partial ``(o, lse)``;
2. a *combine* kernel that merges the ``num_splits`` partial results of each row into
   ``out`` and ``lse``, stable for any lse (an empty split has ``lse = -inf``).

``num_splits=None`` chooses the number of splits from the batch, the lengths (the
table's width) and the SM count; an explicit ``num_splits`` (any ``>= 1``, even more
than a sequence has blocks) must give the same answer.

The math
--------
Split ``s`` of sequence ``i`` owns the key range ``[start_s, end_s)``. Over its visible
keys it runs the online softmax of Level 2 (``m``, ``l``, ``acc``; base 2 inside the
kernel) and stores, per query row::

    o_s   = acc / l          (0 when the split saw no key)
    lse_s = m + log(l)       (natural log; -inf when the split saw no key)

The combine is the Level 1 merge over the splits::

    lse   = lse_max + log(sum_s exp(lse_s - lse_max))      lse_max = max_s lse_s
    out   = sum_s exp(lse_s - lse) * o_s

``exp(lse_s)`` alone overflows float32 once a logsumexp passes 88 (large logits, long
rows); subtracting ``lse_max`` never does. A row whose every split is empty keeps
``lse = -inf`` and ``out = 0``. With ``causal`` and ``s_q > 1`` query ``t`` sees key
``j`` iff ``j < L - (s_q - 1 - t)``::

    L = 5, s_q = 3
      key  0 1 2 3 4
    q0     x x x . .
    q1     x x x x .
    q2     x x x x x

The memory picture
------------------
Token ``t`` of sequence ``i`` is ``k_cache[block_table[i, t // block_size], t %
block_size]``; V is its first ``head_dim_v`` channels (DeepSeek: 512 latent + 64
rotary channels, ``d = 576``). Only the first ``ceil(L / block_size)`` entries of a
table row are pages; the rest may be any int32 and must not be loaded from. Slots past
``L`` may hold NaN: load them masked with ``other=0`` (``0 * NaN`` is NaN in ``P @ V``)
and give their scores ``-inf``::

    split 0          split 1          split 2        <- programs of one (sequence, kv head)
    |page 7 |page 2 |page 9 |page 4 |page 0 |pa~~|   <- pages in table order, ~ past L
    partial (o_0, lse_0)  (o_1, lse_1)  (o_2, lse_2) -> combine -> out, lse

The signature
-------------
``mla_decode(q, k_cache, block_table, cache_seqlens, head_dim_v, softmax_scale=None, causal=False, num_splits=None) -> (out, lse)``

=============  ===============================  ============  =====================================
name           shape                            dtype         constraints
=============  ===============================  ============  =====================================
q              (b, s_q, h_q, d)                 fp16 or bf16  d <= 576; CUDA tensor, or any device
                                                              under the interpreter
k_cache        (num_blocks, block_size, h_kv,   same as q     block_size a multiple of 16 up to
               d)                                             128; h_q % h_kv == 0
block_table    (b, max_blocks)                  int32         used entries are pages; the rest any
cache_seqlens  (b,)                             int32         0 <= L <= max_blocks * block_size
head_dim_v     int                                            1 <= head_dim_v <= d
num_splits     int or None                                    >= 1; None: chosen by the wrapper
out            (b, s_q, h_q, head_dim_v)        q.dtype       0 on a row with no visible key
lse            (b, h_q, s_q)                    float32       -inf on a row with no visible key
=============  ===============================  ============  =====================================

``softmax_scale=None`` means ``d ** -0.5``. Accumulate in float32. Unsupported input
raises ``ValueError`` naming the argument (``grader.contract.check_paged_inputs`` takes
the kernel's limits; leave its ``check_values`` off on the GPU: reading the lengths
back would stall the host).

The cost
--------
Per cached token ``2 * s_q * h_q * (d + head_dim_v)`` FLOPs; the cache is read once per
kv head, ``sum(L) * h_kv * d`` elements, plus q and out (FlashMLA's formulas, which
``course bench level4`` uses). With ``h_kv = 1``, ``d = 576``, ``dv = 512`` in bf16 that
is about ``1.9 * h_q * s_q`` FLOPs per byte. An H100 streams about 3 TB/s and multiplies
about 800 TFLOP/s in bf16 (measured): the ridge is near 270 FLOPs per byte. At
``h_q * s_q = 16`` decode is memory-bound (time = bytes / 3 TB/s; count GB/s); as
``h_q * s_q`` grows past ~64 the tensor cores and the exponentials take over (count
TFLOP/s). Both regimes need the same discipline: the ``h_q / h_kv * s_q`` query rows of
a kv head share every KV tile (one ``tl.dot`` of ``[rows, d] x [d, BLOCK_N]``), so the
cache is read once, not once per head. The split pass writes ``num_splits`` partial
results of ``rows * (dv + 1)`` floats per (sequence, kv head); the combine reads them
once: cheap next to the cache when each split covers several pages.

Hints
-----
1. Grid of the split pass: ``(row_blocks, h_kv * num_splits, b)``; rows are
   ``(token, head)`` pairs of one kv head, ``rows = h_q / h_kv * s_q``, padded to a
   power of two of at least 16 (the smallest ``tl.dot``). Putting the row blocks on
   the fastest grid axis starts the programs that read the same pages together, so
   all but the first find the tiles in L2.
2. Give every split the same number of pages, ``ceil(max_blocks / num_splits)``: the
   programs are then of equal cost whatever the lengths, and the hardware balances
   them. A split past the end of its sequence has no key: it writes ``lse = -inf``,
   and the combine must then skip its ``o`` (or the split writes ``o = 0``).
3. Walk the pages: ``page = tl.load(block_table + i * stride + p)`` for ``p`` up to
   ``ceil(L / block_size)`` only, then the tile's address from ``page`` (in int64:
   ``num_blocks * block_size * d`` overflows int32). Choose ``BLOCK_N`` dividing
   ``block_size`` so that a tile never straddles two pages.
4. ``d = 576`` is not a power of two: keep q and the KV tile as a 512-wide part and a
   64-wide part (two ``tl.dot`` for the scores, the first alone for ``P @ V``), or pad
   to a power of two with masked loads.
5. Mask only the tiles that need it: the last tile of the range (``L`` ragged) and,
   under causal, the last ``s_q`` keys. Scores of masked keys are ``-inf``; masked V rows
   are loaded as 0.
6. A row that saw no key keeps ``m = -inf``: subtract 0 instead of ``-inf`` in
   ``exp2(s - m)``, and divide by ``l`` only where ``l > 0``.
7. The combine: one program per (sequence, query row); fold the splits in one at a
   time with a running max, exactly Level 1's merge (``-inf`` stays ``-inf``; weights
   ``exp(lse_s - m)``); never read the ``o`` of a split whose ``lse`` is ``-inf``.
8. ``num_splits=None``: enough programs to fill every SM once or twice (``torch.cuda.
   get_device_properties(dev).multi_processor_count``), in whole waves, but no split
   shorter than a few pages; with one split, write ``out`` and ``lse`` directly and
   skip the combine.
9. Under the interpreter, Triton's ``tl.dot`` on bf16 operands multiplies their raw bit
   patterns (triton-lang/triton#11584): when ``os.environ["TRITON_INTERPRET"] == "1"``
   cast the dot's operands to float32 (a ``tl.constexpr`` flag).

How the reference kernel is built, and why (Hopper)
---------------------------------------------------
- Head grouping. With ``h_kv = 1`` all ``h_q * s_q`` query rows attend to the same
  cache, so one program holds up to 64 of them and every KV tile it loads serves all
  of them. More rows (``h_q = 128``, ``s_q = 2``: 256) take several programs per
  (sequence, split); they read the same pages one after another, from L2.
- One load for K and V. The first ``dv`` dims of a tile are loaded once and feed both
  ``tl.dot(q, tile.T)`` and ``tl.dot(p, tile)``: one shared-memory buffer, read by
  both matrix products. q is split into its first ``dv`` dims and the rest (DeepSeek's
  64 rotary dims), so that no dim is loaded twice and no tile is wider than needed.
- Tile shapes. ``BLOCK_N = 64`` tokens (it divides ``block_size``: a tile never
  straddles a page, so one table entry gives its address). A 64-row float32
  accumulator of 512 dims is 128 KiB: 8 warps (two warpgroups) hold it at 128
  registers a thread. On Hopper the tensor cores' ``wgmma`` works on 64-row tiles per
  warpgroup; Triton gives both warpgroups the same 64 rows of ``Q K^T`` (each computes
  it: a third of the tensor-core work is repeated) and splits ``P V``'s 512 columns
  between them. With 16 or 32 rows Triton uses the older ``mma``, which is fine
  where memory sets the pace.
- Loads. Memory-bound tiles (16 or 32 rows) use plain pointer loads, which Triton
  turns into asynchronous copies (``cp.async``) two stages deep: q stays in registers
  and a program needs 94 KiB of shared memory, so two programs share an SM. 64-row
  tiles load through TMA descriptors (``TensorDescriptor`` over the 4-D cache, the page
  number as the first coordinate): no address arithmetic in the threads, whose
  registers the accumulator needs; q (72 KiB) and two 72 KiB tiles fill 216 of the
  227 KiB of shared memory. A tile holding the length's edge is cleaned with
  ``tl.where`` after a TMA load, which fetches whole page rows.
- Splits. The grid of one split is ``b * h_kv * row_blocks`` programs. The wrapper
  aims at two programs per SM slot for memory-bound tiles (lengths vary: the second
  wave balances them) and one for 64-row tiles (each split writes 128 KiB of partial
  out), judged from the table's width so that the host never waits for the GPU. With
  one split the split pass writes ``out`` and ``lse`` itself and the combine is
  skipped.
- Measured on an H100 (docs/PERFORMANCE.md): b = 128, L = 4096, causal, bf16:
  h_q = 16, s_q = 1 in 0.234 ms (2600 GB/s, 0.95x FlashMLA); h_q = 128, s_q = 2 in
  1.05 ms (277 TFLOP/s, 0.52x FlashMLA, whose warpgroups do not repeat ``Q K^T``).

How it is graded
----------------
``course grade level4.mla_decode``. Correctness runs anywhere: without a GPU the grader
runs your kernels under Triton's interpreter on small paged cases (shuffled block
tables, NaN past each length and in unused pages, random int32 table entries past the
used pages, lengths 0 and at page boundaries, ``s_q`` in 1, 2, 4, grouped heads, ``d``
up to 576, fp16 and bf16) against a float64 oracle on NaN-poisoned outputs. The answer
must come from kernels of this file (launched as ``kernel[grid](...)``; torch may not
compute the attention). ``num_splits`` in 1, 2, 3, 5 and 16 (more splits than blocks)
must all agree with the oracle, on large logits too, and with 2 splits or more a split
kernel and a combine kernel must both run. On a CUDA GPU: DeepSeek's shapes (``d =
576``, ``dv = 512``, ``h_q`` 16 to 128, lengths up to 4096), and a timing check against
the reference solution on the shape in ``course.toml``. A point is for rejecting
unsupported input clearly, counted once the oracle check passed. ``course bench level4``
shows GB/s and TFLOP/s beside the PyTorch reference and FlashMLA's published figures.
"""

import functools
import os
from dataclasses import dataclass, replace
import torch
import triton
import triton.language as tl
from triton.tools.tensor_descriptor import TensorDescriptor
from grader.contract import HALF_DTYPES, check_paged_inputs, resolve_scale


def mla_decode(q, k_cache, block_table, cache_seqlens, head_dim_v, softmax_scale=None, causal=False,
               num_splits=None):
    """MLA decode over a paged KV cache: a split-KV Triton kernel and a combine kernel.

    Arguments:
        q: (b, s_q, h_q, d), fp16 or bf16, d <= 576.
        k_cache: (num_blocks, block_size, h_kv, d), dtype of q; block_size a multiple of
            16 up to 128; h_q % h_kv == 0. V is k_cache[..., :head_dim_v].
        block_table: (b, max_blocks) int32. Token t of sequence i lives in page
            block_table[i, t // block_size], slot t % block_size; entries past the first
            ceil(L / block_size) of a row may be any int32 and are never read.
        cache_seqlens: (b,) int32, the lengths L, 0 <= L <= max_blocks * block_size.
        head_dim_v: int, 1 <= head_dim_v <= d.
        softmax_scale: float; None means d ** -0.5 (d the full q/k dim).
        causal: bool. Query t sees key j iff j < L - (s_q - 1 - t).
        num_splits: int >= 1, pieces each sequence's keys are cut into (then merged by
            the combine kernel); None chooses from the batch, the table's width and the
            SM count.
    Tensors must be on a CUDA device, or on any device when TRITON_INTERPRET=1 was set
    before triton was imported.
    Return:
        out: (b, s_q, h_q, head_dim_v), dtype of q; 0 on a row with no visible key.
        lse: (b, h_q, s_q) float32, natural-log logsumexp of the scaled scores over the
            visible keys; -inf on a row with none.
    """
    raise NotImplementedError('level4.mla_decode.mla_decode: not implemented yet')
