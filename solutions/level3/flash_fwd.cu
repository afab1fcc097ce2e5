// flash_fwd.cu — FlashAttention-2 forward on tensor cores (mma.sync + ldmatrix + cp.async).
//
// The reference solution of Level 3. It computes, for every batch b and query head h,
//
//     S = softmax_scale * Q K^T        [Nq, Nk], masked (bottom-right causal, tails)
//     out = softmax(S) V               [Nq, D]
//     lse = logsumexp(S, dim=-1)       [Nq]        (natural log, float32)
//
// without ever writing S to memory. Read this header top to bottom before the code.
//
// 1. Work split (FlashAttention-2). One thread block of 4 warps owns BLOCK_M query rows
//    of one (b, h): grid = (ceil(Nq / BLOCK_M), Hq, B). Each warp owns BLOCK_M / 4 of
//    those rows (16 * M_TILES, one or two m16 tiles) for the whole kernel, so the
//    softmax statistics of a row live in one warp's registers and the warps never have
//    to talk to each other — only share the K/V tiles they all read. The block walks
//    the keys in tiles of BLOCK_N; a query head h reads kv head h / (Hq / Hkv) (GQA).
//
// 2. Tensor cores. mma.sync.m16n8k16: A is 16x16 (row major), B 16x8 (column major),
//    the accumulator 16x8 float32, spread over the 32 lanes: lane = 4 * g + t holds
//    rows g and g + 8, columns 2t and 2t + 1 of C. Two products per key tile:
//      S_tile [BLOCK_M x BLOCK_N] = Q_tile K_tile^T: A = Q (ldmatrix), B = K^T. K is
//        stored [key][d], which is exactly B's column-major layout: plain ldmatrix.
//      O [BLOCK_M x D] += P V_tile: B = V, stored [key][d], so B needs ldmatrix.trans.
//        A = P comes straight from registers: the accumulator layout of two adjacent
//        n8 tiles of S is the A-fragment layout of one k16 step, so P never touches
//        shared memory (the FlashAttention-2 register trick).
//    Q's fragments are reloaded from shared memory for every key tile: holding them in
//    registers would cost 64 registers per thread at D = 128, and O already takes 128.
//
// 3. Shared memory. sQ [BLOCK_M][D], sK [2][BLOCK_N][D], sV [2][BLOCK_N][D] (two
//    stages, below), rows of D elements with NO padding, filled with 16-byte cp.async
//    copies (8 halves each, a "chunk"; a row has D / 8 chunks). ldmatrix reads 8 rows
//    at the same chunk column; rows are 128 or 256 bytes long, so without care all 8
//    land in the same 4 banks (an 8-way conflict). The XOR swizzle
//        physical chunk = chunk ^ (row % 8)
//    moves those 8 reads to 8 different 16-byte bank groups; every access here
//    (cp.async writes, ldmatrix reads) goes through swizzle(), so the layout stays an
//    implementation detail of one function.
//
// 4. Pipeline (cp.async double buffering). While the tensor cores work on key tile j in
//    stage j % 2, the copy engine of each thread is already fetching tile j + 1 into the
//    other stage. Per iteration:
//        issue cp.async of K/V tile j + 1 -> stage (j + 1) % 2, commit
//        cp.async.wait_group 1        (this thread's copies of tile j have landed)
//        __syncthreads()  [A]         (... and every other thread's: tile j complete)
//        S = Q K^T, mask, online softmax, O += P V
//        __syncthreads()  [B]         (every warp is done reading stage j % 2, which
//                                      iteration j + 1 refills with tile j + 2)
//    Barrier A protects readers from a half-written tile, barrier B protects a tile
//    still being read from the next prefetch. Remove either and the result is a race.
//
// 5. Online softmax registers. Each thread holds, for each of its rows (2 per m16 tile),
//    m (running max of the scaled scores, in log2 units: s * scale * log2(e)) and l (its
//    partial running sum of exp2(s - m) over the columns it owns). Per key tile:
//        m_new = max(m, rowmax(S))               (reduced over the 4 lanes of a row)
//        P = exp2(S - m_new),  alpha = exp2(m - m_new)
//        l = alpha * l + rowsum(P),  O = alpha * O + P V
//    A row that has seen only masked keys has m = -inf; it subtracts 0 instead of -inf,
//    so exp2(-inf - 0) = 0 and nothing becomes NaN. At the end l is summed over the 4
//    lanes, out = O / l and lse = ln(2) * (m + log2(l)); a row with l = 0 (bottom-right
//    causal with Nq > Nk) writes out = 0 and lse = -inf.
//
// 6. Masking and skipping. Query i sees key j iff j <= i + Nk - Nq (bottom-right
//    causal) and j < Nk. A block of rows [m0, m0 + BLOCK_M) stops at the last key tile
//    its last row can see (whole tiles to the right are never loaded), and only tiles
//    that cross the diagonal or the end of the keys pay for the element-wise mask.
//    Tails: rows past Nq and keys past Nk are zero-filled by cp.async (src-size 0), the
//    scores of keys past Nk are set to -inf, rows past Nq are never stored. Causal
//    blocks are launched heaviest first (the last rows see the most keys), so the grid
//    does not end waiting on a few long blocks.
//
// Versions (cumulative; compile with -DFLASH_VERSION=N, the default is the last one).
// benchmarks/flash_fwd_cuda.py builds and times them side by side; docs/PERFORMANCE.md
// (Level 3) has the measured effect of each step.
//     1  tensor cores + cp.async, plain row-major shared memory, one stage
//        (load tile, wait, compute: the copy and the math never overlap)
//     2  + XOR-swizzled shared memory (no ldmatrix bank conflicts)
//     3  + double-buffered K/V (tile j + 1 loads while tile j computes)
//     4  + causal blocks launched heaviest first
// Tile sizes per head dim: FLASH_D64_BLOCK_M/N, FLASH_D128_BLOCK_M/N (BLOCK_M is 64 or
// 128: one or two m16 tiles per warp).
//
// Build and run: the course builds this file for sm_80 and sm_90 through kernels/ and
// calls it as flash_attn_cuda(q, k, v, causal, softmax_scale) (grader/child/native.py).
//     PYTHONPATH=. python benchmarks/flash_fwd_cuda.py        # check vs float64, time
//     course grade level3.flash_fwd --solutions
// Resources: nvcc -arch=sm_90 -Xptxas -v -Ikernels/include -c solutions/level3/flash_fwd.cu

#include <cuda_bf16.h>
#include <cuda_fp16.h>

#include <cmath>
#include <cstdint>

#include "course/flash_fwd.h"

#ifndef FLASH_VERSION
#define FLASH_VERSION 4
#endif
#ifndef FLASH_D64_BLOCK_M
#define FLASH_D64_BLOCK_M 128
#endif
#ifndef FLASH_D64_BLOCK_N
#define FLASH_D64_BLOCK_N 64
#endif
#ifndef FLASH_D128_BLOCK_M
#define FLASH_D128_BLOCK_M 128
#endif
#ifndef FLASH_D128_BLOCK_N
#define FLASH_D128_BLOCK_N 64
#endif

namespace {

constexpr bool kSwizzle = FLASH_VERSION >= 2;
constexpr int kStages = FLASH_VERSION >= 3 ? 2 : 1;
constexpr bool kHeaviestFirst = FLASH_VERSION >= 4;

constexpr int kWarps = 4;
constexpr int kThreads = 32 * kWarps;
constexpr float kLog2e = 1.4426950408889634f;
constexpr float kLn2 = 0.6931471805599453f;

template <int D> struct Tile;
template <> struct Tile<64> {
  static constexpr int kBlockM = FLASH_D64_BLOCK_M, kBlockN = FLASH_D64_BLOCK_N;
};
template <> struct Tile<128> {
  static constexpr int kBlockM = FLASH_D128_BLOCK_M, kBlockN = FLASH_D128_BLOCK_N;
};

// What the kernel needs of the five tensors: base pointers and the batch, head and row
// strides in elements (the last dimension is contiguous, see course/flash_fwd.h).
struct Params {
  const void* q;
  const void* k;
  const void* v;
  void* out;
  float* lse;
  int64_t q_stride[3], k_stride[3], v_stride[3], out_stride[3], lse_stride[2];  // b, h, (n)
  int n_q, n_k;
  int group;         // Hq / Hkv
  float scale_log2;  // softmax_scale * log2(e): exp(x * scale) == exp2(x * scale_log2)
};

// ---------------------------------------------------------------- PTX wrappers
__device__ __forceinline__ uint32_t smem_u32(const void* p) {
  return static_cast<uint32_t>(__cvta_generic_to_shared(p));
}

// 16 bytes global -> shared, bypassing L1; src_bytes = 0 writes 16 zero bytes (tails).
__device__ __forceinline__ void cp_async_16(uint32_t dst, const void* src, bool valid) {
  const int src_bytes = valid ? 16 : 0;
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16, %2;\n" ::"r"(dst), "l"(src), "r"(src_bytes));
}
__device__ __forceinline__ void cp_async_commit() { asm volatile("cp.async.commit_group;\n" ::); }
template <int N>
__device__ __forceinline__ void cp_async_wait() {
  asm volatile("cp.async.wait_group %0;\n" ::"n"(N));
}

// Four 8x8 b16 matrices; lanes 8i..8i+7 give the row addresses of matrix i, and lane
// 4g + t receives row g, elements 2t and 2t+1 of each (transposed with .trans).
__device__ __forceinline__ void ldmatrix_x4(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}
__device__ __forceinline__ void ldmatrix_x4_trans(uint32_t (&r)[4], uint32_t addr) {
  asm volatile("ldmatrix.sync.aligned.m8n8.x4.trans.shared.b16 {%0, %1, %2, %3}, [%4];\n"
               : "=r"(r[0]), "=r"(r[1]), "=r"(r[2]), "=r"(r[3])
               : "r"(addr));
}

// C[16x8] += A[16x16] B[16x8], float32 accumulation.
template <typename T>
__device__ __forceinline__ void mma_16816(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1);
template <>
__device__ __forceinline__ void mma_16816<__half>(float (&c)[4], const uint32_t (&a)[4], uint32_t b0, uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.f16.f16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}
template <>
__device__ __forceinline__ void mma_16816<__nv_bfloat16>(float (&c)[4], const uint32_t (&a)[4], uint32_t b0,
                                                         uint32_t b1) {
  asm volatile(
      "mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, {%4, %5, %6, %7}, {%8, %9}, "
      "{%0, %1, %2, %3};\n"
      : "+f"(c[0]), "+f"(c[1]), "+f"(c[2]), "+f"(c[3])
      : "r"(a[0]), "r"(a[1]), "r"(a[2]), "r"(a[3]), "r"(b0), "r"(b1));
}

// Two floats -> one register of two 16-bit values (lo in the low half), round to nearest.
template <typename T>
__device__ __forceinline__ uint32_t pack2(float lo, float hi);
template <>
__device__ __forceinline__ uint32_t pack2<__half>(float lo, float hi) {
  __half2 h = __floats2half2_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&h);
}
template <>
__device__ __forceinline__ uint32_t pack2<__nv_bfloat16>(float lo, float hi) {
  __nv_bfloat162 h = __floats2bfloat162_rn(lo, hi);
  return *reinterpret_cast<uint32_t*>(&h);
}

__device__ __forceinline__ float exp2_approx(float x) {  // MUFU.EX2; exp2(-inf) = 0
  float y;
  asm("ex2.approx.ftz.f32 %0, %1;\n" : "=f"(y) : "f"(x));
  return y;
}

// ---------------------------------------------------------------- shared memory layout
// Element offset of 16-byte chunk `chunk` of row `row` in a [rows][D] tile.
template <int D>
__device__ __forceinline__ int swizzle(int row, int chunk) {
  return row * D + (kSwizzle ? (chunk ^ (row & 7)) : chunk) * 8;
}

// cp.async a [ROWS][D] tile whose first row is `src` (row stride in elements); rows at or
// past `rows_valid` are zero-filled. Consecutive threads take consecutive chunks of a row,
// so the global reads coalesce; a thread always copies the same chunk column, of rows
// row0, row0 + kRowStep, ... (kRowStep a multiple of 8, so its swizzle never changes):
// one running pointer and constant shared-memory steps, not a 64-bit offset per chunk.
template <int ROWS, int D, typename T>
__device__ __forceinline__ void load_tile(T* dst, const T* src, int64_t row_stride, int rows_valid) {
  constexpr int kChunks = D / 8;
  constexpr int kRowStep = kThreads / kChunks;
  static_assert(ROWS % kRowStep == 0 && kRowStep % 8 == 0, "tile must split evenly over the threads");
  const int row0 = threadIdx.x / kChunks, chunk = threadIdx.x % kChunks;
  const uint32_t to = smem_u32(dst + swizzle<D>(row0, chunk));
  const T* from = src + row0 * row_stride + chunk * 8;
#pragma unroll
  for (int i = 0; i < ROWS / kRowStep; ++i) {
    const bool valid = row0 + i * kRowStep < rows_valid;
    cp_async_16(to + i * kRowStep * D * sizeof(T), valid ? from : src, valid);  // src: a valid address, unread
    from += kRowStep * row_stride;
  }
}

// ---------------------------------------------------------------- the kernel
template <typename T, int D, int BLOCK_M, int BLOCK_N, bool CAUSAL>
__global__ void __launch_bounds__(kThreads) flash_fwd_kernel(const Params p) {
  constexpr int M_TILES = BLOCK_M / (16 * kWarps);  // m16 tiles per warp
  constexpr int N_TILES = BLOCK_N / 8;              // n8 tiles of S per m16 tile
  constexpr int D_TILES = D / 8;                    // n8 tiles of O per m16 tile
  static_assert(M_TILES >= 1 && BLOCK_M == 16 * kWarps * M_TILES, "BLOCK_M must be 64 or 128");
  static_assert(BLOCK_N % 16 == 0, "BLOCK_N must be a multiple of 16");

  extern __shared__ uint4 smem[];  // uint4: 16-byte aligned, as cp.async and ldmatrix need
  T* sQ = reinterpret_cast<T*>(smem);
  T* sK = sQ + BLOCK_M * D;        // [kStages][BLOCK_N][D]
  T* sV = sK + kStages * BLOCK_N * D;

  const int m_block = (CAUSAL && kHeaviestFirst) ? gridDim.x - 1 - blockIdx.x : blockIdx.x;
  const int h = blockIdx.y, b = blockIdx.z;
  const int h_kv = h / p.group;
  const int m0 = m_block * BLOCK_M;
  const int diagonal = p.n_k - p.n_q;  // query i sees key j iff j <= i + diagonal
  const int warp = threadIdx.x / 32, lane = threadIdx.x % 32;
  const int warp_row = warp * 16 * M_TILES;  // this warp's first row within the block
  const int g = lane / 4, t = lane % 4;      // accumulator coordinates (see 2.)

  // ldmatrix addresses. Lane l of an x4 load points at one row of one of four 8x8
  // matrices (see 2.); the rows a lane points at are always = l (mod 8), so the swizzle
  // XOR of a lane never changes, and stepping k by 16 elements (2 chunks, 32 bytes) is an
  // XOR of the lane's byte offset with kk * 32. Each x4 load is then a register plus a
  // compile-time constant, instead of a freshly swizzled address per (kk, tile).
  constexpr uint32_t kTileRows16 = 16 * D * sizeof(T);  // bytes of 16 rows
  const uint32_t sQ_addr = smem_u32(sQ) + warp_row * D * sizeof(T);
  const uint32_t q_lane = swizzle<D>(lane % 16, lane / 16) * sizeof(T);                // A: rows 0-15, k 0-7 | 8-15
  const uint32_t k_lane = swizzle<D>(lane % 8 + lane / 16 * 8, lane / 8 % 2) * sizeof(T);  // B of two n8 tiles
  const uint32_t v_lane = swizzle<D>(lane % 8 + lane / 8 % 2 * 8, lane / 16) * sizeof(T);  // B^T of two d8 tiles

  const T* q = static_cast<const T*>(p.q) + b * p.q_stride[0] + h * p.q_stride[1];
  const T* k = static_cast<const T*>(p.k) + b * p.k_stride[0] + h_kv * p.k_stride[1];
  const T* v = static_cast<const T*>(p.v) + b * p.v_stride[0] + h_kv * p.v_stride[1];

  // Key tiles [0, n_tiles): under causal, stop after the last key the last row sees.
  int n_tiles = (p.n_k + BLOCK_N - 1) / BLOCK_N;
  if (CAUSAL) {
    const int last_key = min(m0 + BLOCK_M, p.n_q) - 1 + diagonal;
    n_tiles = last_key < 0 ? 0 : min(n_tiles, last_key / BLOCK_N + 1);
  }

  load_tile<BLOCK_M, D>(sQ, q + m0 * p.q_stride[2], p.q_stride[2], p.n_q - m0);
  if (n_tiles > 0) {
    load_tile<BLOCK_N, D>(sK, k, p.k_stride[2], p.n_k);
    load_tile<BLOCK_N, D>(sV, v, p.v_stride[2], p.n_k);
  }
  cp_async_commit();

  float o[M_TILES][D_TILES][4] = {};
  float row_max[M_TILES][2], row_sum[M_TILES][2];  // m and l of rows g and g + 8 (see 5.)
#pragma unroll
  for (int mi = 0; mi < M_TILES; ++mi) {
    row_max[mi][0] = row_max[mi][1] = -INFINITY;
    row_sum[mi][0] = row_sum[mi][1] = 0.f;
  }

  for (int j = 0; j < n_tiles; ++j) {
    const int n0 = j * BLOCK_N;
    const int stage = kStages == 2 ? j % 2 : 0;
    if (kStages == 2 && j + 1 < n_tiles) {  // prefetch tile j + 1 into the other stage
      const int64_t next = n0 + BLOCK_N;
      load_tile<BLOCK_N, D>(sK + (stage ^ 1) * BLOCK_N * D, k + next * p.k_stride[2], p.k_stride[2],
                            p.n_k - next);
      load_tile<BLOCK_N, D>(sV + (stage ^ 1) * BLOCK_N * D, v + next * p.v_stride[2], p.v_stride[2],
                            p.n_k - next);
      cp_async_commit();
      cp_async_wait<1>();  // everything but the prefetch has landed
    } else {
      if (kStages == 1 && j > 0) {  // one stage: load tile j now and wait for it
        load_tile<BLOCK_N, D>(sK, k + n0 * p.k_stride[2], p.k_stride[2], p.n_k - n0);
        load_tile<BLOCK_N, D>(sV, v + n0 * p.v_stride[2], p.v_stride[2], p.n_k - n0);
        cp_async_commit();
      }
      cp_async_wait<0>();
    }
    __syncthreads();  // [A] tile j (and Q) written by all threads is visible to all warps
    const uint32_t sK_addr = smem_u32(sK + stage * BLOCK_N * D);
    const uint32_t sV_addr = smem_u32(sV + stage * BLOCK_N * D);

    // S = Q K^T on this warp's rows: for each k16 step of D, Q's A fragments, then K's
    // B fragments two n8 tiles at a time.
    float s[M_TILES][N_TILES][4] = {};
#pragma unroll
    for (int kk = 0; kk < D / 16; ++kk) {
      uint32_t a[M_TILES][4];
#pragma unroll
      for (int mi = 0; mi < M_TILES; ++mi) {
        ldmatrix_x4(a[mi], sQ_addr + mi * kTileRows16 + (q_lane ^ (kk * 32)));
      }
#pragma unroll
      for (int np = 0; np < N_TILES / 2; ++np) {
        uint32_t bk[4];
        ldmatrix_x4(bk, sK_addr + np * kTileRows16 + (k_lane ^ (kk * 32)));
#pragma unroll
        for (int mi = 0; mi < M_TILES; ++mi) {
          mma_16816<T>(s[mi][2 * np], a[mi], bk[0], bk[1]);
          mma_16816<T>(s[mi][2 * np + 1], a[mi], bk[2], bk[3]);
        }
      }
    }

    // Scale into log2 units; mask only tiles that cross the end of the keys or the diagonal.
    const bool needs_mask = n0 + BLOCK_N > p.n_k || (CAUSAL && n0 + BLOCK_N - 1 > m0 + diagonal);
#pragma unroll
    for (int mi = 0; mi < M_TILES; ++mi) {
#pragma unroll
      for (int nt = 0; nt < N_TILES; ++nt) {
#pragma unroll
        for (int e = 0; e < 4; ++e) {
          float x = s[mi][nt][e] * p.scale_log2;
          if (needs_mask) {
            const int row = m0 + warp_row + mi * 16 + g + (e / 2) * 8;
            const int col = n0 + nt * 8 + 2 * t + e % 2;
            if (col >= p.n_k || (CAUSAL && col > row + diagonal)) x = -INFINITY;
          }
          s[mi][nt][e] = x;
        }
      }
    }

    // Online softmax (see 5.); S becomes P in place.
#pragma unroll
    for (int mi = 0; mi < M_TILES; ++mi) {
#pragma unroll
      for (int half = 0; half < 2; ++half) {  // row g, then row g + 8
        float m_new = row_max[mi][half];
#pragma unroll
        for (int nt = 0; nt < N_TILES; ++nt) {
          m_new = fmaxf(m_new, fmaxf(s[mi][nt][2 * half], s[mi][nt][2 * half + 1]));
        }
        m_new = fmaxf(m_new, __shfl_xor_sync(0xffffffffu, m_new, 1));  // the 4 lanes of the row
        m_new = fmaxf(m_new, __shfl_xor_sync(0xffffffffu, m_new, 2));
        const float base = m_new == -INFINITY ? 0.f : m_new;  // nothing seen yet: keep P = 0, not NaN
        const float alpha = exp2_approx(row_max[mi][half] - base);
        row_max[mi][half] = m_new;
        float sum = 0.f;
#pragma unroll
        for (int nt = 0; nt < N_TILES; ++nt) {
          s[mi][nt][2 * half] = exp2_approx(s[mi][nt][2 * half] - base);
          s[mi][nt][2 * half + 1] = exp2_approx(s[mi][nt][2 * half + 1] - base);
          sum += s[mi][nt][2 * half] + s[mi][nt][2 * half + 1];
        }
        row_sum[mi][half] = alpha * row_sum[mi][half] + sum;
#pragma unroll
        for (int dt = 0; dt < D_TILES; ++dt) {
          o[mi][dt][2 * half] *= alpha;
          o[mi][dt][2 * half + 1] *= alpha;
        }
      }
    }

    // O += P V: P's A fragments from the S registers (two n8 tiles = one k16 step), V's B
    // fragments with ldmatrix.trans, two d8 tiles at a time.
#pragma unroll
    for (int kk = 0; kk < BLOCK_N / 16; ++kk) {
      uint32_t a[M_TILES][4];
#pragma unroll
      for (int mi = 0; mi < M_TILES; ++mi) {
        a[mi][0] = pack2<T>(s[mi][2 * kk][0], s[mi][2 * kk][1]);
        a[mi][1] = pack2<T>(s[mi][2 * kk][2], s[mi][2 * kk][3]);
        a[mi][2] = pack2<T>(s[mi][2 * kk + 1][0], s[mi][2 * kk + 1][1]);
        a[mi][3] = pack2<T>(s[mi][2 * kk + 1][2], s[mi][2 * kk + 1][3]);
      }
#pragma unroll
      for (int dp = 0; dp < D / 16; ++dp) {
        uint32_t bv[4];
        ldmatrix_x4_trans(bv, sV_addr + kk * kTileRows16 + (v_lane ^ (dp * 32)));
#pragma unroll
        for (int mi = 0; mi < M_TILES; ++mi) {
          mma_16816<T>(o[mi][2 * dp], a[mi], bv[0], bv[1]);
          mma_16816<T>(o[mi][2 * dp + 1], a[mi], bv[2], bv[3]);
        }
      }
    }
    __syncthreads();  // [B] all warps are done with this stage before it is refilled
  }

  // Epilogue: finish l over the row's 4 lanes, normalise, store out and lse.
  T* out = static_cast<T*>(p.out) + b * p.out_stride[0] + h * p.out_stride[1];
  float* lse = p.lse + b * p.lse_stride[0] + h * p.lse_stride[1];
#pragma unroll
  for (int mi = 0; mi < M_TILES; ++mi) {
#pragma unroll
    for (int half = 0; half < 2; ++half) {
      float l = row_sum[mi][half];
      l += __shfl_xor_sync(0xffffffffu, l, 1);
      l += __shfl_xor_sync(0xffffffffu, l, 2);
      const int row = m0 + warp_row + mi * 16 + g + half * 8;
      if (row >= p.n_q) continue;
      const float inv_l = l > 0.f ? 1.f / l : 0.f;  // a row that saw no key: out = 0
      T* out_row = out + row * p.out_stride[2];
#pragma unroll
      for (int dt = 0; dt < D_TILES; ++dt) {
        *reinterpret_cast<uint32_t*>(out_row + dt * 8 + 2 * t) =
            pack2<T>(o[mi][dt][2 * half] * inv_l, o[mi][dt][2 * half + 1] * inv_l);
      }
      if (t == 0) lse[row] = l > 0.f ? kLn2 * (row_max[mi][half] + log2f(l)) : -INFINITY;
    }
  }
}

// ---------------------------------------------------------------- host side
template <typename T, int D, bool CAUSAL>
void launch(const Params& p, int batch, int heads_q, cudaStream_t stream) {
  constexpr int kBlockM = Tile<D>::kBlockM, kBlockN = Tile<D>::kBlockN;
  constexpr size_t kSmemBytes = size_t(kBlockM + 2 * kStages * kBlockN) * D * sizeof(T);
  auto kernel = flash_fwd_kernel<T, D, kBlockM, kBlockN, CAUSAL>;
  // Above 48 KB a block's dynamic shared memory must be asked for explicitly.
  COURSE_CUDA_CHECK(cudaFuncSetAttribute(kernel, cudaFuncAttributeMaxDynamicSharedMemorySize, int(kSmemBytes)));
  const dim3 grid((p.n_q + kBlockM - 1) / kBlockM, heads_q, batch);
  kernel<<<grid, kThreads, kSmemBytes, stream>>>(p);
  COURSE_CUDA_CHECK(cudaGetLastError());
}

template <typename T>
void dispatch(const Params& p, int head_dim, bool causal, int batch, int heads_q, cudaStream_t stream) {
  if (head_dim == 64) {
    causal ? launch<T, 64, true>(p, batch, heads_q, stream) : launch<T, 64, false>(p, batch, heads_q, stream);
  } else {
    causal ? launch<T, 128, true>(p, batch, heads_q, stream) : launch<T, 128, false>(p, batch, heads_q, stream);
  }
}

}  // namespace

void flash_fwd(const course::TensorRef& q, const course::TensorRef& k, const course::TensorRef& v,
               const course::TensorRef& out, const course::TensorRef& lse, bool causal, float softmax_scale,
               cudaStream_t stream) {
  // The Python side has checked shapes, dtypes and layouts (course/flash_fwd.h); these
  // guard the kernel's own limits.
  const int64_t head_dim = q.shape[3];
  COURSE_CHECK(head_dim == 64 || head_dim == 128, "head dim must be 64 or 128");
  COURSE_CHECK(q.stride[3] == 1 && k.stride[3] == 1 && v.stride[3] == 1 && out.stride[3] == 1,
               "the last dimension of q, k, v and out must be contiguous");
  COURSE_CHECK(q.shape[0] <= 65535 && q.shape[1] <= 65535, "batch and heads must be at most 65535 (grid limits)");
  COURSE_CHECK(q.shape[2] < (1 << 30) && k.shape[2] < (1 << 30), "sequence lengths must be below 2^30");

  Params p{};
  p.q = q.data;
  p.k = k.data;
  p.v = v.data;
  p.out = out.data;
  p.lse = static_cast<float*>(lse.data);
  for (int i = 0; i < 3; ++i) {
    p.q_stride[i] = q.stride[i];
    p.k_stride[i] = k.stride[i];
    p.v_stride[i] = v.stride[i];
    p.out_stride[i] = out.stride[i];
  }
  p.lse_stride[0] = lse.stride[0];
  p.lse_stride[1] = lse.stride[1];
  p.n_q = static_cast<int>(q.shape[2]);
  p.n_k = static_cast<int>(k.shape[2]);
  p.group = static_cast<int>(q.shape[1] / k.shape[1]);
  p.scale_log2 = softmax_scale * kLog2e;

  const int batch = static_cast<int>(q.shape[0]), heads_q = static_cast<int>(q.shape[1]);
  if (q.dtype == course::DType::kFloat16) {
    dispatch<__half>(p, int(head_dim), causal, batch, heads_q, stream);
  } else {
    dispatch<__nv_bfloat16>(p, int(head_dim), causal, batch, heads_q, stream);
  }
}
