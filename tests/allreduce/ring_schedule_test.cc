// Unit tests of the pure ring arithmetic: every (world, count, segment) mix partitions the
// buffer exactly, and a simulated ring ends with every rank holding every chunk's full sum.
#include "allreduce/ring_schedule.h"

#include <gtest/gtest.h>

#include <set>
#include <vector>

namespace ringtrain::allreduce {
namespace {

TEST(RingSchedule, ChunksAndSegmentsPartitionEveryMix) {
  for (int world = 1; world <= 9; ++world) {
    for (std::size_t count : {0, 1, 2, 3, 5, 7, 8, 9, 16, 17, 31, 64, 97, 1000}) {
      for (std::size_t seg : {1, 2, 3, 4, 7, 64, 1 << 20}) {
        const std::size_t segments = SegmentsPerChunk(count, world, seg);
        ASSERT_GE(segments, 1u);
        std::size_t expect = 0;
        for (int c = 0; c < world; ++c) {
          const Range chunk = ChunkRange(count, world, c);
          ASSERT_EQ(chunk.begin, expect) << world << " " << count << " " << c;
          ASSERT_LE(chunk.size(), (count + world - 1) / world);
          std::size_t pos = chunk.begin;
          for (std::size_t j = 0; j < segments; ++j) {
            const Range s = SegmentRange(chunk, segments, j);
            ASSERT_EQ(s.begin, pos);
            ASSERT_LE(s.size(), seg) << "world " << world << " count " << count << " seg " << seg;
            pos = s.end;
          }
          ASSERT_EQ(pos, chunk.end);
          expect = chunk.end;
        }
        ASSERT_EQ(expect, count);
      }
    }
  }
}

TEST(RingSchedule, SegmentCountIsMinimal) {
  EXPECT_EQ(SegmentsPerChunk(0, 4, 8), 1u);
  EXPECT_EQ(SegmentsPerChunk(32, 4, 8), 1u);
  EXPECT_EQ(SegmentsPerChunk(33, 4, 8), 2u);
  EXPECT_EQ(SegmentsPerChunk(1000, 1, 1), 1000u);
}

// Simulates the two phases with sets of contributing ranks per (rank, chunk).
TEST(RingSchedule, SimulatedRingSumsEverythingEverywhere) {
  for (int world = 1; world <= 9; ++world) {
    std::vector<std::vector<std::set<int>>> has(world, std::vector<std::set<int>>(world));
    for (int r = 0; r < world; ++r)
      for (int c = 0; c < world; ++c) has[r][c] = {r};
    for (int s = 0; s + 1 < world; ++s) {
      auto before = has;
      for (int r = 0; r < world; ++r) {
        const int from = (r + world - 1) % world;
        const StepChunks mine = ReduceScatterStep(r, world, s);
        const StepChunks theirs = ReduceScatterStep(from, world, s);
        ASSERT_EQ(mine.recv_chunk, theirs.send_chunk);
        for (int x : before[from][mine.recv_chunk]) {
          ASSERT_TRUE(has[r][mine.recv_chunk].insert(x).second) << "counted twice";
        }
      }
    }
    for (int r = 0; r < world; ++r) {
      ASSERT_EQ(has[r][OwnedChunk(r, world)].size(), static_cast<std::size_t>(world));
    }
    for (int s = 0; s + 1 < world; ++s) {
      auto before = has;
      for (int r = 0; r < world; ++r) {
        const int from = (r + world - 1) % world;
        const StepChunks mine = AllGatherStep(r, world, s);
        const StepChunks theirs = AllGatherStep(from, world, s);
        ASSERT_EQ(mine.recv_chunk, theirs.send_chunk);
        ASSERT_EQ(before[from][theirs.send_chunk].size(), static_cast<std::size_t>(world));
        has[r][mine.recv_chunk] = before[from][theirs.send_chunk];
      }
    }
    for (int r = 0; r < world; ++r)
      for (int c = 0; c < world; ++c)
        ASSERT_EQ(has[r][c].size(), static_cast<std::size_t>(world)) << r << " " << c;
  }
}

}  // namespace
}  // namespace ringtrain::allreduce
