// `mpirun -np 2 ringtrain train ...`: under mpirun the transport defaults to mpi and --ranks
// to the MPI world size; the run reaches the standalone objective (1e-6 relative).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>

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

}  // namespace
}  // namespace ringtrain::train
