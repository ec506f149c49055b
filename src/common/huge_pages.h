// common/huge_pages.h — HugeVector<T>: a std::vector whose large buffers sit in 2 MiB-aligned
// transparent huge pages.
//
// The training kernels gather and scatter at random over feature-sized vectors (the weights,
// the CG direction, the gradient and Hessian-vector sums): past a few MiB nearly every such
// access also misses the TLB with 4 KiB pages. An allocation of at least 2 MiB is mapped
// anonymously, aligned to 2 MiB, and advised MADV_HUGEPAGE before its first touch, so the
// kernel backs it with huge pages when transparent huge pages are "madvise" or "always"
// (with THP "never" it is ordinary memory; the advice failing is not an error). Smaller
// allocations use operator new. Measured (docs/training.md): a Hessian-vector product over
// 1M rows x 40 nonzeros at 2^24 features 1.44 -> 0.92 s.
#pragma once

#include <cstddef>
#include <new>
#include <vector>

namespace ringtrain::common {

inline constexpr std::size_t kHugePageBytes = std::size_t{2} << 20;

// Maps `bytes` (a multiple of kHugePageBytes) at a 2 MiB-aligned address and advises huge
// pages; throws std::bad_alloc. UnmapHuge releases it.
void* MapHuge(std::size_t bytes);
void UnmapHuge(void* p, std::size_t bytes) noexcept;

template <class T>
struct HugePageAllocator {
  using value_type = T;
  HugePageAllocator() = default;
  template <class U>
  HugePageAllocator(const HugePageAllocator<U>&) noexcept {}  // NOLINT: allocator rebind

  static std::size_t Rounded(std::size_t n) {
    const std::size_t bytes = n * sizeof(T);
    return bytes < kHugePageBytes ? 0
                                  : (bytes + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
  }
  T* allocate(std::size_t n) {
    if (n > static_cast<std::size_t>(-1) / sizeof(T)) throw std::bad_array_new_length();
    const std::size_t r = Rounded(n);
    if (r == 0)
      return static_cast<T*>(::operator new (n * sizeof(T), std::align_val_t{alignof(T)}));
    return static_cast<T*>(MapHuge(r));
  }
  void deallocate(T* p, std::size_t n) noexcept {
    const std::size_t r = Rounded(n);
    if (r == 0) {
      ::operator delete (p, std::align_val_t{alignof(T)});
      return;
    }
    UnmapHuge(p, r);
  }
  template <class U>
  bool operator==(const HugePageAllocator<U>&) const noexcept {
    return true;
  }
};

template <class T>
using HugeVector = std::vector<T, HugePageAllocator<T>>;

}  // namespace ringtrain::common
