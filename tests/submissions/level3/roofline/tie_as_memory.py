"""A tie called 'memory' (> where the stub asks for >=)."""
from solutions.level3.roofline import attention_flops, attention_min_bytes  # noqa: F401


def roofline(flops, nbytes, peak_flops, peak_bytes_per_s):
    compute_s, memory_s = flops / peak_flops, nbytes / peak_bytes_per_s
    return max(compute_s, memory_s), "compute" if compute_s > memory_s else "memory"
