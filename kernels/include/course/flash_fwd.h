// course/flash_fwd.h — the function a Level 3 .cu file defines.
//
// The course's Python side, flash_attn_cuda(q, k, v, causal=False, softmax_scale=None)
// (grader/child/native.py, re-exported by kernels/), validates the inputs, allocates
// `out` and `lse`, and calls this function once per call, on the caller's current
// CUDA stream. Everything named below is guaranteed before the call; the kernel need
// not check it again.
//
//   name  shape               dtype            notes
//   q     [B, Hq,  Nq, D]     fp16 or bf16     any strides (see below)
//   k     [B, Hkv, Nk, D]     q's dtype        Hq % Hkv == 0: query head h reads kv head h / (Hq / Hkv)
//   v     [B, Hkv, Nk, D]     q's dtype        D == Dv, D in {64, 128}
//   out   [B, Hq,  Nq, D]     q's dtype        fresh, contiguous; every element must be written
//   lse   [B, Hq,  Nq]        float32          fresh, contiguous; natural-log logsumexp of the scaled scores
//
// Strides: shape and stride are in ELEMENTS. The last dimension of every tensor is
// contiguous (stride[3] == 1; lse's stride[2] == 1). For q, k, v and out the data
// pointers are 16-byte aligned and every other stride is a multiple of 8 elements
// (dimensions of size 1 excepted: their index is always 0), so a 16-byte vector load
// of 8 halves never straddles a row; the Python side copies an input that breaks this
// (rare: a view sliced inside its last dimension) and passes every other view as it
// is. A transposed [B, N, H, D] tensor arrives with stride[1] < stride[2]: index with
// the strides, never with B/H/N/D products. out and lse are contiguous.
//
// Sizes: B, Hq, Hkv, Nq, Nk >= 1 (the Python side answers empty inputs itself). Nq
// and Nk are arbitrary: not multiples of any tile size.
//
// causal: bottom-right aligned, as in FlashAttention-2: query i sees key j iff
// j <= i + Nk - Nq. When Nq > Nk the first Nq - Nk query rows see no key at all:
// their out row is 0 and their lse is -inf (never NaN).
//
// softmax_scale: the scores are softmax_scale * q . k (the Python side resolves
// None to 1 / sqrt(D)).
//
// Errors: throw course::NotImplemented (NotImplementedError in Python),
// COURSE_CHECK (ValueError) or COURSE_CUDA_CHECK (RuntimeError); see tensor.cuh.
// A launch error is caught only if you check it: end with
// COURSE_CUDA_CHECK(cudaGetLastError()).
#pragma once

#include <cuda_runtime.h>

#include "course/tensor.cuh"

void flash_fwd(const course::TensorRef& q, const course::TensorRef& k, const course::TensorRef& v,
               const course::TensorRef& out, const course::TensorRef& lse, bool causal, float softmax_scale,
               cudaStream_t stream);
