// MpiCommunicator: the reference collectives, MPI_Allreduce & co. on MPI_COMM_WORLD.
#include "allreduce/mpi_communicator.h"

#include <mpi.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <climits>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>

#include "common/error.h"
#include "common/log.h"

namespace ringtrain::allreduce {
namespace {

void Check(int rc, const char* call) {
  if (rc == MPI_SUCCESS) return;
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, text, &len);
  throw TransportError(
      std::string(call) + " failed: " + std::string(text, static_cast<std::size_t>(len)),
      "MPI_COMM_WORLD", "a rank of the MPI job failed; resume with --resume");
}

// MPI cannot cancel a collective that is blocked on a dead, stopped or absent rank, and a
// TransportError cannot be thrown out of it. The watchdog enforces the deadline the only way
// left: a collective in MPI for longer than the timeout (or still in MPI when Abort() is
// called) ends the process with one ERROR line and exit code 4 (the CLI's transport code).
// It calls _exit, not MPI_Abort: under MPI_THREAD_FUNNELED a second thread may not call MPI.
// The other ranks then end too: mpirun kills the job when a rank exits non-zero, or (with
// orte_abort_on_non_zero_status 0) their own watchdogs fire in their blocked collectives.
// Cost on the data path: two atomic stores and a clock read per call, no system call.
class CallWatchdog {
 public:
  explicit CallWatchdog(std::chrono::milliseconds timeout)
      : timeout_(timeout),
        period_(std::clamp(timeout / 20, std::chrono::milliseconds(10),
                           std::chrono::milliseconds(250))),
        thread_([this] { Watch(); }) {}
  ~CallWatchdog() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
    }
    cv_.notify_one();
    thread_.join();
  }
  CallWatchdog(const CallWatchdog&) = delete;
  CallWatchdog& operator=(const CallWatchdog&) = delete;

  void Begin(const char* call) {
    call_.store(call, std::memory_order_relaxed);
    started_ns_.store(NowNs(), std::memory_order_release);
  }
  void End() { started_ns_.store(0, std::memory_order_release); }
  void Abort() {
    aborted_.store(true, std::memory_order_release);
    cv_.notify_one();
  }

 private:
  static std::int64_t NowNs() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
  }
  void Watch() {
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      cv_.wait_for(lock, period_);
      const std::int64_t started = started_ns_.load(std::memory_order_acquire);
      if (stop_ || started == 0) continue;
      const auto blocked = std::chrono::nanoseconds(NowNs() - started);
      const bool aborted = aborted_.load(std::memory_order_acquire);
      if (!aborted && blocked <= timeout_) continue;
      const std::string call = call_.load(std::memory_order_relaxed);
      const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(blocked).count();
      log::Error(
          aborted
              ? call +
                    " on MPI_COMM_WORLD was still blocked when the communicator was "
                    "aborted (after " +
                    std::to_string(ms) + " ms)"
              : call + " on MPI_COMM_WORLD did not complete within " +
                    std::to_string(timeout_.count()) + " ms: a rank of the job is dead, " +
                    "stopped or not calling it; ending this rank with exit code 4 " +
                    "(MPI cannot cancel a blocked collective); see the other ranks' output for " +
                    "the one that failed or stopped");
      std::fflush(stdout);
      std::fflush(stderr);
      ::_exit(4);
    }
  }

  const std::chrono::milliseconds timeout_;
  const std::chrono::milliseconds period_;
  std::atomic<std::int64_t> started_ns_{0};  // 0: no call in MPI
  std::atomic<const char*> call_{""};
  std::atomic<bool> aborted_{false};
  std::mutex mu_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;  // last: starts after every other member is built
};

// Marks one MPI call for the watchdog.
class WatchedCall {
 public:
  WatchedCall(CallWatchdog& dog, const char* call) : dog_(dog) { dog_.Begin(call); }
  ~WatchedCall() { dog_.End(); }
  WatchedCall(const WatchedCall&) = delete;
  WatchedCall& operator=(const WatchedCall&) = delete;

 private:
  CallWatchdog& dog_;
};

class MpiCommunicator final : public Communicator {
 public:
  explicit MpiCommunicator(const MpiOptions& options)
      : timeout_(options.timeout), watchdog_(options.timeout) {
    MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
    MPI_Comm_size(MPI_COMM_WORLD, &world_);
  }
  int rank() const override { return rank_; }
  int world_size() const override { return world_; }
  void AllreduceSum(std::span<float> data) override { Allreduce(data, MPI_FLOAT); }
  void AllreduceSum(std::span<double> data) override { Allreduce(data, MPI_DOUBLE); }
  void Broadcast(std::span<std::byte> data, int root) override {
    CheckUsable();
    WatchedCall watched(watchdog_, "MPI_Bcast");
    for (std::size_t off = 0; off < data.size(); off += INT_MAX) {
      const std::size_t n = std::min<std::size_t>(INT_MAX, data.size() - off);
      Check(MPI_Bcast(data.data() + off, static_cast<int>(n), MPI_BYTE, root, MPI_COMM_WORLD),
            "MPI_Bcast");
    }
  }
  void Barrier() override {
    CheckUsable();
    WatchedCall watched(watchdog_, "MPI_Barrier");
    Check(MPI_Barrier(MPI_COMM_WORLD), "MPI_Barrier");
  }
  void Abort() override {
    aborted_.store(true, std::memory_order_release);
    watchdog_.Abort();
  }
  std::chrono::milliseconds timeout() const override { return timeout_; }

 private:
  void CheckUsable() const {
    if (aborted_.load(std::memory_order_acquire)) {
      throw TransportError("collective called on an aborted MPI communicator", "MPI_COMM_WORLD");
    }
  }
  template <typename T>
  void Allreduce(std::span<T> data, MPI_Datatype type) {
    CheckUsable();
    WatchedCall watched(watchdog_, "MPI_Allreduce");
    for (std::size_t off = 0; off < data.size(); off += INT_MAX) {
      const std::size_t n = std::min<std::size_t>(INT_MAX, data.size() - off);
      Check(MPI_Allreduce(MPI_IN_PLACE, data.data() + off, static_cast<int>(n), type, MPI_SUM,
                          MPI_COMM_WORLD),
            "MPI_Allreduce");
    }
  }

  int rank_ = 0;
  int world_ = 1;
  std::chrono::milliseconds timeout_;
  std::atomic<bool> aborted_{false};
  CallWatchdog watchdog_;
};

}  // namespace

std::unique_ptr<Communicator> MakeMpiCommunicator(const MpiOptions& options) {
  return std::make_unique<MpiCommunicator>(options);
}

}  // namespace ringtrain::allreduce
