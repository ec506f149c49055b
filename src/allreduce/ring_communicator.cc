#include "allreduce/ring_communicator.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>
#include <vector>

#include "allreduce/reduce.h"
#include "allreduce/ring_schedule.h"
#include "common/error.h"

namespace ringtrain::allreduce {

RingCommunicator::RingCommunicator(std::unique_ptr<Transport> transport, int rank, int world,
                                   RingOptions options)
    : transport_(std::move(transport)), rank_(rank), world_(world), options_(options) {
  if (world < 1 || rank < 0 || rank >= world) {
    throw UsageError("ring communicator: rank " + std::to_string(rank) +
                     " is not inside a world of " + std::to_string(world));
  }
  if (world > 1 && !transport_) {
    throw UsageError("ring communicator: a world of " + std::to_string(world) +
                     " needs a transport");
  }
  if (options_.segment_bytes < sizeof(double)) options_.segment_bytes = sizeof(double);
}

RingCommunicator::~RingCommunicator() = default;

int SegmentClassOf(std::size_t bytes) {
  for (int c = 0; c + 1 < kSegmentClasses; ++c) {
    const std::size_t size = kSegmentClassBytes[static_cast<std::size_t>(c)];
    if (bytes < size + size * 53 / 128) return c;  // size * 1.414
  }
  return kSegmentClasses - 1;
}

std::string BytesText(std::size_t bytes) {
  if (bytes != 0 && bytes % (std::size_t{1} << 20) == 0)
    return std::to_string(bytes >> 20) + " MiB";
  if (bytes != 0 && bytes % 1024 == 0) return std::to_string(bytes >> 10) + " KiB";
  return std::to_string(bytes) + " B";
}

std::size_t RingCommunicator::SegmentBytesFor(std::size_t bytes) const {
  const std::size_t s =
      options_.class_segment_bytes[static_cast<std::size_t>(SegmentClassOf(bytes))];
  return s != 0 ? s : options_.segment_bytes;
}

std::string RingCommunicator::ScheduleText() const {
  std::string out = "segment by buffer size:";
  for (int c = 0; c < kSegmentClasses; ++c) {
    const std::size_t size = kSegmentClassBytes[static_cast<std::size_t>(c)];
    out += std::string(c == 0 ? " " : ", ") +
           (c == 0                     ? "<="
            : c + 1 == kSegmentClasses ? ">="
                                       : "") +
           BytesText(size) + " " + BytesText(SegmentBytesFor(size));
  }
  if (tune_result_.classes_measured > 0) {
    char buf[96];
    std::snprintf(buf, sizeof buf, " (measured in %.3f s, %d of %d sizes)", tune_result_.seconds,
                  tune_result_.classes_measured, kSegmentClasses);
    out += buf;
  }
  return out;
}

RingTuneResult RingCommunicator::Tune(const RingTuneOptions& tune) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  auto since = [](Clock::time_point t) {
    return std::chrono::duration<double>(Clock::now() - t).count();
  };
  RingTuneResult result;
  const std::size_t cands = tune.candidates.size();
  if (world_ > 1 && cands >= 2) {
    CheckUsable();
    // A rank stopped while the ring forms fails the tuning within 10 s, not the run's timeout.
    const std::chrono::milliseconds run_timeout = options_.timeout;
    options_.timeout = std::min(run_timeout, std::chrono::milliseconds(10000) + tune.budget);
    struct RestoreTimeout {
      RingOptions& o;
      std::chrono::milliseconds t;
      ~RestoreTimeout() { o.timeout = t; }
    } restore{options_, run_timeout};
    const auto rounds = static_cast<std::size_t>(std::max(1, tune.rounds));
    const double budget = std::chrono::duration<double>(tune.budget).count();
    std::vector<double> buffer;
    // Per candidate `rounds` times, then this rank's seconds since the start and in this class.
    std::vector<double> times(cands * rounds + 2);
    std::vector<double> mine(rounds);
    std::vector<bool> same(cands);
    // A candidate's time: the second fastest of its calls (the summed times of one call over
    // the ranks). Not the median: the loopback TCP ring switches between a fast and a slow
    // mode from call to call (3.7 vs 6.6 ms at 16 MiB), and the median then ranked candidates
    // by how many of their calls fell into the slow mode.
    const std::size_t pick = rounds > 1 ? 1 : 0;
    auto second_fastest = [&](std::size_t k) {
      std::copy_n(times.begin() + static_cast<std::ptrdiff_t>(k * rounds), rounds, mine.begin());
      std::nth_element(mine.begin(), mine.begin() + static_cast<std::ptrdiff_t>(pick), mine.end());
      return mine[pick];
    };
    int c = 0;
    for (; c < kSegmentClasses; ++c) {
      const auto cu = static_cast<std::size_t>(c);
      const auto class_start = Clock::now();
      buffer.resize(kSegmentClassBytes[cu] / sizeof(double));
      const std::span<double> data(buffer);
      std::size_t& segment = options_.class_segment_bytes[cu];
      // A candidate that cuts this size into as many segments as an earlier one runs the same
      // schedule: not measured (at 64 KiB and np=2 every segment from 32 KiB is one per chunk).
      for (std::size_t k = 0; k < cands; ++k) {
        const auto segments = [&](std::size_t j) {
          return SegmentsPerChunk(data.size(), world_,
                                  std::max<std::size_t>(1, tune.candidates[j] / sizeof(double)));
        };
        same[k] = false;
        for (std::size_t j = 0; j < k && !same[k]; ++j)
          same[k] = !same[j] && segments(j) == segments(k);
      }
      // Rounds over the candidates, each round in another order, so a change of the
      // machine's state (a neighbour's build, a ring flipping between a fast and a slow mode)
      // hits every candidate alike. Each timed call follows an untimed one with the same
      // segments (a call right after one with other segments measured a state no run has: at
      // 64 KiB over MPI eager segments then looked 10 % slower than rendezvous instead of 40 %
      // faster) and a barrier, so every rank starts together, as after the trainer's compute.
      for (std::size_t r = 0; r < rounds; ++r) {
        for (std::size_t i = 0; i < cands; ++i) {
          const std::size_t k = (i + r) % cands;
          if (same[k]) continue;
          segment = tune.candidates[k];
          AllreduceSum(data);
          Barrier();
          const auto start = Clock::now();
          AllreduceSum(data);
          times[k * rounds + r] = since(start);
        }
      }
      times[cands * rounds] = since(t0);
      times[cands * rounds + 1] = since(class_start);
      AllreduceSum(std::span<double>(times));  // identical bits on every rank: one decision
      std::size_t best = 0;
      double best_time = second_fastest(0);
      for (std::size_t k = 1; k < cands; ++k) {
        if (same[k]) continue;
        const double t = second_fastest(k);
        if (t < best_time) {
          best = k;
          best_time = t;
        }
      }
      segment = tune.candidates[best];
      // The next class is 2x larger: it would take about 2x this one (means over the ranks).
      const double elapsed = times[cands * rounds] / world_;
      const double next = 2 * times[cands * rounds + 1] / world_;
      if (elapsed + next > budget) {
        ++c;
        break;
      }
    }
    result.classes_measured = c;
    for (; c < kSegmentClasses; ++c) {
      options_.class_segment_bytes[static_cast<std::size_t>(c)] =
          options_.class_segment_bytes[static_cast<std::size_t>(c - 1)];
    }
  }
  for (int c = 0; c < kSegmentClasses; ++c) {
    result.segment_bytes[static_cast<std::size_t>(c)] =
        SegmentBytesFor(kSegmentClassBytes[static_cast<std::size_t>(c)]);
  }
  result.seconds = since(t0);
  tune_result_ = result;
  return result;
}

void RingCommunicator::CheckUsable() const {
  if (aborted_.load(std::memory_order_acquire)) {
    throw TransportError("collective called on an aborted communicator", {},
                         "the ring is gone; build a new communicator for the next generation");
  }
}

std::byte* RingCommunicator::Scratch(std::size_t bytes) {
  const std::size_t doubles = (bytes + sizeof(double) - 1) / sizeof(double);
  if (scratch_.size() < doubles) scratch_.resize(doubles);
  return reinterpret_cast<std::byte*>(scratch_.data());
}

template <typename T>
void RingCommunicator::Allreduce(std::span<T> data, Op op) {
  CheckUsable();
  if (world_ == 1) return;
  const Deadline deadline = Deadline::After(options_.timeout);
  const MessageTag tag{op, seq_++, data.size()};
  const std::size_t copies_bytes = data.size_bytes() * static_cast<std::size_t>(world_ - 1);
  if (data.size_bytes() <= options_.gather_bytes &&
      data.size_bytes() >= options_.gather_min_bytes &&
      (copies_bytes <= kMaxGatherScratchBytes || options_.gather_bytes > kMaxGatherScratchBytes)) {
    AllreduceByGather(data, tag, deadline);
    return;
  }
  const std::size_t seg_elems =
      std::max<std::size_t>(1, SegmentBytesFor(data.size_bytes()) / sizeof(T));
  const std::size_t segments = SegmentsPerChunk(data.size(), world_, seg_elems);
  const std::size_t total = static_cast<std::size_t>(world_ - 1) * segments;  // per phase
  // Exchanges kept in flight: the transport's limit (MPI: 3, so segments that arrive while
  // this rank is descheduled are matched on arrival). Exchange k + d may start only once
  // exchange k + d - segments, whose data it sends on, has finished: d < segments.
  const auto depth = static_cast<std::size_t>(
      std::clamp(transport_->MaxExchangesInFlight(), 1, kMaxRingExchangesInFlight));
  auto may_start = [&](std::size_t next, std::size_t oldest) {
    return next < total && next < oldest + depth && next < oldest + segments;
  };
  auto bytes_of = [&](Range r) { return std::as_bytes(data.subspan(r.begin, r.size())); };
  // Segment k of a phase: step k / segments, segment k % segments of that step's chunks.
  auto ranges = [&](std::size_t k, StepChunks (*step_of)(int, int, int)) {
    const StepChunks step = step_of(rank_, world_, static_cast<int>(k / segments));
    const std::size_t j = k % segments;
    return std::pair{SegmentRange(ChunkRange(data.size(), world_, step.send_chunk), segments, j),
                     SegmentRange(ChunkRange(data.size(), world_, step.recv_chunk), segments, j)};
  };

  if (transport_->AddsOnArrival()) {
    // Over shared memory (one exchange in flight): the receiver adds each segment straight out
    // of the shared segment into `data` (data[i] = data[i] + received[i], as below), with no
    // copy to scratch. In the last reduce-scatter step the chunk a rank completes is the one
    // it sends first in the all-gather: its sums go on as they are made
    // (StartAddForwardExchange), and the predecessor's arrive in the same exchange, so the
    // all-gather's first step costs no pass of its own.
    for (std::size_t k = 0; k < total; ++k) {
      const auto [out, in] = ranges(k, &ReduceScatterStep);
      const auto accum = std::as_writable_bytes(data.subspan(in.begin, in.size()));
      if (k + segments < total) {
        transport_->StartAddExchange(tag, bytes_of(out), accum, deadline);
      } else {
        const Range next = ranges(k + segments - total, &AllGatherStep).second;
        transport_->StartAddForwardExchange(
            tag, bytes_of(out), accum,
            std::as_writable_bytes(data.subspan(next.begin, next.size())), deadline);
      }
      transport_->FinishExchange(deadline);
    }
    for (std::size_t k = segments; k < total; ++k) {
      const auto [out, in] = ranges(k, &AllGatherStep);
      transport_->StartExchange(
          tag, bytes_of(out), std::as_writable_bytes(data.subspan(in.begin, in.size())), deadline);
      transport_->FinishExchange(deadline);
    }
    return;
  }

  // Reduce-scatter. depth + 1 scratch segments: one being added into `data` while up to
  // `depth` are received, so the reduction overlaps the transfers.
  const std::size_t slots = depth + 1;
  T* scratch = reinterpret_cast<T*>(Scratch(slots * seg_elems * sizeof(T)));
  Range slot_range[kMaxRingExchangesInFlight + 1];
  struct PendingAdd {
    Range dst;
    const T* src = nullptr;
  } pending;
  auto add_pending = [&] {
    if (pending.src != nullptr)
      AddInto(data.data() + pending.dst.begin, pending.src, pending.dst.size());
    pending.src = nullptr;
  };
  std::size_t started = 0;
  for (std::size_t k = 0; k < total; ++k) {
    for (; may_start(started, k); ++started) {
      const auto [out, in] = ranges(started, &ReduceScatterStep);
      // What we send must hold its sum so far: the pending add may be into it (one segment
      // per chunk: this step sends what the previous step received).
      if (pending.src != nullptr && pending.dst.begin < out.end && out.begin < pending.dst.end) {
        add_pending();
      }
      T* buf = scratch + (started % slots) * seg_elems;
      slot_range[started % slots] = in;
      transport_->StartExchange(
          tag, bytes_of(out),
          std::span<std::byte>(reinterpret_cast<std::byte*>(buf), in.size() * sizeof(T)), deadline);
    }
    add_pending();
    transport_->FinishExchange(deadline);
    pending = {slot_range[k % slots], scratch + (k % slots) * seg_elems};
  }
  add_pending();

  // All-gather: each rank's finished chunk goes round, received in place.
  started = 0;
  for (std::size_t k = 0; k < total; ++k) {
    for (; may_start(started, k); ++started) {
      const auto [out, in] = ranges(started, &AllGatherStep);
      transport_->StartExchange(
          tag, bytes_of(out), std::as_writable_bytes(data.subspan(in.begin, in.size())), deadline);
    }
    transport_->FinishExchange(deadline);
  }
}

// Step s: send the buffer of rank (r - s) (our own at s = 0, then the one received last) and
// receive rank (r - s - 1)'s into slot s. Then every rank adds the buffers in rank order
// 0, 1, ..., N-1 (each element's sum is ((x0 + x1) + x2) + ...), so the bits agree everywhere.
// Every rank sees the same data.size(), so all take this path or none (a mismatch fails the
// first header check either way).
template <typename T>
void RingCommunicator::AllreduceByGather(std::span<T> data, const MessageTag& tag,
                                         Deadline deadline) {
  const std::size_t n = data.size();
  const std::size_t others = static_cast<std::size_t>(world_ - 1);
  T* slots = reinterpret_cast<T*>(Scratch(std::max<std::size_t>(1, n * others) * sizeof(T)));
  for (std::size_t s = 0; s < others; ++s) {
    const T* out = s == 0 ? data.data() : slots + (s - 1) * n;
    transport_->Exchange(tag, std::as_bytes(std::span<const T>(out, n)),
                         std::as_writable_bytes(std::span<T>(slots + s * n, n)), deadline);
  }
  // Rank k's buffer: ours, or slot (r - 1 - k) mod N.
  std::vector<const void*>& from = gather_sources_;  // reused: no allocation per call
  from.resize(static_cast<std::size_t>(world_));
  for (int k = 0; k < world_; ++k) {
    const int slot = ((rank_ - 1 - k) % world_ + world_) % world_;
    from[static_cast<std::size_t>(k)] =
        k == rank_ ? data.data() : slots + static_cast<std::size_t>(slot) * n;
  }
  // In blocks that stay in L1: sum = x0; sum += x1; ...; data = sum.
  constexpr std::size_t kBlock = 2048;
  T sum[kBlock];
  for (std::size_t begin = 0; begin < n; begin += kBlock) {
    const std::size_t len = std::min(kBlock, n - begin);
    std::copy_n(static_cast<const T*>(from[0]) + begin, len, sum);
    for (std::size_t k = 1; k < from.size(); ++k) {
      AddInto(sum, static_cast<const T*>(from[k]) + begin, len);
    }
    std::copy_n(sum, len, data.data() + begin);
  }
}

void RingCommunicator::AllreduceSum(std::span<float> data) { Allreduce(data, Op::kAllreduceFloat); }
void RingCommunicator::AllreduceSum(std::span<double> data) {
  Allreduce(data, Op::kAllreduceDouble);
}

void RingCommunicator::Broadcast(std::span<std::byte> data, int root) {
  CheckUsable();
  if (root < 0 || root >= world_) {
    throw UsageError("broadcast root " + std::to_string(root) + " is not a rank of a world of " +
                     std::to_string(world_));
  }
  if (world_ == 1) return;
  const Deadline deadline = Deadline::After(options_.timeout);
  const MessageTag tag{Op::kBroadcast, seq_++, data.size()};
  const std::size_t segments =
      std::max<std::size_t>(1, (data.size() + options_.segment_bytes - 1) / options_.segment_bytes);
  const bool forward = (rank_ + 1) % world_ != root;
  for (std::size_t j = 0; j < segments; ++j) {
    const Range seg = SegmentRange(Range{0, data.size()}, segments, j);
    std::span<std::byte> bytes = data.subspan(seg.begin, seg.size());
    if (rank_ != root) transport_->RecvFromPrev(tag, bytes, deadline);
    if (forward) transport_->SendToNext(tag, bytes, deadline);
  }
}

void RingCommunicator::Barrier() {
  CheckUsable();
  if (world_ == 1) return;
  const Deadline deadline = Deadline::After(options_.timeout);
  const MessageTag tag{Op::kBarrier, seq_++, 0};
  for (int s = 0; s + 1 < world_; ++s) transport_->Exchange(tag, {}, {}, deadline);
}

void RingCommunicator::Abort() {
  aborted_.store(true, std::memory_order_release);
  if (transport_) transport_->Abort();
}

}  // namespace ringtrain::allreduce
