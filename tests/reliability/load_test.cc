// tests/reliability/load_test.cc — 64 ranks as threads, each with its own ZooKeeper session
// (rendezvous API), its own TcpListener and ConnectTcpRing: rendezvous + 100 allreduces +
// teardown, repeated against one ZooKeeper (issue 7 item 6). Before and after: the znodes
// under the job root (members all gone, nothing else accumulates), this process's open file
// descriptors (/proc/self/fd) and threads (/proc/self/task) — no leak.
//
// RINGTRAIN_LOAD_ROUNDS (default 20) scales the repetitions; RINGTRAIN_LOAD_RANKS (default 64)
// the world. Figures go to stdout as JSON lines ("load_round").
#include <dirent.h>
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "allreduce/tcp.h"
#include "common/deadline.h"
#include "rendezvous/rendezvous.h"
#include "rendezvous/zk_session.h"
#include "support/zk_server.h"

namespace ringtrain {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

int EnvInt(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::atoi(v) : fallback;
}

int CountDir(const char* path) {
  int n = 0;
  DIR* d = ::opendir(path);
  if (d == nullptr) return -1;
  while (dirent* e = ::readdir(d))
    if (e->d_name[0] != '.') ++n;
  ::closedir(d);
  return n;  // includes opendir's own fd for /proc/self/fd: compare counts, never absolutes
}

// Every znode under (and including) `path`, recursively.
int CountZnodes(rendezvous::ZkSession& zk, const std::string& path) {
  std::vector<std::string> children;
  if (zk.Children(path, &children, false) != rendezvous::kZOk) return 0;
  int n = 1;
  for (const auto& c : children) n += CountZnodes(zk, path + "/" + c);
  return n;
}

struct RoundResult {
  std::vector<std::string> errors;
  double seconds = 0;
};

RoundResult RunRound(const std::string& zk, const std::string& job, int world, int allreduces) {
  RoundResult result;
  result.errors.resize(static_cast<std::size_t>(world));
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < world; ++i) {
    threads.emplace_back([&, i] {
      try {
        auto listener = allreduce::TcpListener::Bind("127.0.0.1", 0);
        rendezvous::Options o;
        o.zk_hosts = zk;
        o.job = job;
        o.ranks = world;
        o.session_timeout = milliseconds(10000);
        o.timeout = milliseconds(120000);
        o.config_text = "load = 1\n";
        o.self.host = "127.0.0.1";
        o.self.port = listener.port();
        o.self.pid = i;
        auto rv = rendezvous::Rendezvous::Join(o);
        Ring ring = rv->WaitForRing(Deadline::After(seconds(120)));
        allreduce::TcpOptions to;
        to.timeout = milliseconds(120000);
        auto comm = allreduce::ConnectTcpRing(listener, ring, to);
        std::vector<float> buf(1024);
        for (int step = 0; step < allreduces; ++step) {
          for (std::size_t k = 0; k < buf.size(); ++k)
            buf[k] = static_cast<float>(ring.rank + 1) + static_cast<float>(k % 7);
          comm->AllreduceSum(buf);
          // Sum over ranks r=0..w-1 of (r + 1 + k%7): exact in float for these sizes.
          const float want0 = static_cast<float>(world * (world + 1) / 2);
          if (buf[0] != want0 || buf[8] != want0 + static_cast<float>(world))
            throw std::runtime_error("wrong sum at step " + std::to_string(step));
        }
        comm.reset();
        rv->Leave();
      } catch (const std::exception& e) {
        result.errors[static_cast<std::size_t>(i)] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

TEST(Load, RanksAsThreadsRepeatedLeakNothing) {
  const int world = EnvInt("RINGTRAIN_LOAD_RANKS", 64);
  const int rounds = EnvInt("RINGTRAIN_LOAD_ROUNDS", 20);
  const std::string zk = testing::ZkServer::Shared().connect();
  const std::string job = testing::UniqueJobName("load");
  auto admin =
      rendezvous::ZkSession::Connect(zk, "", milliseconds(10000), Deadline::After(seconds(30)));
  const std::string root = "/ringtrain/" + job;

  // Round 1 warms up what is created once per process (ZooKeeper client globals, logging).
  RoundResult first = RunRound(zk, job, world, 100);
  for (int i = 0; i < world; ++i) ASSERT_EQ(first.errors[static_cast<std::size_t>(i)], "") << i;
  const int fds0 = CountDir("/proc/self/fd");
  const int threads0 = CountDir("/proc/self/task");
  const int znodes0 = CountZnodes(admin, root);
  std::vector<std::string> members;
  ASSERT_EQ(admin.Children(root + "/members", &members, false), rendezvous::kZOk);
  EXPECT_TRUE(members.empty()) << members.size() << " member znodes left after round 1";
  std::printf(
      "{\"load_round\":1,\"ranks\":%d,\"seconds\":%.3f,\"fds\":%d,\"threads\":%d,"
      "\"znodes\":%d}\n",
      world, first.seconds, fds0, threads0, znodes0);

  for (int round = 2; round <= rounds; ++round) {
    RoundResult r = RunRound(zk, job, world, 100);
    for (int i = 0; i < world; ++i)
      ASSERT_EQ(r.errors[static_cast<std::size_t>(i)], "") << "round " << round << " rank " << i;
    const int fds = CountDir("/proc/self/fd");
    const int threads = CountDir("/proc/self/task");
    const int znodes = CountZnodes(admin, root);
    members.clear();
    ASSERT_EQ(admin.Children(root + "/members", &members, false), rendezvous::kZOk);
    std::printf(
        "{\"load_round\":%d,\"ranks\":%d,\"seconds\":%.3f,\"fds\":%d,\"threads\":%d,"
        "\"znodes\":%d}\n",
        round, world, r.seconds, fds, threads, znodes);
    std::fflush(stdout);
    EXPECT_TRUE(members.empty()) << members.size() << " member znodes left, round " << round;
    EXPECT_EQ(fds, fds0) << "file descriptors leaked, round " << round;
    EXPECT_EQ(threads, threads0) << "threads leaked, round " << round;
    EXPECT_EQ(znodes, znodes0) << "znodes accumulate under " << root << ", round " << round;
  }
  admin.Close();
}

}  // namespace
}  // namespace ringtrain
