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
