// tests/reliability/security_test.cc — issue 7 item 3 beyond what tests/rendezvous and
// tests/allreduce cover. (1) With --zk-auth, a client without credentials (anonymous, or a
// wrong password) can read none of the job's znodes (job record with the token, ring, members,
// latest), cannot list its members, cannot inject a member, and cannot delete or overwrite
// anything. (2) A real 2-rank `ringtrain train --zk-auth` run, `status` and `status --json`
// print neither the password nor the job token anywhere (stdout, stderr, metrics).
#include <gtest/gtest.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "common/deadline.h"
#include "common/error.h"
#include "rendezvous/records.h"
#include "rendezvous/rendezvous.h"
#include "rendezvous/zk_session.h"
#include "support/subprocess.h"
#include "support/zk_server.h"

namespace ringtrain {
namespace {

using rendezvous::kZNoAuth;
using rendezvous::kZOk;
using rendezvous::ZkSession;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::ReadTextFile;
using testing::Subprocess;
using testing::TempDir;

const char* kHeart = "/usr/share/doc/liblinear-tools/examples/heart_scale";
const std::string kPassword = "Pw-7f3c9a1e-secret";

std::string Zk() { return testing::ZkServer::Shared().connect(); }

struct OwnedJob {
  std::string job;
  std::unique_ptr<rendezvous::Rendezvous> owner;
  rendezvous::JobPaths paths;
  std::string member;
};

OwnedJob JoinAsOwner(const std::string& job) {
  rendezvous::Options o;
  o.zk_hosts = Zk();
  o.job = job;
  o.auth = "alice:" + kPassword;
  o.ranks = 1;
  o.session_timeout = milliseconds(4000);
  o.timeout = milliseconds(30000);
  o.config_text = "x = 1\n";
  o.self.host = "127.0.0.1";
  o.self.port = 1;
  OwnedJob j;
  j.job = job;
  j.owner = rendezvous::Rendezvous::Join(o);
  j.owner->WaitForRing(Deadline::After(seconds(20)));
  j.paths = rendezvous::JobPaths::For("/ringtrain", job);
  j.member = j.paths.members + "/" + j.owner->member_name();
  return j;
}

void ExpectLockedOut(ZkSession& s, const OwnedJob& j, const std::string& who) {
  std::string data;
  for (const std::string& p : {j.paths.job, j.paths.ring, j.paths.members, j.member}) {
    data.clear();
    EXPECT_EQ(s.Get(p, &data, nullptr, false), kZNoAuth) << who << " read " << p;
    EXPECT_EQ(data.find(j.owner->job_token()), std::string::npos) << who << " saw the token";
  }
  std::vector<std::string> children;
  EXPECT_EQ(s.Children(j.paths.members, &children, false), kZNoAuth) << who << " listed members";
  EXPECT_EQ(s.Children(j.paths.job, &children, false), kZNoAuth) << who << " listed the job";
  EXPECT_EQ(s.Create(j.paths.members + "/_c_intruder-m-", "{}",
                     rendezvous::CreateMode::kEphemeralSequential, nullptr),
            kZNoAuth)
      << who << " injected a member";
  EXPECT_EQ(s.Create(j.paths.checkpoints + "/epoch-0000000001", "{}",
                     rendezvous::CreateMode::kPersistent, nullptr),
            kZNoAuth)
      << who << " forged a checkpoint record";
  EXPECT_EQ(s.Set(j.paths.members, "x", -1), kZNoAuth) << who;
  EXPECT_EQ(s.Delete(j.member, -1), kZNoAuth) << who << " deleted a member";
  EXPECT_EQ(s.Delete(j.paths.ring, -1), kZNoAuth) << who << " deleted the ring";
  EXPECT_NE(s.Delete(j.paths.job, -1), kZOk) << who << " deleted the job";
}

TEST(Security, ClientsWithoutTheCredentialsCanReadOrChangeNothingOfTheJob) {
  OwnedJob j = JoinAsOwner(testing::UniqueJobName("sec-acl"));
  auto anon = ZkSession::Connect(Zk(), "", milliseconds(4000), Deadline::After(seconds(10)));
  ExpectLockedOut(anon, j, "anonymous");
  auto eve = ZkSession::Connect(Zk(), "alice:wrong-" + kPassword, milliseconds(4000),
                                Deadline::After(seconds(10)));
  ExpectLockedOut(eve, j, "wrong password");
  // And a status reader without credentials gets an error, not the data.
  EXPECT_THROW(
      rendezvous::ReadJobStatus(Zk(), "/ringtrain", j.job, "", Deadline::After(seconds(10))),
      RendezvousError);
  // Everything is intact for the owner.
  auto alice = ZkSession::Connect(Zk(), "alice:" + kPassword, milliseconds(4000),
                                  Deadline::After(seconds(10)));
  std::string data;
  ASSERT_EQ(alice.Get(j.paths.job, &data, nullptr, false), kZOk);
  EXPECT_NE(data.find(j.owner->job_token()), std::string::npos);
  EXPECT_FALSE(j.owner->RingLost());
}

TEST(Security, NoSecretInLogsStatusOrMetrics) {
  TempDir dir;
  const std::string job = testing::UniqueJobName("sec-logs");
  std::vector<Subprocess> ranks;
  std::vector<std::string> files;
  for (int r = 0; r < 2; ++r) {
    const std::string tag = dir.File("r" + std::to_string(r));
    ranks.emplace_back(
        std::vector<std::string>{RINGTRAIN_BIN, "--log-level", "debug",     "train",
                                 "--zk",        Zk(),          "--job",     job,
                                 "--ranks",     "2",           "--zk-auth", "alice:" + kPassword,
                                 "--data",      kHeart,        "--epochs",  "5",
                                 "--timeout",   "60",          "--threads", "1",
                                 "--metrics",   tag + ".jsonl"},
        std::map<std::string, std::string>{}, tag + ".out", tag + ".err");
    for (const char* ext : {".out", ".err", ".jsonl"}) files.push_back(tag + ext);
  }
  for (auto& p : ranks) {
    auto st = p.Wait(seconds(90));
    ASSERT_TRUE(st.exited && st.code == 0) << st.Describe() << ReadTextFile(files[1]);
  }
  // The job token, read as the owner.
  auto alice = ZkSession::Connect(Zk(), "alice:" + kPassword, milliseconds(4000),
                                  Deadline::After(seconds(10)));
  std::string record;
  const auto paths = rendezvous::JobPaths::For("/ringtrain", job);
  ASSERT_EQ(alice.Get(paths.job, &record, nullptr, false), kZOk);
  const std::string token = rendezvous::DecodeJob(record, paths.job).token;
  ASSERT_GE(token.size(), 16u);
  for (const std::vector<std::string>& extra :
       {std::vector<std::string>{}, std::vector<std::string>{"--json"}}) {
    std::vector<std::string> argv = {RINGTRAIN_BIN, "status", "--zk",      Zk(),
                                     "--job",       job,      "--zk-auth", "alice:" + kPassword};
    argv.insert(argv.end(), extra.begin(), extra.end());
    const std::string tag = dir.File("status" + std::to_string(extra.size()));
    Subprocess s(argv, {}, tag + ".out", tag + ".err");
    auto st = s.Wait(seconds(30));
    ASSERT_TRUE(st.exited && st.code == 0) << st.Describe() << ReadTextFile(tag + ".err");
    ASSERT_NE(ReadTextFile(tag + ".out").find(job), std::string::npos) << "status shows the job";
    files.push_back(tag + ".out");
    files.push_back(tag + ".err");
  }
  for (const auto& f : files) {
    const std::string text = ReadTextFile(f);
    EXPECT_EQ(text.find(kPassword), std::string::npos) << "the password is printed in " << f;
    EXPECT_EQ(text.find(token), std::string::npos) << "the job token is printed in " << f;
  }
}

}  // namespace
}  // namespace ringtrain
