// Join-time refusals and faults: config mismatch, bad names, server down, a live job reused,
// ACLs, chroot, a lost reply to the member create, and the status view.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "common/error.h"
#include "rdv_test_util.h"
#include "rendezvous/records.h"
#include "rendezvous/rendezvous.h"
#include "rendezvous/zk_session.h"
#include "support/subprocess.h"
#include "support/zk_proxy.h"
#include "support/zk_server.h"

namespace ringtrain::testing {
namespace {

using rendezvous::Options;
using rendezvous::Rendezvous;
using rendezvous::ZkSession;
using std::chrono::milliseconds;
using std::chrono::seconds;

std::string Zk() { return ZkServer::Shared().connect(); }

TEST(RendezvousJoin, ConfigMismatchIsRefusedNamingTheDifferingKeys) {
  std::string job = UniqueJobName("config");
  Options a = TestOptions(Zk(), job, 2, 1);
  a.config_text = "lr = 0.1\nepochs = 3\nmodel = lr\n";
  auto first = Rendezvous::Join(a);
  Options b = TestOptions(Zk(), job, 2, 2);
  b.config_text = "lr = 0.2\nepochs = 3\nmodel = lr\nseed = 7\n";
  // The joiner joins carrying the refusal, so both members of the launch are refused.
  auto second = Rendezvous::Join(b);
  for (auto* m : {first.get(), second.get()}) {
    try {
      m->WaitForRing(Deadline::After(seconds(20)));
      FAIL() << "a ring with a joiner of another config was formed";
    } catch (const UsageError& e) {
      std::string msg = e.what();
      EXPECT_NE(msg.find("lr (job: 0.1, yours: 0.2)"), std::string::npos) << msg;
      EXPECT_NE(msg.find("seed (job: <unset>, yours: 7)"), std::string::npos) << msg;
      EXPECT_EQ(msg.find("epochs"), std::string::npos) << msg;
      EXPECT_NE(msg.find("/ringtrain/" + job), std::string::npos) << msg;
    }
    EXPECT_TRUE(m->Refused());
  }
}

// Members whose agreed options differ are all refused, naming each key with every value and
// who gave it; a member joining right after the refusal (same launch) is refused too.
TEST(RendezvousJoin, MembersThatDisagreeAreAllRefused) {
  std::string job = UniqueJobName("agreed");
  std::vector<std::unique_ptr<Rendezvous>> ms;
  for (int i = 0; i < 2; ++i) {
    Options o = TestOptions(Zk(), job, 3, 10 + i);
    o.agreed_text = i == 1 ? "epochs = 7\nC = 1\n" : "epochs = 5\nC = 1\n";
    ms.push_back(Rendezvous::Join(o));
  }
  for (auto& m : ms) {
    try {
      m->WaitForRing(Deadline::After(seconds(20)));
      FAIL() << "members that disagree got a ring";
    } catch (const UsageError& e) {
      const std::string msg = e.what_happened();
      EXPECT_NE(msg.find("epochs ('5' on rank 0 (127.0.0.1:10); '7' on rank 1 (127.0.0.1:11))"),
                std::string::npos)
          << msg;
      EXPECT_EQ(msg.find("C ("), std::string::npos) << msg;
    }
  }
  Options late = TestOptions(Zk(), job, 3, 12);
  late.agreed_text = "epochs = 5\nC = 1\n";
  late.refusal_window = std::chrono::milliseconds(60000);
  auto l = Rendezvous::Join(late);
  EXPECT_THROW(l->WaitForRing(Deadline::After(seconds(20))), UsageError);
  l.reset();  // its process exits
  // After the window a member of a new launch is not refused: it waits for its ring.
  late.refusal_window = std::chrono::milliseconds(0);
  late.ranks = 1;
  auto fresh = Rendezvous::Join(late);
  EXPECT_NO_THROW(fresh->WaitForRing(Deadline::After(seconds(20))));
}

TEST(RendezvousJoin, DiffConfigIgnoresSpacingAndComments) {
  EXPECT_TRUE(rendezvous::DiffConfig("a = 1\n# x\nb=2\n", "b = 2\na=1").empty());
  auto d = rendezvous::DiffConfig("a = 1\n", "a = 2\n");
  ASSERT_EQ(d.size(), 1u);
  EXPECT_EQ(d[0], "a (job: 1, yours: 2)");
}

TEST(RendezvousJoin, BadJobNamesAreUsageErrors) {
  for (std::string bad :
       {std::string(), std::string("a/b"), std::string(201, 'x'), std::string("..")}) {
    Options o = TestOptions("127.0.0.1:1", bad, 1, 1);
    EXPECT_THROW(Rendezvous::Join(o), UsageError) << "job '" << bad << "'";
  }
  EXPECT_NO_THROW(rendezvous::ValidateJobName(std::string(200, 'x')));
}

TEST(RendezvousJoin, ServerDownFailsWithinTheDeadlineNamingTheAddress) {
  std::string addr = "127.0.0.1:" + std::to_string(FreeLoopbackPort());
  Options o = TestOptions(addr, UniqueJobName("down"), 1, 1);
  o.timeout = milliseconds(1500);
  auto t0 = std::chrono::steady_clock::now();
  try {
    Rendezvous::Join(o);
    FAIL() << "joined a server that is not there";
  } catch (const RendezvousError& e) {
    EXPECT_NE(std::string(e.what()).find(addr), std::string::npos) << e.what();
    EXPECT_EQ(e.code(), ExitCode::kZooKeeper);
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, seconds(5));
}

TEST(RendezvousJoin, UnresolvableAddressFailsNamingIt) {
  Options o = TestOptions("no-such-host.invalid:2181", UniqueJobName("badhost"), 1, 1);
  o.timeout = milliseconds(1500);
  auto t0 = std::chrono::steady_clock::now();
  try {
    Rendezvous::Join(o);
    FAIL() << "joined an unresolvable host";
  } catch (const RendezvousError& e) {
    EXPECT_NE(std::string(e.what()).find("no-such-host.invalid:2181"), std::string::npos)
        << e.what();
  }
  EXPECT_LT(std::chrono::steady_clock::now() - t0, seconds(5));
}

TEST(RendezvousJoin, RingTimeoutNamesTheMissingMembers) {
  Options o = TestOptions(Zk(), UniqueJobName("short"), 2, 1);
  auto r = Rendezvous::Join(o);
  try {
    r->WaitForRing(Deadline::After(milliseconds(700)));
    FAIL() << "a ring of 2 formed with 1 member";
  } catch (const RendezvousError& e) {
    EXPECT_NE(std::string(e.what()).find("1 members present, 2 expected"), std::string::npos)
        << e.what();
  }
}

TEST(RendezvousJoin, SecondRunReusingALiveJobIsRefused) {
  std::string job = UniqueJobName("live");
  Joined run1 = JoinAll({TestOptions(Zk(), job, 2, 1), TestOptions(Zk(), job, 2, 2)});
  Options o = TestOptions(Zk(), job, 2, 3);
  try {
    Rendezvous::Join(o);
    FAIL() << "a second run joined a live job";
  } catch (const RendezvousError& e) {
    EXPECT_NE(std::string(e.what()).find("held by a live ring"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(run1.members[0]->RingLost());
}

TEST(RendezvousJoin, FinishedRunLetsANewRunFormANewGeneration) {
  std::string job = UniqueJobName("rerun");
  {
    Joined run1 = JoinAll({TestOptions(Zk(), job, 2, 1), TestOptions(Zk(), job, 2, 2)});
    EXPECT_EQ(run1.rings[0].generation, 1);
  }  // both leave
  Joined run2 = JoinAll({TestOptions(Zk(), job, 2, 3), TestOptions(Zk(), job, 2, 4)});
  EXPECT_GT(run2.rings[0].generation, 1);
  EXPECT_EQ(run2.rings[0].world_size(), 2);
  for (const auto& m : run2.rings[0].members) EXPECT_TRUE(m.port == 3 || m.port == 4);
}

TEST(RendezvousJoin, AclKeepsClientsWithoutCredentialsOut) {
  std::string job = UniqueJobName("acl");
  Options o = TestOptions(Zk(), job, 1, 1);
  o.auth = "alice:secret";
  auto owner = Rendezvous::Join(o);
  Ring ring = owner->WaitForRing(Deadline::After(seconds(10)));
  auto paths = rendezvous::JobPaths::For("/ringtrain", job);
  ZkSession anon = ZkSession::Connect(Zk(), "", milliseconds(4000), Deadline::After(seconds(10)));
  EXPECT_EQ(anon.Set(paths.job, "x", -1), rendezvous::kZNoAuth);
  EXPECT_EQ(anon.Set(paths.ring, "x", -1), rendezvous::kZNoAuth);
  EXPECT_EQ(anon.Delete(paths.latest, -1), rendezvous::kZNoAuth);
  EXPECT_EQ(anon.Delete(paths.members + "/" + owner->member_name(), -1), rendezvous::kZNoAuth);
  std::string got;
  EXPECT_EQ(anon.Get(paths.job, &got, nullptr, false), rendezvous::kZNoAuth);
  ZkSession eve =
      ZkSession::Connect(Zk(), "eve:guess", milliseconds(4000), Deadline::After(seconds(10)));
  EXPECT_EQ(eve.Set(paths.ring, "x", -1), rendezvous::kZNoAuth);
  // A joiner without the credentials is refused with a clear error.
  Options intruder = TestOptions(Zk(), job, 1, 2);
  try {
    Rendezvous::Join(intruder);
    FAIL() << "joined without credentials";
  } catch (const RendezvousError& e) {
    EXPECT_NE(std::string(e.what()).find("--zk-auth"), std::string::npos) << e.what();
  }
  // The owner's ring is untouched.
  EXPECT_FALSE(owner->RingLost());
}

TEST(RendezvousJoin, ChrootInTheConnectStringWorks) {
  std::string chroot = "/" + UniqueJobName("chroot");
  ZkSession admin = ZkSession::Connect(Zk(), "", milliseconds(4000), Deadline::After(seconds(10)));
  ASSERT_EQ(admin.Create(chroot, "", rendezvous::CreateMode::kPersistent, nullptr),
            rendezvous::kZOk);
  std::string job = UniqueJobName("j");
  auto r = Rendezvous::Join(TestOptions(Zk() + chroot, job, 1, 1));
  Ring ring = r->WaitForRing(Deadline::After(seconds(10)));
  EXPECT_EQ(ring.world_size(), 1);
  EXPECT_EQ(
      admin.Exists(chroot + "/ringtrain/" + job + "/members/" + r->member_name(), nullptr, false),
      rendezvous::kZOk);
  EXPECT_EQ(admin.Exists("/ringtrain/" + job, nullptr, false), rendezvous::kZNoNode);
}

TEST(RendezvousJoin, LostReplyToTheMemberCreateLeavesNoDuplicate) {
  ZkLostReplyProxy proxy(Zk());
  proxy.ArmDropAfterCreate("/members/_c_");
  std::string job = UniqueJobName("lostreply");
  Options o = TestOptions(proxy.address(), job, 1, 1);
  o.session_timeout = milliseconds(6000);
  auto r = Rendezvous::Join(o);
  EXPECT_EQ(proxy.drops(), 1);  // the fault did happen
  Ring ring = r->WaitForRing(Deadline::After(seconds(20)));
  EXPECT_EQ(ring.world_size(), 1);
  auto paths = rendezvous::JobPaths::For("/ringtrain", job);
  ZkSession check = ZkSession::Connect(Zk(), "", milliseconds(4000), Deadline::After(seconds(10)));
  std::vector<std::string> kids;
  ASSERT_EQ(check.Children(paths.members, &kids, false), rendezvous::kZOk);
  EXPECT_EQ(kids.size(), 1u);
  ASSERT_FALSE(kids.empty());
  EXPECT_EQ(kids[0], r->member_name());
  rendezvous::NodeStat st;
  ASSERT_EQ(check.Exists(paths.members + "/" + kids[0], &st, false), rendezvous::kZOk);
  EXPECT_EQ(st.ephemeral_owner, r->session_id());
}

TEST(RendezvousJoin, StatusShowsRingLiveMembersAndLeader) {
  std::string job = UniqueJobName("status");
  Joined j = JoinAll({TestOptions(Zk(), job, 2, 1), TestOptions(Zk(), job, 2, 2)});
  auto st = rendezvous::ReadJobStatus(Zk(), "/ringtrain", job, "", Deadline::After(seconds(10)));
  EXPECT_EQ(st.state, "running");
  EXPECT_EQ(st.generation, 1);
  EXPECT_EQ(st.ring_state, "active");
  ASSERT_EQ(st.ring.size(), 2u);
  EXPECT_EQ(st.live_members.size(), 2u);
  EXPECT_EQ(st.leader, j.rings[0].members[0].name);
  auto parsed = nlohmann::json::parse(rendezvous::ToJson(st));
  EXPECT_EQ(parsed["world_size"], 2);
  EXPECT_EQ(parsed["leader"], st.leader);
  EXPECT_NE(rendezvous::ToText(st).find("(leader)"), std::string::npos);
  EXPECT_THROW(rendezvous::ReadJobStatus(Zk(), "/ringtrain", UniqueJobName("nojob"), "",
                                         Deadline::After(seconds(10))),
               RendezvousError);
}

// The outcome in the job record (issue 12 item 4): a failure is kept against later failures
// of the same run, "finished" replaces it; a member that leaves after the end does not turn
// the record back (its leader's "lost" publication leaves it alone); the list shows the job;
// a job whose members are all gone and that recorded nothing is "abandoned".
TEST(RendezvousJoin, OutcomeIsRecordedOnceAndSurvivesTheMembersLeaving) {
  std::string job = UniqueJobName("outcome");
  Joined j = JoinAll({TestOptions(Zk(), job, 2, 1), TestOptions(Zk(), job, 2, 2)});
  auto status = [&] {
    return rendezvous::ReadJobStatus(Zk(), "/ringtrain", job, "", Deadline::After(seconds(10)));
  };
  rendezvous::JobOutcome first;
  first.cause = "first cause";
  first.reported_by = "rank 1";
  EXPECT_EQ(j.members[1]->RecordOutcome("failed", first, Deadline::After(seconds(5))), "");
  rendezvous::JobOutcome second;
  second.cause = "a consequence";
  EXPECT_EQ(j.members[0]->RecordOutcome("failed", second, Deadline::After(seconds(5))), "");
  auto st = status();
  EXPECT_EQ(st.state, "failed");
  EXPECT_EQ(st.outcome.cause, "first cause");
  EXPECT_EQ(st.outcome.reported_by, "rank 1");
  rendezvous::JobOutcome done;
  done.final_epoch = 7;
  done.objective = 1.5;
  done.model_path = "/tmp/m";
  EXPECT_EQ(j.members[0]->RecordOutcome("finished", done, Deadline::After(seconds(5))), "");
  // The non-leader leaves: the leader publishes "lost", the record stays finished.
  j.members[1]->Leave();
  const auto until = std::chrono::steady_clock::now() + seconds(10);
  while (status().ring_state != "lost" && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(milliseconds(20));
  st = status();
  EXPECT_EQ(st.ring_state, "lost");
  EXPECT_EQ(st.state, "finished");
  EXPECT_EQ(st.outcome.final_epoch, 7);
  EXPECT_EQ(st.outcome.objective, 1.5);
  EXPECT_EQ(st.outcome.model_path, "/tmp/m");
  EXPECT_GT(st.changed_at_unix_ms, 0);
  auto list = rendezvous::ListJobs(Zk(), "/ringtrain", "", Deadline::After(seconds(10)));
  bool found = false;
  for (const auto& e : list.jobs) {
    if (e.job != job) continue;
    found = true;
    EXPECT_EQ(e.state, "finished");
    EXPECT_EQ(e.live_members, 1);
    EXPECT_EQ(e.generation, 2);
  }
  EXPECT_TRUE(found);
  EXPECT_NE(rendezvous::ToText(list).find(job), std::string::npos);

  std::string gone = UniqueJobName("abandoned");
  { Joined k = JoinAll({TestOptions(Zk(), gone, 1, 1)}); }  // left without an outcome
  auto ab = rendezvous::ReadJobStatus(Zk(), "/ringtrain", gone, "", Deadline::After(seconds(10)));
  EXPECT_EQ(ab.state, "abandoned");
  EXPECT_EQ(ab.recorded_state, "running");
}

}  // namespace
}  // namespace ringtrain::testing
