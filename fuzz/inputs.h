// fuzz/inputs.h — one function per fuzz target: turn raw bytes into a call of the code under
// test. Shared by the libFuzzer entry points (fuzz/*_fuzz.cc, clang) and by the regression
// test over tests/fuzz_regress/<target>/ and fuzz/seeds/<target>/ (gcc, label unit).
//
// Contract: each Run* function returns normally or throws ringtrain::Error for bad input.
// Anything else (another exception type, a crash, a sanitizer report, a hang) is a bug.
// A broken round-trip property throws PropertyViolation (deliberately not a ringtrain::Error).
// Input layouts (the first bytes are parameters so the fuzzer also explores them):
//   libsvm  [b0: shard/num_shards] [file bytes]
//   csv     [b0: shard/num_shards] [b1: label column -1..3] [file bytes]
//   idx     [b0: shard/num_shards] [b1: bit0 gzip images, bit1 gzip labels]
//           [b2 b3: labels length L, little-endian] [L label-file bytes] [images-file bytes]
//   model   [b0: bit0 = recompute the trailing CRC-32 so the content checks are reached]
//           [model file bytes]
//   znode   [b0: which decoder] [payload bytes]
//   handshake [hello / reply bytes as read from the socket]
// Threads: none. State: the readers' inputs go through one memfd per process (see .cc).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

namespace ringtrain::fuzz {

struct PropertyViolation : std::logic_error {
  using std::logic_error::logic_error;
};

using Bytes = std::span<const std::uint8_t>;

void RunLibsvm(Bytes input);
void RunCsv(Bytes input);
void RunIdx(Bytes input);
void RunModel(Bytes input);
void RunZnode(Bytes input);
void RunHandshake(Bytes input);

// Target names (as used for folders and executables: fuzz_<name>) and their runners.
struct Target {
  const char* name;
  void (*run)(Bytes);
};
const std::vector<Target>& Targets();

}  // namespace ringtrain::fuzz
