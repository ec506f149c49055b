#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "common/checksum.h"
#include "common/deadline.h"
#include "common/error.h"
#include "common/file_util.h"
#include "common/ring.h"
#include "common/uuid.h"
#include "support/subprocess.h"

namespace ringtrain {
namespace {

TEST(Checksum, Crc32MatchesTheStandardCheckValue) {
  EXPECT_EQ(Crc32(std::string_view("123456789")), 0xcbf43926u);
  EXPECT_EQ(Hex32(0xcbf43926u), "cbf43926");
}

TEST(Checksum, Fnv1aDiffersOnOneByte) {
  EXPECT_NE(Fnv1a64("C=1.0"), Fnv1a64("C=1.1"));
  EXPECT_EQ(Hex64(Fnv1a64("")), "cbf29ce484222325");
}

TEST(Error, OneLineWithWhatWhereAndHint) {
  DataError e("bad token 'x:1'", "a.libsvm:3", "fix the file");
  EXPECT_EQ(std::string(e.what()), "bad token 'x:1' (at a.libsvm:3); fix the file");
  EXPECT_EQ(e.code(), ExitCode::kData);
  TransportError t("peer closed");
  EXPECT_EQ(static_cast<int>(t.code()), 4);
}

TEST(Deadline, ExpiresAndClampsRemaining) {
  auto d = Deadline::After(std::chrono::milliseconds(20));
  EXPECT_FALSE(d.Expired());
  EXPECT_GT(d.RemainingMs(), 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(30));
  EXPECT_TRUE(d.Expired());
  EXPECT_EQ(d.RemainingMs(), 0);
  EXPECT_GT(Deadline::Never().RemainingMs(), 1000000);
}

TEST(FileUtil, AtomicWriteReplacesWholeFileAndLeavesNoTemp) {
  testing::TempDir dir;
  std::string path = dir.File("model.bin");
  std::string a = "first version";
  std::string b = "second";
  WriteFileAtomically(path, std::as_bytes(std::span(a.data(), a.size())), ExitCode::kData);
  WriteFileAtomically(path, std::as_bytes(std::span(b.data(), b.size())), ExitCode::kData);
  auto got = ReadWholeFile(path, ExitCode::kData);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(got.data()), got.size()), b);
  int files = 0;
  for (auto& e : std::filesystem::directory_iterator(dir.path())) {
    (void)e;
    ++files;
  }
  EXPECT_EQ(files, 1);
}

TEST(FileUtil, WriteIntoMissingDirectoryNamesThePath) {
  std::string b = "x";
  try {
    WriteFileAtomically("/nonexistent-dir-ringtrain/m.bin", std::as_bytes(std::span(b.data(), 1)),
                        ExitCode::kCheckpoint);
    FAIL() << "expected an error";
  } catch (const Error& e) {
    EXPECT_EQ(e.code(), ExitCode::kCheckpoint);
    EXPECT_NE(std::string(e.what()).find("/nonexistent-dir-ringtrain"), std::string::npos);
  }
}

TEST(Ring, MemberJsonRoundTripAndMalformedPayload) {
  Member m{"", "127.0.0.1", 4711, 2, 99, RandomHexId()};
  Member back = MemberFromJson(MemberToJson(m), "/ringtrain/j/members/x");
  EXPECT_EQ(back, m);
  EXPECT_THROW(MemberFromJson("{not json", "/ringtrain/j/members/x"), RendezvousError);
  EXPECT_EQ(RandomHexId().size(), 32u);
  EXPECT_NE(RandomHexId(), RandomHexId());
}

}  // namespace
}  // namespace ringtrain
