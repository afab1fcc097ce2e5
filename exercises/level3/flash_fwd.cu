// Level 3 — a FlashAttention-2 forward kernel in CUDA, on tensor cores.
//
// What you will learn: how the tiled algorithm of Level 2 maps onto a GPU by hand —
// thread blocks and warps, shared memory, the tensor cores' mma.sync, and why the
// fastest kernels are the ones that keep the math units busy while memory moves.
//
// ---------------------------------------------------------------------------- Task
// Define flash_fwd (its declaration is in course/flash_fwd.h, which lists every
// guarantee about its arguments): for every batch b and query head h, compute
//
//     S   = softmax_scale * Q K^T          [Nq, Nk]   (masked: causal, tails)
//     out = softmax(S) V                   [Nq, D]    (written in q's dtype)
//     lse = logsumexp(S, dim=-1)           [Nq]       (natural log, float32)
//
// accumulating in float32 and never writing S to memory (at the speed check's shape S
// is 4.3 GB in float32; writing and reading it back takes ~3 ms at 3 TB/s, against
// ~1.8 ms for the whole reference kernel: the speed check sees it). Query head h reads
// kv head h / (Hq / Hkv) (grouped-query attention). With causal = true, query i sees
// key j iff j <= i + Nk - Nq (bottom-right aligned, as in FlashAttention-2):
//
//     Nq = 3, Nk = 5          Nq = 5, Nk = 3
//       k: 0 1 2 3 4            k: 0 1 2
//     q0   x x x . .          q0   . . .    <- sees no key: out = 0, lse = -inf
//     q1   x x x x .          q1   . . .    <- same
//     q2   x x x x x          q2   x . .
//                             q3   x x .
//                             q4   x x x
//
// A row with no visible key writes out = 0 and lse = -inf, never NaN.
//
// ---------------------------------------------------------------------------- Math
// FlashAttention-2 keeps one block of query rows per thread block and streams the
// K/V tiles past it. For each row, with running max m, normaliser l and unnormalised
// output O (all in registers), for each key tile j:
//
//     m_new = max(m, rowmax(S_j))
//     P_j   = exp(S_j - m_new)                  (0 for masked keys)
//     l     = exp(m - m_new) * l + rowsum(P_j)
//     O     = exp(m - m_new) * O + P_j V_j
//     m     = m_new
//
// and at the end out = O / l, lse = m + log(l). A row whose keys were all masked has
// m = -inf: subtract 0 instead of m there, so exp(-inf) = 0 and nothing is NaN.
// exp2 is one instruction on the GPU: work with s * softmax_scale * log2(e).
//
// ---------------------------------------------------------------------------- Signature
//   name  shape              dtype          notes
//   q     [B, Hq,  Nq, D]    fp16 or bf16   strided: index with q.stride[...], never B*H*N*D products
//   k     [B, Hkv, Nk, D]    q's dtype      Hq % Hkv == 0
//   v     [B, Hkv, Nk, D]    q's dtype      D in {64, 128} (D == Dv)
//   out   [B, Hq,  Nq, D]    q's dtype      fresh: every element must be written
//   lse   [B, Hq,  Nq]       float32        fresh: every element must be written
// Lengths are arbitrary (97, 1025, 1): predicate the tails of every tile. Last
// dimensions are contiguous and 16-byte aligned (course/flash_fwd.h), so 16-byte
// vector loads of 8 halves are allowed. Advice the grader does not check: launch on
// `stream` (the caller's current torch stream, so your kernel orders with their work),
// and end with COURSE_CUDA_CHECK(cudaGetLastError()) so a bad launch is reported as
// an error, not seen later as wrong numbers.
//
// ---------------------------------------------------------------------------- Cost
// FLOPs: 4 * B * Hq * Nq * Nk * D (two matrix products), about half when causal with
// Nq == Nk. Minimal bytes: (q + k + v + out) once each, plus 4 bytes of lse a row.
// At n = 4096 (fp16, Nq = Nk) that is ~n / 2 = 2000 FLOPs a byte, against ~300 at an
// H100's ridge point: compute-bound, so the speed comes from tensor cores, not from
// memory tricks (level3/roofline.py computes it exactly).
//
// ---------------------------------------------------------------------------- Hints
// 1. Correct first. One thread block per (query block of 64 rows, head, batch); one
//    thread per query row, a loop over key tiles staged in shared memory, the online
//    softmax above in float32 registers. That scalar kernel earns the correctness
//    points on its own; keep it as your reference while you optimise.
// 2. Templates, not branches: dispatch once on dtype (course::element<DType>) and head
//    dim (64 or 128) to a kernel templated on both, so tile loops unroll.
// 3. Tensor cores: mma.sync.aligned.m16n8k16 (fp16 or bf16 in, float32 accumulate);
//    each warp owns 16 (or 32) query rows. Load fragments with ldmatrix (.trans for
//    V); P can go from the S accumulators straight into the A operand of P V.
// 4. Shared memory without bank conflicts: rows of 128 or 256 bytes put every
//    ldmatrix row in the same banks; XOR the 16-byte chunk index with (row % 8).
// 5. Overlap copies and math: cp.async the next K/V tile into a second buffer while
//    the current one is computed; a __syncthreads before reading a tile and one before
//    it is overwritten.
// 6. Causal: stop at the last key tile the block's last row can see; mask only the
//    tiles that cross the diagonal or the end of the keys.
//
// ---------------------------------------------------------------------------- Grading
//   course grade level3.flash_fwd    compiles (any machine with nvcc: file:line errors, no points);
//                                    oracle and edge_cases (a GPU: fp16/bf16, d 64/128, ragged
//                                    lengths, GQA, causal with Nq > Nk and Nq < Nk, transposed
//                                    views, against a float64 oracle);
//                                    sanitizer (a GPU: compute-sanitizer memcheck and racecheck
//                                    on small ragged causal cases find no out-of-bounds access
//                                    and no shared-memory race: right answers are not enough);
//                                    speed (a GPU: your time over the reference kernel's).
//   course bench level3              your kernel beside the reference, Level 2's Triton
//                                    kernel, SDPA flash and cuDNN (TFLOP/s).
//   python -c "import kernels; m = kernels.load(); print(m.flash_attn_cuda)"   build it yourself

#include "course/flash_fwd.h"

void flash_fwd(const course::TensorRef& q, const course::TensorRef& k, const course::TensorRef& v,
               const course::TensorRef& out, const course::TensorRef& lse, bool causal, float softmax_scale,
               cudaStream_t stream) {
  throw course::NotImplemented("level3.flash_fwd: not implemented yet");
}
