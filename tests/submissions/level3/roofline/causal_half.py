"""Causal counted as half of the score matrix."""
from solutions.level3.roofline import attention_min_bytes, roofline  # noqa: F401


def attention_flops(batch, heads, n_q, n_k, head_dim, head_dim_v, causal=False):
    pairs = n_q * n_k // 2 if causal else n_q * n_k
    return batch * heads * pairs * 2 * (head_dim + head_dim_v)
