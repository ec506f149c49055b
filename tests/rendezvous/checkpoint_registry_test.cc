// Checkpoint registry: record/latest/list/delete/prune, idempotent record, generation fencing.
#include <gtest/gtest.h>

#include "common/error.h"
#include "rdv_test_util.h"
#include "rendezvous/rendezvous.h"
#include "support/zk_server.h"

namespace ringtrain::testing {
namespace {

using rendezvous::CheckpointRecord;
using rendezvous::CheckpointRegistry;
using rendezvous::Options;
using rendezvous::Rendezvous;
using std::chrono::seconds;

CheckpointRecord Rec(std::int64_t epoch, std::int64_t generation) {
  CheckpointRecord r;
  r.epoch = epoch;
  r.generation = generation;
  r.world_size = 1;
  r.path = "/tmp/ckpt/epoch-" + std::to_string(epoch) + ".bin";
  r.bytes = 1000 + epoch;
  r.checksum = "crc32:0000000" + std::to_string(epoch);
  r.metrics_json = "{\"loss\":0.5}";
  r.time_unix_ms = 1700000000000 + epoch;
  return r;
}

TEST(CheckpointRegistry, RecordLatestListDeletePrune) {
  std::string job = UniqueJobName("ckpt");
  auto r = Rendezvous::Join(TestOptions(ZkServer::Shared().connect(), job, 1, 1));
  Ring ring = r->WaitForRing(Deadline::After(seconds(10)));
  auto& reg = r->checkpoints();
  EXPECT_FALSE(reg.Latest().has_value());
  for (int e = 1; e <= 5; ++e) reg.Record(Rec(e, ring.generation));
  ASSERT_TRUE(reg.Latest().has_value());
  EXPECT_EQ(*reg.Latest(), Rec(5, ring.generation));
  auto all = reg.List();
  ASSERT_EQ(all.size(), 5u);
  for (int e = 1; e <= 5; ++e) EXPECT_EQ(all[static_cast<std::size_t>(e - 1)].epoch, e);
  EXPECT_EQ(*reg.Get(3), Rec(3, ring.generation));
  EXPECT_FALSE(reg.Get(42).has_value());

  // Idempotent: the same record again succeeds and does not duplicate; other contents fail.
  EXPECT_NO_THROW(reg.Record(Rec(5, ring.generation)));
  EXPECT_EQ(reg.List().size(), 5u);
  CheckpointRecord other = Rec(5, ring.generation);
  other.bytes = 1;
  EXPECT_THROW(reg.Record(other), RendezvousError);

  reg.Delete(5);  // the latest: latest falls back to 4
  EXPECT_EQ(reg.Latest()->epoch, 4);
  EXPECT_THROW(reg.Delete(5), RendezvousError);
  auto deleted = reg.Prune(2);
  ASSERT_EQ(deleted.size(), 2u);
  EXPECT_EQ(deleted[0].epoch, 1);
  EXPECT_EQ(deleted[1].epoch, 2);
  all = reg.List();
  ASSERT_EQ(all.size(), 2u);
  EXPECT_EQ(all[0].epoch, 3);
  EXPECT_EQ(reg.Latest()->epoch, 4);

  // A standalone registry (the `checkpoints` tool) sees the same and may not record.
  auto tool = CheckpointRegistry::Open(ZkServer::Shared().connect(), "/ringtrain", job, "",
                                       Deadline::After(seconds(10)));
  EXPECT_EQ(tool->List(), all);
  EXPECT_THROW(tool->Record(Rec(9, 1)), RendezvousError);
  EXPECT_EQ(tool->Prune(0).size(), 2u);
  EXPECT_FALSE(reg.Latest().has_value());
  EXPECT_THROW(CheckpointRegistry::Open(ZkServer::Shared().connect(), "/ringtrain",
                                        UniqueJobName("none"), "", Deadline::After(seconds(10))),
               RendezvousError);
}

TEST(CheckpointRegistry, ADeposedLeaderCannotRecord) {
  std::string job = UniqueJobName("fence");
  auto make = [&](int i) {
    Options o = TestOptions(ZkServer::Shared().connect(), job, 0, i);
    o.min_ranks = 1;
    o.max_ranks = 2;
    o.settle = std::chrono::milliseconds(200);
    return o;
  };
  auto a = Rendezvous::Join(make(1));
  Ring g1 = a->WaitForRing(Deadline::After(seconds(10)));
  ASSERT_EQ(g1.world_size(), 1);
  a->checkpoints().Record(Rec(1, g1.generation));
  auto b = Rendezvous::Join(make(2));
  Ring g2 = b->WaitForRing(Deadline::After(seconds(10)));
  ASSERT_EQ(g2.generation, g1.generation + 1);
  // `a` still holds generation 1: its record is fenced off.
  try {
    a->checkpoints().Record(Rec(2, g1.generation));
    FAIL() << "a record fenced by a superseded generation went through";
  } catch (const RendezvousError& e) {
    EXPECT_NE(std::string(e.what()).find("superseded"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(a->checkpoints().Get(2).has_value());
  EXPECT_EQ(a->checkpoints().Latest()->epoch, 1);
  // Once it takes the new ring it may record again.
  Ring a2 = a->WaitForRing(Deadline::After(seconds(10)));
  EXPECT_EQ(a2.generation, g2.generation);
  EXPECT_NO_THROW(a->checkpoints().Record(Rec(2, a2.generation)));
  EXPECT_EQ(b->checkpoints().Latest()->epoch, 2);
}

}  // namespace
}  // namespace ringtrain::testing
