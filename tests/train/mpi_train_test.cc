// `mpirun -np 2 ringtrain train ...`: under mpirun the transport defaults to mpi and --ranks
// to the MPI world size; the run reaches the standalone objective (1e-6 relative). Under
// mpirun the ranks use the partition map and balance too: one MPI rank of 3 at half speed
// (RINGTRAIN_FAULT=slow-rows) gets half the rows of the others within 3 epochs, and `status`
// shows the map.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "support/subprocess.h"
#include "support/zk_server.h"

namespace ringtrain::train {
namespace {

using ringtrain::testing::ReadTextFile;
using ringtrain::testing::Subprocess;
using ringtrain::testing::TempDir;

const char* kHeart = "/usr/share/doc/liblinear-tools/examples/heart_scale";

double LastObjective(const std::string& path, int* world) {
  std::ifstream in(path);
  std::string line, last;
  while (std::getline(in, line))
    if (!line.empty()) last = line;
  if (last.empty()) return NAN;
  auto j = nlohmann::json::parse(last);
  *world = j["world_size"].get<int>();
  return j["objective"].get<double>();
}

TEST(MpiTrain, TwoMpiRanksReachTheStandaloneObjective) {
  TempDir dir;
  Subprocess single({RINGTRAIN_BIN, "train", "--data", kHeart, "--bias", "--tol", "1e-6",
                     "--metrics", dir.File("single.jsonl")},
                    {}, dir.File("s.out"), dir.File("s.err"));
  auto st = single.Wait(std::chrono::seconds(60));
  ASSERT_TRUE(st.exited && st.code == 0) << ReadTextFile(dir.File("s.err"));
  int world = 0;
  const double reference = LastObjective(dir.File("single.jsonl"), &world);

  std::map<std::string, std::string> env = {{"OMPI_ALLOW_RUN_AS_ROOT", "1"},
                                            {"OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"}};
  Subprocess mpi({"/usr/bin/mpirun", "-np", "2", "--oversubscribe", RINGTRAIN_BIN, "train", "--zk",
                  ringtrain::testing::ZkServer::Shared().connect(), "--job",
                  ringtrain::testing::UniqueJobName("train-mpi"), "--data", kHeart, "--bias",
                  "--tol", "1e-6", "--threads", "1", "--metrics", dir.File("mpi.jsonl")},
                 env, dir.File("m.out"), dir.File("m.err"));
  st = mpi.Wait(std::chrono::seconds(120));
  ASSERT_TRUE(st.exited && st.code == 0) << st.Describe() << ReadTextFile(dir.File("m.err"));
  const double objective = LastObjective(dir.File("mpi.jsonl"), &world);
  EXPECT_EQ(world, 2);
  EXPECT_LE(std::fabs(objective - reference), 1e-6 * reference);
}

TEST(MpiTrain, ASlowMpiRankGetsFewerRows) {
  TempDir dir;
  const std::string job = ringtrain::testing::UniqueJobName("train-mpi-balance");
  const std::string zk = ringtrain::testing::ZkServer::Shared().connect();
  std::map<std::string, std::string> env = {{"OMPI_ALLOW_RUN_AS_ROOT", "1"},
                                            {"OMPI_ALLOW_RUN_AS_ROOT_CONFIRM", "1"}};
  // MPMD: MPI ranks 0 and 1 at 200 us per row, MPI rank 2 at 400 us (speeds 1 : 1 : 0.5).
  std::vector<std::string> args = {"/usr/bin/mpirun", "--oversubscribe"};
  auto app = [&](const char* np, const std::string& us) {
    std::vector<std::string> a = {"-np",
                                  np,
                                  "/usr/bin/env",
                                  "RINGTRAIN_FAULT=slow-rows:" + us,
                                  RINGTRAIN_BIN,
                                  "train",
                                  "--zk",
                                  zk,
                                  "--job",
                                  job,
                                  "--data",
                                  kHeart,
                                  "--bias",
                                  "--optimizer",
                                  "lbfgs",
                                  "--tol",
                                  "1e-12",
                                  "--epochs",
                                  "6",
                                  "--threads",
                                  "1",
                                  "--metrics",
                                  dir.File("mpi.jsonl")};
    args.insert(args.end(), a.begin(), a.end());
  };
  app("2", "200");
  args.push_back(":");
  app("1", "400");
  Subprocess mpi(args, env, dir.File("m.out"), dir.File("m.err"));
  auto st = mpi.Wait(std::chrono::seconds(120));
  ASSERT_TRUE(st.exited && st.code == 0) << st.Describe() << ReadTextFile(dir.File("m.err"));

  std::ifstream in(dir.File("mpi.jsonl"));
  std::string line;
  std::int64_t moved_at = -1;
  std::vector<std::int64_t> rows;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    std::int64_t sum = 0;
    for (auto r : j["rank_rows"]) sum += r.get<std::int64_t>();
    EXPECT_EQ(sum, 270) << line;
    if (moved_at < 0 && j["partition_generation"].get<std::int64_t>() == 2)
      moved_at = j["epoch"].get<std::int64_t>();
    rows = j["rank_rows"].get<std::vector<std::int64_t>>();
  }
  ASSERT_GT(moved_at, 0) << "no balanced map under mpirun";
  EXPECT_LE(moved_at, 3);
  ASSERT_EQ(rows.size(), 3u);
  std::sort(rows.begin(), rows.end());  // the ring rank of the slow MPI rank is not fixed
  EXPECT_LT(rows[0], 70);
  EXPECT_GT(rows[1], 95);

  Subprocess status({RINGTRAIN_BIN, "status", "--zk", zk, "--job", job, "--json"}, {},
                    dir.File("s.out"), dir.File("s.err"));
  st = status.Wait(std::chrono::seconds(30));
  ASSERT_TRUE(st.exited && st.code == 0) << ReadTextFile(dir.File("s.err"));
  auto map = nlohmann::json::parse(ReadTextFile(dir.File("s.out")))["partitions"];
  EXPECT_GE(map["generation"].get<int>(), 2) << map.dump();
  EXPECT_EQ(map["total_rows"].get<int>(), 270) << map.dump();
  for (const auto& p : map["parts"]) EXPECT_GT(p["rows_per_s"].get<double>(), 0) << map.dump();
}

}  // namespace
}  // namespace ringtrain::train
