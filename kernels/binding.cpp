// The Python module around a Level 3 .cu file: plain pybind11, no torch headers, so it
// compiles in seconds, once per machine (kernels/builder.py caches it apart from the
// student's file, which is the only thing a rebuild compiles).
//
// Python hands each tensor over as (data_ptr, shape, strides, dtype code); the
// checks and allocations live on the Python side (grader/child/native.py).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdint>
#include <string>
#include <tuple>
#include <vector>

#include "course/flash_fwd.h"

namespace py = pybind11;

// (data pointer, shape, strides in elements, course::DType code)
using WireTensor = std::tuple<std::uintptr_t, std::vector<int64_t>, std::vector<int64_t>, int>;

static course::TensorRef to_ref(const WireTensor& wire, const char* name) {
  const auto& [data, shape, stride, dtype] = wire;
  if (shape.size() != stride.size() || shape.empty() || shape.size() > 4) {
    throw std::invalid_argument(std::string(name) + ": shape and strides must have 1 to 4 equal-length entries");
  }
  course::TensorRef ref{};
  ref.data = reinterpret_cast<void*>(data);
  ref.ndim = static_cast<int>(shape.size());
  for (int i = 0; i < ref.ndim; ++i) {
    ref.shape[i] = shape[i];
    ref.stride[i] = stride[i];
  }
  ref.dtype = static_cast<course::DType>(dtype);
  return ref;
}

PYBIND11_MODULE(course_native, m) {
  m.doc() = "A Level 3 flash_fwd kernel; call it through flash_attn_cuda (grader/child/native.py)";
  // pybind11 maps std::invalid_argument to ValueError and std::runtime_error to
  // RuntimeError by itself; the stub's NotImplemented must become NotImplementedError.
  py::register_exception_translator([](std::exception_ptr p) {
    try {
      if (p) std::rethrow_exception(p);
    } catch (const course::NotImplemented& e) {
      PyErr_SetString(PyExc_NotImplementedError, e.what());
    }
  });
  m.def(
      "flash_fwd",
      [](const WireTensor& q, const WireTensor& k, const WireTensor& v, const WireTensor& out,
         const WireTensor& lse, bool causal, float softmax_scale, std::uintptr_t stream) {
        const course::TensorRef refs[5] = {to_ref(q, "q"), to_ref(k, "k"), to_ref(v, "v"), to_ref(out, "out"),
                                           to_ref(lse, "lse")};
        py::gil_scoped_release no_gil;  // a long kernel launch must not hold other Python threads
        flash_fwd(refs[0], refs[1], refs[2], refs[3], refs[4], causal, softmax_scale,
                  reinterpret_cast<cudaStream_t>(stream));
      },
      py::arg("q"), py::arg("k"), py::arg("v"), py::arg("out"), py::arg("lse"), py::arg("causal"),
      py::arg("softmax_scale"), py::arg("stream"));
}
