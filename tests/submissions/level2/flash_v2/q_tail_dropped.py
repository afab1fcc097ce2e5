"""A v2 whose outer loop stops at the last full Q block: the rows of a ragged
last Q block are never written, so out and lse keep what torch.empty held."""

import math

import torch

from grader.contract import check_attention_inputs, resolve_scale


def flash_attn_v2(q, k, v, causal=False, softmax_scale=None, block_m=64, block_n=64):
    check_attention_inputs(q, k, v)
    scale = resolve_scale(softmax_scale, q.shape[-1])
    batch, heads_q, n_q, _ = q.shape
    n_k, dim_v = k.shape[2], v.shape[3]
    group = heads_q // k.shape[1]
    offset = n_k - n_q
    out = torch.empty(batch, heads_q, n_q, dim_v, dtype=q.dtype, device=q.device)
    lse = torch.empty(batch, heads_q, n_q, device=q.device)
    for i0 in range(0, n_q - block_m + 1, block_m):  # drops a ragged last Q block
        i1 = min(i0 + block_m, n_q)
        q_i = q[:, :, i0:i1].float()
        m_i = torch.full((batch, heads_q, i1 - i0), -math.inf, device=q.device)
        l_i = torch.zeros(batch, heads_q, i1 - i0, device=q.device)
        acc = torch.zeros(batch, heads_q, i1 - i0, dim_v, device=q.device)
        end = min(n_k, i1 + offset) if causal else n_k
        for j0 in range(0, end, block_n):
            k_j = k[:, :, j0:j0 + block_n].float().repeat_interleave(group, dim=1)
            v_j = v[:, :, j0:j0 + block_n].float().repeat_interleave(group, dim=1)
            s = scale * q_i @ k_j.transpose(-2, -1)
            if causal:
                rows = torch.arange(i0, i1, device=q.device)[:, None]
                cols = torch.arange(j0, j0 + k_j.shape[2], device=q.device)[None, :]
                s = s.masked_fill(cols > rows + offset, -math.inf)
            m_new = torch.maximum(m_i, s.amax(dim=-1))
            m_safe = torch.where(m_new == -math.inf, 0.0, m_new)
            p = torch.exp(s - m_safe[..., None])
            alpha = torch.exp(m_i - m_safe)
            l_i = alpha * l_i + p.sum(dim=-1)
            acc = alpha[..., None] * acc + p @ v_j
            m_i = m_new
        out[:, :, i0:i1] = acc / torch.where(l_i == 0, 1.0, l_i)[..., None]
        lse[:, :, i0:i1] = m_i + torch.log(l_i)
    return out, lse
