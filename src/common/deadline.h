// common/deadline.h — a point in time after which a blocking wait must give up.
//
// Every blocking call in ringtrain takes a Deadline (STYLE.md lesson 5). Built on
// steady_clock so wall-clock jumps never shorten or stretch a wait.
#pragma once

#include <algorithm>
#include <chrono>
#include <limits>

namespace ringtrain {

class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  static Deadline After(Clock::duration d) { return Deadline(Clock::now() + d); }
  static Deadline AfterSeconds(double s) {
    return After(std::chrono::duration_cast<Clock::duration>(std::chrono::duration<double>(s)));
  }
  static Deadline Never() { return Deadline(Clock::time_point::max()); }

  explicit Deadline(Clock::time_point at) : at_(at) {}

  Clock::time_point at() const { return at_; }
  bool Expired() const { return Clock::now() >= at_; }
  Clock::duration Remaining() const {
    auto now = Clock::now();
    return at_ > now ? at_ - now : Clock::duration::zero();
  }
  // Milliseconds left, rounded up, clamped to [0, INT_MAX] — the shape poll() wants.
  int RemainingMs() const {
    if (at_ == Clock::time_point::max()) return std::numeric_limits<int>::max();
    auto ms = std::chrono::ceil<std::chrono::milliseconds>(Remaining()).count();
    return static_cast<int>(std::min<long long>(ms, std::numeric_limits<int>::max()));
  }
  // The earlier of two deadlines.
  static Deadline Min(Deadline a, Deadline b) { return a.at_ < b.at_ ? a : b; }

 private:
  Clock::time_point at_;
};

}  // namespace ringtrain
