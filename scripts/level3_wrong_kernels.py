"""Level 3's wrong CUDA kernels: the reference kernel with one bug each, under a header
that says which, made from today's solution whenever they are needed, so they cannot
drift from it. tests/test_wrong_submissions_level3.py grades each on a GPU
(tests/conftest.py makes them); benchmarks/flash_fwd_cuda.py runs them case by case.

    python scripts/level3_wrong_kernels.py      # from the checkout: writes them under build/ to read
"""
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUFFIX = ".cu"
OUT = ROOT / "build" / "wrong_kernels" / "level3" / "flash_fwd"
SOLUTION = (ROOT / "solutions/level3/flash_fwd.cu").read_text()
# the code after the solution's header comment (its design notes; each wrong kernel has its own header)
_LINES = SOLUTION.splitlines(keepends=True)
CODE = "".join(_LINES[next(i for i, line in enumerate(_LINES) if not line.startswith("//")):])

# stem: (header, [(text of the solution, what the wrong kernel has instead), ...])
WRONG = {
    "fp16_accumulation": (
        r'''// WRONG on purpose (a test submission for the Level 3 grader): fp16_accumulation.
//
// O is accumulated in the input dtype: every P V step of the tensor cores is rounded to
// fp16 (bf16), as mma.sync ... .f16.f16.f16.f16 (16-bit accumulators, fp16 only) does.
// Rounding errors grow with the number of keys; short rows still pass.
//
// Otherwise the reference kernel (solutions/level3/flash_fwd.cu) at version 4.
''',
        [
        (r'''#include "course/flash_fwd.h"

#ifndef FLASH_VERSION
#define FLASH_VERSION 4
#endif
#ifndef FLASH_D64_BLOCK_M
#define FLASH_D64_BLOCK_M 128
''',
         r'''#include "course/flash_fwd.h"

#define FLASH_VERSION 4
#ifndef FLASH_D64_BLOCK_M
#define FLASH_D64_BLOCK_M 128
'''),
        (r'''          mma_16816<T>(o[mi][2 * dp], a[mi], bv[0], bv[1]);
          mma_16816<T>(o[mi][2 * dp + 1], a[mi], bv[2], bv[3]);
        }
      }
''',
         r'''          mma_16816<T>(o[mi][2 * dp], a[mi], bv[0], bv[1]);
          mma_16816<T>(o[mi][2 * dp + 1], a[mi], bv[2], bv[3]);
#pragma unroll
          for (int e = 0; e < 8; ++e) {  // the accumulators are 16-bit
            float& acc = o[mi][2 * dp + e / 4][e % 4];
            acc = course::to_float(course::from_float<T>(acc));
          }
        }
      }
'''),
        ],
    ),
    "missing_syncthreads_after_load": (
        r'''// WRONG on purpose (a test submission for the Level 3 grader): missing_syncthreads_after_load.
//
// Barrier [A] is gone: a warp waits for its own cp.async copies only and then reads the
// whole K/V tile, part of which other warps' copies may not have written yet.
//
// Otherwise the reference kernel (solutions/level3/flash_fwd.cu) at version 4.
''',
        [
        (r'''#include "course/flash_fwd.h"

#ifndef FLASH_VERSION
#define FLASH_VERSION 4
#endif
#ifndef FLASH_D64_BLOCK_M
#define FLASH_D64_BLOCK_M 128
''',
         r'''#include "course/flash_fwd.h"

#define FLASH_VERSION 4
#ifndef FLASH_D64_BLOCK_M
#define FLASH_D64_BLOCK_M 128
'''),
        (r'''      cp_async_wait<0>();
    }
    __syncthreads();  // [A] tile j (and Q) written by all threads is visible to all warps
    const uint32_t sK_addr = smem_u32(sK + stage * BLOCK_N * D);
    const uint32_t sV_addr = smem_u32(sV + stage * BLOCK_N * D);
''',
         r'''      cp_async_wait<0>();
    }
    const uint32_t sK_addr = smem_u32(sK + stage * BLOCK_N * D);
    const uint32_t sV_addr = smem_u32(sV + stage * BLOCK_N * D);
'''),
        ],
    ),
    "missing_syncthreads_before_refill": (
        r'''// WRONG on purpose (a test submission for the Level 3 grader): missing_syncthreads_before_refill.
//
// Barrier [B] is gone: a fast warp issues the cp.async copies that refill a stage while
// slower warps may still be reading that stage's K/V tile. The outputs are right on
// every case of the grader's (the window is short); only racecheck sees the race.
//
// Otherwise the reference kernel (solutions/level3/flash_fwd.cu) at version 4.
''',
        [
        (r'''#include "course/flash_fwd.h"

#ifndef FLASH_VERSION
#define FLASH_VERSION 4
#endif
#ifndef FLASH_D64_BLOCK_M
#define FLASH_D64_BLOCK_M 128
''',
         r'''#include "course/flash_fwd.h"

#define FLASH_VERSION 4
#ifndef FLASH_D64_BLOCK_M
#define FLASH_D64_BLOCK_M 128
'''),
        (r'''    }
    __syncthreads();  // [B] all warps are done with this stage before it is refilled
  }
''',
         r'''    }
  }
'''),
        ],
    ),
    "no_tail_mask": (
        r'''// WRONG on purpose (a test submission for the Level 3 grader): no_tail_mask.
//
// The keys past Nk are zero-filled by cp.async (no out-of-bounds read) but their scores
// are never masked: in the last key tile they score 0 instead of -inf and take a share of
// the softmax (their V rows are 0, so the output shrinks). Causal masks them anyway, so
// only causal=False shows it.
//
// Otherwise the reference kernel (solutions/level3/flash_fwd.cu) at version 4.
''',
        [
        (r'''#include "course/flash_fwd.h"

#ifndef FLASH_VERSION
#define FLASH_VERSION 4
#endif
#ifndef FLASH_D64_BLOCK_M
#define FLASH_D64_BLOCK_M 128
''',
         r'''#include "course/flash_fwd.h"

#define FLASH_VERSION 4
#ifndef FLASH_D64_BLOCK_M
#define FLASH_D64_BLOCK_M 128
'''),
        (r'''
    // Scale into log2 units; mask only tiles that cross the end of the keys or the diagonal.
    const bool needs_mask = n0 + BLOCK_N > p.n_k || (CAUSAL && n0 + BLOCK_N - 1 > m0 + diagonal);
#pragma unroll
    for (int mi = 0; mi < M_TILES; ++mi) {
''',
         r'''
    // Scale into log2 units; mask only tiles that cross the end of the keys or the diagonal.
    const bool needs_mask = (CAUSAL && n0 + BLOCK_N - 1 > m0 + diagonal);
#pragma unroll
    for (int mi = 0; mi < M_TILES; ++mi) {
'''),
        (r'''            const int row = m0 + warp_row + mi * 16 + g + (e / 2) * 8;
            const int col = n0 + nt * 8 + 2 * t + e % 2;
            if (col >= p.n_k || (CAUSAL && col > row + diagonal)) x = -INFINITY;
          }
          s[mi][nt][e] = x;
''',
         r'''            const int row = m0 + warp_row + mi * 16 + g + (e / 2) * 8;
            const int col = n0 + nt * 8 + 2 * t + e % 2;
            if (CAUSAL && col > row + diagonal) x = -INFINITY;
          }
          s[mi][nt][e] = x;
'''),
        ],
    ),
    "no_tail_predication": (
        r'''// WRONG on purpose (a test submission for the Level 3 grader): no_tail_predication.
//
// The student assumed Nq and Nk are multiples of the tiles: every cp.async copies its
// full 16 bytes (no zero-fill past the last row, so keys past Nk are whatever memory
// follows, for the last head past the tensor's end) and no score is masked for j >= Nk.
// Stores stay predicated. Right only when Nq and Nk are multiples of 128 and 64.
//
// Otherwise the reference kernel (solutions/level3/flash_fwd.cu) at version 4.
''',
        [
        (r'''#include "course/flash_fwd.h"

#ifndef FLASH_VERSION
#define FLASH_VERSION 4
#endif
#ifndef FLASH_D64_BLOCK_M
#define FLASH_D64_BLOCK_M 128
''',
         r'''#include "course/flash_fwd.h"

#define FLASH_VERSION 4
#ifndef FLASH_D64_BLOCK_M
#define FLASH_D64_BLOCK_M 128
'''),
        (r'''#pragma unroll
  for (int i = 0; i < ROWS / kRowStep; ++i) {
    const bool valid = row0 + i * kRowStep < rows_valid;
    cp_async_16(to + i * kRowStep * D * sizeof(T), valid ? from : src, valid);  // src: a valid address, unread
    from += kRowStep * row_stride;
''',
         r'''#pragma unroll
  for (int i = 0; i < ROWS / kRowStep; ++i) {
    const bool valid = true;
    (void)rows_valid;
    cp_async_16(to + i * kRowStep * D * sizeof(T), valid ? from : src, valid);  // src: a valid address, unread
    from += kRowStep * row_stride;
'''),
        (r'''
    // Scale into log2 units; mask only tiles that cross the end of the keys or the diagonal.
    const bool needs_mask = n0 + BLOCK_N > p.n_k || (CAUSAL && n0 + BLOCK_N - 1 > m0 + diagonal);
#pragma unroll
    for (int mi = 0; mi < M_TILES; ++mi) {
''',
         r'''
    // Scale into log2 units; mask only tiles that cross the end of the keys or the diagonal.
    const bool needs_mask = (CAUSAL && n0 + BLOCK_N - 1 > m0 + diagonal);
#pragma unroll
    for (int mi = 0; mi < M_TILES; ++mi) {
'''),
        (r'''            const int row = m0 + warp_row + mi * 16 + g + (e / 2) * 8;
            const int col = n0 + nt * 8 + 2 * t + e % 2;
            if (col >= p.n_k || (CAUSAL && col > row + diagonal)) x = -INFINITY;
          }
          s[mi][nt][e] = x;
''',
         r'''            const int row = m0 + warp_row + mi * 16 + g + (e / 2) * 8;
            const int col = n0 + nt * 8 + 2 * t + e % 2;
            if (CAUSAL && col > row + diagonal) x = -INFINITY;
          }
          s[mi][nt][e] = x;
'''),
        ],
    ),
    "strides_ignored": (
        r'''// WRONG on purpose (a test submission for the Level 3 grader): strides_ignored.
//
// The strides are ignored: q, k, v are indexed as if contiguous [B, H, N, D]
// (row stride D, head stride N * D, batch stride H * N * D). Right on contiguous inputs
// only; a transposed [B, N, H, D] view or rows of a wider tensor read the wrong elements.
//
// Otherwise the reference kernel (solutions/level3/flash_fwd.cu) at version 4.
''',
        [
        (r'''#include "course/flash_fwd.h"

#ifndef FLASH_VERSION
#define FLASH_VERSION 4
#endif
#ifndef FLASH_D64_BLOCK_M
#define FLASH_D64_BLOCK_M 128
''',
         r'''#include "course/flash_fwd.h"

#define FLASH_VERSION 4
#ifndef FLASH_D64_BLOCK_M
#define FLASH_D64_BLOCK_M 128
'''),
        (r'''  p.lse = static_cast<float*>(lse.data);
  for (int i = 0; i < 3; ++i) {
    p.q_stride[i] = q.stride[i];
    p.k_stride[i] = k.stride[i];
    p.v_stride[i] = v.stride[i];
    p.out_stride[i] = out.stride[i];
  }
  p.lse_stride[0] = lse.stride[0];
''',
         r'''  p.lse = static_cast<float*>(lse.data);
  for (int i = 0; i < 3; ++i) {
    p.out_stride[i] = out.stride[i];
  }
  const int64_t d = q.shape[3];
  const int64_t q_contiguous[3] = {q.shape[1] * q.shape[2] * d, q.shape[2] * d, d};
  const int64_t kv_contiguous[3] = {k.shape[1] * k.shape[2] * d, k.shape[2] * d, d};
  for (int i = 0; i < 3; ++i) {
    p.q_stride[i] = q_contiguous[i];
    p.k_stride[i] = kv_contiguous[i];
    p.v_stride[i] = kv_contiguous[i];
  }
  p.lse_stride[0] = lse.stride[0];
'''),
        ],
    ),
    "top_left_causal": (
        r'''// WRONG on purpose (a test submission for the Level 3 grader): top_left_causal.
//
// Causal is aligned top-left (query i sees key j iff j <= i), as if Nq == Nk always; the
// course (and FlashAttention-2) align bottom-right: j <= i + Nk - Nq.
//
// Otherwise the reference kernel (solutions/level3/flash_fwd.cu) at version 4.
''',
        [
        (r'''#include "course/flash_fwd.h"

#ifndef FLASH_VERSION
#define FLASH_VERSION 4
#endif
#ifndef FLASH_D64_BLOCK_M
#define FLASH_D64_BLOCK_M 128
''',
         r'''#include "course/flash_fwd.h"

#define FLASH_VERSION 4
#ifndef FLASH_D64_BLOCK_M
#define FLASH_D64_BLOCK_M 128
'''),
        (r'''  const int h_kv = h / p.group;
  const int m0 = m_block * BLOCK_M;
  const int diagonal = p.n_k - p.n_q;  // query i sees key j iff j <= i + diagonal
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int warp_row = warp * 16 * M_TILES;  // this warp's first row within the block
''',
         r'''  const int h_kv = h / p.group;
  const int m0 = m_block * BLOCK_M;
  const int diagonal = 0;  // query i sees key j iff j <= i
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int warp_row = warp * 16 * M_TILES;  // this warp's first row within the block
'''),
        ],
    ),
}


def wrong_kernel(stem: str) -> str:
    """The wrong kernel ``stem``, made from today's solution."""
    header, edits = WRONG[stem]
    code = CODE
    for old, new in edits:
        assert code.count(old) == 1, (stem, old[:60])
        code = code.replace(old, new)
    return header + code


def write_all() -> Path:
    """Write every wrong kernel under OUT and return OUT."""
    OUT.mkdir(parents=True, exist_ok=True)
    for stem in WRONG:
        (OUT / f"{stem}{SUFFIX}").write_text(wrong_kernel(stem))
    return OUT


if __name__ == "__main__":
    print("wrote", ", ".join(WRONG), "under", write_all())
