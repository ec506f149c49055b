// A rank whose links run through shared memory, a real child process, SIGKILLed mid-allreduce:
// every survivor gets a TransportError naming it well within the deadline (its sockets close,
// which a waiting rank checks every kShmWaitSlice), and the child's segments vanish with it.
#include <gtest/gtest.h>
#include <signal.h>

#include <atomic>
#include <chrono>

#include "allreduce/ring_harness.h"
#include "common/error.h"
#include "support/subprocess.h"

namespace ringtrain::allreduce {
namespace {

using testing::MakeRing;
using testing::RankOutcome;

TEST(ShmFailure, RankKilledMidAllreduceIsNamedByEverySurvivor) {
  const int world = 4;  // rank 3 is a child process; rank 1 is not its neighbour
  std::vector<TcpListener> listeners;
  for (int r = 0; r < world - 1; ++r) listeners.push_back(TcpListener::Bind("127.0.0.1", 0));
  const auto child_port = static_cast<std::uint16_t>(ringtrain::testing::FreeLoopbackPort());
  std::vector<std::uint16_t> ports;
  for (const auto& l : listeners) ports.push_back(l.port());
  ports.push_back(child_port);
  std::string port_list;
  for (auto p : ports) port_list += (port_list.empty() ? "" : ",") + std::to_string(p);

  ringtrain::testing::Subprocess child(
      {RINGTRAIN_RANK_HELPER, "3", port_list, "200000", "1000000", "shm"});
  TcpOptions options;
  options.timeout = std::chrono::seconds(20);
  options.shared_memory = SharedMemory::kAuto;
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
    EXPECT_NE(out[r].message.find("shared-memory"), std::string::npos)
        << "rank " << r << " did not run over shared memory: " << out[r].message;
  }
}

}  // namespace
}  // namespace ringtrain::allreduce
