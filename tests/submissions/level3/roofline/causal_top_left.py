"""Causal aligned to the top-left corner: query i sees keys 0..i."""
from solutions.level3.roofline import attention_min_bytes, roofline  # noqa: F401


def attention_flops(batch, heads, n_q, n_k, head_dim, head_dim_v, causal=False):
    pairs = sum(min(i + 1, n_k) for i in range(n_q)) if causal else n_q * n_k
    return batch * heads * pairs * 2 * (head_dim + head_dim_v)
