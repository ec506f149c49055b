// Members as separate processes: agreement, SIGKILL of the leader, and a killed run whose
// lingering ephemerals must not enter the next run's ring.
#include <gtest/gtest.h>
#include <signal.h>

#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "rdv_test_util.h"
#include "support/subprocess.h"
#include "support/zk_server.h"

namespace ringtrain::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

struct Member {
  std::unique_ptr<Subprocess> proc;
  std::string out;
};

std::vector<nlohmann::json> Lines(const std::string& path) {
  std::vector<nlohmann::json> out;
  std::istringstream in(ReadTextFile(path));
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(nlohmann::json::parse(line));
  }
  return out;
}

Member Spawn(const TempDir& dir, const std::string& job, const std::vector<std::string>& extra,
             int port) {
  Member m;
  m.out = dir.File("out-" + std::to_string(port));
  std::vector<std::string> argv = {
      RDV_MEMBER_PATH,     "--zk", ZkServer::Shared().connect(), "--job", job, "--port",
      std::to_string(port)};
  argv.insert(argv.end(), extra.begin(), extra.end());
  m.proc = std::make_unique<Subprocess>(argv, std::map<std::string, std::string>{}, m.out,
                                        dir.File("err-" + std::to_string(port)));
  return m;
}

// Waits until every member printed a ring of `generation` (or later) and returns those lines.
std::vector<nlohmann::json> AwaitGeneration(const std::vector<Member*>& ms, int generation,
                                            milliseconds limit) {
  std::vector<nlohmann::json> got(ms.size());
  Eventually(
      [&] {
        for (std::size_t i = 0; i < ms.size(); ++i) {
          for (const auto& l : Lines(ms[i]->out)) {
            if (l["generation"].get<int>() >= generation) got[i] = l;
          }
          if (got[i].is_null()) return false;
        }
        return true;
      },
      limit);
  return got;
}

TEST(RendezvousProcess, FourProcessesAgreeOnOneRing) {
  TempDir dir;
  std::string job = UniqueJobName("proc4");
  std::vector<Member> ms;
  for (int i = 0; i < 4; ++i)
    ms.push_back(Spawn(dir, job, {"--ranks", "4", "--hold-ms", "3000"}, 30000 + i));
  std::vector<Member*> ptrs;
  for (auto& m : ms) ptrs.push_back(&m);
  auto lines = AwaitGeneration(ptrs, 1, seconds(30));
  std::set<int> ranks;
  for (auto& l : lines) {
    ASSERT_FALSE(l.is_null());
    EXPECT_EQ(l["world"], 4);
    EXPECT_EQ(l["generation"], lines[0]["generation"]);
    EXPECT_EQ(l["pids"], lines[0]["pids"]);
    EXPECT_EQ(l["leader"], lines[0]["leader"]);
    ranks.insert(l["rank"].get<int>());
  }
  EXPECT_EQ(ranks, (std::set<int>{0, 1, 2, 3}));
  for (auto& m : ms) {
    ExitStatus st = m.proc->Wait(seconds(20));
    EXPECT_TRUE(st.exited && st.code == 0) << st.Describe();
  }
}

TEST(RendezvousProcess, SigkilledLeaderIsReplacedAndElasticRingContinues) {
  TempDir dir;
  std::string job = UniqueJobName("prockill");
  std::vector<Member> ms;
  for (int i = 0; i < 3; ++i) {
    ms.push_back(Spawn(dir, job, {"--min", "2", "--max", "3", "--hold-ms", "15000"}, 31000 + i));
  }
  std::vector<Member*> ptrs;
  for (auto& m : ms) ptrs.push_back(&m);
  auto lines = AwaitGeneration(ptrs, 1, seconds(30));
  int leader = -1;
  for (int i = 0; i < 3; ++i) {
    ASSERT_FALSE(lines[i].is_null());
    ASSERT_EQ(lines[i]["world"], 3);
    if (lines[i]["rank"] == 0) leader = i;
  }
  ASSERT_GE(leader, 0);
  auto old_pids = lines[0]["pids"];
  ms[leader].proc->Signal(SIGKILL);
  std::vector<Member*> survivors;
  for (int i = 0; i < 3; ++i) {
    if (i != leader) survivors.push_back(&ms[i]);
  }
  // Detection takes about one session timeout (2 s here).
  auto after = AwaitGeneration(survivors, lines[0]["generation"].get<int>() + 1, seconds(15));
  for (auto& l : after) {
    ASSERT_FALSE(l.is_null()) << "a survivor never saw the new generation";
    EXPECT_EQ(l["world"], 2);
    EXPECT_EQ(l["pids"][0], old_pids[1]);  // the next member leads
    EXPECT_EQ(l["pids"][1], old_pids[2]);
  }
}

TEST(RendezvousProcess, LingeringMembersOfAKilledRunNeverEnterTheNextRing) {
  TempDir dir;
  std::string job = UniqueJobName("procrerun");
  std::vector<Member> run1;
  for (int i = 0; i < 2; ++i)
    run1.push_back(Spawn(dir, job, {"--ranks", "2", "--hold-ms", "30000"}, 32000 + i));
  auto l1 = AwaitGeneration({&run1[0], &run1[1]}, 1, seconds(30));
  ASSERT_FALSE(l1[0].is_null());
  ASSERT_FALSE(l1[1].is_null());
  for (auto& m : run1) m.proc->Signal(SIGKILL);
  for (auto& m : run1) m.proc->Wait(seconds(5));
  // Started at once: run 1's ephemerals still linger (session timeout 2 s).
  std::vector<Member> run2;
  for (int i = 0; i < 2; ++i)
    run2.push_back(Spawn(dir, job, {"--ranks", "2", "--hold-ms", "8000"}, 33000 + i));
  auto l2 = AwaitGeneration({&run2[0], &run2[1]}, 2, seconds(30));
  std::set<std::int64_t> new_pids = {run2[0].proc->pid(), run2[1].proc->pid()};
  for (auto& l : l2) {
    ASSERT_FALSE(l.is_null()) << ReadTextFile(dir.File("err-33000"));
    EXPECT_EQ(l["world"], 2);
    for (auto& p : l["pids"]) EXPECT_TRUE(new_pids.count(p.get<std::int64_t>())) << l.dump();
  }
}

}  // namespace
}  // namespace ringtrain::testing

namespace ringtrain::testing {
namespace {

TEST(RendezvousProcess, StoppedPastTheSessionTimeoutIsFencedOutAndExits) {
  TempDir dir;
  std::string job = UniqueJobName("procstop");
  std::vector<Member> ms;
  for (int i = 0; i < 3; ++i) {
    ms.push_back(Spawn(dir, job, {"--min", "2", "--max", "3", "--hold-ms", "20000"}, 34000 + i));
  }
  auto lines = AwaitGeneration({&ms[0], &ms[1], &ms[2]}, 1, seconds(30));
  int victim = -1;
  for (int i = 0; i < 3; ++i) {
    ASSERT_FALSE(lines[i].is_null());
    if (lines[i]["rank"] == 2) victim = i;
  }
  ASSERT_GE(victim, 0);
  ms[victim].proc->Signal(SIGSTOP);
  std::vector<Member*> others;
  for (int i = 0; i < 3; ++i) {
    if (i != victim) others.push_back(&ms[i]);
  }
  auto after = AwaitGeneration(others, lines[0]["generation"].get<int>() + 1, seconds(15));
  for (auto& l : after) {
    ASSERT_FALSE(l.is_null()) << "the others did not continue without the stopped member";
    EXPECT_EQ(l["world"], 2);
  }
  ms[victim].proc->Signal(SIGCONT);
  // Its session expired meanwhile: it must notice and exit with the ZooKeeper code (3), and
  // never print a ring of the new generation.
  ExitStatus st = ms[victim].proc->Wait(seconds(15));
  EXPECT_TRUE(st.exited && st.code == 3) << st.Describe();
  for (const auto& l : Lines(ms[victim].out)) EXPECT_EQ(l["generation"], lines[0]["generation"]);
  std::string err = ReadTextFile(dir.File("err-" + std::to_string(34000 + victim)));
  EXPECT_TRUE(err.find("expired") != std::string::npos ||
              err.find("presumed") != std::string::npos || err.find("gone") != std::string::npos)
      << err;
}

}  // namespace
}  // namespace ringtrain::testing
