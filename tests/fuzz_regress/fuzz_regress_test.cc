// tests/fuzz_regress/fuzz_regress_test.cc — replays every fuzz input kept in the tree.
//
// For each fuzz target (fuzz/inputs.h) one test feeds every file of
// tests/fuzz_regress/<target>/ (inputs that once crashed a target, see docs/fuzzing.md) and
// fuzz/seeds/<target>/ (the seeds) to the target's runner, and asserts it returns or throws
// a ringtrain::Error — never another exception (PropertyViolation included), never a crash
// (ASan/UBSan builds catch memory errors and undefined behaviour). It also checks that the
// seeds, which are valid inputs, are accepted.
#include <gtest/gtest.h>

#include <algorithm>
#include <exception>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "common/error.h"
#include "fuzz/inputs.h"

namespace ringtrain::fuzz {
namespace {

namespace fs = std::filesystem;

std::vector<fs::path> FilesIn(const fs::path& dir) {
  std::vector<fs::path> files;
  if (!fs::is_directory(dir)) return files;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file()) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

std::vector<std::uint8_t> ReadBytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

enum class Outcome { kAccepted, kRejected, kBug };

Outcome Replay(const Target& target, const fs::path& file, std::string* message) {
  const std::vector<std::uint8_t> bytes = ReadBytes(file);
  try {
    target.run(Bytes(bytes.data(), bytes.size()));
    return Outcome::kAccepted;
  } catch (const Error& e) {
    *message = FormatError(e);
    return Outcome::kRejected;
  } catch (const std::exception& e) {
    *message = std::string("non-ringtrain exception: ") + e.what();
    return Outcome::kBug;
  }
}

class FuzzRegressTest : public ::testing::TestWithParam<Target> {};

TEST_P(FuzzRegressTest, CrashInputsAreRejectedOrAccepted) {
  const Target& target = GetParam();
  const auto files = FilesIn(fs::path(RINGTRAIN_FUZZ_REGRESS_DIR) / target.name);
  for (const auto& file : files) {
    std::string message;
    const Outcome outcome = Replay(target, file, &message);
    EXPECT_NE(outcome, Outcome::kBug) << file << ": " << message;
    if (outcome == Outcome::kRejected) {
      EXPECT_FALSE(message.empty()) << file;  // a typed error says what was wrong
    }
  }
}

TEST_P(FuzzRegressTest, SeedsAreAccepted) {
  const Target& target = GetParam();
  const auto files = FilesIn(fs::path(RINGTRAIN_FUZZ_SEEDS_DIR) / target.name);
  ASSERT_FALSE(files.empty()) << "no seeds for " << target.name;
  for (const auto& file : files) {
    std::string message;
    EXPECT_EQ(Replay(target, file, &message), Outcome::kAccepted) << file << ": " << message;
  }
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzRegressTest, ::testing::ValuesIn(Targets()),
                         [](const ::testing::TestParamInfo<Target>& param_info) {
                           return std::string(param_info.param.name);
                         });

}  // namespace
}  // namespace ringtrain::fuzz
