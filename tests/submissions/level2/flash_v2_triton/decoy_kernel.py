"""A decoy: a trivial Triton kernel is launched on the output (so a kernel of the
student's does run), but the attention itself is computed in PyTorch."""

import math

import torch
import triton
import triton.language as tl

from grader.contract import HALF_DTYPES, check_attention_inputs, resolve_scale


@triton.jit
def _touch(X, n, BLOCK: tl.constexpr):
    offs = tl.program_id(0) * BLOCK + tl.arange(0, BLOCK)
    tl.store(X + offs, tl.load(X + offs, mask=offs < n), mask=offs < n)


def flash_attn_v2_triton(q, k, v, causal=False, softmax_scale=None):
    check_attention_inputs(q, k, v, dtypes=HALF_DTYPES, head_dims=(16, 32, 64, 128), equal_head_dims=True)
    scale = resolve_scale(softmax_scale, q.shape[-1])
    n_q, n_k = q.shape[2], k.shape[2]
    group = q.shape[1] // k.shape[1]
    k, v = (t.float().repeat_interleave(group, dim=1) for t in (k, v))
    s = scale * q.float() @ k.transpose(-2, -1)
    if causal:
        hidden = torch.arange(n_k, device=q.device)[None, :] > torch.arange(n_q, device=q.device)[:, None] + n_k - n_q
        s = s.masked_fill(hidden, -math.inf)
    m = s.amax(dim=-1, keepdim=True)
    m = torch.where(m == -math.inf, 0.0, m)
    p = torch.exp(s - m)
    l = p.sum(dim=-1, keepdim=True)
    out = ((p @ v) / torch.where(l == 0, 1.0, l)).to(q.dtype)
    _touch[(triton.cdiv(out.numel(), 1024),)](out, out.numel(), BLOCK=1024)
    return out, (m + torch.log(l)).squeeze(-1)
