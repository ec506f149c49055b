// tests/reliability/hostile_acl_test.cc — the ACL model against a hostile neighbour on the same
// real ZooKeeper (issue 12 item 2; docs/rendezvous.md, "ACLs"): a job node pre-created by
// someone else (open ACL, or a foreign identity) is refused with exit 3 naming the node and
// its ACL, never joined; the root lets others create jobs but not delete or re-ACL it or
// anyone's job; a root re-ACLed against ringtrain is one line naming the node and the ACL
// found; a secure job's token cannot be read (nor its ACL) without the credentials; a run
// without --zk-auth says once that the job is open; ACLs changed under a running open job end
// it with one line, not a hang.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "common/deadline.h"
#include "rendezvous/records.h"
#include "rendezvous/zk_session.h"
#include "support/subprocess.h"
#include "support/zk_server.h"

namespace ringtrain {
namespace {

using rendezvous::AclEntry;
using rendezvous::DigestId;
using rendezvous::kZNoAuth;
using rendezvous::kZOk;
using rendezvous::ZkSession;
using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::ReadTextFile;
using testing::Subprocess;
using testing::TempDir;

const char* kHeart = "/usr/share/doc/liblinear-tools/examples/heart_scale";

std::string Zk() { return testing::ZkServer::Shared().connect(); }
std::string Unique(const std::string& what) {
  return "acl-" + what + "-" + std::to_string(::getpid()) + "-" +
         std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 1000000);
}
ZkSession Client(const std::string& auth, const std::string& hosts = Zk()) {
  return ZkSession::Connect(hosts, auth, milliseconds(4000), Deadline::After(seconds(10)));
}

struct CliRun {
  testing::ExitStatus status;
  std::string out, err;
  std::vector<std::string> Lines(const std::string& level) const {
    std::vector<std::string> v;
    std::size_t pos = 0;
    while (pos < err.size()) {
      std::size_t nl = err.find('\n', pos);
      std::string line = err.substr(pos, nl == std::string::npos ? std::string::npos : nl - pos);
      if (line.rfind(level + " ", 0) == 0) v.push_back(line);
      pos = nl == std::string::npos ? err.size() : nl + 1;
    }
    return v;
  }
};

CliRun Ringtrain(const TempDir& dir, const std::string& tag, std::vector<std::string> args,
                 std::map<std::string, std::string> env = {}) {
  args.insert(args.begin(), RINGTRAIN_BIN);
  Subprocess p(args, env, dir.File(tag + ".out"), dir.File(tag + ".err"));
  CliRun r;
  r.status = p.Wait(seconds(90));
  r.out = ReadTextFile(dir.File(tag + ".out"));
  r.err = ReadTextFile(dir.File(tag + ".err"));
  return r;
}

const std::vector<AclEntry> kOpen = {{"world", "anyone", rendezvous::kPermAll}};

// A job record as eve would forge it: her own token, an open ACL on every node.
void PreCreateJob(ZkSession& eve, const std::string& root, const std::string& job,
                  const std::vector<AclEntry>& acl) {
  auto p = rendezvous::JobPaths::For(root, job);
  // May exist; if not, made as ringtrain makes it (an open root would make every later run on
  // this server warn about it).
  eve.CreateWithAcl(root, "",
                    {{"world", "anyone", rendezvous::kPermRead | rendezvous::kPermCreate}});
  rendezvous::JobRecord r;
  r.config_hash = "0";
  r.token = "eve-knows-this-token";
  ASSERT_EQ(eve.CreateWithAcl(p.job, rendezvous::EncodeJob(r), kOpen), kZOk);
  for (const auto& c : {p.members, p.ring, p.checkpoints, p.latest}) {
    ASSERT_EQ(eve.CreateWithAcl(c, "", kOpen), kZOk);
    ASSERT_EQ(eve.SetAcl(c, acl, -1), kZOk);
  }
  ASSERT_EQ(eve.SetAcl(p.job, acl, -1), kZOk);
}

TEST(HostileAcl, PreCreatedJobNodesAreRefusedNeverJoined) {
  TempDir dir;
  ZkSession eve = Client("");
  ZkSession eve_auth = Client("eve:evil");
  const std::vector<std::pair<std::string, std::vector<AclEntry>>> cases = {
      {"open", kOpen},
      // alice's user name with another password's hash, plus world read: readable by alice,
      // but not her identity.
      {"wrong-digest",
       {{"digest", DigestId("alice:guessed"), rendezvous::kPermAll},
        {"world", "anyone", rendezvous::kPermRead}}},
      // alice's own identity, but eve may write too.
      {"shared",
       {{"digest", DigestId("alice:s3cret"), rendezvous::kPermAll},
        {"digest", DigestId("eve:evil"), rendezvous::kPermWrite}}},
  };
  for (const auto& [name, acl] : cases) {
    SCOPED_TRACE(name);
    const std::string job = Unique(name);
    PreCreateJob(name == "open" ? eve : eve_auth, "/ringtrain", job, acl);
    CliRun r = Ringtrain(dir, name,
                         {"train", "--data", kHeart, "--job", job, "--ranks", "1", "--zk", Zk(),
                          "--zk-auth", "alice:s3cret", "--timeout", "10"});
    EXPECT_TRUE(r.status.exited && r.status.code == 3) << r.status.Describe() << r.err;
    auto errors = r.Lines("ERROR");
    ASSERT_EQ(errors.size(), 1u) << r.err;
    EXPECT_NE(errors[0].find("/ringtrain/" + job), std::string::npos) << errors[0];
    EXPECT_NE(errors[0].find(rendezvous::DescribeAcl(acl)), std::string::npos) << errors[0];
    EXPECT_NE(errors[0].find("not joined"), std::string::npos) << errors[0];
    EXPECT_EQ(errors[0].find("s3cret"), std::string::npos) << "the password was printed";
    // Nothing of alice's run was written into eve's job.
    std::vector<std::string> kids;
    auto p = rendezvous::JobPaths::For("/ringtrain", job);
    ZkSession reader = Client("alice:s3cret");
    ASSERT_EQ(reader.Children(p.members, &kids, false), kZOk);
    EXPECT_TRUE(kids.empty());
    std::string data;
    ASSERT_EQ(reader.Get(p.job, &data, nullptr, false), kZOk);
    EXPECT_EQ(rendezvous::DecodeJob(data, "t").token, "eve-knows-this-token");
    EXPECT_EQ(rendezvous::DecodeJob(data, "t").state, "forming");
  }
}

TEST(HostileAcl, RootLetsOthersCreateJobsButNotDeleteOrReAclTheRootOrAJob) {
  TempDir dir;
  ZkSession eve = Client("eve:evil");
  const std::string chroot = "/" + Unique("root");
  ASSERT_EQ(Client("").CreateWithAcl(chroot, "", kOpen), kZOk);
  const std::string job = Unique("owner");
  CliRun r = Ringtrain(dir, "owner",
                       {"train", "--data", kHeart, "--job", job, "--ranks", "1", "--zk",
                        Zk() + chroot, "--zk-auth", "alice:s3cret"});
  ASSERT_TRUE(r.status.exited && r.status.code == 0) << r.err;
  const std::string root = chroot + "/ringtrain";
  std::vector<AclEntry> acl;
  // Read by the owner: the server shows digest hashes only to a client with ADMIN ("alice:x"
  // to eve).
  ASSERT_EQ(Client("alice:s3cret").GetAcl(root, &acl), kZOk);
  const std::vector<AclEntry> want = {
      {"world", "anyone", rendezvous::kPermRead | rendezvous::kPermCreate},
      {"digest", DigestId("alice:s3cret"), rendezvous::kPermAll}};
  ASSERT_EQ(acl.size(), 2u) << rendezvous::DescribeAcl(acl);
  for (std::size_t i = 0; i < 2; ++i) {
    EXPECT_EQ(acl[i].scheme, want[i].scheme);
    EXPECT_EQ(acl[i].id, want[i].id);
    EXPECT_EQ(acl[i].perms, want[i].perms);
  }
  // Eve may create a job of her own, list the jobs, but not delete or re-ACL anyone's.
  EXPECT_EQ(eve.CreateWithAcl(root + "/eves-job", "", kOpen), kZOk);
  std::vector<std::string> jobs;
  EXPECT_EQ(eve.Children(root, &jobs, false), kZOk);
  EXPECT_EQ(eve.SetAcl(root, kOpen, -1), kZNoAuth);
  EXPECT_EQ(eve.Delete(root + "/eves-job", -1), kZNoAuth);  // no DELETE on the root
  EXPECT_EQ(eve.Delete(root + "/" + job + "/latest", -1), kZNoAuth);
  EXPECT_EQ(eve.SetAcl(root + "/" + job, kOpen, -1), kZNoAuth);
  // The token (job record) and even the job's ACL are unreadable without the credentials.
  std::string data;
  EXPECT_EQ(eve.Get(root + "/" + job, &data, nullptr, false), kZNoAuth);
  EXPECT_EQ(eve.GetAcl(root + "/" + job, &acl), kZNoAuth);
  EXPECT_EQ(Client("").Get(root + "/" + job, &data, nullptr, false), kZNoAuth);
  // Without credentials, ringtrain's root is world:anyone:cr only.
  const std::string chroot2 = "/" + Unique("root-open");
  ASSERT_EQ(Client("").CreateWithAcl(chroot2, "", kOpen), kZOk);
  r = Ringtrain(dir, "open",
                {"train", "--data", kHeart, "--job", job, "--ranks", "1", "--zk", Zk() + chroot2});
  ASSERT_TRUE(r.status.exited && r.status.code == 0) << r.err;
  ASSERT_EQ(eve.GetAcl(chroot2 + "/ringtrain", &acl), kZOk);
  EXPECT_EQ(acl, std::vector<AclEntry>({want[0]})) << rendezvous::DescribeAcl(acl);
  EXPECT_EQ(eve.SetAcl(chroot2 + "/ringtrain", kOpen, -1), kZNoAuth);
  EXPECT_EQ(eve.Delete(chroot2 + "/ringtrain/" + job, -1), kZNoAuth);
  // ... and the open run said once, in one line, that its job is open to every client.
  auto warns = r.Lines("WARN");
  int open_lines = 0;
  for (const auto& w : warns) open_lines += w.find("without --zk-auth") != std::string::npos;
  EXPECT_EQ(open_lines, 1) << r.err;
  for (const auto& w : warns) EXPECT_EQ(w.find("the root"), std::string::npos) << w;
  // A root that any client may delete under or re-ACL (an older version's, or changed) is
  // named once, with the command that fixes it.
  const std::string chroot3 = "/" + Unique("root-legacy");
  ASSERT_EQ(Client("").CreateWithAcl(chroot3, "", kOpen), kZOk);
  ASSERT_EQ(Client("").CreateWithAcl(chroot3 + "/ringtrain", "", kOpen), kZOk);
  r = Ringtrain(dir, "legacy",
                {"train", "--data", kHeart, "--job", job, "--ranks", "1", "--zk", Zk() + chroot3});
  ASSERT_TRUE(r.status.exited && r.status.code == 0) << r.err;
  int root_lines = 0;
  for (const auto& w : r.Lines("WARN"))
    root_lines +=
        w.find("the root /ringtrain has the ACL world:anyone:cdrwa") != std::string::npos &&
        w.find("setAcl /ringtrain world:anyone:cr") != std::string::npos;
  EXPECT_EQ(root_lines, 1) << r.err;
}

TEST(HostileAcl, ReAcledRootIsOneLineNamingTheNodeAndTheAcl) {
  TempDir dir;
  ZkSession eve = Client("eve:evil");
  const std::string chroot = "/" + Unique("lockout");
  ASSERT_EQ(eve.CreateWithAcl(chroot, "", kOpen), kZOk);
  const std::vector<AclEntry> eves = {{"world", "anyone", rendezvous::kPermRead},
                                      {"digest", DigestId("eve:evil"), rendezvous::kPermAll}};
  ASSERT_EQ(eve.CreateWithAcl(chroot + "/ringtrain", "", eves), kZOk);
  for (const std::string auth : {"", "alice:s3cret"}) {
    SCOPED_TRACE(auth);
    std::vector<std::string> args = {"train",          "--data",    kHeart, "--job",
                                     Unique("locked"), "--ranks",   "1",    "--zk",
                                     Zk() + chroot,    "--timeout", "10"};
    if (!auth.empty()) args.insert(args.end(), {"--zk-auth", auth});
    CliRun r = Ringtrain(dir, "locked", args);
    EXPECT_TRUE(r.status.exited && r.status.code == 3) << r.status.Describe() << r.err;
    auto errors = r.Lines("ERROR");
    ASSERT_EQ(errors.size(), 1u) << r.err;
    EXPECT_NE(errors[0].find("not authorised"), std::string::npos) << errors[0];
    EXPECT_NE(errors[0].find("the ACL of /ringtrain is world:anyone:r, digest:eve:cdrwa"),
              std::string::npos)
        << errors[0];
    EXPECT_NE(errors[0].find("ACLs"), std::string::npos) << errors[0];  // what to do
  }
  // status still lists (read is allowed) and says there are no jobs.
  CliRun s = Ringtrain(dir, "list", {"status", "--zk", Zk() + chroot});
  EXPECT_TRUE(s.status.exited && s.status.code == 0) << s.err;
  EXPECT_NE(s.out.find("0 jobs under /ringtrain"), std::string::npos) << s.out;
}

TEST(HostileAcl, AclChangedUnderARunningOpenJobEndsItWithOneLine) {
  TempDir dir;
  const std::string job = Unique("running");
  auto p = rendezvous::JobPaths::For("/ringtrain", job);
  std::vector<std::string> args = {RINGTRAIN_BIN,
                                   "train",
                                   "--data",
                                   kHeart,
                                   "--job",
                                   job,
                                   "--ranks",
                                   "1",
                                   "--zk",
                                   Zk(),
                                   "--optimizer",
                                   "sgd",
                                   "--epochs",
                                   "400",
                                   "--checkpoint-every",
                                   "1",
                                   "--checkpoint-dir",
                                   dir.path(),
                                   "--timeout",
                                   "10"};
  Subprocess run(args, {{"RINGTRAIN_FAULT", "epoch-delay:20"}}, dir.File("run.out"),
                 dir.File("run.err"));
  ZkSession eve = Client("eve:evil");
  // Once the job records checkpoints, eve takes the checkpoints node for herself.
  std::string data;
  const auto until = std::chrono::steady_clock::now() + seconds(30);
  while (std::chrono::steady_clock::now() < until &&
         !(eve.Get(p.latest, &data, nullptr, false) == kZOk && !data.empty()))
    std::this_thread::sleep_for(milliseconds(20));
  ASSERT_FALSE(data.empty()) << ReadTextFile(dir.File("run.err"));
  const std::vector<AclEntry> eves = {{"digest", DigestId("eve:evil"), rendezvous::kPermAll}};
  ASSERT_EQ(eve.SetAcl(p.checkpoints, eves, -1), kZOk);
  ASSERT_EQ(eve.SetAcl(p.latest, eves, -1), kZOk);
  auto st = run.Wait(seconds(60));
  EXPECT_FALSE(st.timed_out) << "the run hung after its ACLs were changed";
  EXPECT_TRUE(st.exited && st.code != 0) << st.Describe();
  CliRun r;
  r.err = ReadTextFile(dir.File("run.err"));
  auto errors = r.Lines("ERROR");
  ASSERT_EQ(errors.size(), 1u) << r.err;
  EXPECT_NE(errors[0].find("not authorised"), std::string::npos) << errors[0];
  // The node is named; its ACL (eve-only) cannot even be read by the open run, and says so.
  EXPECT_NE(errors[0].find(p.checkpoints), std::string::npos) << errors[0];
  EXPECT_NE(errors[0].find("cannot be read"), std::string::npos) << errors[0];
}

// An open job whose ring node eve takes over while its first rank waits for the second: the
// second rank ends at once, the first at its --timeout (no watch fires for an ACL change),
// both with exit 3 and one error line naming /ringtrain/J/ring and its ACL.
TEST(HostileAcl, RingNodeTakenOverBeforeTheRingFormsEndsEveryRankWithOneLine) {
  TempDir dir;
  const std::string job = Unique("ring-taken");
  auto p = rendezvous::JobPaths::For("/ringtrain", job);
  std::vector<std::string> args = {RINGTRAIN_BIN, "train", "--data", kHeart, "--job",    job,
                                   "--ranks",     "2",     "--zk",   Zk(),   "--timeout"};
  args.push_back("6");
  Subprocess first(args, {}, dir.File("a.out"), dir.File("a.err"));
  ZkSession eve = Client("eve:evil");
  std::vector<std::string> kids;
  const auto until = std::chrono::steady_clock::now() + seconds(30);
  while (std::chrono::steady_clock::now() < until &&
         !(eve.Children(p.members, &kids, false) == kZOk && !kids.empty()))
    std::this_thread::sleep_for(milliseconds(20));
  ASSERT_FALSE(kids.empty()) << ReadTextFile(dir.File("a.err"));
  ASSERT_EQ(eve.SetAcl(p.ring, {{"digest", DigestId("eve:evil"), rendezvous::kPermAll}}, -1), kZOk);
  const auto t0 = std::chrono::steady_clock::now();
  Subprocess second(args, {}, dir.File("b.out"), dir.File("b.err"));
  for (auto* proc : {&first, &second}) {
    auto st = proc->Wait(seconds(30));
    EXPECT_TRUE(st.exited && st.code == 3) << st.Describe();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, seconds(15)) << "outlived --timeout 6";
  for (const char* f : {"a.err", "b.err"}) {
    CliRun r;
    r.err = ReadTextFile(dir.File(f));
    auto errors = r.Lines("ERROR");
    ASSERT_EQ(errors.size(), 1u) << f << ": " << r.err;
    EXPECT_NE(errors[0].find(p.ring), std::string::npos) << errors[0];
    EXPECT_NE(errors[0].find("not"), std::string::npos) << errors[0];
  }
}

}  // namespace
}  // namespace ringtrain
