// A 3-node ensemble with one server killed during rendezvous: rendezvous still completes.
#include <gtest/gtest.h>

#include "rdv_test_util.h"
#include "rendezvous/rendezvous.h"
#include "support/zk_server.h"

namespace ringtrain::testing {
namespace {

TEST(RendezvousEnsemble, OneServerKilledDuringRendezvousStillCompletes) {
  ZkEnsemble zk;
  std::string job = UniqueJobName("ensemble");
  std::vector<rendezvous::Options> opts;
  for (int i = 0; i < 4; ++i) {
    auto o = TestOptions(zk.connect(), job, 4, 40000 + i);
    o.session_timeout = std::chrono::milliseconds(8000);
    // Connect to the listed servers in order: node 1 first, so killing it hits live sessions.
    o.deterministic_connection_order = true;
    opts.push_back(o);
  }
  // Two members join (on node 1), then node 1 dies, then the other two join.
  std::vector<std::unique_ptr<rendezvous::Rendezvous>> early;
  early.push_back(rendezvous::Rendezvous::Join(opts[0]));
  early.push_back(rendezvous::Rendezvous::Join(opts[1]));
  zk.Kill(1);
  Joined late = JoinAll({opts[2], opts[3]}, std::chrono::seconds(60));
  std::vector<Ring> rings;
  for (auto& r : early) rings.push_back(r->WaitForRing(Deadline::After(std::chrono::seconds(30))));
  rings.insert(rings.end(), late.rings.begin(), late.rings.end());
  for (const auto& r : rings) {
    EXPECT_EQ(r.world_size(), 4);
    EXPECT_EQ(r.members, rings[0].members);
    EXPECT_EQ(r.generation, rings[0].generation);
  }
}

}  // namespace
}  // namespace ringtrain::testing
