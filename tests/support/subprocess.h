// tests/support/subprocess.h — real child processes for multi-process tests.
//
// Children are started with posix_spawn (never fork after threads exist), can be waited for
// under a deadline, signalled (SIGKILL, SIGSTOP, SIGCONT) and are killed by the destructor,
// so a failing test leaves no process behind.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace ringtrain::testing {

struct ExitStatus {
  bool exited = false;     // normal exit
  int code = -1;           // exit code if exited
  int signal = 0;          // terminating signal otherwise
  bool timed_out = false;  // the wait's deadline passed (the child was then killed)
  std::string Describe() const;
};

class Subprocess {
 public:
  // argv[0] is the executable path. `env` entries are added to (or override) the current
  // environment. stdout/stderr go to files `out_path`/`err_path` if given, else inherited.
  Subprocess(std::vector<std::string> argv, std::map<std::string, std::string> env = {},
             std::string out_path = {}, std::string err_path = {});
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;
  Subprocess(Subprocess&& other) noexcept;
  Subprocess& operator=(Subprocess&&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int sig);
  // Waits up to `timeout`; on expiry kills the child with SIGKILL and reports timed_out.
  ExitStatus Wait(std::chrono::milliseconds timeout);
  // Non-blocking: the status if the child has ended.
  std::optional<ExitStatus> Poll();

 private:
  pid_t pid_ = -1;
  std::optional<ExitStatus> status_;
};

// A TCP port on 127.0.0.1 that was free a moment ago (bind to port 0, read it, close).
int FreeLoopbackPort();
// Reads a whole text file ("" if missing).
std::string ReadTextFile(const std::string& path);
// A fresh temporary directory under $TMPDIR (or /tmp), removed by the destructor.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string File(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace ringtrain::testing
