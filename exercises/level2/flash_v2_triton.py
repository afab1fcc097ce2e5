"""FlashAttention-2 forward in Triton.

You will write the FlashAttention-2 forward pass as one Triton kernel: each program
keeps a block of queries on chip and streams the keys and values past it, so the
``Nq x Nk`` score matrix never reaches device memory. On the way you learn how a
Triton program is laid out (program ids, block offsets, boundary masks, ``tl.dot``),
why ``exp2`` beats ``exp``, and which masks a fast kernel can leave out.

The task
--------
Implement ``flash_attn_v2_triton(q, k, v, causal, softmax_scale)``: the same function
as ``level2.flash_v2``, now as a ``@triton.jit`` kernel and a small Python wrapper that
checks the inputs, allocates the outputs and launches a grid. Sequence lengths are
arbitrary (not multiples of your block sizes), query heads may share key/value heads
(grouped-query attention), and the inputs may be non-contiguous views: read them
through their strides, never through a ``.contiguous()`` copy.

The math
--------
Program ``(i, b*Hq + h)`` owns query rows ``[i*BLOCK_M, (i+1)*BLOCK_M)`` of head ``h``.
Work in base 2: with ``c = softmax_scale * log2(e)``, ``exp(scale * s) = 2^(c * s)``,
and ``exp2`` is one hardware instruction while ``exp`` is ``exp2`` plus a multiply.
Start from ``m = -inf``, ``l = 0``, ``acc = 0`` and, for each visible key block ``j``::

    S_j     = c * Q K_j^T                         (BLOCK_M x BLOCK_N, float32)
    m_new   = max(m, rowmax(S_j))
    P_j     = 2^(S_j - m_new)                     (masked keys give 2^-inf = 0)
    alpha   = 2^(m - m_new)
    l       = alpha * l + rowsum(P_j)
    acc     = alpha * acc + P_j V_j               (P_j cast to the input dtype)
    m       = m_new

and at the end, once per row::

    out = acc / l
    lse = ln(2) * (m + log2(l))                   (natural-log logsumexp of scale * S)

A row that sees no key at all keeps ``m = -inf`` and ``l = 0``: it must come out as
``out = 0`` and ``lse = -inf``, never NaN (``-inf - (-inf)`` is NaN, so guard it).

Causal masking is aligned to the bottom-right corner: query ``i`` sees key ``j`` iff
``j <= i + Nk - Nq``. With ``Nq = 5``, ``Nk = 3`` the first two rows see nothing::

    Nq=5, Nk=3        Nq=3, Nk=5
      k 0 1 2           k 0 1 2 3 4
    q0  . . .         q0  x x x . .
    q1  . . .         q1  x x x x .
    q2  x . .         q2  x x x x x
    q3  x x .
    q4  x x x

The signature
-------------
``flash_attn_v2_triton(q, k, v, causal=False, softmax_scale=None) -> (out, lse)``

========  ====================  ===============  =====================================
name      shape                 dtype            constraints
========  ====================  ===============  =====================================
q         (B, Hq, Nq, D)        fp16 or bf16     D in {16, 32, 64, 128}; CUDA tensor,
                                                 or any device under the interpreter
k         (B, Hkv, Nk, D)       same as q        Hq % Hkv == 0; head h reads kv head
                                                 h // (Hq // Hkv)
v         (B, Hkv, Nk, D)       same as q        Dv == D
out       (B, Hq, Nq, D)        q.dtype          every element written
lse       (B, Hq, Nq)           float32          natural log; -inf for an empty row
========  ====================  ===============  =====================================

``softmax_scale=None`` means ``1 / sqrt(D)``. Any ``Nq, Nk >= 1``; any strides.
Accumulate in float32; never modify an input. Unsupported input raises ``ValueError``
naming the argument (use ``grader.contract.check_attention_inputs`` and
``grader.contract.resolve_scale``).

The cost
--------
FLOPs: two matrix products of ``2 * Nq * Nk * D`` each per head, so
``4 * B * Hq * Nq * Nk * D`` without masking; with ``causal`` only the visible pairs
count, about half of them when ``Nq == Nk``. Bytes, at least: q, k, v read once and
out written once, ``(2 * B * Hq * Nq + 2 * B * Hkv * Nk) * D * bytes_per_element``,
plus ``4 * B * Hq * Nq`` for lse. At ``B=4, H=16, N=4096, D=128`` in fp16 that is
about 0.55 TFLOP against 0.27 GB: compute-bound, so the tensor cores and the
exponentials set the pace, not memory.

Hints
-----
1. Start from the math above with one program per ``(query block, batch*head)``:
   ``grid = (cdiv(Nq, BLOCK_M), B * Hq)``. Inside, ``tl.program_id(1)`` gives the
   batch and the query head; the kv head is ``h // (Hq // Hkv)``.
2. Build addresses from strides: ``Q + b*stride_qb + h*stride_qh + offs_m[:, None]*stride_qn
   + offs_d[None, :]*stride_qd`` with ``offs_m = start_m*BLOCK_M + tl.arange(0, BLOCK_M)``.
   Compute the batch and head offsets in int64: large tensors overflow int32.
3. The last query block and the last key block are ragged. Load with
   ``mask=offs < n, other=0.0`` and store with the same mask. Zero-filled keys still
   score 0, not -inf: the scores of key columns ``>= Nk`` must be masked to ``-inf``
   as well, and a masked V row must be zero (``0 * garbage`` can be NaN).
4. Under ``causal`` the key blocks past the last row's diagonal are invisible to the
   whole query block: stop the loop at ``min(Nk, (start_m+1)*BLOCK_M + Nk - Nq)``.
   That halves the work for ``Nq == Nk``.
5. Masks cost instructions on every element. Split the key loop in two: blocks that
   every row of the query block sees in full (no mask at all), then the few blocks on
   the diagonal and the ragged tail (masked). A ``tl.constexpr`` flag lets one loop
   body serve both.
6. Fold ``log2(e)`` into the scale and use ``tl.math.exp2``. In the unmasked loop,
   ``rowmax(c * S) = c * rowmax(S)`` for ``c >= 0``, so ``S * c - m`` is one fused
   multiply-add per element.
7. In the masked loop a row may have seen no key yet: ``m_new`` is ``-inf`` and
   ``S - m_new`` is NaN. Subtract ``0`` instead of ``-inf`` (``tl.where``) but keep
   ``m = -inf`` for the next block. In the epilogue divide by ``l`` only where
   ``l > 0``.
8. For speed on a Hopper GPU: 128 x 128 tiles with ``num_warps = 8`` (two
   warpgroups of 64 rows) for D = 128, 64 x 64 tiles on 4 warps under ``causal``
   (less masked work on the diagonal), ``num_stages = 3`` so that the next K/V tiles
   load while this one computes, and ``P`` cast to the input dtype before the second
   ``tl.dot``. Tensor descriptors (``TensorDescriptor``, the TMA copy engine) load
   tiles and zero-fill out-of-bounds rows for free. Time before you tune: a wrong
   ``num_stages`` or ``num_warps`` can cost a third of the speed.
9. Under the interpreter, Triton's ``tl.dot`` on bf16 operands multiplies their raw
   bit patterns (triton-lang/triton#11584). When ``os.environ["TRITON_INTERPRET"]``
   is ``"1"``, cast the operands of both dots to float32; pass the choice to the
   kernel as a ``tl.constexpr`` so that the GPU path keeps its fp16/bf16 tensor cores.

How it is graded
----------------
``course grade level2.flash_v2_triton``. Correctness runs anywhere: without a GPU the
grader runs your kernel under Triton's interpreter (``TRITON_INTERPRET=1``, CPU
tensors) on small shapes (ragged lengths, ``Nq > Nk`` with ``causal``, grouped heads,
transposed views, fp16 and bf16) and compares with a float64 oracle, on outputs
poisoned with NaN. The answer must come from a kernel of this file: the file defines a
``@triton.jit`` function and launches it as ``kernel[grid](...)``, the grader counts
its launches during each call, and torch does no matrix product of its own (a PyTorch
answer scores nothing). Transposed views must be read in place (a ``.contiguous()``
copy of q, k or v fails ``strided_views``), and unsupported input must raise
``ValueError`` naming the problem (that point counts once the oracle check passed).
On a CUDA GPU a timing check also compares your kernel's time with the reference
solution's on the benchmark shape named in ``course.toml``;
``course bench level2.flash_v2_triton`` shows TFLOP/s next to SDPA's flash and cuDNN
back ends.
"""

import functools
import os
from dataclasses import dataclass, replace
import torch
import triton
import triton.language as tl
from triton.tools.tensor_descriptor import TensorDescriptor
from grader.contract import HALF_DTYPES, check_attention_inputs, resolve_scale


def flash_attn_v2_triton(q, k, v, causal=False, softmax_scale=None):
    """FlashAttention-2 forward pass as a Triton kernel.

    Arguments:
        q: (batch, heads_q, n_q, head_dim), fp16 or bf16, head_dim in {16, 32, 64, 128}.
        k: (batch, heads_kv, n_k, head_dim), same dtype; heads_q % heads_kv == 0.
        v: (batch, heads_kv, n_k, head_dim), same dtype and head_dim as k.
        causal: bool. Bottom-right aligned: query i sees key j iff j <= i + n_k - n_q.
        softmax_scale: float. Scale of q k^T before the softmax; None means
            1 / sqrt(head_dim).
    Any strides are accepted. Tensors must be on a CUDA device, or on any device when
    TRITON_INTERPRET=1 was set before triton was imported.
    Return:
        out: (batch, heads_q, n_q, head_dim), dtype of q. Rows with no visible key are 0.
        lse: (batch, heads_q, n_q), float32. Natural-log logsumexp of the scaled scores
            over the visible keys; -inf for a row with none.
    """
    raise NotImplementedError('level2.flash_v2_triton.flash_attn_v2_triton: not implemented yet')
