"""Not a Triton kernel: F.scaled_dot_product_attention for out and torch.logsumexp
for lse, behind an unused @triton.jit function that is never launched."""

import torch
import torch.nn.functional as F
import triton
import triton.language as tl

from grader.contract import HALF_DTYPES, check_attention_inputs, resolve_scale


@triton.jit
def _unused(X):
    tl.store(X, tl.load(X))


def flash_attn_v2_triton(q, k, v, causal=False, softmax_scale=None):
    check_attention_inputs(q, k, v, dtypes=HALF_DTYPES, head_dims=(16, 32, 64, 128), equal_head_dims=True)
    scale = resolve_scale(softmax_scale, q.shape[-1])
    n_q, n_k = q.shape[2], k.shape[2]
    group = q.shape[1] // k.shape[1]
    k, v = (t.repeat_interleave(group, dim=1) for t in (k, v))
    hidden = torch.arange(n_k, device=q.device)[None, :] > torch.arange(n_q, device=q.device)[:, None] + n_k - n_q
    mask = ~hidden if causal else None
    out = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=mask, scale=scale)
    s = scale * q.float() @ k.float().transpose(-2, -1)
    if causal:
        s = s.masked_fill(hidden, float("-inf"))
    lse = torch.logsumexp(s, dim=-1)
    return torch.nan_to_num(out).to(q.dtype), lse
