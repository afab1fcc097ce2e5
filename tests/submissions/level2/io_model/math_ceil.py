"""Correct, written differently from the reference: math.ceil for the block counts
(exact here: n / block is a float, but far from rounding trouble at these sizes),
the arguments checked in a loop with their own messages, per-block sums spelled out."""

import math


def _check(**args):
    for name, value in args.items():
        if type(value) is not int:
            raise ValueError(f"{name} must be an int, got {type(value).__name__} {value!r}")
        if value <= 0:
            raise ValueError(f"{name} must be >= 1, got {value}")


def hbm_io_v1(n, d, block_m, block_n):
    _check(n=n, d=d, block_m=block_m, block_n=block_n)
    t_c = math.ceil(n / block_n)
    init_writes = n * d + n + n  # O, l, m
    per_outer_reads = n * d + n * d + n + n  # Q, O, l, m over all Q blocks
    per_outer_writes = n * d + n + n  # O, l, m over all Q blocks
    reads = 2 * n * d + t_c * per_outer_reads  # K and V once
    return int(reads), int(init_writes + t_c * per_outer_writes)


def hbm_io_v2(n, d, block_m, block_n):
    _check(n=n, d=d, block_m=block_m, block_n=block_n)
    t_r = math.ceil(n / block_m)
    return int(n * d + t_r * (n * d + n * d)), int(n * d + n)
