#include "allreduce/reduce.h"

namespace ringtrain::allreduce {
namespace {

template <typename T>
inline void AddIntoImpl(T* __restrict dst, const T* __restrict src, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) dst[i] += src[i];
}

}  // namespace

void AddInto(float* __restrict dst, const float* __restrict src, std::size_t n) {
  AddIntoImpl(dst, src, n);
}
void AddInto(double* __restrict dst, const double* __restrict src, std::size_t n) {
  AddIntoImpl(dst, src, n);
}

}  // namespace ringtrain::allreduce
