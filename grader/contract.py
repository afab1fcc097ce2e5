"""Input checks shared by every attention exercise and its reference solution.

The course contract (COURSE_SPEC.md, "Conventions shared by every attention
function") says unsupported input raises ValueError or TypeError with a message
naming the argument and what is allowed. Solutions and students call these
helpers instead of writing the same checks in every file.
"""

from __future__ import annotations

import math
from collections.abc import Collection

import torch

FLOAT_DTYPES = (torch.float32, torch.float16, torch.bfloat16)
HALF_DTYPES = (torch.float16, torch.bfloat16)


def _dtype_names(dtypes: Collection[torch.dtype]) -> str:
    return ", ".join(str(d).removeprefix("torch.") for d in dtypes)


def check_tensor(name: str, t, *, ndim: int | None = None, dtypes=None) -> None:
    """Raise if ``t`` is not a tensor of ``ndim`` dims with one of ``dtypes``."""
    if not isinstance(t, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(t).__name__}")
    if ndim is not None and t.dim() != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(t.shape)}")
    if dtypes is not None and t.dtype not in dtypes:
        raise ValueError(
            f"{name} has dtype {str(t.dtype).removeprefix('torch.')}; "
            f"allowed: {_dtype_names(dtypes)}"
        )


def check_positive_int(name: str, value) -> None:
    """Raise ValueError unless ``value`` is a positive int (bool is not accepted)."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive int, got {value!r}")


def check_attention_inputs(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    *,
    dtypes: Collection[torch.dtype] = FLOAT_DTYPES,
    head_dims: Collection[int] | None = None,
    equal_head_dims: bool = False,
    device_type: str | None = None,
) -> None:
    """Validate ``q [B, Hq, Nq, D]``, ``k [B, Hkv, Nk, D]``, ``v [B, Hkv, Nk, Dv]``.

    ``head_dims`` restricts D (and Dv), ``equal_head_dims`` requires D == Dv,
    ``device_type`` ("cuda") requires every tensor on that kind of device.
    """
    for name, t in (("q", q), ("k", k), ("v", v)):
        check_tensor(name, t, ndim=4, dtypes=dtypes)
    if not (q.dtype == k.dtype == v.dtype):
        raise ValueError(f"q, k, v must share a dtype, got {q.dtype}, {k.dtype}, {v.dtype}")
    if not (q.device == k.device == v.device):
        raise ValueError(f"q, k, v must be on one device, got {q.device}, {k.device}, {v.device}")
    if device_type is not None and q.device.type != device_type:
        raise ValueError(f"q, k, v must be {device_type} tensors, got device {q.device}")
    batch, heads_q, _, head_dim = q.shape
    if k.shape[0] != batch or v.shape[0] != batch:
        raise ValueError(f"batch sizes differ: q {batch}, k {k.shape[0]}, v {v.shape[0]}")
    heads_kv = k.shape[1]
    if v.shape[1] != heads_kv:
        raise ValueError(f"k and v must have the same heads, got {heads_kv} and {v.shape[1]}")
    if heads_kv == 0 or heads_q % heads_kv != 0:
        raise ValueError(f"q heads ({heads_q}) must be a multiple of k/v heads ({heads_kv})")
    if k.shape[2] != v.shape[2]:
        raise ValueError(f"k and v must have the same length, got {k.shape[2]} and {v.shape[2]}")
    if k.shape[3] != head_dim:
        raise ValueError(f"k head dim {k.shape[3]} must equal q head dim {head_dim}")
    if equal_head_dims and v.shape[3] != head_dim:
        raise ValueError(f"v head dim {v.shape[3]} must equal q head dim {head_dim}")
    if head_dims is not None:
        for name, d in (("q/k head dim", head_dim), ("v head dim", v.shape[3])):
            if d not in head_dims:
                allowed = ", ".join(map(str, sorted(head_dims)))
                raise ValueError(f"{name} is {d}; allowed: {allowed}")


def resolve_scale(softmax_scale: float | None, head_dim: int) -> float:
    """``softmax_scale=None`` means ``1 / sqrt(head_dim)``, as in the spec."""
    return 1.0 / math.sqrt(head_dim) if softmax_scale is None else float(softmax_scale)


INDEX_DTYPE = torch.int32  # block tables and lengths, as FlashMLA takes them


def check_paged_inputs(
    q: torch.Tensor,
    k_cache: torch.Tensor,
    block_table: torch.Tensor,
    cache_seqlens: torch.Tensor,
    head_dim_v,
    *,
    dtypes: Collection[torch.dtype] = FLOAT_DTYPES,
    block_size_multiple: int = 1,
    max_block_size: int | None = None,
    max_head_dim: int | None = None,
    device_type: str | None = None,
    check_values: bool = True,
) -> None:
    """Validate the paged-cache inputs of Level 4 (FlashMLA's layout):
    ``q [b, s_q, h_q, d]``, ``k_cache [num_blocks, block_size, h_kv, d]``,
    ``block_table [b, max_blocks]`` int32, ``cache_seqlens [b]`` int32,
    ``1 <= head_dim_v <= d``, ``h_q % h_kv == 0``.

    ``check_values`` also reads the lengths and the used block-table entries (every
    ``L`` in ``[0, max_blocks * block_size]``, every used entry a page of the pool);
    on a GPU that is a synchronisation, so a kernel's wrapper may leave it off. Only
    the first ``ceil(L / block_size)`` entries of a row are read: the rest may be any
    int32.
    """
    check_tensor("q", q, ndim=4, dtypes=dtypes)
    check_tensor("k_cache", k_cache, ndim=4, dtypes=dtypes)
    check_tensor("block_table", block_table, ndim=2, dtypes=(INDEX_DTYPE,))
    check_tensor("cache_seqlens", cache_seqlens, ndim=1, dtypes=(INDEX_DTYPE,))
    if k_cache.dtype != q.dtype:
        raise ValueError(f"k_cache has dtype {k_cache.dtype} but q has {q.dtype}: they must match")
    devices = {t.device for t in (q, k_cache, block_table, cache_seqlens)}
    if len(devices) > 1:
        raise ValueError(f"q, k_cache, block_table and cache_seqlens must be on one device, got "
                         f"{q.device}, {k_cache.device}, {block_table.device}, {cache_seqlens.device}")
    if device_type is not None and q.device.type != device_type:
        raise ValueError(f"q, k_cache, block_table and cache_seqlens must be {device_type} tensors, got {q.device}")
    batch, _, heads_q, head_dim = q.shape
    _, block_size, heads_kv, cache_dim = k_cache.shape
    if cache_dim != head_dim:
        raise ValueError(f"k_cache head dim {cache_dim} must equal q head dim {head_dim}")
    if max_head_dim is not None and head_dim > max_head_dim:
        raise ValueError(f"q/k head dim is {head_dim}; at most {max_head_dim} is supported")
    if heads_kv == 0 or heads_q % heads_kv != 0:
        raise ValueError(f"q heads h_q ({heads_q}) must be a multiple of k_cache heads h_kv ({heads_kv})")
    if block_size < 1 or block_size % block_size_multiple != 0 or (max_block_size and block_size > max_block_size):
        limit = f" up to {max_block_size}" if max_block_size else ""
        raise ValueError(f"k_cache block_size (dim 1) is {block_size}; allowed: a multiple of "
                         f"{block_size_multiple}{limit}")
    if isinstance(head_dim_v, bool) or not isinstance(head_dim_v, int) or not 1 <= head_dim_v <= head_dim:
        raise ValueError(f"head_dim_v must be an int in [1, d = {head_dim}], got {head_dim_v!r}")
    if block_table.shape[0] != batch:
        raise ValueError(f"block_table has {block_table.shape[0]} rows; q has batch {batch}")
    if cache_seqlens.shape[0] != batch:
        raise ValueError(f"cache_seqlens has {cache_seqlens.shape[0]} lengths; q has batch {batch}")
    if check_values and batch:
        capacity = block_table.shape[1] * block_size
        lengths = cache_seqlens.long()
        if bool((lengths < 0).any()) or bool((lengths > capacity).any()):
            raise ValueError(f"cache_seqlens must lie in [0, max_blocks * block_size = {capacity}], "
                             f"got min {int(lengths.min())}, max {int(lengths.max())}")
        used = torch.arange(block_table.shape[1], device=lengths.device) < (-(-lengths // block_size)).unsqueeze(1)
        pages = block_table.long()[used]
        if pages.numel() and (bool((pages < 0).any()) or bool((pages >= k_cache.shape[0]).any())):
            raise ValueError(f"block_table: a used entry (one of the first ceil(L / block_size) of its row) "
                             f"is not a page of k_cache (0..{k_cache.shape[0] - 1})")
