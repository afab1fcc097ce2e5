"""Not a Triton kernel: attention in plain PyTorch (matmul, max, exp, sum) in the
Triton exercise's file. Right values; no kernel of the student's ran."""

import math

import torch

from grader.contract import HALF_DTYPES, check_attention_inputs, resolve_scale


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
    out = (p @ v) / torch.where(l == 0, 1.0, l)
    return out.to(q.dtype), (m + torch.log(l)).squeeze(-1)
