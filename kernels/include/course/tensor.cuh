// course/tensor.cuh — what every .cu exercise of the course includes.
//
// A kernel file never sees torch: the Python side (kernels/ and grader/child/native.py)
// turns each torch tensor into a TensorRef (pointer, shape, strides in elements, dtype)
// and hands it to the function the exercise defines. This header gives that struct,
// the error macros whose messages reach the student as Python exceptions, and the
// fp16/bf16 conversions a kernel needs for loads and stores.
//
// Exceptions thrown on the host cross into Python through the binding
// (kernels/binding.cpp):
//   course::NotImplemented   -> NotImplementedError   (the stub throws it)
//   std::invalid_argument    -> ValueError            (COURSE_CHECK)
//   std::runtime_error       -> RuntimeError          (COURSE_CUDA_CHECK)
#pragma once

#include <cstdint>
#include <sstream>
#include <stdexcept>
#include <string>

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_runtime.h>

namespace course {

// The values are the binding's wire format: grader/child/native.py sends the same codes.
enum class DType : int { kFloat16 = 0, kBFloat16 = 1, kFloat32 = 2 };

// A view of a torch tensor: element (i0, i1, i2, i3) lives at
// data + i0 * stride[0] + i1 * stride[1] + i2 * stride[2] + i3 * stride[3]
// (strides in ELEMENTS, not bytes, as torch reports them). Only the first `ndim`
// entries of shape and stride are meaningful. The Python side guarantees
// stride[ndim - 1] == 1 (the last dimension is contiguous), so a row of D elements
// can be loaded with vector instructions; every other stride is arbitrary (a
// transposed [B, N, H, D] view arrives as it is, never copied).
struct TensorRef {
  void* data;
  int ndim;
  int64_t shape[4];
  int64_t stride[4];  // in elements
  DType dtype;
};

// Thrown by an exercise that is not written yet; Python sees NotImplementedError.
struct NotImplemented : std::runtime_error {
  using std::runtime_error::runtime_error;
};

namespace detail {
inline std::string where(const char* file, int line) {
  std::ostringstream s;
  s << file << ":" << line << ": ";
  return s.str();
}
}  // namespace detail

}  // namespace course

// COURSE_CUDA_CHECK(cudaGetLastError()); — throws std::runtime_error naming the
// file, the line, the failing expression and CUDA's own description of the error.
#define COURSE_CUDA_CHECK(expr)                                                        \
  do {                                                                                 \
    cudaError_t course_err_ = (expr);                                                  \
    if (course_err_ != cudaSuccess) {                                                  \
      throw std::runtime_error(::course::detail::where(__FILE__, __LINE__) + #expr +   \
                               " failed: " + cudaGetErrorString(course_err_));         \
    }                                                                                  \
  } while (0)

// COURSE_CHECK(q.shape[3] == 64 || q.shape[3] == 128, "q head dim must be 64 or 128");
// — throws std::invalid_argument (ValueError in Python) with the message.
#define COURSE_CHECK(cond, msg)                                                        \
  do {                                                                                 \
    if (!(cond)) {                                                                     \
      throw std::invalid_argument(::course::detail::where(__FILE__, __LINE__) + (msg)); \
    }                                                                                  \
  } while (0)

namespace course {

// Loads and stores convert through float: the kernel accumulates in float32 whatever
// the input dtype. Overloads, so templated code writes to_float(x) / from_float<T>(f).
__host__ __device__ __forceinline__ float to_float(__half x) { return __half2float(x); }
__host__ __device__ __forceinline__ float to_float(__nv_bfloat16 x) { return __bfloat162float(x); }
__host__ __device__ __forceinline__ float to_float(float x) { return x; }

template <typename T>
__host__ __device__ __forceinline__ T from_float(float x);
template <>
__host__ __device__ __forceinline__ __half from_float<__half>(float x) { return __float2half_rn(x); }
template <>
__host__ __device__ __forceinline__ __nv_bfloat16 from_float<__nv_bfloat16>(float x) {
  return __float2bfloat16_rn(x);
}
template <>
__host__ __device__ __forceinline__ float from_float<float>(float x) { return x; }

// The element type a DType names, for dispatching a template on a runtime dtype.
template <DType D> struct element;
template <> struct element<DType::kFloat16> { using type = __half; };
template <> struct element<DType::kBFloat16> { using type = __nv_bfloat16; };
template <> struct element<DType::kFloat32> { using type = float; };

}  // namespace course
