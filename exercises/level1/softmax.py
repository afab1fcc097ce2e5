"""Level 1 — Safe softmax and online softmax.

Softmax over a row needs the row's maximum (so that exp never overflows) and its
normaliser, and the textbook way reads the row three times: once for the max, once
for the sum, once to write. The online softmax of Milakov & Gimelshein (2018) finds
the max and the normaliser together in one pass over blocks, rescaling the running
sum whenever the max grows. That running rescale is the heart of FlashAttention:
learn it here on one row before applying it to attention in level 2.

Task
----
Implement two functions over the last dim of ``x``, both without
``torch.softmax``, ``torch.nn.functional.softmax``, ``log_softmax`` or ``logsumexp``:

* ``safe_softmax(x)``: subtract the row max, exponentiate, divide by the sum.
* ``online_softmax(x, block_size=128)``: the same function, but walk the columns in
  blocks of ``block_size``. The first pass keeps only a running max ``m`` and a
  running normaliser ``l`` per row; a second pass writes the outputs. No reduction
  (``sum``, ``max``, ``amax``, a matmul, ``cumsum``, ...) may see more than
  ``block_size`` elements of a row at once.

Both return a tensor of ``x``'s shape and dtype. Rows hold at least one finite value;
``-inf`` entries are allowed (they get probability 0); logits up to ``±1e4`` must not
overflow. Compute in float32 for fp16 and bf16 inputs.

Math
----
For a row ``x`` of length N::

    m = max_j x_j
    l = sum_j exp(x_j - m)
    y_j = exp(x_j - m) / l

Online, over blocks ``x_b`` of ``block_size`` columns, starting from the empty state
``m = -inf, l = 0``::

    m_new = max(m, max(x_b))
    l     = l * exp(m - m_new) + sum(exp(x_b - m_new))
    m     = m_new

After the last block ``m`` and ``l`` equal the max and normaliser above, and a second
pass writes ``y_b = exp(x_b - m) / l`` block by block. (In attention the same pair
gives ``lse = m + log(l)``.)

Signature
---------
``safe_softmax(x) -> y`` and ``online_softmax(x, block_size=128) -> y``

==========  =========  ==========================  ===============================
name        shape      dtype                       constraints
==========  =========  ==========================  ===============================
x           (..., N)   fp32, fp16, bf16, fp64      N >= 1; each row has a finite value
block_size  int                                    >= 1 (online_softmax only)
y           (..., N)   x.dtype                     rows sum to 1
==========  =========  ==========================  ===============================

Cost
----
About 5 FLOPs per element (max, subtract, exp, add, divide), so softmax is bound by
memory: what matters is the bytes. With ``e`` bytes per element and ``R`` rows, the
three-pass safe softmax moves ``4 * R * N * e`` bytes (read x for the max, for the sum
and for the output, write y once); the online softmax moves ``3 * R * N * e`` (read
twice, write once), and inside attention the second pass disappears altogether.

Hints
-----
1. ``safe_softmax`` is three lines: ``amax`` with ``keepdim=True``, ``exp``, and a
   division by a ``sum`` with ``keepdim=True``.
2. For ``online_softmax`` keep ``m`` and ``l`` of shape ``(..., 1)``, start at ``-inf``
   and ``0``, and loop ``for start in range(0, N, block_size)`` over
   ``x[..., start:start + block_size]``; slicing past the end is fine, so the last,
   shorter block needs no special case.
3. Upcast each block with ``.float()`` as you read it, and cast each output block
   back to ``x.dtype`` as you write it into a preallocated result.
4. A block may be all ``-inf``. While ``m_new`` is still ``-inf``, ``m - m_new`` is
   ``-inf - (-inf) = NaN``: subtract 0 instead of ``m_new`` there (``torch.where``);
   ``exp(-inf) = 0`` then keeps ``l = 0`` until a finite value arrives.

Grading
-------
``course grade level1.softmax`` compares both functions with a float64 oracle on
random rows (several lengths that are and are not multiples of ``block_size``, fp32,
fp16, bf16, rows with ``-inf`` entries and logits of ``±1e4``). For ``online_softmax``
it also intercepts every torch operation and fails if a reduction sees more than
``block_size`` elements of a row, or if a softmax function is called.
"""

import math
import torch
from grader.contract import check_tensor


def safe_softmax(x: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dim, with the row max subtracted before exp.

    Arguments:
        x: (..., n), fp32 / fp16 / bf16 / fp64. Each row holds at least one finite
            value; -inf entries are allowed.
    Returns:
        y: (..., n), x.dtype. exp(x - max) / sum(exp(x - max)) along the last dim.
    """
    raise NotImplementedError('level1.softmax.safe_softmax: not implemented yet')


def online_softmax(x: torch.Tensor, block_size: int = 128) -> torch.Tensor:
    """Softmax over the last dim in two passes over column blocks.

    Pass 1 keeps a running max m and normaliser l per row, rescaling l whenever m
    grows; pass 2 writes exp(x - m) / l. No reduction sees more than block_size
    elements of a row.

    Arguments:
        x: (..., n), fp32 / fp16 / bf16 / fp64. Each row holds at least one finite
            value; -inf entries are allowed.
        block_size: int >= 1, the number of columns read at once.
    Returns:
        y: (..., n), x.dtype, equal to safe_softmax(x) up to rounding.
    """
    raise NotImplementedError('level1.softmax.online_softmax: not implemented yet')
