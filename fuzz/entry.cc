// fuzz/entry.cc — the libFuzzer entry point, compiled once per target with
// RINGTRAIN_FUZZ_RUN set to one of the runners of fuzz/inputs.h. A ringtrain::Error is the
// documented answer to bad input; anything else escaping (or any sanitizer report) is a crash.
#include <cstddef>
#include <cstdint>

#include "common/error.h"
#include "fuzz/inputs.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  try {
    ringtrain::fuzz::RINGTRAIN_FUZZ_RUN(ringtrain::fuzz::Bytes(data, size));
  } catch (const ringtrain::Error&) {
    // Rejected with a typed error: the expected outcome for bad input.
  }
  return 0;
}
