#include "allreduce/ring_communicator.h"

#include <algorithm>
#include <string>

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
  const std::size_t seg_elems = std::max<std::size_t>(1, options_.segment_bytes / sizeof(T));
  const std::size_t segments = SegmentsPerChunk(data.size(), world_, seg_elems);
  T* scratch = reinterpret_cast<T*>(Scratch(seg_elems * sizeof(T)));
  auto bytes_of = [&](Range r) { return std::as_bytes(data.subspan(r.begin, r.size())); };

  for (int s = 0; s + 1 < world_; ++s) {
    const StepChunks step = ReduceScatterStep(rank_, world_, s);
    const Range send_chunk = ChunkRange(data.size(), world_, step.send_chunk);
    const Range recv_chunk = ChunkRange(data.size(), world_, step.recv_chunk);
    for (std::size_t j = 0; j < segments; ++j) {
      const Range out = SegmentRange(send_chunk, segments, j);
      const Range in = SegmentRange(recv_chunk, segments, j);
      transport_->Exchange(
          tag, bytes_of(out),
          std::span<std::byte>(reinterpret_cast<std::byte*>(scratch), in.size() * sizeof(T)),
          deadline);
      AddInto(data.data() + in.begin, scratch, in.size());
    }
  }
  for (int s = 0; s + 1 < world_; ++s) {
    const StepChunks step = AllGatherStep(rank_, world_, s);
    const Range send_chunk = ChunkRange(data.size(), world_, step.send_chunk);
    const Range recv_chunk = ChunkRange(data.size(), world_, step.recv_chunk);
    for (std::size_t j = 0; j < segments; ++j) {
      const Range out = SegmentRange(send_chunk, segments, j);
      const Range in = SegmentRange(recv_chunk, segments, j);
      transport_->Exchange(tag, bytes_of(out),
                           std::as_writable_bytes(data.subspan(in.begin, in.size())), deadline);
    }
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
