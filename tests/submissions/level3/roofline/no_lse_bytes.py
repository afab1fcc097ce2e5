"""The float32 lse forgotten."""
from solutions.level3.roofline import attention_flops, roofline  # noqa: F401


def attention_min_bytes(batch, heads_q, heads_kv, n_q, n_k, head_dim, head_dim_v, dtype_bytes):
    q = batch * heads_q * n_q * head_dim
    kv = batch * heads_kv * n_k * (head_dim + head_dim_v)
    out = batch * heads_q * n_q * head_dim_v
    return (q + kv + out) * dtype_bytes
