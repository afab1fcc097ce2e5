"""Cheat: checks its arguments, then raises on every valid input, hoping for the bad-input point."""

from grader.contract import check_paged_inputs


def mla_decode_reference(q, k_cache, block_table, cache_seqlens, head_dim_v, softmax_scale=None, causal=False):
    """Rejects everything."""
    check_paged_inputs(q, k_cache, block_table, cache_seqlens, head_dim_v)
    raise ValueError("q is not supported")
