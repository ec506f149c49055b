// tests/reliability/hostile_test.cc — a second ZooKeeper client without the job's credentials
// (the job is open: no --zk-auth) forges checkpoint records and `latest`, pointing at files
// outside the checkpoint directory, at another job's checkpoint, at a symlink, through "..",
// at a file that is no checkpoint. The owner's `ringtrain checkpoints delete`, its --resume
// and its --keep pruning must leave every one of those files alone (one line each, naming the
// record and the reason), and still remove and use its own checkpoints.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "common/deadline.h"
#include "common/file_util.h"
#include "rendezvous/records.h"
#include "rendezvous/rendezvous.h"
#include "rendezvous/zk_session.h"
#include "support/subprocess.h"
#include "support/zk_server.h"
#include "train/checkpoint.h"

namespace ringtrain {
namespace {

namespace fs = std::filesystem;
using rendezvous::kZOk;
using rendezvous::ZkSession;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::ReadTextFile;
using testing::Subprocess;
using testing::TempDir;

const char* kHeart = "/usr/share/doc/liblinear-tools/examples/heart_scale";

std::string Zk() { return testing::ZkServer::Shared().connect(); }

struct CliRun {
  testing::ExitStatus status;
  std::string out, err;
};

CliRun Ringtrain(const TempDir& dir, const std::string& tag, std::vector<std::string> args) {
  args.insert(args.begin(), RINGTRAIN_BIN);
  Subprocess p(args, {}, dir.File(tag + ".out"), dir.File(tag + ".err"));
  CliRun r;
  r.status = p.Wait(seconds(90));
  r.out = ReadTextFile(dir.File(tag + ".out"));
  r.err = ReadTextFile(dir.File(tag + ".err"));
  return r;
}

std::string Bytes(const std::string& path) {
  auto b = ReadWholeFile(path, ExitCode::kData);
  return {reinterpret_cast<const char*>(b.data()), b.size()};
}

// A valid checkpoint file of `job` at `epoch` in `dir` (as the trainer would write it).
train::WrittenCheckpoint Genuine(const std::string& dir, const std::string& job,
                                 std::int64_t epoch) {
  train::CheckpointFile c;
  c.job = job;
  c.state.model.spec.classes = {-1.0, 1.0};
  c.state.model.spec.num_features = 2;
  c.state.model.weights = {0.5, -0.5};
  c.state.model.epoch = epoch;
  c.metrics_json = "{}";
  return train::WriteCheckpoint(dir, c);
}

struct Forged {
  std::int64_t epoch;
  std::string path, checksum, expect;  // expect: part of the reason printed
};

TEST(Hostile, ForgedCheckpointRecordsNeverMakeTheOwnerReadOrRemoveForeignFiles) {
  TempDir tmp;
  const std::string job = testing::UniqueJobName("hostile-ck");
  const std::string ck = tmp.File("ck"), outside = tmp.File("outside");
  fs::create_directories(outside);
  std::vector<std::string> common = {
      "--zk",         Zk(), "--job",     job,  "--ranks",          "1", "--data",      kHeart,
      "--threads",    "1",  "--timeout", "30", "--checkpoint-dir", ck,  "--optimizer", "sgd",
      "--batch-size", "32"};
  // The owner's first run: epochs 1 and 2 recorded.
  std::vector<std::string> args = {"train"};
  args.insert(args.end(), common.begin(), common.end());
  args.insert(args.end(), {"--epochs", "2", "--checkpoint-every", "1", "--keep", "10"});
  CliRun first = Ringtrain(tmp, "first", args);
  ASSERT_TRUE(first.status.exited && first.status.code == 0) << first.err;

  // Files a hostile record may name. None of them may be removed or changed.
  const std::string victim = tmp.File("victim.txt");
  std::ofstream(victim) << "precious data, not a checkpoint\n";
  const auto outside_ck = Genuine(outside, job, 12);       // this job's, but outside
  const auto other_ck = Genuine(outside, job + "-b", 13);  // another job's
  const std::string stolen = train::CheckpointPath(fs::canonical(ck).string(), job, 13);
  fs::copy_file(other_ck.path, stolen);  // ... renamed to ours, in our dir
  const std::string link = train::CheckpointPath(fs::canonical(ck).string(), job, 14);
  fs::create_symlink(outside_ck.path, link);  // a symlink in our dir leading out
  const std::string vbytes = Bytes(victim);
  std::map<std::string, std::string> before;
  for (const auto& p : {victim, outside_ck.path, other_ck.path, stolen}) before[p] = Bytes(p);

  const std::vector<Forged> forged = {
      // The old exploit: any file, "checksum" = its last 4 bytes.
      {11, victim, "crc32:0a0a0a0a", "its name is not"},
      {12, outside_ck.path, outside_ck.checksum, "not inside the checkpoint directory"},
      {13, stolen, other_ck.checksum, "another job"},
      {14, link, outside_ck.checksum, "symbolic link"},
      {16, ck + "/../outside/" + fs::path(outside_ck.path).filename().string(), outside_ck.checksum,
       "'..'"},
  };
  // The hostile client: anonymous, writes records and moves `latest` to the newest forgery.
  auto eve = ZkSession::Connect(Zk(), "", milliseconds(4000), Deadline::After(seconds(10)));
  const auto paths = rendezvous::JobPaths::For("/ringtrain", job);
  for (const auto& f : forged) {
    rendezvous::CheckpointRecord r;
    r.epoch = f.epoch;
    r.path = f.path;
    r.checksum = f.checksum;
    r.world_size = 1;
    ASSERT_EQ(
        eve.Create(paths.checkpoints + "/" + rendezvous::EpochNodeName(f.epoch),
                   rendezvous::EncodeCheckpoint(r), rendezvous::CreateMode::kPersistent, nullptr),
        kZOk);
  }
  ASSERT_EQ(eve.Set(paths.latest, rendezvous::EncodeLatest(16), -1), kZOk);

  // 1. `checkpoints delete` of each forged record: the record goes, the file stays, one line
  //    says why (with --checkpoint-dir for one, without for the other).
  for (const auto& f : forged) {
    std::vector<std::string> del = {"checkpoints",          "--zk", Zk(), "--job", job, "delete",
                                    std::to_string(f.epoch)};
    // Without --checkpoint-dir the file's own (real) directory is the only bound: epoch 12's
    // file, this job's genuine checkpoint elsewhere, is refused by naming the directory.
    if (f.epoch % 2 == 0) del.insert(del.end(), {"--checkpoint-dir", ck});
    CliRun d = Ringtrain(tmp, "del" + std::to_string(f.epoch), del);
    ASSERT_TRUE(d.status.exited && d.status.code == 0) << d.status.Describe() << d.err;
    EXPECT_NE(d.out.find("its file " + f.path + " was left in place: "), std::string::npos)
        << d.out;
    EXPECT_NE(d.out.find(f.expect), std::string::npos) << f.epoch << ": " << d.out;
    EXPECT_EQ(d.err, "") << d.err;
  }
  for (const auto& [p, b] : before) EXPECT_EQ(Bytes(p), b) << p << " was changed";
  EXPECT_TRUE(fs::is_symlink(link));

  // 2. Forge them again; --resume follows `latest` to the forgeries: each is skipped (one WARN
  //    naming the record), the run resumes from the genuine epoch 2; its --keep 1 pruning
  //    removes its own older files and leaves every forged one alone. A forged record newer
  //    than the run's checkpoint never makes it prune its own newest file.
  for (const auto& f : forged) {
    rendezvous::CheckpointRecord r;
    r.epoch = f.epoch;
    r.path = f.path;
    r.checksum = f.checksum;
    ASSERT_EQ(
        eve.Create(paths.checkpoints + "/" + rendezvous::EpochNodeName(f.epoch),
                   rendezvous::EncodeCheckpoint(r), rendezvous::CreateMode::kPersistent, nullptr),
        kZOk);
  }
  ASSERT_EQ(eve.Set(paths.latest, rendezvous::EncodeLatest(16), -1), kZOk);
  args = {"train"};
  args.insert(args.end(), common.begin(), common.end());
  args.insert(args.end(), {"--epochs", "20", "--checkpoint-every", "5", "--keep", "1", "--resume"});
  CliRun second = Ringtrain(tmp, "second", args);
  ASSERT_TRUE(second.status.exited && second.status.code == 0) << second.err;
  EXPECT_NE(second.err.find("resuming job " + job + " from epoch 2"), std::string::npos)
      << second.err;
  for (const auto& f : forged) {
    EXPECT_NE(second.err.find("skipping checkpoint " + f.path), std::string::npos) << second.err;
    EXPECT_NE(second.err.find("left checkpoint file " + f.path + " alone (pruned record of epoch " +
                              std::to_string(f.epoch) + ")"),
              std::string::npos)
        << second.err;
  }
  for (const auto& [p, b] : before) EXPECT_EQ(Bytes(p), b) << p << " was changed";
  EXPECT_TRUE(fs::is_symlink(link));
  EXPECT_EQ(Bytes(victim), vbytes);
  // Its own files were pruned (and said so), the newest is kept.
  const std::string real_ck = fs::canonical(ck).string();
  for (int e : {1, 2, 5, 10, 15}) {
    const std::string p = train::CheckpointPath(real_ck, job, e);
    EXPECT_FALSE(fs::exists(p)) << p;
    EXPECT_NE(second.err.find("removed checkpoint file " + p), std::string::npos) << second.err;
  }
  EXPECT_TRUE(fs::exists(train::CheckpointPath(real_ck, job, 20)));
}

}  // namespace
}  // namespace ringtrain
