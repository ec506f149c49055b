#include "common/huge_pages.h"

#include <sys/mman.h>

#include <cstdint>

namespace ringtrain::common {

void* MapHuge(std::size_t bytes) {
  // Over-map by one huge page, then give back the unaligned head and the tail.
  const std::size_t over = bytes + kHugePageBytes;
  void* m = ::mmap(nullptr, over, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) throw std::bad_alloc();
  const auto base = reinterpret_cast<std::uintptr_t>(m);
  const std::uintptr_t aligned = (base + kHugePageBytes - 1) / kHugePageBytes * kHugePageBytes;
  const std::size_t head = aligned - base, tail = over - head - bytes;
  if (head > 0) ::munmap(m, head);
  if (tail > 0) ::munmap(reinterpret_cast<void*>(aligned + bytes), tail);
  void* p = reinterpret_cast<void*>(aligned);
  (void)::madvise(p, bytes, MADV_HUGEPAGE);  // advice: EINVAL without THP support is fine
  return p;
}

void UnmapHuge(void* p, std::size_t bytes) noexcept { ::munmap(p, bytes); }

}  // namespace ringtrain::common
