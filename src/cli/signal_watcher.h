// cli/signal_watcher.h — SIGINT/SIGTERM during `ringtrain train`, handled on one thread.
//
// What it does: blocks SIGINT/SIGTERM in the calling thread (so every thread started later —
// ZooKeeper's, OpenMP's, MPI's — inherits the mask) and waits for them on its own thread; on
// a signal it aborts the job (its collective and any ring connect) and leaves the rendezvous
// named in the AbortTarget, so peers learn of it in milliseconds. Internal to the train command.
#pragma once

#include <signal.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <thread>

#include "rendezvous/rendezvous.h"
#include "train/job.h"

namespace ringtrain::cli {

// Lets the signal thread abort the job and leave the rendezvous, only while they exist.
struct AbortTarget {
  std::mutex mu;
  train::Job* job = nullptr;
  rendezvous::Rendezvous* rendezvous = nullptr;
};

// SIGINT/SIGTERM during a distributed run: leave the ring cleanly so peers learn of it in
// milliseconds (the member znode is deleted and the session closed) instead of after a
// session timeout, and break a blocked collective. The signals are blocked in this thread
// before ZooKeeper's and OpenMP's threads exist, so they inherit the mask and only the
// watcher thread below ever receives them.
class SignalWatcher {
 public:
  explicit SignalWatcher(std::shared_ptr<AbortTarget> target);
  ~SignalWatcher();
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;
  int signal() const { return signal_.load(); }

 private:
  std::shared_ptr<AbortTarget> target_;
  sigset_t old_{};
  std::atomic<bool> stop_{false};
  std::atomic<int> signal_{0};
  std::thread thread_;
};

}  // namespace ringtrain::cli
