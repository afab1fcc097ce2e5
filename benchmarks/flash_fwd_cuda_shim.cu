// A C entry point around a Level 3 flash_fwd .cu file, for benchmarks/flash_fwd_cuda.py:
// the benchmark loads it with ctypes, so one Python process can hold several builds
// (numbered versions, tile sizes, the wrong kernels of tests/submissions/level3) side by
// side. The course itself calls flash_fwd through pybind11 (kernels/binding.cpp).
//
//   nvcc -std=c++17 -O3 -shared -Xcompiler -fPIC -arch=sm_90 -Ikernels/include \
//        -DFLASH_SOURCE='"solutions/level3/flash_fwd.cu"' benchmarks/flash_fwd_cuda_shim.cu -o lib.so
#include <cstdint>
#include <exception>
#include <string>

#include FLASH_SOURCE

// Five tensors (q, k, v, out, lse): data pointers, shapes and strides [5][4] in elements,
// ndims; dtype a course::DType code. Returns an empty string or the error's message.
extern "C" const char* flash_fwd_c(void* const* data, const int64_t* shapes, const int64_t* strides,
                                   const int* ndims, int dtype, int causal, float softmax_scale, void* stream) {
  static thread_local std::string error;
  error.clear();
  try {
    course::TensorRef refs[5];
    for (int t = 0; t < 5; ++t) {
      refs[t].data = data[t];
      refs[t].ndim = ndims[t];
      for (int i = 0; i < 4; ++i) {
        refs[t].shape[i] = shapes[4 * t + i];
        refs[t].stride[i] = strides[4 * t + i];
      }
      refs[t].dtype = t == 4 ? course::DType::kFloat32 : static_cast<course::DType>(dtype);
    }
    flash_fwd(refs[0], refs[1], refs[2], refs[3], refs[4], causal != 0, softmax_scale,
              static_cast<cudaStream_t>(stream));
  } catch (const std::exception& e) {
    error = e.what();
    if (error.empty()) error = "unknown error";
  }
  return error.c_str();
}
