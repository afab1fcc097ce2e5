"""Level 3 — the roofline: is attention bound by compute or by memory?

What you will learn: to count a kernel's work (FLOPs) and its unavoidable traffic
(bytes) exactly, and to read from the two counts and a GPU's two peaks how fast the
kernel could possibly run and which unit limits it. Every performance figure of
this course (`course bench`, docs/PERFORMANCE.md) is a fraction of this bound.

Task
----
Write three functions:

- ``attention_flops(batch, heads, n_q, n_k, head_dim, head_dim_v, causal=False)``:
  the FLOPs of the attention forward, ``2 * (head_dim + head_dim_v)`` per visible
  (query, key) pair per batch and head (a multiply and an add per element of the
  dot product q . k, and per element of the row of V it weighs). Causal is aligned to
  the bottom-right corner, as everywhere in the course, and counted exactly:

      n_q = 3, n_k = 5            n_q = 5, n_k = 3
        k: 0 1 2 3 4                k: 0 1 2
      q0   x x x . .              q0   . . .
      q1   x x x x .              q1   . . .
      q2   x x x x x              q2   x . .
                                  q3   x x .
                                  q4   x x x
      12 pairs, not 15 / 2        6 pairs

- ``attention_min_bytes(batch, heads_q, heads_kv, n_q, n_k, head_dim, head_dim_v,
  dtype_bytes)``: the bytes no kernel can avoid moving: q, k and v read once, out
  written once (``dtype_bytes`` per element), plus the float32 lse written once.
  With grouped-query attention K and V have ``heads_kv`` heads: they are read once
  per kv head, not once per query head.
- ``roofline(flops, nbytes, peak_flops, peak_bytes_per_s)``: the time each resource
  needs at its peak, ``flops / peak_flops`` and ``nbytes / peak_bytes_per_s``; return
  the larger (the kernel cannot be faster than its slower resource) and which it is,
  ``"compute"`` or ``"memory"`` (``"compute"`` on a tie).

Math
----
Query ``i`` (0-based) sees key ``j`` iff ``j <= i + n_k - n_q``; the pairs one head
computes are ``sum_i clamp(i + n_k - n_q + 1, 0, n_k)``, a closed form in
``r = min(n_q, n_k)``: ``r * n_k - r * (r - 1) / 2``.

Signature
---------
=================  ======  ===========================================
name               type    constraint
=================  ======  ===========================================
batch, heads(_q)   int     >= 1
heads_kv           int     >= 1, heads_q % heads_kv == 0
n_q, n_k           int     >= 1
head_dim(_v)       int     >= 1
dtype_bytes        int     >= 1 (2 for fp16/bf16)
flops, nbytes      int     >= 0
peak_flops         float   > 0, FLOP/s (H100 SXM: 989e12 dense bf16)
peak_bytes_per_s   float   > 0 (H100 SXM: 3.35e12)
=================  ======  ===========================================

Counts are exact Python ints (no floats, no rounding). Anything else raises
ValueError naming the argument (``grader.contract.check_positive_int``).

Cost
----
Trivial: a few integer operations each. The point is the numbers: at b=4, h=16,
n=4096, d=128 in fp16, about 2000 FLOPs per byte against an H100's ~300: attention is
compute-bound there, so only tensor cores make it fast.

Hints
-----
1. Work the two small pictures above by hand first: 12 and 6.
2. Top-left causal (query i sees keys 0..i) and "half the matrix" are both wrong
   when ``n_q != n_k``; the sum over rows is the definition, the closed form a shortcut.
3. The lse is 4 bytes per (batch, query head, row), whatever ``dtype_bytes`` is.
4. ``roofline`` returns a pair; compare the two times, not the two peaks.

Grading
-------
On any machine: ``course grade level3.roofline`` checks exact counts on random
shapes (causal with ``n_q > n_k`` and ``n_q < n_k``, grouped heads, ``head_dim !=
head_dim_v``), the bound on random peaks, and that bad arguments raise ValueError.
"""

from grader.contract import check_positive_int


def attention_flops(batch: int, heads: int, n_q: int, n_k: int, head_dim: int, head_dim_v: int,
                    causal: bool = False) -> int:
    """FLOPs of the attention forward: 2 * (head_dim + head_dim_v) per visible (query, key)
    pair, per batch and head; causal is bottom-right aligned and counted exactly."""
    for name, value in (("batch", batch), ("heads", heads), ("n_q", n_q), ("n_k", n_k), ("head_dim", head_dim),
                        ("head_dim_v", head_dim_v)):
        check_positive_int(name, value)
    if causal:
        rows = min(n_q, n_k)  # the last `rows` rows see n_k, n_k - 1, ..., n_k - rows + 1 keys; the others none
        pairs = rows * n_k - rows * (rows - 1) // 2
    else:
        pairs = n_q * n_k
    return batch * heads * pairs * 2 * (head_dim + head_dim_v)


def attention_min_bytes(batch: int, heads_q: int, heads_kv: int, n_q: int, n_k: int, head_dim: int,
                        head_dim_v: int, dtype_bytes: int) -> int:
    """Bytes every attention forward moves at least: q, k, v read once (k and v per kv
    head), out written once, the float32 lse written once."""
    for name, value in (("batch", batch), ("heads_q", heads_q), ("heads_kv", heads_kv), ("n_q", n_q), ("n_k", n_k),
                        ("head_dim", head_dim), ("head_dim_v", head_dim_v), ("dtype_bytes", dtype_bytes)):
        check_positive_int(name, value)
    if heads_q % heads_kv:
        raise ValueError(f"heads_q ({heads_q}) must be a multiple of heads_kv ({heads_kv})")
    q = batch * heads_q * n_q * head_dim
    kv = batch * heads_kv * n_k * (head_dim + head_dim_v)
    out = batch * heads_q * n_q * head_dim_v
    lse = batch * heads_q * n_q
    return (q + kv + out) * dtype_bytes + lse * 4


def roofline(flops: int, nbytes: int, peak_flops: float, peak_bytes_per_s: float) -> tuple[float, str]:
    """The least time a kernel of ``flops`` and ``nbytes`` can take on a device of these
    peaks, and its bound: ("compute" or "memory", whichever time is larger)."""
    for name, value in (("flops", flops), ("nbytes", nbytes)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"{name} must be a non-negative int, got {value!r}")
    for name, value in (("peak_flops", peak_flops), ("peak_bytes_per_s", peak_bytes_per_s)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"{name} must be a positive number, got {value!r}")
    compute_s, memory_s = flops / peak_flops, nbytes / peak_bytes_per_s
    return max(compute_s, memory_s), "compute" if compute_s >= memory_s else "memory"
