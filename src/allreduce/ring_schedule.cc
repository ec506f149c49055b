#include "allreduce/ring_schedule.h"

namespace ringtrain::allreduce {
namespace {

int Mod(int a, int n) { return ((a % n) + n) % n; }

}  // namespace

Range ChunkRange(std::size_t count, int world, int chunk) {
  const auto w = static_cast<std::size_t>(world);
  const auto c = static_cast<std::size_t>(chunk);
  const std::size_t base = count / w;
  const std::size_t extra = count % w;
  const std::size_t begin = c * base + (c < extra ? c : extra);
  return {begin, begin + base + (c < extra ? 1 : 0)};
}

std::size_t SegmentsPerChunk(std::size_t count, int world, std::size_t segment_elems) {
  const auto w = static_cast<std::size_t>(world);
  const std::size_t largest = (count + w - 1) / w;
  const std::size_t s = (largest + segment_elems - 1) / segment_elems;
  return s == 0 ? 1 : s;
}

Range SegmentRange(Range chunk, std::size_t segments, std::size_t j) {
  const std::size_t n = chunk.size();
  const std::size_t base = n / segments;
  const std::size_t extra = n % segments;
  const std::size_t begin = chunk.begin + j * base + (j < extra ? j : extra);
  return {begin, begin + base + (j < extra ? 1 : 0)};
}

StepChunks ReduceScatterStep(int rank, int world, int step) {
  return {Mod(rank - step, world), Mod(rank - step - 1, world)};
}

StepChunks AllGatherStep(int rank, int world, int step) {
  return {Mod(rank + 1 - step, world), Mod(rank - step, world)};
}

}  // namespace ringtrain::allreduce
