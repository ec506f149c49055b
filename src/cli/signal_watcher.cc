#include "cli/signal_watcher.h"

#include <string>

#include "common/log.h"

namespace ringtrain::cli {

SignalWatcher::SignalWatcher(std::shared_ptr<AbortTarget> target) : target_(std::move(target)) {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &set, &old_);
  thread_ = std::thread([this, set] {
    const timespec tick{0, 100 * 1000 * 1000};
    while (!stop_.load()) {
      int sig = sigtimedwait(&set, nullptr, &tick);
      if (sig <= 0) continue;
      signal_.store(sig);
      log::Warn(std::string("received ") + (sig == SIGINT ? "SIGINT" : "SIGTERM") +
                ": leaving the ring");
      std::lock_guard<std::mutex> lock(target_->mu);
      if (target_->job != nullptr) target_->job->Abort();
      if (target_->rendezvous != nullptr) target_->rendezvous->Leave();
      return;
    }
  });
}

SignalWatcher::~SignalWatcher() {
  stop_.store(true);
  thread_.join();
  pthread_sigmask(SIG_SETMASK, &old_, nullptr);
}

}  // namespace ringtrain::cli
