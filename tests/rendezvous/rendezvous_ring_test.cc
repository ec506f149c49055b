// Ring agreement with N members as threads (own sessions), leader succession, loss reports.
#include <gtest/gtest.h>

#include <atomic>
#include <set>

#include "common/error.h"
#include "rdv_test_util.h"
#include "rendezvous/records.h"
#include "rendezvous/rendezvous.h"
#include "support/zk_server.h"

namespace ringtrain::testing {
namespace {

using rendezvous::Options;
using rendezvous::Rendezvous;

class AgreeTest : public ::testing::TestWithParam<int> {};

TEST_P(AgreeTest, AllMembersAgreeOnOneRingInSequenceOrder) {
  const int n = GetParam();
  std::string job = UniqueJobName("agree" + std::to_string(n));
  std::vector<Options> opts;
  for (int i = 0; i < n; ++i)
    opts.push_back(TestOptions(ZkServer::Shared().connect(), job, n, 20000 + i));
  Joined j = JoinAll(opts);
  const Ring& first = j.rings[0];
  ASSERT_EQ(first.world_size(), n);
  EXPECT_EQ(first.generation, 1);
  std::set<int> ranks;
  for (int i = 0; i < n; ++i) {
    const Ring& r = j.rings[static_cast<std::size_t>(i)];
    EXPECT_EQ(r.generation, first.generation);
    EXPECT_EQ(r.members, first.members);
    EXPECT_EQ(r.token, j.members[static_cast<std::size_t>(i)]->job_token());
    EXPECT_FALSE(r.token.empty());
    ranks.insert(r.rank);
    // My rank names my own member node.
    EXPECT_EQ(r.members[static_cast<std::size_t>(r.rank)].name,
              j.members[static_cast<std::size_t>(i)]->member_name());
    EXPECT_EQ(r.members[static_cast<std::size_t>(r.rank)].port, 20000 + i);
  }
  EXPECT_EQ(static_cast<int>(ranks.size()), n);
  EXPECT_EQ(*ranks.begin(), 0);
  EXPECT_EQ(*ranks.rbegin(), n - 1);
  for (int r = 1; r < n; ++r) {  // ring order = sequence order
    EXPECT_LT(rendezvous::MemberSequence(first.members[static_cast<std::size_t>(r - 1)].name),
              rendezvous::MemberSequence(first.members[static_cast<std::size_t>(r)].name));
  }
  int leaders = 0;
  for (auto& m : j.members) leaders += m->IsLeader() ? 1 : 0;
  EXPECT_EQ(leaders, 1);
  for (auto& m : j.members) EXPECT_FALSE(m->RingLost());
}

INSTANTIATE_TEST_SUITE_P(Sizes, AgreeTest, ::testing::Values(1, 2, 3, 8, 64));

TEST(RendezvousRing, ElasticLeaderLeavesNextLeadsAndNewGenerationHasSurvivors) {
  std::string job = UniqueJobName("elastic-leader");
  std::vector<Options> opts;
  for (int i = 0; i < 3; ++i) {
    Options o = TestOptions(ZkServer::Shared().connect(), job, 0, 21000 + i);
    o.min_ranks = 2;
    o.max_ranks = 3;
    opts.push_back(o);
  }
  std::vector<std::atomic<int>> hooks(3);  // outlives the members whose hooks use it
  Joined j = JoinAll(opts);
  ASSERT_EQ(j.rings[0].world_size(), 3);
  for (int i = 0; i < 3; ++i) j.members[i]->SetRingLostHook([&hooks, i] { hooks[i]++; });
  int leader = -1;
  for (int i = 0; i < 3; ++i) {
    if (j.rings[i].rank == 0) leader = i;
  }
  ASSERT_GE(leader, 0);
  std::string old_rank1 = j.rings[0].members[1].name;
  j.members[leader]->Leave();  // closes the session: peers learn in milliseconds
  for (int i = 0; i < 3; ++i) {
    if (i == leader) continue;
    Ring r = j.members[i]->WaitForRing(Deadline::After(std::chrono::seconds(20)));
    EXPECT_EQ(r.generation, 2);
    ASSERT_EQ(r.world_size(), 2);
    EXPECT_EQ(r.members[0].name, old_rank1);  // the next member leads
    EXPECT_EQ(hooks[i].load(), 1);
  }
  EXPECT_TRUE(Eventually(
      [&] {
        for (int i = 0; i < 3; ++i) {
          if (i != leader && j.members[i]->member_name() == old_rank1)
            return j.members[i]->IsLeader();
        }
        return false;
      },
      std::chrono::seconds(5)));
}

TEST(RendezvousRing, NonElasticReportsLostMemberByNameToEveryone) {
  std::string job = UniqueJobName("lost-member");
  std::vector<Options> opts;
  for (int i = 0; i < 3; ++i)
    opts.push_back(TestOptions(ZkServer::Shared().connect(), job, 3, 22000 + i));
  Joined j = JoinAll(opts);
  int victim = -1;
  for (int i = 0; i < 3; ++i) {
    if (j.rings[i].rank == 2) victim = i;
  }
  ASSERT_GE(victim, 0);
  const Member gone = j.rings[0].members[2];
  j.members[victim]->Leave();
  for (int i = 0; i < 3; ++i) {
    if (i == victim) continue;
    ASSERT_TRUE(Eventually([&] { return j.members[i]->RingLost(); }, std::chrono::seconds(15)));
    std::string why = j.members[i]->LostReason();
    EXPECT_NE(why.find("rank 2"), std::string::npos) << why;
    EXPECT_NE(why.find(gone.host + ":" + std::to_string(gone.port)), std::string::npos) << why;
    EXPECT_NE(why.find("left"), std::string::npos) << why;
    // Non-elastic: no new ring is formed with the survivors.
    EXPECT_THROW(j.members[i]->WaitForRing(Deadline::After(std::chrono::milliseconds(500))),
                 RendezvousError);
  }
}

TEST(RendezvousRing, NonElasticLeaderLossIsReportedByTheSuccessor) {
  std::string job = UniqueJobName("lost-leader");
  std::vector<Options> opts;
  for (int i = 0; i < 3; ++i)
    opts.push_back(TestOptions(ZkServer::Shared().connect(), job, 3, 23000 + i));
  Joined j = JoinAll(opts);
  int leader = -1;
  for (int i = 0; i < 3; ++i) {
    if (j.rings[i].rank == 0) leader = i;
  }
  const Member gone = j.rings[0].members[0];
  j.members[leader]->Leave();
  for (int i = 0; i < 3; ++i) {
    if (i == leader) continue;
    ASSERT_TRUE(Eventually([&] { return j.members[i]->RingLost(); }, std::chrono::seconds(15)));
    std::string why = j.members[i]->LostReason();
    EXPECT_NE(why.find("rank 0 (" + gone.host + ":" + std::to_string(gone.port) + ") left"),
              std::string::npos)
        << why;
  }
}

TEST(RendezvousRing, ElasticLateJoinerEntersTheNextGeneration) {
  std::string job = UniqueJobName("late-joiner");
  auto make = [&](int i) {
    Options o = TestOptions(ZkServer::Shared().connect(), job, 0, 24000 + i);
    o.min_ranks = 2;
    o.max_ranks = 3;
    return o;
  };
  Joined j = JoinAll({make(0), make(1)});
  ASSERT_EQ(j.rings[0].world_size(), 2);
  auto late = Rendezvous::Join(make(2));
  Ring r = late->WaitForRing(Deadline::After(std::chrono::seconds(20)));
  EXPECT_EQ(r.generation, 2);
  EXPECT_EQ(r.world_size(), 3);
  EXPECT_EQ(r.rank, 2);
  ASSERT_TRUE(Eventually([&] { return j.members[0]->RingLost(); }, std::chrono::seconds(5)));
  Ring r0 = j.members[0]->WaitForRing(Deadline::After(std::chrono::seconds(5)));
  EXPECT_EQ(r0.members, r.members);
}

}  // namespace
}  // namespace ringtrain::testing
