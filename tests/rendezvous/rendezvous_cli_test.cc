// `ringtrain status` and `ringtrain checkpoints` end to end against a live job.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "rdv_test_util.h"
#include "rendezvous/rendezvous.h"
#include "support/subprocess.h"
#include "support/zk_server.h"

namespace ringtrain::testing {
namespace {

using std::chrono::seconds;

struct CliRun {
  ExitStatus status;
  std::string out, err;
};

CliRun Cli(const std::vector<std::string>& args) {
  TempDir dir;
  std::vector<std::string> argv = {RINGTRAIN_PATH};
  argv.insert(argv.end(), args.begin(), args.end());
  Subprocess p(argv, {}, dir.File("out"), dir.File("err"));
  CliRun r;
  r.status = p.Wait(seconds(30));
  r.out = ReadTextFile(dir.File("out"));
  r.err = ReadTextFile(dir.File("err"));
  return r;
}

TEST(RendezvousCli, StatusAndCheckpointsCommands) {
  const std::string zk = ZkServer::Shared().connect();
  std::string job = UniqueJobName("cli");
  auto r = rendezvous::Rendezvous::Join(TestOptions(zk, job, 1, 4711));
  Ring ring = r->WaitForRing(Deadline::After(seconds(10)));
  for (int e = 1; e <= 2; ++e) {
    rendezvous::CheckpointRecord c;
    c.epoch = e;
    c.generation = ring.generation;
    c.world_size = 1;
    c.path = "/tmp/ck-" + std::to_string(e);
    c.metrics_json = "{\"objective\":1.5}";
    r->checkpoints().Record(c);
  }
  CliRun st = Cli({"status", "--job", job, "--zk", zk, "--json"});
  ASSERT_TRUE(st.status.exited && st.status.code == 0) << st.status.Describe() << st.err;
  auto j = nlohmann::json::parse(st.out);
  EXPECT_EQ(j["generation"], ring.generation);
  EXPECT_EQ(j["world_size"], 1);
  EXPECT_EQ(j["ring"][0]["port"], 4711);
  EXPECT_EQ(j["leader"], r->member_name());
  EXPECT_EQ(j["latest_epoch"], 2);
  EXPECT_EQ(j["checkpoints"].size(), 2u);

  CliRun text = Cli({"status", "--job", job, "--zk", zk});
  EXPECT_EQ(text.status.code, 0);
  EXPECT_NE(text.out.find("127.0.0.1:4711"), std::string::npos) << text.out;

  CliRun list = Cli({"checkpoints", "--job", job, "--zk", zk, "list"});
  EXPECT_EQ(list.status.code, 0) << list.err;
  EXPECT_NE(list.out.find("epoch 2"), std::string::npos) << list.out;
  EXPECT_NE(list.out.find("(latest)"), std::string::npos) << list.out;
  CliRun show = Cli({"checkpoints", "--job", job, "--zk", zk, "show", "1", "--json"});
  EXPECT_EQ(show.status.code, 0) << show.err;
  EXPECT_EQ(nlohmann::json::parse(show.out)["path"], "/tmp/ck-1");
  CliRun del = Cli({"checkpoints", "--job", job, "--zk", zk, "delete", "2"});
  EXPECT_EQ(del.status.code, 0) << del.err;
  EXPECT_EQ(r->checkpoints().Latest()->epoch, 1);

  CliRun missing = Cli({"checkpoints", "--job", job, "--zk", zk, "show", "7"});
  EXPECT_EQ(missing.status.code, 3);
  EXPECT_NE(missing.err.find("/ringtrain/" + job + "/checkpoints"), std::string::npos)
      << missing.err;
  CliRun nojob = Cli({"status", "--job", job + "-x", "--zk", zk});
  EXPECT_EQ(nojob.status.code, 3);
  EXPECT_NE(nojob.err.find(zk), std::string::npos) << nojob.err;
  CliRun down = Cli({"status", "--job", job, "--zk", "127.0.0.1:1", "--timeout", "1"});
  EXPECT_EQ(down.status.code, 3);
  EXPECT_NE(down.err.find("127.0.0.1:1"), std::string::npos) << down.err;
}

}  // namespace
}  // namespace ringtrain::testing
