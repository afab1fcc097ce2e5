"""Level 2 — Counting HBM traffic: why FlashAttention-2 swapped the loops.

FlashAttention's speed comes from moving fewer bytes between HBM (the GPU's large,
slow memory) and SRAM (the small, fast on-chip memory), not from doing fewer FLOPs.
Here you count those moves exactly for the two loop orders you wrote in
``level2.flash_v1`` and ``level2.flash_v2``, and see which tensors v2 stops
shuttling back and forth, and how both counts depend on the block sizes.

Task
----
Implement ``hbm_io_v1(n, d, block_m, block_n)`` and ``hbm_io_v2(n, d, block_m,
block_n)``, each returning ``(reads, writes)``: the number of elements read from and
written to HBM by one head of the algorithm below, as Python ints. Reject any
argument that is not a positive int with a ``ValueError`` that names it.

The model
---------
One head, no causal mask, ``Nq = Nk = n`` and ``D = Dv = d``. ``Q``, ``K``, ``V`` and
``O`` are ``n x d`` matrices; ``l``, ``m`` and the logsumexp ``L`` are vectors of
length ``n``. The rows are cut into ``Tr = ceil(n / block_m)`` query blocks
(``Q_i``, ``O_i``, ``l_i``, ``m_i``, ``L_i``) and ``Tc = ceil(n / block_n)`` key
blocks (``K_j``, ``V_j``). Every block is read or written in full, and a ragged last
block reads or writes only the rows it has. Count elements, not bytes; on-chip work
(the matmuls, exp, the rescales) costs no traffic. Nothing else touches HBM.

v1 — Algorithm 1 of FlashAttention (Dao et al., 2022)::

    write O = 0, l = 0, m = -inf to HBM                  (these writes count)
    for j in 1..Tc:
        read K_j, V_j
        for i in 1..Tr:
            read Q_i, O_i, l_i, m_i
            compute the block on chip
            write O_i, l_i, m_i

v2 — Algorithm 1 of FlashAttention-2 (Dao, 2023)::

    for i in 1..Tr:
        read Q_i
        initialise O_i, l_i, m_i on chip                  (no traffic)
        for j in 1..Tc:
            read K_j, V_j
            compute the block on chip
        write O_i and L_i = m_i + log(l_i)

Signature
---------
``hbm_io_v1(n, d, block_m, block_n) -> (reads, writes)``
``hbm_io_v2(n, d, block_m, block_n) -> (reads, writes)``

================  =====  ====================================================
name              type   constraints
================  =====  ====================================================
n                 int    >= 1, the sequence length (Nq = Nk = n)
d                 int    >= 1, the head dim (D = Dv = d)
block_m, block_n  int    >= 1, rows per query block and per key block
reads, writes     int    elements read from / written to HBM, exact
================  =====  ====================================================

Cost
----
A few integer operations. What they measure is the point: with an SRAM of ``M``
elements the blocks can hold about ``M / d`` rows, and the paper's Theorem 2 turns
your counts into the ``Θ(n² d² / M)`` HBM accesses of FlashAttention against the
``Θ(n d + n²)`` of standard attention. Evaluate your v1 and v2 counts for
``n = 8192``, ``d = 128`` and blocks of 64 and 128 and compare them.

Hints
-----
1. Count one iteration of the innermost loop first, then multiply by how often it
   runs; add what happens outside the loops.
2. Over all ``Tr`` query blocks the rows add up to ``n``, ragged last block included,
   so a full sweep over the query blocks of an ``n x d`` matrix moves ``n * d``
   elements whatever ``block_m`` is.
3. Which loop counts appear where? In v1 the query-side tensors are swept once per
   key block; in v2 the key-side tensors are swept once per query block.
4. ``Tr`` is ``-(-n // block_m)`` in integer arithmetic; stay with ints (no floats)
   so the counts stay exact for large ``n``.
5. ``True`` is an ``int`` in Python, but not a sequence length: reject bools too.

Grading
-------
``course grade level2.io_model`` compares both functions with the exact integers of
the model on random ``n``, ``d``, ``block_m``, ``block_n`` (ragged and not), and checks
that an argument that is not a positive int (0, negative, a float, a bool) raises
``ValueError`` naming it; that point counts once both counts are right.
"""

from grader.contract import check_positive_int


def hbm_io_v1(n: int, d: int, block_m: int, block_n: int) -> tuple[int, int]:
    """HBM elements read and written by one head of FlashAttention v1's Algorithm 1.

    Arguments:
        n: int, sequence length (seqlen_q = seqlen_k = n).
        d: int, head dim (head_dim = head_dim_v = d).
        block_m: int, rows per query block (inner loop).
        block_n: int, rows per key/value block (outer loop).
    Returns:
        (reads, writes): ints, elements, counting the initial writes of O, l, m.
    """
    raise NotImplementedError('level2.io_model.hbm_io_v1: not implemented yet')


def hbm_io_v2(n: int, d: int, block_m: int, block_n: int) -> tuple[int, int]:
    """HBM elements read and written by one head of FlashAttention-2's forward Algorithm 1.

    Arguments:
        n: int, sequence length (seqlen_q = seqlen_k = n).
        d: int, head dim (head_dim = head_dim_v = d).
        block_m: int, rows per query block (outer loop).
        block_n: int, rows per key/value block (inner loop).
    Returns:
        (reads, writes): ints, elements; O and the logsumexp are written once.
    """
    raise NotImplementedError('level2.io_model.hbm_io_v2: not implemented yet')
