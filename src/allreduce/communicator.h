// allreduce/communicator.h — the collectives the trainer uses, over any transport.
//
// What this box does: sums float/double buffers across the ranks of a Ring, broadcasts
// bytes, and synchronises, each under a deadline. What it must not know: ZooKeeper, models.
// Thread-safety: one Communicator is used by one thread at a time (the rank's trainer
// thread). Abort() is the exception: any thread may call it to break a blocked collective,
// which then throws TransportError.
//
// Guarantees every implementation keeps:
//  - after AllreduceSum every rank holds identical bits;
//  - the summation order of an element depends only on (world size, ring), so runs are
//    reproducible for a fixed seed and world size;
//  - no allocation per call on the data path after the first call of a given size.
#pragma once

#include <chrono>
#include <cstddef>
#include <span>

namespace ringtrain::allreduce {

class Communicator {
 public:
  virtual ~Communicator() = default;

  virtual int rank() const = 0;
  virtual int world_size() const = 0;

  // In-place sum across ranks. Every rank passes the same length; a mismatch is a
  // TransportError. Each call must finish within the communicator's timeout.
  virtual void AllreduceSum(std::span<float> data) = 0;
  virtual void AllreduceSum(std::span<double> data) = 0;
  // Copies root's bytes into every rank's buffer (same length on every rank).
  virtual void Broadcast(std::span<std::byte> data, int root) = 0;
  virtual void Barrier() = 0;

  // Breaks any blocked or future collective with a TransportError (ring known to be gone).
  virtual void Abort() = 0;

  // The per-operation timeout.
  virtual std::chrono::milliseconds timeout() const = 0;
};

// World of one: every collective is a no-op. Used by single-process runs and unit tests.
class SelfCommunicator final : public Communicator {
 public:
  explicit SelfCommunicator(std::chrono::milliseconds timeout = std::chrono::seconds(60))
      : timeout_(timeout) {}
  int rank() const override { return 0; }
  int world_size() const override { return 1; }
  void AllreduceSum(std::span<float>) override {}
  void AllreduceSum(std::span<double>) override {}
  void Broadcast(std::span<std::byte>, int) override {}
  void Barrier() override {}
  void Abort() override {}
  std::chrono::milliseconds timeout() const override { return timeout_; }

 private:
  std::chrono::milliseconds timeout_;
};

}  // namespace ringtrain::allreduce
