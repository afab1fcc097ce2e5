"""Pays for nothing: raises a ValueError that names every argument, for every
input, valid or not."""


def hbm_io_v1(n, d, block_m, block_n):
    raise ValueError("n, d, block_m and block_n must be positive ints")


def hbm_io_v2(n, d, block_m, block_n):
    raise ValueError("n, d, block_m and block_n must be positive ints")
