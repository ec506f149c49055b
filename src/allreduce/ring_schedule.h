// allreduce/ring_schedule.h — the chunk/segment arithmetic of ring allreduce, pure.
//
// A buffer of `count` elements is cut into `world` chunks (the first count % world chunks
// one element longer). Each chunk is cut into the same number of segments S, chosen so no
// segment exceeds `segment_elems`; every rank computes the same S from (count, world,
// segment_elems), so messages pair up one to one even when chunks differ in length (a
// segment may be empty: its message then carries only a header). S >= 1 always, so even a
// zero-length collective exchanges one header per step and a length mismatch is caught.
//
// Reduce-scatter step s (0..world-2): rank r sends chunk (r - s) and receives chunk
// (r - s - 1), adding it into its own; afterwards rank r holds the full sum of chunk r + 1.
// All-gather step s: rank r sends chunk (r + 1 - s) and receives chunk (r - s), copying it.
// Chunk c's sum is therefore accumulated in ring order starting at rank c: a fixed order.
#pragma once

#include <cstddef>

namespace ringtrain::allreduce {

struct Range {
  std::size_t begin = 0;
  std::size_t end = 0;
  std::size_t size() const { return end - begin; }
  bool operator==(const Range&) const = default;
};

// Elements of chunk `chunk` (0 <= chunk < world).
Range ChunkRange(std::size_t count, int world, int chunk);
// Segments per chunk: max(1, ceil(ceil(count / world) / segment_elems)); segment_elems >= 1.
std::size_t SegmentsPerChunk(std::size_t count, int world, std::size_t segment_elems);
// Segment j (0 <= j < segments) of `chunk`, balanced (lengths differ by at most one).
Range SegmentRange(Range chunk, std::size_t segments, std::size_t j);

struct StepChunks {
  int send_chunk = 0;
  int recv_chunk = 0;
};
StepChunks ReduceScatterStep(int rank, int world, int step);
StepChunks AllGatherStep(int rank, int world, int step);
// The chunk whose full sum rank `rank` holds after reduce-scatter.
inline int OwnedChunk(int rank, int world) { return (rank + 1) % world; }

}  // namespace ringtrain::allreduce
