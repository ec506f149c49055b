// train/timed_communicator.h — a Communicator decorator that adds up time spent in
// collectives, for the "share of wall time in allreduce" of progress lines and metrics.
// Same thread-safety as the wrapped communicator (Abort forwards from any thread).
#pragma once

#include <chrono>

#include "allreduce/communicator.h"

namespace ringtrain::train {

class TimedCommunicator final : public allreduce::Communicator {
 public:
  explicit TimedCommunicator(allreduce::Communicator& inner) : inner_(inner) {}
  int rank() const override { return inner_.rank(); }
  int world_size() const override { return inner_.world_size(); }
  void AllreduceSum(std::span<float> d) override {
    Time([&] { inner_.AllreduceSum(d); });
  }
  void AllreduceSum(std::span<double> d) override {
    Time([&] { inner_.AllreduceSum(d); });
  }
  void Broadcast(std::span<std::byte> d, int root) override {
    Time([&] { inner_.Broadcast(d, root); });
  }
  void Barrier() override {
    Time([&] { inner_.Barrier(); });
  }
  void Abort() override { inner_.Abort(); }
  std::chrono::milliseconds timeout() const override { return inner_.timeout(); }

  double seconds() const { return seconds_; }

 private:
  template <class F>
  void Time(F&& f) {
    auto t0 = std::chrono::steady_clock::now();
    f();
    seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  }
  allreduce::Communicator& inner_;
  double seconds_ = 0;
};

}  // namespace ringtrain::train
