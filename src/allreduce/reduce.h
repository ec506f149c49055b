// allreduce/reduce.h — the element-wise sum kernels of the ring (vectorised).
//
// dst[i] += src[i]. Compiled at -O3 so the loop vectorises (SSE2/AVX as the target allows);
// no virtual call or std::function per element (STYLE.md lesson 9). The order of the two
// operands is fixed, so results are reproducible.
#pragma once

#include <cstddef>

namespace ringtrain::allreduce {

void AddInto(float* __restrict dst, const float* __restrict src, std::size_t n);
void AddInto(double* __restrict dst, const double* __restrict src, std::size_t n);

}  // namespace ringtrain::allreduce
