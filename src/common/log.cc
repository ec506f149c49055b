#include "common/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace ringtrain::log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::mutex g_sink_mutex;  // the process-wide sink: one line at a time on stderr
struct Context {
  int rank = -1;
  int world = 0;
  std::int64_t generation = 0;
};
thread_local Context t_context;

const char* Name(Level l) {
  switch (l) {
    case Level::kDebug:
      return "DEBUG";
    case Level::kInfo:
      return "INFO ";
    case Level::kWarn:
      return "WARN ";
    case Level::kError:
      return "ERROR";
  }
  return "?";
}
}  // namespace

void SetLevel(Level level) { g_level.store(static_cast<int>(level)); }
Level GetLevel() { return static_cast<Level>(g_level.load()); }

bool ParseLevel(std::string_view text, Level* out) {
  if (text == "debug")
    *out = Level::kDebug;
  else if (text == "info")
    *out = Level::kInfo;
  else if (text == "warn")
    *out = Level::kWarn;
  else if (text == "error")
    *out = Level::kError;
  else
    return false;
  return true;
}

void SetContext(int rank, int world, std::int64_t generation) {
  t_context = Context{rank, world, generation};
}

void Write(Level level, std::string_view message) {
  if (static_cast<int>(level) < g_level.load(std::memory_order_relaxed)) return;
  auto now = std::chrono::system_clock::now();
  std::time_t t = std::chrono::system_clock::to_time_t(now);
  int ms = static_cast<int>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000);
  std::tm tm{};
  localtime_r(&t, &tm);
  char prefix[96];
  if (t_context.rank >= 0) {
    std::snprintf(prefix, sizeof prefix, "%s %02d:%02d:%02d.%03d r%d/%d g%lld ", Name(level),
                  tm.tm_hour, tm.tm_min, tm.tm_sec, ms, t_context.rank, t_context.world,
                  static_cast<long long>(t_context.generation));
  } else {
    std::snprintf(prefix, sizeof prefix, "%s %02d:%02d:%02d.%03d ", Name(level), tm.tm_hour,
                  tm.tm_min, tm.tm_sec, ms);
  }
  std::lock_guard<std::mutex> lock(g_sink_mutex);
  std::fputs(prefix, stderr);
  std::fwrite(message.data(), 1, message.size(), stderr);
  std::fputc('\n', stderr);
  std::fflush(stderr);
}

}  // namespace ringtrain::log
