// allreduce/ring_communicator.h — ring allreduce / broadcast / barrier over any Transport.
//
// Allreduce = reduce-scatter then all-gather (ring_schedule.h), each chunk cut into segments
// of at most `segment_bytes`, so the buffer moved per rank is 2(N-1)/N of the data, the
// bandwidth-optimal amount, and the scratch space is one segment more than the exchanges in
// flight: the reduction of one segment runs while the next ones are in flight
// (Transport::StartExchange/FinishExchange; one at a time over TCP and shared memory, up to
// three over MPI). An exchange never starts before the one whose data it sends on has ended.
// Over shared memory (Transport::AddsOnArrival) the reduce-scatter needs no scratch: the
// receiver adds each segment straight out of the shared segment (StartAddExchange), in the
// same order (data[i] = data[i] + received[i]), so the bits are the other transports'; the
// last step forwards its sums as the all-gather's first message as it makes them
// (StartAddForwardExchange).
// Buffers of at most `gather_bytes` instead go round whole (N-1 steps, not 2(N-1)) and each
// rank adds the N copies in rank order 0..N-1. Broadcast is pipelined segment by segment
// along the ring from the root. Barrier passes a header N-1 times round the ring, so every
// rank has heard (transitively) from every other before it returns.
//
// Guarantees (communicator.h): identical bits everywhere (the all-gather copies each chunk's
// one sum; the gather path adds in one order everywhere), fixed summation order, and no
// allocation per call: the scratch space is allocated on the first call of a size and
// reused. Each collective runs under one deadline of `timeout` from its start.
//
// Start-up tuning (Tune, docs/allreduce.md "Start-up tuning"): the segment size may differ by
// buffer size class, chosen from timings every rank takes part in and sums, so every rank
// picks the same sizes. The segment size never changes a result's bits: which elements a
// rank adds, and in which order, follow from (count, world) alone.
// Thread-safety: one thread calls the collectives; Abort() from any thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "allreduce/communicator.h"
#include "allreduce/transport.h"

namespace ringtrain::allreduce {

// Chosen by measurement (docs/allreduce.md): large enough that per-message overhead is
// negligible, small enough that the scratch segment stays in L2 for the reduction.
inline constexpr std::size_t kDefaultSegmentBytes = 256 * 1024;
// Small collectives are latency-bound: a buffer of at most this many bytes is passed round
// whole (world - 1 steps instead of 2(world - 1)) and every rank sums the copies in rank
// order, as long as the (world - 1) copies fit in kMaxGatherScratchBytes. Chosen by
// measurement (docs/allreduce.md): it wins from 8 to 32 KiB, loses at 64 KiB.
inline constexpr std::size_t kDefaultGatherBytes = 32 * 1024;
inline constexpr std::size_t kMaxGatherScratchBytes = 1024 * 1024;
// The most exchanges the ring keeps in flight per phase (and scratch segments: one more), if
// the transport takes them (Transport::MaxExchangesInFlight).
inline constexpr int kMaxRingExchangesInFlight = 3;

// Size classes of the segmented path: class c is measured at kSegmentClassBytes[c] (64 KiB,
// 128 KiB, ..., 16 MiB) and holds the buffers from that size / sqrt(2) to that size * sqrt(2)
// (the first everything below, the last everything above).
inline constexpr int kSegmentClasses = 9;
inline constexpr std::array<std::size_t, kSegmentClasses> kSegmentClassBytes = {
    std::size_t{64} << 10,  std::size_t{128} << 10, std::size_t{256} << 10,
    std::size_t{512} << 10, std::size_t{1} << 20,   std::size_t{2} << 20,
    std::size_t{4} << 20,   std::size_t{8} << 20,   std::size_t{16} << 20};
int SegmentClassOf(std::size_t bytes);
// "64 KiB", "1 MiB", "32512 B".
std::string BytesText(std::size_t bytes);

// Start-up tuning: which segment sizes to try and how long it may take.
struct RingTuneOptions {
  // Segment sizes to try, the transport's default first (it wins ties). Fewer than two: no
  // tuning.
  std::vector<std::size_t> candidates;
  // Measuring stops before a class whose predicted cost would end past this (all ranks agree
  // on when: they decide from summed timings); later classes keep the last class's choice.
  std::chrono::milliseconds budget{400};
  // Timed calls per candidate and class, each after an untimed one; the second fastest counts.
  int rounds = 6;
};

struct RingTuneResult {
  std::array<std::size_t, kSegmentClasses> segment_bytes{};  // per class, identical on all ranks
  int classes_measured = 0;  // the others took the last measured class's choice
  double seconds = 0;        // this rank's wall time in Tune
};

struct RingOptions {
  std::chrono::milliseconds timeout{60000};
  std::size_t segment_bytes = kDefaultSegmentBytes;
  // Largest buffer passed round whole; 0: always reduce-scatter + all-gather. A value above
  // kMaxGatherScratchBytes also lifts the scratch cap (tests force the path that way).
  std::size_t gather_bytes = kDefaultGatherBytes;
  // Smallest buffer passed round whole (a transport may prefer halves below a protocol
  // threshold: see MakeMpiRingCommunicator).
  std::size_t gather_min_bytes = 0;
  // Segment size per size class (kSegmentClassBytes); 0: segment_bytes. Set by Tune.
  std::array<std::size_t, kSegmentClasses> class_segment_bytes{};
};

class RingCommunicator final : public Communicator {
 public:
  // `transport` may be null only for a world of one (then every collective is local).
  RingCommunicator(std::unique_ptr<Transport> transport, int rank, int world, RingOptions options);
  ~RingCommunicator() override;

  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  void AllreduceSum(std::span<float> data) override;
  void AllreduceSum(std::span<double> data) override;
  void Broadcast(std::span<std::byte> data, int root) override;
  void Barrier() override;
  void Abort() override;
  std::chrono::milliseconds timeout() const override { return options_.timeout; }

  const RingOptions& options() const { return options_; }

  // Collective (every rank calls it, with the same candidates, before any other collective
  // or after the same ones): times an allreduce of doubles at each class's size with each
  // candidate segment size, sums the timings over the ranks (through this ring) and keeps, per
  // class, the candidate with the least time (RingTuneOptions::rounds). Allocates a buffer of the
  // largest class measured (freed on return). Throws TransportError as the collectives do. A world
  // of one, or fewer than two candidates, measures nothing.
  RingTuneResult Tune(const RingTuneOptions& tune);
  // What the last Tune chose and how long it took (all zero before).
  const RingTuneResult& tune_result() const { return tune_result_; }
  // The segment size a buffer of `bytes` bytes is cut into (before the gather-path check).
  std::size_t SegmentBytesFor(std::size_t bytes) const;
  // One line for the run header: "segment by buffer size: <=64 KiB 32512 B, 256 KiB 1 MiB, ...,
  // >=16 MiB 256 KiB (measured in 0.081 s, 5 of 5 sizes)".
  std::string ScheduleText() const;

 private:
  template <typename T>
  void Allreduce(std::span<T> data, Op op);
  template <typename T>
  void AllreduceByGather(std::span<T> data, const MessageTag& tag, Deadline deadline);
  void CheckUsable() const;
  std::byte* Scratch(std::size_t bytes);

  std::unique_ptr<Transport> transport_;
  int rank_;
  int world_;
  RingOptions options_;
  std::uint32_t seq_ = 0;
  std::vector<double> scratch_;  // double for alignment of either element type
  std::vector<const void*> gather_sources_;
  RingTuneResult tune_result_;
  std::atomic<bool> aborted_{false};
};

}  // namespace ringtrain::allreduce
