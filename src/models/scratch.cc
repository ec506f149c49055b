// models/scratch.cc — HugeBuffer (gradient_internal.h): feature-sized kernel scratch in
// transparent huge pages.
#include <sys/mman.h>

#include <cstdint>
#include <new>

#include "models/gradient_internal.h"

namespace ringtrain::models::internal {

namespace {
constexpr std::size_t kHugePage = std::size_t{2} << 20;
}

HugeBuffer::HugeBuffer(std::size_t doubles) {
  if (doubles == 0) return;
  // Over-map by one huge page so the start can be aligned to it; the kernel backs aligned
  // 2 MiB ranges of a MADV_HUGEPAGE mapping with huge pages on first touch (THP "madvise"
  // or "always"; with THP off this is ordinary memory).
  const std::size_t bytes = (doubles * sizeof(double) + kHugePage - 1) / kHugePage * kHugePage;
  map_bytes_ = bytes + kHugePage;
  map_ = ::mmap(nullptr, map_bytes_, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (map_ == MAP_FAILED) {
    map_ = nullptr;
    map_bytes_ = 0;
    throw std::bad_alloc();
  }
  const auto base = reinterpret_cast<std::uintptr_t>(map_);
  const std::uintptr_t aligned = (base + kHugePage - 1) / kHugePage * kHugePage;
  data_ = reinterpret_cast<double*>(aligned);
  size_ = doubles;
  (void)::madvise(data_, bytes, MADV_HUGEPAGE);  // advice only: EINVAL without THP is fine
}

HugeBuffer::~HugeBuffer() {
  if (map_ != nullptr) ::munmap(map_, map_bytes_);
}

}  // namespace ringtrain::models::internal
