// common/error.h — the one error hierarchy of ringtrain.
//
// Every error says what happened, where (file:line, host:port, znode path) and what to do.
// Each subclass maps one to one to a process exit code (DESIGN.md "Command line"). Library
// code throws these at box boundaries and never calls exit() or abort(); only cli/main.cc
// turns an Error into an exit code.
#pragma once

#include <stdexcept>
#include <string>

namespace ringtrain {

enum class ExitCode : int {
  kOk = 0,
  kUsage = 1,       // usage or config error
  kData = 2,        // data error (unreadable/malformed input, bad model file)
  kZooKeeper = 3,   // ZooKeeper or rendezvous error
  kTransport = 4,   // transport error or lost peer
  kCheckpoint = 5,  // checkpoint error
};

class Error : public std::runtime_error {
 public:
  // what: what went wrong; where: file:line / host:port / znode path (may be empty);
  // hint: what the user should do (may be empty).
  Error(ExitCode code, std::string what, std::string where = {}, std::string hint = {});

  ExitCode code() const noexcept { return code_; }
  const std::string& what_happened() const noexcept { return what_; }
  const std::string& where() const noexcept { return where_; }
  const std::string& hint() const noexcept { return hint_; }

 private:
  ExitCode code_;
  std::string what_;
  std::string where_;
  std::string hint_;
};

class UsageError : public Error {
 public:
  UsageError(std::string what, std::string where = {}, std::string hint = {})
      : Error(ExitCode::kUsage, std::move(what), std::move(where), std::move(hint)) {}
};

class DataError : public Error {
 public:
  DataError(std::string what, std::string where = {}, std::string hint = {})
      : Error(ExitCode::kData, std::move(what), std::move(where), std::move(hint)) {}
};

class RendezvousError : public Error {
 public:
  RendezvousError(std::string what, std::string where = {}, std::string hint = {})
      : Error(ExitCode::kZooKeeper, std::move(what), std::move(where), std::move(hint)) {}
};

class TransportError : public Error {
 public:
  TransportError(std::string what, std::string where = {}, std::string hint = {})
      : Error(ExitCode::kTransport, std::move(what), std::move(where), std::move(hint)) {}
  // The ring rank this error shows to have failed, or -1: set by a ring transport when it saw
  // a neighbour's link close, or got an abort notice from a neighbour that saw another rank
  // fail — not when the abort was this rank's or a neighbour's own decision. Lets the trainer
  // prefer this first-hand evidence to ZooKeeper's account of a lost ring, which names the
  // member whose node went first (possibly a survivor that already exited on this failure).
  int failed_rank = -1;
};

class CheckpointError : public Error {
 public:
  CheckpointError(std::string what, std::string where = {}, std::string hint = {})
      : Error(ExitCode::kCheckpoint, std::move(what), std::move(where), std::move(hint)) {}
};

// One line: "<what> (at <where>); <hint>".
std::string FormatError(const Error& e);

}  // namespace ringtrain
