// allreduce/socket_io.h — internal: file-descriptor ownership and the abort signal.
//
// Internal to the TCP transport (not part of the box interface). No socket header here:
// descriptors are plain ints, the system calls live in the .cc files.
#pragma once

#include <atomic>
#include <string>

namespace ringtrain::allreduce::internal {

// Owns one file descriptor; closes it on destruction.
class UniqueFd {
 public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  ~UniqueFd() { Reset(); }
  UniqueFd(UniqueFd&& o) noexcept : fd_(o.Release()) {}
  UniqueFd& operator=(UniqueFd&& o) noexcept {
    if (this != &o) Reset(o.Release());
    return *this;
  }
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;

  int get() const { return fd_; }
  bool valid() const { return fd_ >= 0; }
  int Release() {
    int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void Reset(int fd = -1);

 private:
  int fd_ = -1;
};

// An eventfd plus a flag: Trigger() from any thread wakes a poll() that watches fd().
class AbortSignal {
 public:
  AbortSignal();
  void Trigger();
  bool triggered() const { return flag_.load(std::memory_order_acquire); }
  int fd() const { return fd_.get(); }

 private:
  UniqueFd fd_;
  std::atomic<bool> flag_{false};
};

std::string ErrnoText(int err);
// Sets O_NONBLOCK; returns false (errno set) on failure.
bool SetNonBlocking(int fd);
// TCP_NODELAY, and SO_SNDBUF/SO_RCVBUF when buffer_bytes > 0.
void TuneSocket(int fd, int buffer_bytes);

}  // namespace ringtrain::allreduce::internal
