"""``python -m grader.child.sanitize MODULE``: run a built Level 3 kernel on a few small
cases and exit, for compute-sanitizer to watch.

Level 3's `sanitizer` check (grader/checks/level3.py) starts this program under
compute-sanitizer memcheck, then racecheck, through StudentProcess.run_tool (the
child's isolation). It judges nothing and returns nothing: the sanitizer, a process of
its own, reports what the kernel did, and its exit status is the verdict. The cases
are small, so the instrumented run stays short, and each has what a kernel gets wrong
at its borders: ragged last tiles of queries and keys, causal with Nq < Nk and with
Nq > Nk (rows that see no key), grouped kv heads, a transposed view.
"""

from __future__ import annotations

import resource
import sys

import torch

from grader.child import native
from grader.child.worker import FILE_SIZE_LIMIT

# (batch, heads_q, heads_kv, n_q, n_k, head_dim, dtype, causal, transposed): transposed
# tensors are [B, N, H, D] storage seen as [B, H, N, D]
CASES = [
    (1, 2, 1, 77, 133, 64, torch.float16, True, False),
    (1, 2, 1, 77, 133, 128, torch.float16, True, False),
    (1, 2, 2, 150, 70, 128, torch.bfloat16, True, True),
    (2, 2, 1, 65, 200, 64, torch.bfloat16, False, True),
]


def _tensor(batch: int, heads: int, n: int, head_dim: int, dtype: torch.dtype, transposed: bool) -> torch.Tensor:
    if transposed:
        return torch.randn(batch, n, heads, head_dim, device="cuda", dtype=dtype).transpose(1, 2)
    return torch.randn(batch, heads, n, head_dim, device="cuda", dtype=dtype)


def main(path: str) -> None:
    resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))
    torch.manual_seed(0)
    extension = native.load_extension(path)
    for batch, heads_q, heads_kv, n_q, n_k, head_dim, dtype, causal, transposed in CASES:
        q = _tensor(batch, heads_q, n_q, head_dim, dtype, transposed)
        k, v = (_tensor(batch, heads_kv, n_k, head_dim, dtype, transposed) for _ in range(2))
        native.flash_attn_cuda(extension, q, k, v, causal=causal)
    torch.cuda.synchronize()
    print(f"sanitize: {len(CASES)} cases ran", flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
