"""The course's native layer: shared CUDA headers, the pybind11 binding and the
nvcc builder for Level 3's ``.cu`` exercise.

    import kernels
    student = kernels.load("exercises/level3/flash_fwd.cu")   # builds (cached), then loads
    out, lse = student.flash_attn_cuda(q, k, v, causal=True)

``load`` compiles with nvcc (kernels/builder.py) and loads the module in this process,
for your own experiments. The grader never does that in its own process: it builds
in the parent and loads the module only in the isolated child (docs/GRADING.md).
"""

from __future__ import annotations

import os

from kernels.builder import BuildError, Built, build, cache_dir, nvcc_path

__all__ = ["BuildError", "Built", "build", "cache_dir", "load", "nvcc_path"]


def load(source: str | os.PathLike = "exercises/level3/flash_fwd.cu"):
    """Build ``source`` (cached) and return a module with its ``flash_attn_cuda``."""
    from grader.child import native

    return native.load(str(build(source).path), "student_flash_fwd")
