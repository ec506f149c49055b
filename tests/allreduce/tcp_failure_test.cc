// Lost ranks: one that never shows up, one (a real child process) killed mid-allreduce, over
// loopback sockets and over shared-memory links. Every surviving rank gets a TransportError
// naming the lost rank within the deadline.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>

#include "allreduce/ring_checks.h"
#include "allreduce/ring_harness.h"
#include "common/error.h"
#include "support/subprocess.h"

namespace ringtrain::allreduce {
namespace {

using testing::MakeRing;
using testing::RankOutcome;

TEST(TcpFailure, RankThatNeverShowsUpIsNamedWithinTheDeadline) {
  const int world = 3;
  std::vector<TcpListener> listeners;
  listeners.push_back(TcpListener::Bind("127.0.0.1", 0));
  listeners.push_back(TcpListener::Bind("127.0.0.1", 0));
  const auto absent_port = static_cast<std::uint16_t>(ringtrain::testing::FreeLoopbackPort());
  const std::vector<std::uint16_t> ports{listeners[0].port(), listeners[1].port(), absent_port};
  TcpOptions options;
  options.timeout = std::chrono::seconds(2);
  std::vector<RankOutcome> out(2);
  std::vector<double> elapsed(2);
  std::vector<std::thread> threads;
  for (int r = 0; r < world - 1; ++r) {
    threads.emplace_back([&, r] {
      const auto start = std::chrono::steady_clock::now();
      try {
        auto comm = ConnectTcpRing(listeners[r], MakeRing(ports, r), options);
        std::vector<float> data(10, 1.0f);
        comm->AllreduceSum(std::span<float>(data));
      } catch (const std::exception& e) {
        out[r].error = std::current_exception();
        out[r].message = e.what();
      }
      elapsed[r] = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    });
  }
  for (auto& t : threads) t.join();
  const std::string name = "rank 2 (127.0.0.1:" + std::to_string(absent_port) + ")";
  for (int r = 0; r < world - 1; ++r) {
    ASSERT_TRUE(out[r].error) << "rank " << r;
    EXPECT_THROW(std::rethrow_exception(out[r].error), TransportError);
    EXPECT_NE(out[r].message.find(name), std::string::npos) << out[r].message;
    EXPECT_LT(elapsed[r], 15.0) << "no hang past the deadline";
  }
}

// Rank 3 of 4, a real child process, is SIGKILLed mid-allreduce (rank 1 is not its
// neighbour): every survivor gets a TransportError naming it well within the 20 s deadline.
// Over shared-memory links the survivors see its sockets close (checked every
// kShmWaitSlice) and say which link failed.
void CheckRankKilledMidAllreduceIsNamedByEverySurvivor(bool shared_memory) {
  const int world = 4;
  std::vector<TcpListener> listeners;
  for (int r = 0; r < world - 1; ++r) listeners.push_back(TcpListener::Bind("127.0.0.1", 0));
  const auto child_port = static_cast<std::uint16_t>(ringtrain::testing::FreeLoopbackPort());
  std::vector<std::uint16_t> ports;
  for (const auto& l : listeners) ports.push_back(l.port());
  ports.push_back(child_port);
  std::string port_list;
  for (auto p : ports) port_list += (port_list.empty() ? "" : ",") + std::to_string(p);

  std::vector<std::string> args{RINGTRAIN_RANK_HELPER, "3", port_list, "200000", "1000000"};
  if (shared_memory) args.push_back("shm");
  ringtrain::testing::Subprocess child(args);
  TcpOptions options;
  options.timeout = std::chrono::seconds(20);
  options.shared_memory = shared_memory ? SharedMemory::kAuto : SharedMemory::kOff;
  std::atomic<int> iterations{0};
  std::vector<RankOutcome> out(world - 1);
  std::vector<std::thread> threads;
  for (int r = 0; r < world - 1; ++r) {
    threads.emplace_back([&, r] {
      try {
        auto comm = ConnectTcpRing(listeners[r], MakeRing(ports, r), options);
        std::vector<double> data(200000, 1.0);
        for (int i = 0; i < 1000000; ++i) {
          comm->AllreduceSum(std::span<double>(data));
          if (r == 0) ++iterations;
        }
      } catch (const std::exception& e) {
        out[r].error = std::current_exception();
        out[r].message = e.what();
      }
    });
  }
  const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (iterations < 3 && std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_GE(iterations.load(), 3) << "the ring never ran";
  child.Signal(SIGKILL);
  const auto killed = std::chrono::steady_clock::now();
  for (auto& t : threads) t.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - killed).count();
  EXPECT_LT(seconds, 10.0) << "survivors must not wait for the 20 s deadline";
  EXPECT_EQ(child.Wait(std::chrono::seconds(10)).signal, SIGKILL);
  const std::string name = "rank 3 (127.0.0.1:" + std::to_string(child_port) + ")";
  for (int r = 0; r < world - 1; ++r) {
    ASSERT_TRUE(out[r].error) << "rank " << r;
    EXPECT_THROW(std::rethrow_exception(out[r].error), TransportError);
    EXPECT_NE(out[r].message.find(name), std::string::npos)
        << "rank " << r << ": " << out[r].message;
    EXPECT_EQ(out[r].message.find("shared-memory") != std::string::npos, shared_memory)
        << "rank " << r << " ran over the wrong link: " << out[r].message;
    // Evidence the trainer prefers to ZooKeeper's account of the lost ring (train/job.cc).
    EXPECT_EQ(testing::FailedRankOf(out[r]), 3) << "rank " << r << ": " << out[r].message;
  }
}

TEST(TcpFailure, RankKilledMidAllreduceIsNamedByEverySurvivor) {
  CheckRankKilledMidAllreduceIsNamedByEverySurvivor(false);
}

TEST(TcpFailure, RankKilledMidAllreduceOverSharedMemoryIsNamedByEverySurvivor) {
  CheckRankKilledMidAllreduceIsNamedByEverySurvivor(true);
}

TEST(TcpFailure, ADeliberateAbortNamesNoFailedRank) {
  testing::CheckADeliberateAbortNamesNoFailedRank(TcpOptions{});
}

TEST(TcpFailure, ADeliberateAbortOverSharedMemoryNamesNoFailedRank) {
  TcpOptions options;
  options.shared_memory = SharedMemory::kAuto;
  testing::CheckADeliberateAbortNamesNoFailedRank(options);
}

}  // namespace
}  // namespace ringtrain::allreduce
