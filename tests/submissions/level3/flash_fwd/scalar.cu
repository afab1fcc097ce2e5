// A correct scalar FlashAttention forward: hint 1 of the stub, no tensor cores.
// One thread per query row, an online softmax over every visible key in float32
// registers. It must earn the correctness points and fail the speed check.
#include <cmath>

#include "course/flash_fwd.h"

namespace {

constexpr int kRows = 64;  // query rows (threads) per block
constexpr float kLog2e = 1.4426950408889634f;

template <typename T, int D>
__global__ void scalar_flash_fwd(course::TensorRef q, course::TensorRef k, course::TensorRef v, course::TensorRef out,
                                 course::TensorRef lse, bool causal, float scale_log2) {
  const int64_t n_q = q.shape[2], n_k = k.shape[2];
  const int64_t row = blockIdx.x * int64_t(kRows) + threadIdx.x;
  const int head = blockIdx.y, batch = blockIdx.z;
  if (row >= n_q) return;
  const int kv_head = head / (q.shape[1] / k.shape[1]);
  const T* q_row = static_cast<const T*>(q.data) + batch * q.stride[0] + head * q.stride[1] + row * q.stride[2];
  const T* k_base = static_cast<const T*>(k.data) + batch * k.stride[0] + kv_head * k.stride[1];
  const T* v_base = static_cast<const T*>(v.data) + batch * v.stride[0] + kv_head * v.stride[1];

  float qf[D], acc[D];
  for (int d = 0; d < D; ++d) {
    qf[d] = course::to_float(q_row[d]) * scale_log2;
    acc[d] = 0.f;
  }
  const int64_t last = causal ? row + n_k - n_q : n_k - 1;  // bottom-right causal
  float m = -INFINITY, l = 0.f;
  for (int64_t j = 0; j <= last && j < n_k; ++j) {
    const T* k_row = k_base + j * k.stride[2];
    float s = 0.f;
    for (int d = 0; d < D; ++d) s += qf[d] * course::to_float(k_row[d]);
    const float m_new = fmaxf(m, s);
    const float alpha = exp2f(m - m_new), p = exp2f(s - m_new);
    const T* v_row = v_base + j * v.stride[2];
    l = alpha * l + p;
    for (int d = 0; d < D; ++d) acc[d] = alpha * acc[d] + p * course::to_float(v_row[d]);
    m = m_new;
  }
  T* o_row = static_cast<T*>(out.data) + batch * out.stride[0] + head * out.stride[1] + row * out.stride[2];
  const float inv = l > 0.f ? 1.f / l : 0.f;  // a row with no visible key: out = 0
  for (int d = 0; d < D; ++d) o_row[d] = course::from_float<T>(acc[d] * inv);
  float* lse_row = static_cast<float*>(lse.data) + batch * lse.stride[0] + head * lse.stride[1] + row * lse.stride[2];
  *lse_row = l > 0.f ? (m + log2f(l)) / kLog2e : -INFINITY;
}

template <typename T, int D>
void launch(const course::TensorRef& q, const course::TensorRef& k, const course::TensorRef& v,
            const course::TensorRef& out, const course::TensorRef& lse, bool causal, float softmax_scale,
            cudaStream_t stream) {
  const dim3 grid((q.shape[2] + kRows - 1) / kRows, q.shape[1], q.shape[0]);
  scalar_flash_fwd<T, D><<<grid, kRows, 0, stream>>>(q, k, v, out, lse, causal, softmax_scale * kLog2e);
}

template <typename T>
void dispatch_dim(const course::TensorRef& q, const course::TensorRef& k, const course::TensorRef& v,
                  const course::TensorRef& out, const course::TensorRef& lse, bool causal, float softmax_scale,
                  cudaStream_t stream) {
  if (q.shape[3] == 64) {
    launch<T, 64>(q, k, v, out, lse, causal, softmax_scale, stream);
  } else {
    launch<T, 128>(q, k, v, out, lse, causal, softmax_scale, stream);
  }
}

}  // namespace

void flash_fwd(const course::TensorRef& q, const course::TensorRef& k, const course::TensorRef& v,
               const course::TensorRef& out, const course::TensorRef& lse, bool causal, float softmax_scale,
               cudaStream_t stream) {
  COURSE_CHECK(q.shape[3] == 64 || q.shape[3] == 128, "head dim must be 64 or 128");
  if (q.dtype == course::DType::kFloat16) {
    dispatch_dim<__half>(q, k, v, out, lse, causal, softmax_scale, stream);
  } else {
    dispatch_dim<__nv_bfloat16>(q, k, v, out, lse, causal, softmax_scale, stream);
  }
  COURSE_CUDA_CHECK(cudaGetLastError());
}
