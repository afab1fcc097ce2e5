"""Wrong on purpose (a grader test): level4.mla_decode with one bug.

Causal masking aligned to the top-left corner: query t sees keys j <= t, as if the
new tokens came first, instead of j < L - (s_q - 1 - t).
"""

import functools
import os
from dataclasses import dataclass, replace

import torch
import triton
import triton.language as tl
from triton.tools.tensor_descriptor import TensorDescriptor

from grader.contract import HALF_DTYPES, check_paged_inputs, resolve_scale

LOG2E = tl.constexpr(1.4426950408889634)  # log2(e): exp(x) = exp2(x * LOG2E)
LN2 = tl.constexpr(0.6931471805599453)  # ln(2): ln(x) = log2(x) * LN2
MAX_HEAD_DIM = 576  # DeepSeek's 512 latent dims + 64 rotary dims
MAX_BLOCK_SIZE = 128
MAX_TILE_N = 64  # cached tokens per KV tile on the GPU
MIN_BLOCKS_PER_SPLIT = 4  # a split shorter than this costs more in partial writes than it balances
TMA_ALIGN_BYTES = 16  # the copy engine needs 16-byte-aligned base and strides
INTERPRETER_SMS = 8  # the interpreter has no SMs: plan splits as for a small GPU, so the combine runs


@dataclass(frozen=True)
class _LaunchConfig:
    block_m: int  # query rows (heads x s_q of one kv head) per program: they share every KV tile
    block_n: int  # cached tokens per KV tile; divides block_size, so a tile never straddles a page
    num_warps: int  # 8 for a 64 x 512 float32 accumulator: 128 registers a thread
    num_stages: int  # KV tiles in flight: decode is a stream of loads, keep the next ones coming
    tma: bool  # load KV tiles with the copy engine (where the cache's layout allows it)
    programs_per_sm: int  # how many of these programs one SM holds (the compiler's report, H100)
    waves: int  # programs per SM slot the split count aims at


def _next_pow2(n: int) -> int:
    return 1 << max(n - 1, 0).bit_length()


def _tile_n(block_size: int, cap: int) -> int:
    """The largest power of two that divides ``block_size``, at most ``cap``."""
    tile = block_size & -block_size
    return min(tile, cap)


def _pick_config(rows: int, head_dim: int, head_dim_v: int, block_size: int, device: torch.device,
                 interpret: bool) -> _LaunchConfig:
    """The launch configuration, chosen by a rule rather than autotuning (the sweep
    behind it is in docs/PERFORMANCE.md, Level 4).

    ``rows = h_q / h_kv * s_q`` query rows share one kv head. Up to 64 of them go in one
    program (16 is the smallest ``tl.dot``); more rows take several programs, which read
    the same KV tiles back to back, mostly from L2.

    - 16 or 32 rows (memory-bound): pointer loads, which Triton pipelines as ``cp.async``
      copies. At 16 rows a program takes 94 KiB of shared memory and 255 registers, so
      two programs share an SM and twice the bytes are in flight. TMA tiles, whose
      buffers keep q in shared memory too (166 KiB, one program an SM), measured 16%
      slower at h_q = 16 (25% with varied lengths) and 66% slower at h_q = 32.
    - 64 rows (compute-bound): TMA tiles. The 64 x 512 float32 accumulator takes 128 of
      the 255 registers of each of 8 warps; TMA frees the registers that cp.async spends
      on addresses (4-6% faster measured). q (72 KiB) and two 72 KiB tiles fill 216 KiB
      of the 227 KiB of shared memory: one program an SM.

    Under the interpreter, tiles of 16 tokens make the grader's short sequences cross
    several tiles and splits.
    """
    block_m = min(max(_next_pow2(rows), 16), 64)
    if interpret:
        return _LaunchConfig(block_m=block_m, block_n=_tile_n(block_size, 16), num_warps=4, num_stages=1,
                             tma=True, programs_per_sm=1, waves=2)
    if block_m < 64:
        config = _LaunchConfig(block_m=block_m, block_n=_tile_n(block_size, MAX_TILE_N), num_warps=4,
                               num_stages=2, tma=False, programs_per_sm=2 if block_m == 16 else 1, waves=2)
    else:
        # a 64-row program writes 128 KiB of partial out per split, 4x a 16-row one: aim at
        # one program per SM slot, which at b = 128 means no split at all
        config = _LaunchConfig(block_m=block_m, block_n=_tile_n(block_size, MAX_TILE_N),
                               num_warps=8 if _next_pow2(head_dim_v) > 256 else 4, num_stages=2, tma=True,
                               programs_per_sm=1, waves=1)
    dims = _next_pow2(head_dim_v) + _rest_block(head_dim - head_dim_v)
    limit = _max_shared_mem(device.index)
    # smaller GPUs: q and num_stages KV tiles must fit in shared memory
    while (config.block_m + config.num_stages * config.block_n) * dims * 2 > limit and config.block_n > 16:
        config = replace(config, block_n=config.block_n // 2)
    return config


def _rest_block(rest: int) -> int:
    """Padded width of the dims past ``head_dim_v`` (DeepSeek's 64 rotary dims); 0 if none."""
    return 0 if rest == 0 else max(_next_pow2(rest), 16)


@functools.cache
def _max_shared_mem(device_index: int) -> int:
    return torch.cuda.get_device_properties(device_index).shared_memory_per_block_optin


@functools.cache
def _num_sms(device_index: int) -> int:
    return torch.cuda.get_device_properties(device_index).multi_processor_count


def _pick_num_splits(programs: int, max_blocks: int, num_sms: int, config: _LaunchConfig) -> int:
    """How many pieces to cut each sequence into, from host-side facts only.

    ``programs`` is the grid of one split (batch x kv heads x row blocks); the GPU runs
    ``num_sms * config.programs_per_sm`` of them at once. Aim at ``config.waves`` programs
    per slot, rounding down: a last, partial wave would leave SMs idle while it runs
    (b = 128, h_q = 16 on an H100's 132 SMs: 4 splits, 512 programs in 264 slots,
    0.234 ms; 3 splits, 384 programs, 0.244 ms). Two waves rather than one because
    lengths vary: one wave (2 splits) is 3% faster on equal lengths, 28% slower on
    varied ones. Pieces shorter than ``MIN_BLOCKS_PER_SPLIT`` pages cost more
    in partial writes than they balance. The lengths enter through ``max_blocks``, the
    block table's width: reading ``cache_seqlens`` would stall the host on the GPU.
    """
    wanted = config.waves * num_sms * config.programs_per_sm // programs
    return max(1, min(wanted, max_blocks // MIN_BLOCKS_PER_SPLIT))


@functools.cache
def _has_tma(device_index: int) -> bool:
    return torch.cuda.get_device_capability(device_index)[0] >= 9


def _use_tma(k_cache: torch.Tensor, interpret: bool) -> bool:
    """True when ``k_cache`` can be read through a 4-D TMA descriptor: a Hopper GPU (or
    the interpreter), a contiguous last dim, 16-byte-aligned base and strides."""
    if not interpret and not _has_tma(k_cache.device.index):
        return False
    size = k_cache.element_size()
    return (k_cache.stride(-1) == 1 and k_cache.data_ptr() % TMA_ALIGN_BYTES == 0
            and all((s * size) % TMA_ALIGN_BYTES == 0 for s in k_cache.stride()[:-1]))


@triton.jit
def _dot(a, b, acc, DOT_FP32: tl.constexpr):
    """``a @ b + acc``; in float32 under the interpreter, whose bf16 ``tl.dot``
    multiplies the raw bit patterns (triton-lang/triton#11584)."""
    if DOT_FP32:
        return tl.dot(a.to(tl.float32), b.to(tl.float32), acc, input_precision="ieee")
    return tl.dot(a, b, acc)


@triton.jit
def _load_tile(src, page, in_page, kv_head, col0, tok_ok, stride_kp, stride_kt, stride_kd,
               D: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_D: tl.constexpr, MASKED: tl.constexpr,
               USE_TMA: tl.constexpr):
    """Tokens ``[in_page, in_page + BLOCK_N)`` of one page, dims ``[col0, col0 + BLOCK_D)``.

    In a masked tile the slots past the length come out 0: they may hold NaN, and
    ``0 * NaN`` in ``P @ V`` is NaN even where P is 0. With ``USE_TMA`` the copy engine
    brings the tile into shared memory with no address arithmetic in the threads (and
    zero-fills dims past ``d``); the pointer path reads 0 for padded dims itself.
    """
    if USE_TMA:
        tile = src.load([page, in_page, kv_head, col0]).reshape(BLOCK_N, BLOCK_D)
        if MASKED:
            tile = tl.where(tok_ok[:, None], tile, 0.0)
    else:
        offs_n = in_page + tl.arange(0, BLOCK_N)
        offs_d = tl.arange(0, BLOCK_D)
        ptrs = src + page.to(tl.int64) * stride_kp + offs_n[:, None] * stride_kt + (col0 + offs_d)[None, :] * stride_kd
        if MASKED:
            if D == BLOCK_D:
                tile = tl.load(ptrs, mask=tok_ok[:, None], other=0.0)
            else:
                tile = tl.load(ptrs, mask=tok_ok[:, None] & (offs_d[None, :] < D), other=0.0)
        elif D == BLOCK_D:
            tile = tl.load(ptrs)
        else:
            tile = tl.load(ptrs, mask=offs_d[None, :] < D, other=0.0)
    return tile


@triton.jit
def _attend_tiles(acc, l_i, m_i, q_v, q_r, k_src, r_src, kv_head, table_row, stride_tn, lo, hi, seqlen, row_end, qk_scale,
                  block_size, stride_kp, stride_kt, stride_kd,
                  BLOCK_N: tl.constexpr, DV: tl.constexpr, DR: tl.constexpr,
                  BLOCK_DV: tl.constexpr, BLOCK_DR: tl.constexpr, MASKED: tl.constexpr, USE_TMA: tl.constexpr,
                  DOT_FP32: tl.constexpr):
    """Fold the cached tokens ``[lo, hi)`` into ``(acc, l_i, m_i)``, one KV tile at a time.

    Each tile is one page's slice: its page number comes from the block table, and
    its first ``DV`` dims serve as K (in ``Q K^T``) and as V (in ``P V``) from the
    same load. ``MASKED=False`` is the hot loop, where every row sees every token;
    ``MASKED=True`` handles the tile with the length and the causal edge, where row
    ``r`` sees tokens ``< row_end[r]``.
    """
    offs_n = tl.arange(0, BLOCK_N)
    for start in range(lo, hi, BLOCK_N):
        # only pages below ceil(L / block_size) are ever read: later entries may be garbage
        page = tl.load(table_row + (start // block_size) * stride_tn)
        in_page = start % block_size
        tok_ok = start + offs_n < seqlen
        kv = _load_tile(k_src, page, in_page, kv_head, 0, tok_ok, stride_kp, stride_kt, stride_kd,
                        DV, BLOCK_N, BLOCK_DV, MASKED, USE_TMA)
        s = _dot(q_v, tl.trans(kv), None, DOT_FP32)
        if DR > 0:
            k_r = _load_tile(r_src, page, in_page, kv_head, DV, tok_ok, stride_kp, stride_kt, stride_kd,
                             DR, BLOCK_N, BLOCK_DR, MASKED, USE_TMA)
            s = _dot(q_r, tl.trans(k_r), s, DOT_FP32)
        s = s * qk_scale
        if MASKED:
            s = tl.where(start + offs_n[None, :] < row_end[:, None], s, float("-inf"))
            m_new = tl.maximum(m_i, tl.max(s, 1))
            # a row with no visible token yet has m_new = -inf; subtracting 0 instead
            # keeps exp2(-inf) = 0 where -inf - (-inf) would be NaN
            m_sub = tl.where(m_new == float("-inf"), 0.0, m_new)
        else:
            m_new = tl.maximum(m_i, tl.max(s, 1))
            m_sub = m_new
        p = tl.math.exp2(s - m_sub[:, None])
        alpha = tl.math.exp2(m_i - m_sub)
        l_i = l_i * alpha + tl.sum(p, 1)
        acc = _dot(p.to(kv.dtype), kv, acc * alpha[:, None], DOT_FP32)
        m_i = m_new
    return acc, l_i, m_i


# lengths, head counts and split sizes vary from call to call: one compiled kernel serves them
@triton.jit(do_not_specialize=["group", "num_splits", "blocks_per_split"])
def _mla_decode_split(Q, K, KRest, BlockTable, SeqLens, Out, Lse, qk_scale,
                      stride_qb, stride_qt, stride_qh, stride_qd,
                      stride_kp, stride_kt, stride_kh, stride_kd,
                      stride_tb, stride_tn,
                      stride_ob, stride_os, stride_ot, stride_oh, stride_od,
                      stride_lb, stride_ls, stride_lt, stride_lh,
                      s_q, group, block_size, num_splits, blocks_per_split,
                      DV: tl.constexpr, DR: tl.constexpr, BLOCK_DV: tl.constexpr, BLOCK_DR: tl.constexpr,
                      BLOCK_M: tl.constexpr, BLOCK_N: tl.constexpr, CAUSAL: tl.constexpr,
                      PARTIAL: tl.constexpr, USE_TMA: tl.constexpr, DOT_FP32: tl.constexpr):
    """Program ``(m, kv_head * num_splits + split, b)``: query rows ``[m*BLOCK_M, (m+1)*BLOCK_M)``
    of kv head ``kv_head`` (row ``r`` is query position ``r // group``, head
    ``kv_head * group + r % group``) against split ``split`` of sequence ``b``.
    ``PARTIAL``: write float32 partials for the combine; else the final out and lse."""
    pid_m = tl.program_id(0)
    kv_head = tl.program_id(1) // num_splits
    split = tl.program_id(1) % num_splits
    b = tl.program_id(2).to(tl.int64)
    seqlen = tl.load(SeqLens + b)
    lo = split * blocks_per_split * block_size
    hi = tl.minimum(lo + blocks_per_split * block_size, seqlen)

    offs_m = pid_m * BLOCK_M + tl.arange(0, BLOCK_M)
    t = offs_m // group
    head = kv_head * group + offs_m % group
    row_ok = t < s_q
    offs_v = tl.arange(0, BLOCK_DV)
    out_rows = Out + b * stride_ob + split * stride_os + t * stride_ot + head * stride_oh
    lse_ptrs = Lse + b * stride_lb + split * stride_ls + t * stride_lt + head * stride_lh

    if hi > lo:
        q_rows = Q + b * stride_qb + t * stride_qt + head * stride_qh
        q_v = tl.load(q_rows[:, None] + offs_v[None, :] * stride_qd,
                      mask=row_ok[:, None] & (offs_v[None, :] < DV), other=0.0)
        offs_r = tl.arange(0, BLOCK_DR)
        q_r = tl.load(q_rows[:, None] + (DV + offs_r)[None, :] * stride_qd,
                      mask=row_ok[:, None] & (offs_r[None, :] < DR), other=0.0)
        if USE_TMA:
            k_src = K
            r_src = KRest
        else:
            k_src = K + kv_head * stride_kh
            r_src = k_src
        table_row = BlockTable + b * stride_tb

        # causal (bottom-right): query t of s_q sees token j iff j < L - (s_q - 1 - t)
        if CAUSAL:
            row_end = tl.minimum(t + 1, seqlen)
            n_full = tl.minimum(hi, 1)
        else:
            row_end = tl.zeros([BLOCK_M], dtype=tl.int32) + seqlen
            n_full = hi
        # tiles below n_full are seen whole by every row; the rest carry masks
        lo_masked = lo + tl.maximum(n_full - lo, 0) // BLOCK_N * BLOCK_N

        m_i = tl.full([BLOCK_M], float("-inf"), dtype=tl.float32)
        l_i = tl.zeros([BLOCK_M], dtype=tl.float32)
        acc = tl.zeros([BLOCK_M, BLOCK_DV], dtype=tl.float32)
        qk_scale = qk_scale * LOG2E
        acc, l_i, m_i = _attend_tiles(acc, l_i, m_i, q_v, q_r, k_src, r_src, kv_head, table_row, stride_tn, lo, lo_masked,
                                      seqlen, row_end, qk_scale, block_size, stride_kp, stride_kt, stride_kd,
                                      BLOCK_N, DV, DR, BLOCK_DV, BLOCK_DR, False, USE_TMA, DOT_FP32)
        acc, l_i, m_i = _attend_tiles(acc, l_i, m_i, q_v, q_r, k_src, r_src, kv_head, table_row, stride_tn, lo_masked, hi,
                                      seqlen, row_end, qk_scale, block_size, stride_kp, stride_kt, stride_kd,
                                      BLOCK_N, DV, DR, BLOCK_DV, BLOCK_DR, True, USE_TMA, DOT_FP32)

        # a row that saw no token (causal, L < s_q) has l = 0 and acc = 0: out 0, lse -inf
        empty = l_i == 0.0
        l_safe = tl.where(empty, 1.0, l_i)
        # the [BLOCK_M, BLOCK_DV] output addresses are built only now: kept through the
        # loop they would take registers the accumulator needs
        tl.store(out_rows[:, None] + offs_v[None, :] * stride_od, (acc / l_safe[:, None]).to(Out.dtype.element_ty),
                 mask=row_ok[:, None] & (offs_v[None, :] < DV))
        tl.store(lse_ptrs, tl.where(empty, float("-inf"), (m_i + tl.math.log2(l_safe)) * LN2), mask=row_ok)
    else:
        # an empty split: lse = -inf tells the combine to skip its (unwritten) partial out
        tl.store(lse_ptrs, tl.full([BLOCK_M], float("-inf"), dtype=tl.float32), mask=row_ok)
        if not PARTIAL:
            tl.store(out_rows[:, None] + offs_v[None, :] * stride_od,
                     tl.zeros([BLOCK_M, BLOCK_DV], dtype=Out.dtype.element_ty),
                     mask=row_ok[:, None] & (offs_v[None, :] < DV))


@triton.jit(do_not_specialize=["num_splits", "heads_q"])
def _mla_decode_combine(OutPart, LsePart, Out, Lse, num_splits, heads_q,
                        stride_pb, stride_ps, stride_pt, stride_ph,
                        stride_qb, stride_qs, stride_qt, stride_qh,
                        stride_ob, stride_ot, stride_oh,
                        stride_lb, stride_lt, stride_lh,
                        DV: tl.constexpr, BLOCK_DV: tl.constexpr):
    """Program ``(t * heads_q + h, b)``: merge the ``num_splits`` partial ``(o, lse)`` of
    one query row, as Level 1's ``merge_attention_states`` does, one split at a time.

    With ``m`` the running max of the lse seen so far, every weight is
    ``exp(lse_s - m) <= 1``: no overflow for any lse, and an empty split
    (``lse_s = -inf``) weighs exactly 0. If every split is empty, ``out = 0`` and
    ``lse = -inf``.
    """
    row = tl.program_id(0)
    b = tl.program_id(1).to(tl.int64)
    t = row // heads_q
    h = row % heads_q
    offs_v = tl.arange(0, BLOCK_DV)
    col_ok = offs_v < DV
    part = OutPart + b * stride_pb + t * stride_pt + h * stride_ph + offs_v
    part_lse = LsePart + b * stride_qb + t * stride_qt + h * stride_qh
    m = -float("inf")
    l = 0.0
    acc = tl.zeros([BLOCK_DV], dtype=tl.float32)
    for s in range(num_splits):
        lse_s = tl.load(part_lse + s * stride_qs)
        m_new = tl.maximum(m, lse_s)
        m_sub = tl.where(m_new == -float("inf"), 0.0, m_new)
        alpha = tl.exp(m - m_sub)
        w = tl.exp(lse_s - m_sub)
        # an empty split wrote no partial out: read none of it (it may be NaN)
        o_s = tl.load(part + s * stride_ps, mask=offs_v < tl.where(lse_s > -float("inf"), DV, 0), other=0.0)
        acc = acc * alpha + w * o_s
        l = l * alpha + w
        m = m_new
    empty = l == 0.0
    l_safe = tl.where(empty, 1.0, l)
    tl.store(Out + b * stride_ob + t * stride_ot + h * stride_oh + offs_v,
             (acc / l_safe).to(Out.dtype.element_ty), mask=col_ok)
    tl.store(Lse + b * stride_lb + t * stride_lt + h * stride_lh, tl.where(empty, -float("inf"), m + tl.log(l_safe)))


def _launch(q, k_cache, block_table, cache_seqlens, head_dim_v: int, scale: float, causal: bool,
            num_splits: int, config: _LaunchConfig, interpret: bool):
    """Allocate the outputs and run the split pass, then the combine if there are splits."""
    batch, s_q, heads_q, head_dim = q.shape
    block_size, heads_kv = k_cache.shape[1], k_cache.shape[2]
    max_blocks = block_table.shape[1]
    group = heads_q // heads_kv
    out = torch.empty((batch, s_q, heads_q, head_dim_v), dtype=q.dtype, device=q.device)
    lse = torch.empty((batch, heads_q, s_q), dtype=torch.float32, device=q.device)
    if out.numel() == 0:
        return out, lse
    # more splits than pages would only add empty programs (and could pass the grid's
    # 65535 limit); two stay two, so that the combine path is the one asked for
    num_splits = min(num_splits, max(max_blocks, 2))
    # every split covers the same number of pages (splits past a sequence's end are empty)
    blocks_per_split = max(1, triton.cdiv(max_blocks, num_splits))
    partial = num_splits > 1
    if partial:
        o_dst = torch.empty((batch, num_splits, s_q, heads_q, head_dim_v), dtype=torch.float32, device=q.device)
        lse_dst = torch.empty((batch, num_splits, s_q, heads_q), dtype=torch.float32, device=q.device)
        o_strides = o_dst.stride()
        lse_strides = lse_dst.stride()
    else:
        o_dst, lse_dst = out, lse
        o_strides = (out.stride(0), 0, *out.stride()[1:])
        lse_strides = (lse.stride(0), 0, lse.stride(2), lse.stride(1))
    rest = head_dim - head_dim_v
    block_dv, block_dr = max(_next_pow2(head_dim_v), 16), max(_rest_block(rest), 16)
    use_tma = config.tma and k_cache.numel() > 0 and _use_tma(k_cache, interpret)
    if use_tma:
        shape, strides = list(k_cache.shape), list(k_cache.stride())
        k_src = TensorDescriptor(k_cache, shape, strides, [1, config.block_n, 1, block_dv])
        r_src = TensorDescriptor(k_cache, shape, strides, [1, config.block_n, 1, block_dr])
    else:
        k_src = r_src = k_cache
    grid = (triton.cdiv(group * s_q, config.block_m), heads_kv * num_splits, batch)
    _mla_decode_split[grid](
        q, k_src, r_src, block_table, cache_seqlens, o_dst, lse_dst, scale,
        *q.stride(), *k_cache.stride(), *block_table.stride(), *o_strides, *lse_strides,
        s_q, group, block_size, num_splits, blocks_per_split,
        DV=head_dim_v, DR=rest, BLOCK_DV=block_dv, BLOCK_DR=block_dr,
        BLOCK_M=config.block_m, BLOCK_N=config.block_n, CAUSAL=causal and s_q > 1, PARTIAL=partial,
        USE_TMA=use_tma, DOT_FP32=interpret, num_warps=config.num_warps, num_stages=config.num_stages,
    )
    if partial:
        _mla_decode_combine[(s_q * heads_q, batch)](
            o_dst, lse_dst, out, lse, num_splits, heads_q,
            o_dst.stride(0), o_dst.stride(1), o_dst.stride(2), o_dst.stride(3), *lse_dst.stride(),
            out.stride(0), out.stride(1), out.stride(2), lse.stride(0), lse.stride(2), lse.stride(1),
            DV=head_dim_v, BLOCK_DV=max(_next_pow2(head_dim_v), 16), num_warps=4,
        )
    return out, lse


def mla_decode(q, k_cache, block_table, cache_seqlens, head_dim_v, softmax_scale=None, causal=False,
               num_splits=None):
    """MLA decode over a paged KV cache: a split-KV Triton kernel and a combine kernel.

    Arguments:
        q: (b, s_q, h_q, d), fp16 or bf16, d <= 576.
        k_cache: (num_blocks, block_size, h_kv, d), dtype of q; block_size a multiple of
            16 up to 128; h_q % h_kv == 0. V is k_cache[..., :head_dim_v].
        block_table: (b, max_blocks) int32. Token t of sequence i lives in page
            block_table[i, t // block_size], slot t % block_size; entries past the first
            ceil(L / block_size) of a row may be any int32 and are never read.
        cache_seqlens: (b,) int32, the lengths L, 0 <= L <= max_blocks * block_size.
        head_dim_v: int, 1 <= head_dim_v <= d.
        softmax_scale: float; None means d ** -0.5 (d the full q/k dim).
        causal: bool. Query t sees key j iff j < L - (s_q - 1 - t).
        num_splits: int >= 1, pieces each sequence's keys are cut into (then merged by
            the combine kernel); None chooses from the batch, the table's width and the
            SM count.
    Tensors must be on a CUDA device, or on any device when TRITON_INTERPRET=1 was set
    before triton was imported.
    Return:
        out: (b, s_q, h_q, head_dim_v), dtype of q; 0 on a row with no visible key.
        lse: (b, h_q, s_q) float32, natural-log logsumexp of the scaled scores over the
            visible keys; -inf on a row with none.
    """
    check_paged_inputs(q, k_cache, block_table, cache_seqlens, head_dim_v, dtypes=HALF_DTYPES,
                       block_size_multiple=16, max_block_size=MAX_BLOCK_SIZE, max_head_dim=MAX_HEAD_DIM,
                       check_values=False)
    interpret = os.environ.get("TRITON_INTERPRET") == "1"
    if q.device.type != "cuda" and not interpret:
        raise ValueError(f"q is on {q.device}; a CUDA tensor is required "
                         "(or set TRITON_INTERPRET=1 before importing triton to run on the CPU)")
    if num_splits is not None and (isinstance(num_splits, bool) or not isinstance(num_splits, int)
                                   or num_splits < 1):
        raise ValueError(f"num_splits must be None or a positive int, got {num_splits!r}")
    batch, s_q, heads_q, head_dim = q.shape
    heads_kv, block_size = k_cache.shape[2], k_cache.shape[1]
    config = _pick_config(heads_q // heads_kv * s_q, head_dim, head_dim_v, block_size, q.device, interpret)
    if num_splits is None:
        num_sms = INTERPRETER_SMS if interpret else _num_sms(q.device.index)
        programs = batch * heads_kv * triton.cdiv(heads_q // heads_kv * s_q, config.block_m)
        num_splits = _pick_num_splits(programs, block_table.shape[1], num_sms, config)
    scale = resolve_scale(softmax_scale, head_dim)
    return _launch(q, k_cache, block_table, cache_seqlens, head_dim_v, scale, bool(causal), num_splits,
                   config, interpret)
