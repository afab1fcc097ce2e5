"""The Python side of a Level 3 kernel: load a built module, check inputs, launch.

kernels/builder.py turns a ``.cu`` file into ``course_native.so`` (its function
``flash_fwd`` takes each tensor as (data pointer, shape, strides, dtype code)). This
module loads that file and wraps it as ``flash_attn_cuda(q, k, v, causal=False,
softmax_scale=None) -> (out, lse)``: it validates the inputs before anything is
launched, allocates ``out`` and ``lse``, and passes pointers, strides, shapes and the
current CUDA stream. The promises it keeps are listed in
kernels/include/course/flash_fwd.h.

It lives in grader/child/ because the graded child runs it (the child loads the
module the parent built; it may neither run nvcc nor read the course's files);
``kernels.load`` gives students the same function outside the grader.
"""

from __future__ import annotations

import importlib.util
import math
import types

import torch

from grader.contract import HALF_DTYPES, check_attention_inputs, resolve_scale

EXTENSION_NAME = "course_native"  # PYBIND11_MODULE's name in kernels/binding.cpp
HEAD_DIMS = (64, 128)
DTYPE_CODES = {torch.float16: 0, torch.bfloat16: 1, torch.float32: 2}  # course::DType
VECTOR_ELEMENTS = 8  # one 16-byte load of fp16/bf16: pointers and strides are kept multiples of it


def _wire(t: torch.Tensor) -> tuple:
    return t.data_ptr(), list(t.shape), list(t.stride()), DTYPE_CODES[t.dtype]


def _vector_friendly(t: torch.Tensor) -> torch.Tensor:
    """``t`` itself when its last dimension is contiguous, its pointer 16-byte aligned
    and every other stride a multiple of 8 elements (every transposed or sliced
    [B, N, H, D] view of the course); otherwise a contiguous copy."""
    aligned = t.data_ptr() % (VECTOR_ELEMENTS * t.element_size()) == 0
    strides_ok = t.stride(-1) == 1 and all(s % VECTOR_ELEMENTS == 0 for s, n in zip(t.stride()[:-1], t.shape) if n > 1)
    return t if aligned and strides_ok else t.contiguous()


def flash_attn_cuda(extension, q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False,
                    softmax_scale: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """FlashAttention forward by the built kernel ``extension``; see flash_fwd.h."""
    check_attention_inputs(q, k, v, dtypes=HALF_DTYPES, head_dims=HEAD_DIMS, equal_head_dims=True)
    if q.device.type != "cuda":  # after the shapes, so a CPU session still hears about those first
        raise ValueError(f"q, k, v must be cuda tensors, got device {q.device}")
    if not isinstance(causal, bool):
        raise TypeError(f"causal must be a bool, got {type(causal).__name__}")
    if softmax_scale is not None and (isinstance(softmax_scale, bool) or not isinstance(softmax_scale, (int, float))
                                      or not math.isfinite(softmax_scale)):
        raise ValueError(f"softmax_scale must be a finite number or None, got {softmax_scale!r}")
    batch, heads_q, n_q, head_dim = q.shape
    scale = resolve_scale(softmax_scale, head_dim)
    out = torch.empty((batch, heads_q, n_q, head_dim), dtype=q.dtype, device=q.device)
    lse = torch.empty((batch, heads_q, n_q), dtype=torch.float32, device=q.device)
    if out.numel() == 0:
        return out, lse
    if k.shape[2] == 0:  # no key at all: every row is empty
        return out.zero_(), lse.fill_(-math.inf)
    q, k, v = (_vector_friendly(t) for t in (q, k, v))
    stream = torch.cuda.current_stream(q.device).cuda_stream
    with torch.cuda.device(q.device):
        extension.flash_fwd(_wire(q), _wire(k), _wire(v), _wire(out), _wire(lse), causal, scale, stream)
    return out, lse


def load_extension(path: str):
    """The compiled module at ``path`` (built by kernels/builder.py)."""
    spec = importlib.util.spec_from_file_location(EXTENSION_NAME, path)
    extension = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(extension)
    return extension


def load(path: str, name: str) -> types.ModuleType:
    """A module named ``name`` whose ``flash_attn_cuda`` runs the kernel built at ``path``."""
    extension = load_extension(path)

    def bound(q, k, v, causal=False, softmax_scale=None):
        return flash_attn_cuda(extension, q, k, v, causal=causal, softmax_scale=softmax_scale)

    bound.__name__ = bound.__qualname__ = "flash_attn_cuda"
    bound.__doc__ = flash_attn_cuda.__doc__
    module = types.ModuleType(name, f"the Level 3 kernel built as {path}")
    module.__file__ = path
    module.flash_attn_cuda = bound
    return module
