// tests/checkpoint/checkpoint_file_test.cc — the checkpoint file format (round trip bit-exact,
// every corruption detected), directory listing/pruning, choosing the file to resume from,
// the shape check, and sharing the newest in-memory checkpoint over a real TCP ring.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <mutex>
#include <thread>

#include "common/checksum.h"
#include "common/error.h"
#include "common/file_util.h"
#include "support/subprocess.h"
#include "train/checkpoint.h"
#include "train/checkpoint_writer.h"
#include "train/ring_threads.h"

namespace ringtrain::train {
namespace {

namespace fs = std::filesystem;

CheckpointFile Sample(std::int64_t epoch, const TrainOptions& o = {}) {
  CheckpointFile c;
  c.job = "job-a";
  c.options_hash = OptionsHash(o);
  c.options_text = CanonicalText(o);
  c.generation = 7;
  c.world_size = 3;
  c.state.model.spec.classes = {-1.0, 1.0};
  c.state.model.spec.num_features = 4;
  c.state.model.spec.bias = true;
  c.state.model.weights = {0.1, -2.5e-300, std::numeric_limits<double>::denorm_min(), 3.0, -0.0};
  c.state.model.epoch = epoch;
  c.state.optimizer_state = {1.0 / 3.0, std::nan(""), -1e308, 42};
  c.metrics_json = R"({"epoch":)" + std::to_string(epoch) + "}";
  return c;
}

std::vector<std::uint64_t> Bits(const std::vector<double>& v) {
  std::vector<std::uint64_t> out(v.size());
  std::memcpy(out.data(), v.data(), v.size() * sizeof(double));
  return out;
}

TEST(CheckpointFile, RoundTripIsBitExact) {
  auto c = Sample(12);
  auto bytes = EncodeCheckpoint(c);
  auto d = DecodeCheckpoint(bytes, "mem");
  EXPECT_EQ(d.job, c.job);
  EXPECT_EQ(d.options_hash, c.options_hash);
  EXPECT_EQ(d.options_text, c.options_text);
  EXPECT_EQ(d.generation, 7);
  EXPECT_EQ(d.world_size, 3);
  EXPECT_EQ(d.epoch(), 12);
  EXPECT_EQ(Bits(d.state.model.weights), Bits(c.state.model.weights));
  EXPECT_EQ(Bits(d.state.optimizer_state), Bits(c.state.optimizer_state));
  EXPECT_EQ(d.state.model.spec.classes, c.state.model.spec.classes);
  EXPECT_TRUE(d.state.model.spec.bias);
  EXPECT_EQ(d.metrics_json, c.metrics_json);
  EXPECT_EQ(EncodeCheckpoint(d), bytes);
}

TEST(CheckpointFile, EveryFlippedByteIsDetected) {
  auto bytes = EncodeCheckpoint(Sample(3));
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    auto bad = bytes;
    bad[i] ^= std::byte{0x40};
    EXPECT_THROW(DecodeCheckpoint(bad, "mem"), CheckpointError) << "byte " << i;
  }
}

// The streaming check of a file named by a record sees every flipped byte too.
TEST(CheckpointFileVerify, EveryFlippedByteIsDetected) {
  ringtrain::testing::TempDir dir;
  const auto w = WriteCheckpoint(dir.path(), Sample(3));
  const auto bytes = ReadWholeFile(w.path, ExitCode::kCheckpoint);
  ASSERT_EQ(VerifyCheckpointFile(dir.path(), "job-a", {w.path, 3, w.checksum, ""}), "");
  for (std::size_t i = 0; i < bytes.size(); ++i) {
    auto bad = bytes;
    bad[i] ^= std::byte{0x40};
    WriteFileAtomically(w.path, bad, ExitCode::kCheckpoint);
    EXPECT_NE(VerifyCheckpointFile(dir.path(), "job-a", {w.path, 3, "", ""}), "") << "byte " << i;
  }
}

TEST(CheckpointFile, TruncationAndGarbageAreCheckpointErrors) {
  auto bytes = EncodeCheckpoint(Sample(3));
  for (std::size_t n : {std::size_t{0}, std::size_t{5}, std::size_t{16}, bytes.size() - 1}) {
    std::vector<std::byte> cut(bytes.begin(), bytes.begin() + static_cast<std::ptrdiff_t>(n));
    try {
      DecodeCheckpoint(cut, "/x/f.ckpt");
      FAIL() << "accepted " << n << " bytes";
    } catch (const CheckpointError& e) {
      EXPECT_EQ(e.where(), "/x/f.ckpt");
      EXPECT_EQ(e.code(), ExitCode::kCheckpoint);
    }
  }
}

TEST(CheckpointFile, WriteListPruneAndChecksum) {
  ringtrain::testing::TempDir dir;
  const std::string d = dir.path() + "/sub/dir";  // created on demand
  for (std::int64_t e : {2, 4, 6, 8}) {
    auto w = WriteCheckpoint(d, Sample(e));
    EXPECT_EQ(w.path, CheckpointPath(fs::canonical(d).string(), "job-a", e));
    EXPECT_EQ(w.bytes, static_cast<std::int64_t>(fs::file_size(w.path)));
    EXPECT_EQ(w.checksum.rfind("crc32:", 0), 0u);
  }
  // Different epochs have different recorded checksums (not the CRC residue).
  EXPECT_NE(WriteCheckpoint(d, Sample(8)).checksum, WriteCheckpoint(d, Sample(6)).checksum);
  WriteCheckpoint(d, [] {
    auto c = Sample(9);
    c.job = "job-b";
    return c;
  }());
  std::ofstream(d + "/job-a-epoch-12.ckpt") << "not ours";
  auto files = ListCheckpointFiles(d, "job-a");
  ASSERT_EQ(files.size(), 4u);
  EXPECT_EQ(files[0].first, 8);
  EXPECT_EQ(files[3].first, 2);
  PruneCheckpointFiles(d, "job-a", 2);
  files = ListCheckpointFiles(d, "job-a");
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[1].first, 6);
  EXPECT_EQ(ListCheckpointFiles(d, "job-b").size(), 1u);
  EXPECT_EQ(ReadCheckpoint(files[0].second).epoch(), 8);
  EXPECT_TRUE(ListCheckpointFiles(dir.path() + "/none", "job-a").empty());
}

TEST(CheckpointFile, LoadFirstValidFallsBackAndNamesEveryPathTried) {
  ringtrain::testing::TempDir dir;
  TrainOptions o;
  auto p4 = WriteCheckpoint(dir.path(), Sample(4, o)).path;
  auto p6 = WriteCheckpoint(dir.path(), Sample(6, o)).path;
  // Corrupt the newest: one byte in the middle.
  auto bytes = ReadWholeFile(p6, ExitCode::kCheckpoint);
  bytes[bytes.size() / 2] ^= std::byte{1};
  WriteFileAtomically(p6, bytes, ExitCode::kCheckpoint);
  const std::string missing = dir.path() + "/job-a-epoch-0000000008.ckpt";
  auto got = LoadFirstValid(dir.path(), "job-a",
                            {{missing, 8, "", ""}, {p6, 6, "", ""}, {p4, 4, "", ""}}, o);
  EXPECT_EQ(got.path, p4);
  EXPECT_EQ(got.file.epoch(), 4);
  try {
    LoadFirstValid(dir.path(), "job-a", {{missing, 8, "", ""}, {p6, 6, "", ""}}, o);
    FAIL() << "accepted no valid checkpoint";
  } catch (const CheckpointError& e) {
    EXPECT_NE(e.what_happened().find(missing), std::string::npos) << e.what_happened();
    EXPECT_NE(e.what_happened().find(p6), std::string::npos) << e.what_happened();
  }
}

TEST(CheckpointFile, AnotherJobsCheckpointIsNeverResumedFrom) {
  ringtrain::testing::TempDir dir;
  TrainOptions o;
  auto c = Sample(4, o);
  auto p = WriteCheckpoint(dir.path(), c).path;
  o.job = c.job;
  EXPECT_EQ(LoadFirstValid(dir.path(), c.job, {{p, 4, "", ""}}, o).file.epoch(), 4);
  // Another job's file under this job's name (copied or renamed) is never read.
  o.job = c.job + "-other";
  const std::string renamed = CheckpointPath(dir.path(), o.job, 4);
  fs::copy_file(p, renamed);
  try {
    LoadFirstValid(dir.path(), o.job, {{renamed, 4, "", ""}}, o);
    FAIL() << "resumed from another job's checkpoint";
  } catch (const CheckpointError& e) {
    EXPECT_NE(e.what_happened().find(renamed), std::string::npos) << e.what_happened();
  }
}

// Files named by a forged record are left alone (and say why in one line); only the recorded
// checkpoint of this job inside its directory is read or removed.
TEST(CheckpointFileVerify, OnlyThisJobsRecordedFileInsideTheDirectoryIsTouched) {
  ringtrain::testing::TempDir tmp;
  const std::string dir = tmp.path() + "/ck", outside = tmp.path() + "/outside";
  fs::create_directories(outside);
  const auto w2 = WriteCheckpoint(dir, Sample(2));
  const auto w4 = WriteCheckpoint(dir, Sample(4));
  // A valid checkpoint of the same job, but outside the directory.
  const auto out4 = WriteCheckpoint(outside, Sample(4));
  auto size_of = [](const std::string& p) { return fs::file_size(p); };
  const auto out4_size = size_of(out4.path);
  struct Case {
    std::string what, path;
    std::int64_t epoch;
    std::string checksum, reason;
  };
  const std::string name4 = fs::path(w4.path).filename().string();
  // A symlink named like the epoch-6 file, pointing at the valid file outside.
  const std::string link6 = dir + "/job-a-epoch-0000000006.ckpt";
  fs::create_symlink(out4.path, link6);
  // A symlinked directory inside the checkpoint dir leading out.
  fs::create_directory_symlink(outside, dir + "/sub");
  // A file that is not a checkpoint, named like one.
  const std::string junk = dir + "/job-a-epoch-0000000007.ckpt";
  std::ofstream(junk) << "root:x:0:0:root:/root:/bin/bash\n";
  // Another job's checkpoint renamed to ours.
  auto other = Sample(8);
  other.job = "job-b";
  const auto wb = WriteCheckpoint(outside, other);
  const std::string stolen = dir + "/job-a-epoch-0000000008.ckpt";
  fs::copy_file(wb.path, stolen);
  // The epoch-4 file copied to the epoch-9 name.
  const std::string wrong_epoch = dir + "/job-a-epoch-0000000009.ckpt";
  fs::copy_file(w4.path, wrong_epoch);
  // A FIFO named like a checkpoint (opening it must not hang).
  const std::string fifo = dir + "/job-a-epoch-0000000010.ckpt";
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  // Version 99 (this build reads 1-2): the version field changed and the CRC fixed up.
  auto v2 = ReadWholeFile(w2.path, ExitCode::kCheckpoint);
  v2[8] = std::byte{99};
  const std::uint32_t crc = Crc32(std::span<const std::byte>(v2).first(v2.size() - 4));
  for (int i = 0; i < 4; ++i)
    v2[v2.size() - 4 + static_cast<std::size_t>(i)] =
        static_cast<std::byte>((crc >> (8 * i)) & 0xFF);
  const std::string v2_path = dir + "/job-a-epoch-0000000011.ckpt";
  WriteFileAtomically(v2_path, v2, ExitCode::kCheckpoint);
  const std::vector<Case> cases = {
      {"outside the directory", out4.path, 4, out4.checksum, "not inside the checkpoint directory"},
      {"'..' back out", dir + "/../outside/" + name4, 4, out4.checksum, "'..'"},
      {"a symlink", link6, 6, "", "symbolic link"},
      {"through a symlinked directory", dir + "/sub/" + name4, 4, out4.checksum,
       "not inside the checkpoint directory"},
      {"not a checkpoint", junk, 7, "", "bad magic"},
      {"another job's", stolen, 8, wb.checksum, "another job"},
      {"another epoch's", wrong_epoch, 9, w4.checksum, "holds epoch 4, not 9"},
      {"a FIFO", fifo, 10, "", "not a regular file"},
      {"version 99", v2_path, 11, "", "format version is 99"},
      {"another name", "/etc/passwd", 4, "", "its name is not job-a-epoch-0000000004.ckpt"},
      {"not the recorded file", w4.path, 4, w2.checksum, "not the recorded file"},
  };
  for (const auto& c : cases) {
    const CheckpointCandidate cand{c.path, c.epoch, c.checksum, "record epoch-x"};
    const std::string reason = VerifyCheckpointFile(dir, "job-a", cand);
    EXPECT_NE(reason.find(c.reason), std::string::npos) << c.what << ": '" << reason << "'";
    auto r = RemoveCheckpointFile(dir, "job-a", cand);
    EXPECT_FALSE(r.removed) << c.what;
    EXPECT_NE(r.line.find(c.path), std::string::npos) << r.line;
    EXPECT_NE(r.line.find("record epoch-x"), std::string::npos) << r.line;
    EXPECT_EQ(r.line.find('\n'), std::string::npos) << r.line;
    EXPECT_THROW(ReadVerifiedCheckpoint(dir, "job-a", cand), CheckpointError) << c.what;
  }
  // Nothing outside (and nothing inside) was removed or changed.
  EXPECT_EQ(size_of(out4.path), out4_size);
  EXPECT_TRUE(fs::exists(wb.path));
  EXPECT_TRUE(fs::is_symlink(link6));
  for (const auto& p : {w2.path, w4.path, junk, stolen, wrong_epoch, fifo, v2_path})
    EXPECT_TRUE(fs::exists(fs::symlink_status(p))) << p;
  // A corrupted byte is found by the CRC computed over the content.
  auto bytes = ReadWholeFile(w2.path, ExitCode::kCheckpoint);
  bytes[bytes.size() / 2] ^= std::byte{4};
  const std::string dir2 = tmp.path() + "/ck2";
  fs::create_directories(dir2);
  const std::string bad = CheckpointPath(dir2, "job-a", 2);
  WriteFileAtomically(bad, bytes, ExitCode::kCheckpoint);
  EXPECT_NE(VerifyCheckpointFile(dir2, "job-a", {bad, 2, "", ""}).find("CRC-32"),
            std::string::npos);
  // The recorded file itself: verified, read, removed (and said so).
  const CheckpointCandidate ok{w4.path, 4, w4.checksum, "record epoch-0000000004"};
  EXPECT_EQ(VerifyCheckpointFile(dir, "job-a", ok), "");
  EXPECT_EQ(ReadVerifiedCheckpoint(dir, "job-a", ok).epoch(), 4);
  EXPECT_EQ(VerifyCheckpointFile("", "job-a", ok), "");  // its own, real, directory
  auto r = RemoveCheckpointFile(dir, "job-a", ok);
  EXPECT_TRUE(r.removed) << r.line;
  EXPECT_EQ(r.line, "removed checkpoint file " + w4.path + " (record epoch-0000000004)");
  EXPECT_FALSE(fs::exists(w4.path));
  auto gone = RemoveCheckpointFile(dir, "job-a", ok);
  EXPECT_TRUE(gone.missing);
  // Without a directory to compare with, a recorded directory through a symlink is refused.
  fs::create_directory_symlink(dir, tmp.path() + "/alias");
  EXPECT_NE(VerifyCheckpointFile("", "job-a",
                                 {tmp.path() + "/alias/" + fs::path(w2.path).filename().string(), 2,
                                  w2.checksum, ""})
                .find("symbolic link"),
            std::string::npos);
  // Standalone pruning removes only verified files of the job: the junk, the FIFO and the
  // symlink stay.
  PruneCheckpointFiles(dir, "job-a", 0);
  EXPECT_FALSE(fs::exists(w2.path));
  EXPECT_TRUE(fs::exists(junk));
  EXPECT_TRUE(fs::is_symlink(link6));
  EXPECT_TRUE(fs::exists(out4.path));
}

TEST(CheckpointFile, ShapeKeysMustMatchRunKeysMayChange) {
  TrainOptions o;
  auto c = Sample(5, o);
  TrainOptions run = o;
  run.epochs = 999;
  run.checkpoint_every = 3;
  run.ranks = 7;
  EXPECT_NO_THROW(CheckResumable(c, run, "f"));
  TrainOptions shape = o;
  shape.c = 2.0;
  shape.optimizer = "sgd";
  try {
    CheckResumable(c, shape, "/d/f.ckpt");
    FAIL() << "accepted a different C";
  } catch (const UsageError& e) {
    EXPECT_NE(e.what_happened().find("C ("), std::string::npos) << e.what_happened();
    EXPECT_NE(e.what_happened().find("optimizer"), std::string::npos) << e.what_happened();
    EXPECT_EQ(e.where(), "/d/f.ckpt");
  }
}

TEST(CheckpointWriter, WritesEveryKEpochsPrunesAndHoldsTheLast) {
  ringtrain::testing::TempDir dir;
  TrainOptions o;
  o.checkpoint_dir = dir.path();
  o.checkpoint_every = 2;
  o.keep = 2;
  std::vector<std::int64_t> recorded, written_before_record;
  CheckpointSink sink;
  sink.after_write = [&](const WrittenCheckpoint& w, const CheckpointFile& c) {
    EXPECT_TRUE(fs::exists(w.path));  // durable before the record
    written_before_record.push_back(c.epoch());
  };
  sink.record = [&](const WrittenCheckpoint& w, const CheckpointFile& c) {
    EXPECT_EQ(ReadCheckpoint(w.path).epoch(), c.epoch());
    recorded.push_back(c.epoch());
  };
  Checkpointer ck(o, "job-w", false, sink);
  ck.SetRing(0, 2, 5);
  for (std::int64_t e = 1; e <= 7; ++e) {
    auto c = Sample(e, o);
    EpochMetrics m;
    m.epoch = e;
    ck.AfterEpoch(c.state, m);
  }
  ck.Drain(Deadline::AfterSeconds(30));
  EXPECT_EQ(recorded, (std::vector<std::int64_t>{2, 4, 6}));
  EXPECT_EQ(written_before_record, recorded);
  auto files = ListCheckpointFiles(dir.path(), "job-w");
  ASSERT_EQ(files.size(), 2u);  // no prune sink: the directory is pruned to --keep
  EXPECT_EQ(files[0].first, 6);
  ASSERT_TRUE(ck.held().has_value());
  EXPECT_EQ(ck.held()->epoch(), 6);
  EXPECT_EQ(ck.held()->generation, 5);
  EXPECT_EQ(ck.stats().written, 3);
  // A non-leader holds the same state but writes nothing.
  ringtrain::testing::TempDir other;
  o.checkpoint_dir = other.path();
  Checkpointer follower(o, "job-w", false, {});
  follower.SetRing(1, 2, 5);
  follower.AfterEpoch(Sample(2, o).state, EpochMetrics{});
  EXPECT_EQ(follower.held()->epoch(), 2);
  EXPECT_TRUE(ListCheckpointFiles(other.path(), "job-w").empty());
}

// A sink whose record blocks on epoch `block` until Release() (deadline 30 s), and tells
// when that record has started.
struct BlockingSink {
  std::mutex mu;
  std::condition_variable cv;
  bool started = false, released = false;
  std::vector<std::int64_t> recorded;
  CheckpointSink Make(std::int64_t block) {
    CheckpointSink sink;
    sink.record = [this, block](const WrittenCheckpoint& w, const CheckpointFile& c) {
      EXPECT_TRUE(fs::exists(w.path));
      std::unique_lock<std::mutex> lock(mu);
      recorded.push_back(c.epoch());
      if (c.epoch() != block) return;
      started = true;
      cv.notify_all();
      cv.wait_for(lock, std::chrono::seconds(30), [this] { return released; });
    };
    return sink;
  }
  void WaitStarted() {
    std::unique_lock<std::mutex> lock(mu);
    ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(30), [this] { return started; }));
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu);
    released = true;
    cv.notify_all();
  }
  std::vector<std::int64_t> Recorded() {
    std::lock_guard<std::mutex> lock(mu);
    return recorded;
  }
};

// The writer is stuck recording epoch 1: epoch 2 is queued, epoch 3 waits up to
// supersede_after and then supersedes it, 4 and 5 supersede at once. Only 1 and 5 are
// written and recorded, in order; the training thread was never blocked for good.
TEST(CheckpointWriter, AStuckWriterGetsItsQueuedCheckpointSuperseded) {
  ringtrain::testing::TempDir dir;
  TrainOptions o;
  o.checkpoint_dir = dir.path();
  o.checkpoint_every = 1;
  o.keep = 100;
  BlockingSink blocking;
  Checkpointer ck(o, "job-s", false, blocking.Make(1), std::chrono::milliseconds(200));
  ck.SetRing(0, 1, 1);
  ck.AfterEpoch(Sample(1, o).state, EpochMetrics{});
  blocking.WaitStarted();
  for (std::int64_t e = 2; e <= 5; ++e) ck.AfterEpoch(Sample(e, o).state, EpochMetrics{});
  EXPECT_EQ(ck.stats().superseded, 3);
  EXPECT_EQ(ck.held()->epoch(), 5);
  blocking.Release();
  ck.Drain(Deadline::AfterSeconds(30));
  EXPECT_EQ(blocking.Recorded(), (std::vector<std::int64_t>{1, 5}));
  auto files = ListCheckpointFiles(dir.path(), "job-s");
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].first, 5);
  EXPECT_EQ(files[1].first, 1);
  EXPECT_EQ(ck.stats().written, 2);
}

// Drain gives up at its deadline with a CheckpointError naming the epoch in flight, and
// succeeds once the writer is done.
TEST(CheckpointWriter, DrainHasADeadline) {
  ringtrain::testing::TempDir dir;
  TrainOptions o;
  o.checkpoint_dir = dir.path();
  o.checkpoint_every = 1;
  BlockingSink blocking;
  Checkpointer ck(o, "job-d", false, blocking.Make(3));
  ck.SetRing(0, 1, 1);
  ck.AfterEpoch(Sample(3, o).state, EpochMetrics{});
  blocking.WaitStarted();
  try {
    ck.Drain(Deadline::After(std::chrono::milliseconds(100)));
    FAIL() << "Drain returned while the writer was blocked";
  } catch (const CheckpointError& e) {
    EXPECT_NE(e.what_happened().find("epoch 3"), std::string::npos) << e.what();
  }
  blocking.Release();
  ck.Drain(Deadline::AfterSeconds(30));
  EXPECT_EQ(blocking.Recorded(), (std::vector<std::int64_t>{3}));
}

// A record failing on the writer thread (a fenced-out leader) comes back with its own type at
// a later epoch boundary; nothing after it is recorded. Drain reports it too.
TEST(CheckpointWriter, AWriterFailureIsRethrownWithItsTypeOnTheTrainingThread) {
  ringtrain::testing::TempDir dir;
  TrainOptions o;
  o.checkpoint_dir = dir.path();
  o.checkpoint_every = 1;
  std::mutex mu;
  std::vector<std::int64_t> recorded;
  CheckpointSink sink;
  sink.record = [&](const WrittenCheckpoint&, const CheckpointFile& c) {
    std::lock_guard<std::mutex> lock(mu);
    recorded.push_back(c.epoch());
    if (c.epoch() == 1) throw RendezvousError("fenced out", "/ringtrain/j/ring", "wait");
  };
  Checkpointer ck(o, "job-f", false, sink);
  ck.SetRing(0, 1, 1);
  bool thrown = false;
  const auto deadline = Deadline::AfterSeconds(30);
  for (std::int64_t e = 1; !thrown && !deadline.Expired(); ++e) {
    try {
      ck.AfterEpoch(Sample(e, o).state, EpochMetrics{});
    } catch (const RendezvousError& err) {
      thrown = true;
      EXPECT_EQ(err.what_happened(), "fenced out");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  EXPECT_TRUE(thrown);
  {
    std::lock_guard<std::mutex> lock(mu);
    EXPECT_EQ(recorded, (std::vector<std::int64_t>{1}));
  }
  ck.Drain(Deadline::AfterSeconds(30));  // reported once: nothing left to rethrow
  Checkpointer again(o, "job-f", false, sink);
  again.SetRing(0, 1, 1);
  again.AfterEpoch(Sample(1, o).state, EpochMetrics{});
  EXPECT_THROW(again.Drain(Deadline::AfterSeconds(30)), RendezvousError);
}

// 3 ranks over real loopback TCP: rank 1 holds epoch 6, rank 2 epoch 4, rank 0 nothing ->
// every rank ends with rank 1's bytes. Nobody holding anything -> nothing.
TEST(ShareNewestCheckpoint, TheNewestHolderBroadcastsToEveryRank) {
  std::vector<std::vector<std::byte>> got(3);
  std::atomic<int> empty{0};
  testing::RunRanks(3, [&](allreduce::Communicator& comm) {
    std::optional<CheckpointFile> mine;
    if (comm.rank() == 1) mine = Sample(6);
    if (comm.rank() == 2) mine = Sample(4);
    auto shared = ShareNewestCheckpoint(comm, mine);
    ASSERT_TRUE(shared.has_value());
    got[static_cast<std::size_t>(comm.rank())] = EncodeCheckpoint(*shared);
    if (!ShareNewestCheckpoint(comm, std::nullopt)) empty.fetch_add(1);
  });
  EXPECT_EQ(got[0], EncodeCheckpoint(Sample(6)));
  EXPECT_EQ(got[1], got[0]);
  EXPECT_EQ(got[2], got[0]);
  EXPECT_EQ(empty.load(), 3);
}

}  // namespace
}  // namespace ringtrain::train
