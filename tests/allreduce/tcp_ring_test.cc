// N ranks as threads over real loopback TCP: every world x length x type gives exact sums
// and identical bits; 4 KiB socket buffers force partial I/O; broadcast, barrier; length
// mismatch, stray connections, deadline and Abort() behave as tcp.h promises.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <chrono>
#include <cstring>
#include <random>

#include "allreduce/handshake.h"
#include "allreduce/ring_checks.h"
#include "allreduce/ring_harness.h"
#include "common/error.h"

namespace ringtrain::allreduce {
namespace {

using testing::BindListeners;
using testing::CheckAbortFromAnotherThreadBreaksABlockedAllreduce;
using testing::CheckAllreduce;
using testing::CheckBigLength;
using testing::CheckBroadcastFromEveryRootAndBarrier;
using testing::CheckDeadlineFiresAndNamesTheSilentPeer;
using testing::CheckGatherPathAllLengths;
using testing::CheckInexactValuesGiveIdenticalBits;
using testing::CheckLengthMismatchIsATransportErrorNamingThePeer;
using testing::CheckTinySegmentsAllLengths;
using testing::Expected;
using testing::Input;
using testing::MakeRing;
using testing::PortsOf;
using testing::RunRanks;

class WorldTest : public ::testing::TestWithParam<int> {};

TcpOptions LongDeadline() {
  TcpOptions options;
  options.timeout = std::chrono::seconds(60);
  return options;
}

TEST_P(WorldTest, TinySegmentsAllLengthsFloatAndDouble) {
  CheckTinySegmentsAllLengths(GetParam(), LongDeadline());
}

// The small-collective path: whole buffers passed round, summed in rank order.
TEST_P(WorldTest, GatherPathAllLengthsFloatAndDouble) {
  CheckGatherPathAllLengths(GetParam(), LongDeadline());
}

TEST_P(WorldTest, BigLengthFloatAndDouble) { CheckBigLength(GetParam(), TcpOptions{}); }

INSTANTIATE_TEST_SUITE_P(Worlds, WorldTest, ::testing::Values(1, 2, 3, 4, 5, 7, 8));

TEST(TcpRing, FourKiBSocketBuffersForcePartialIo) {
  TcpOptions options;
  options.socket_buffer_bytes = 4096;
  options.segment_bytes = 32 * 1024;  // each message far larger than the socket buffers
  // Kept small: with 4 KiB windows loopback TCP crawls (delayed ACKs), ~1 MB/s.
  options.gather_bytes = 0;
  CheckAllreduce<double>(3, {0, 5, 10007}, options);
  CheckAllreduce<float>(4, {7, 20011}, options);
  options.gather_bytes = std::size_t{1} << 30;
  CheckAllreduce<double>(3, {5, 10007}, options);
}

TEST(TcpRing, InexactValuesGiveIdenticalBitsOnEveryRank) {
  for (const std::size_t gather_bytes : {std::size_t{0}, std::size_t{1} << 30}) {
    TcpOptions options;
    options.segment_bytes = 1024;
    options.gather_bytes = gather_bytes;
    CheckInexactValuesGiveIdenticalBits(options);
  }
}

// Start-up tuning (RingCommunicator::Tune) over 3 ranks whose TCP links moved to shared
// memory: every rank ends with the same segment sizes, and the segment size never changes a
// sum's bits: inexact random values give the same bits on every rank under the tuned sizes
// and under a pinned 4 KiB segment (so the untuned result), and integer sums stay exact.
// Loopback TCP links are not tuned (tcp_connect.cc) and a pinned segment measures nothing.
TEST(TcpRing, TunedSegmentsAreTheSameOnEveryRankAndNeverChangeTheBits) {
  constexpr int kWorld = 3;
  constexpr std::size_t kLength = 300007;  // 2.4 MB of doubles: the 4 MiB class
  using Segments = std::array<std::size_t, kSegmentClasses>;
  struct Outcome {
    Segments segments{};
    int measured = -1;
    std::vector<double> inexact;
    std::vector<double> exact;
  };
  auto run = [&](const TcpOptions& options) {
    std::vector<Outcome> out(kWorld);
    auto listeners = BindListeners(kWorld);
    auto outcomes = RunRanks(listeners, options, [&](int rank, Communicator& comm) {
      auto& ring = dynamic_cast<RingCommunicator&>(comm);
      Outcome& o = out[static_cast<std::size_t>(rank)];
      o.measured = ring.tune_result().classes_measured;
      for (int c = 0; c < kSegmentClasses; ++c) {
        o.segments[static_cast<std::size_t>(c)] =
            ring.SegmentBytesFor(kSegmentClassBytes[static_cast<std::size_t>(c)]);
      }
      std::mt19937_64 gen(1000 + static_cast<unsigned>(rank));
      std::uniform_real_distribution<double> dist(-1.0, 1.0);
      o.inexact.resize(kLength);
      for (double& x : o.inexact) x = dist(gen) * 1e-3 + dist(gen);
      comm.AllreduceSum(std::span<double>(o.inexact));
      o.exact.resize(kLength);
      for (std::size_t i = 0; i < kLength; ++i) o.exact[i] = Input<double>(i, rank);
      comm.AllreduceSum(std::span<double>(o.exact));
    });
    for (int r = 0; r < kWorld; ++r) {
      EXPECT_FALSE(outcomes[static_cast<std::size_t>(r)].error)
          << "rank " << r << ": " << outcomes[static_cast<std::size_t>(r)].message;
    }
    return out;
  };
  TcpOptions tuned = LongDeadline();
  tuned.tune = true;
  tuned.tune_budget = std::chrono::milliseconds(300);
  tuned.shared_memory = SharedMemory::kAuto;
  TcpOptions pinned = tuned;
  pinned.tune = false;
  pinned.segment_bytes = 4096;
  TcpOptions plain_tcp = tuned;
  plain_tcp.shared_memory = SharedMemory::kOff;
  const auto a = run(tuned);
  const auto b = run(pinned);
  const auto c = run(plain_tcp);
  std::vector<double> want(kLength);
  for (std::size_t i = 0; i < kLength; ++i) want[i] = Expected<double>(i, kWorld);
  for (int r = 0; r < kWorld; ++r) {
    const auto& ar = a[static_cast<std::size_t>(r)];
    const auto& br = b[static_cast<std::size_t>(r)];
    EXPECT_GE(ar.measured, 1) << "rank " << r;
    EXPECT_EQ(ar.measured, a[0].measured) << "rank " << r;
    EXPECT_EQ(ar.segments, a[0].segments) << "rank " << r << " chose other segment sizes";
    EXPECT_EQ(br.measured, 0) << "a pinned segment measures nothing";
    Segments all_4k;
    all_4k.fill(4096);
    EXPECT_EQ(br.segments, all_4k);
    ASSERT_EQ(ar.inexact.size(), kLength);
    ASSERT_EQ(br.inexact.size(), kLength);
    EXPECT_EQ(0, std::memcmp(ar.inexact.data(), a[0].inexact.data(), kLength * sizeof(double)))
        << "rank " << r << " holds other bits than rank 0";
    EXPECT_EQ(0, std::memcmp(ar.inexact.data(), br.inexact.data(), kLength * sizeof(double)))
        << "rank " << r << ": the tuned segments changed the bits";
    EXPECT_EQ(ar.exact, want) << "rank " << r;
    EXPECT_EQ(c[static_cast<std::size_t>(r)].measured, 0) << "loopback TCP links were tuned";
  }
}

TEST(TcpRing, BroadcastFromEveryRootAndBarrier) {
  TcpOptions options;
  options.segment_bytes = 1000;  // 5 segments per broadcast
  for (int world : {1, 3, 4}) CheckBroadcastFromEveryRootAndBarrier(world, 4099, options);
}

TEST(TcpRing, LengthMismatchIsATransportErrorNamingThePeer) {
  CheckLengthMismatchIsATransportErrorNamingThePeer(TcpOptions{});
}

// A raw client: connects to 127.0.0.1:port and sends `bytes` (the socket stays open).
int StrayConnect(std::uint16_t port, const std::vector<std::byte>& bytes) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  EXPECT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  if (!bytes.empty()) {
    EXPECT_EQ(::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL),
              static_cast<ssize_t>(bytes.size()));
  }
  return fd;
}

TEST(TcpRing, StrayConnectionsAreRefusedAndTheRingCompletes) {
  const int world = 3;
  auto listeners = BindListeners(world);
  const std::uint16_t port0 = listeners[0].port();
  // All claim to be rank 2, rank 0's predecessor; each is wrong in one way.
  std::vector<int> strays;
  strays.push_back(StrayConnect(port0, {}));  // silent (slow-loris)
  strays.push_back(StrayConnect(port0, EncodeHello({7, 2, 3, "job-test", "wrong-token"})));
  strays.push_back(StrayConnect(port0, EncodeHello({6, 2, 3, "job-test", "tok-123"})));
  strays.push_back(StrayConnect(port0, EncodeHello({7, 2, 3, "other-job", "tok-123"})));
  std::vector<std::byte> junk(64);
  std::mt19937 rng(42);
  for (auto& b : junk) b = static_cast<std::byte>(rng() & 0xff);
  strays.push_back(StrayConnect(port0, junk));
  // The wrong-token stray learns it was refused.
  std::vector<std::vector<float>> results(world);
  auto outcomes = RunRanks(listeners, TcpOptions{}, [&](int rank, Communicator& comm) {
    std::vector<float> data(1001);
    for (std::size_t i = 0; i < data.size(); ++i) data[i] = Input<float>(i, rank);
    comm.AllreduceSum(std::span<float>(data));
    results[static_cast<std::size_t>(rank)] = data;
  });
  for (const auto& o : outcomes) ASSERT_FALSE(o.error) << o.message;
  for (int r = 0; r < world; ++r) {
    for (std::size_t i = 0; i < results[r].size(); ++i) {
      ASSERT_EQ(results[r][i], Expected<float>(i, world));
    }
  }
  // Strays still unread when the real predecessor arrived are closed unanswered; none is
  // ever told "accepted".
  for (int fd : strays) {
    std::byte reply[kReplyBytes];
    const ssize_t n = ::recv(fd, reply, sizeof(reply), MSG_WAITALL | MSG_DONTWAIT);
    if (n == static_cast<ssize_t>(sizeof(reply))) {
      const auto decoded = DecodeReply(reply);
      ASSERT_TRUE(decoded);
      EXPECT_NE(decoded->status, HelloStatus::kOk);
    }
  }
  for (int fd : strays) ::close(fd);
}

// Deterministic refusal: rank 0 waits in its accept loop (rank 1 not started yet) while a
// wrong-token stray is answered "wrong job token"; then rank 1 joins and the ring works.
TEST(TcpRing, WrongTokenIsAnsweredWhileTheRingWaitsForItsPredecessor) {
  auto listeners = BindListeners(2);
  const auto ports = PortsOf(listeners);
  TcpOptions options;
  options.timeout = std::chrono::seconds(30);
  std::vector<float> result0(5, 1.0f);
  std::vector<float> result1(5, 2.0f);
  std::string error0;
  std::string error1;
  std::thread rank0([&] {
    try {
      auto comm = ConnectTcpRing(listeners[0], MakeRing(ports, 0), options);
      comm->AllreduceSum(std::span<float>(result0));
    } catch (const std::exception& e) {
      error0 = e.what();
    }
  });
  const int stray = StrayConnect(ports[0], EncodeHello({7, 1, 2, "job-test", "wrong-token"}));
  timeval tv{20, 0};
  ::setsockopt(stray, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::byte reply[kReplyBytes];
  const ssize_t n = ::recv(stray, reply, sizeof(reply), MSG_WAITALL);
  std::thread rank1([&] {
    try {
      auto comm = ConnectTcpRing(listeners[1], MakeRing(ports, 1), options);
      comm->AllreduceSum(std::span<float>(result1));
    } catch (const std::exception& e) {
      error1 = e.what();
    }
  });
  rank0.join();
  rank1.join();
  ::close(stray);
  ASSERT_EQ(n, static_cast<ssize_t>(sizeof(reply)));
  const auto decoded = DecodeReply(reply);
  ASSERT_TRUE(decoded);
  EXPECT_EQ(decoded->status, HelloStatus::kWrongToken);
  EXPECT_EQ(decoded->rank, 0);
  EXPECT_TRUE(error0.empty()) << error0;
  EXPECT_TRUE(error1.empty()) << error1;
  EXPECT_EQ(result0, std::vector<float>(5, 3.0f));
  EXPECT_EQ(result1, std::vector<float>(5, 3.0f));
}

TEST(TcpRing, AbortFromAnotherThreadBreaksABlockedAllreduce) {
  CheckAbortFromAnotherThreadBreaksABlockedAllreduce(TcpOptions{});
}

TEST(TcpRing, DeadlineFiresAndNamesTheSilentPeer) {
  CheckDeadlineFiresAndNamesTheSilentPeer(TcpOptions{});
}

// A connect waiting for a successor that never comes ends at once on AbortConnect of its
// generation (the ring is known to be gone), not at its deadline; an abort of an older
// generation leaves the next generation's connect alone.
TEST(TcpRing, AbortConnectStopsAWaitingConnectAndSparesNewerGenerations) {
  auto listeners = BindListeners(2);
  const auto ports = PortsOf(listeners);
  TcpOptions options;
  options.timeout = std::chrono::seconds(30);
  std::string message;
  const auto t0 = std::chrono::steady_clock::now();
  std::thread aborter([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    listeners[0].AbortConnect(7);
  });
  try {
    ConnectTcpRing(listeners[0], MakeRing(ports, 0, /*generation=*/7), options);
  } catch (const TransportError& e) {
    message = e.what();
  }
  aborter.join();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_NE(message.find("generation 7 was aborted"), std::string::npos) << message;
  EXPECT_LT(seconds, 5.0) << "the abort did not end the connect before its 30 s deadline";

  // Generation 8 on the same listeners: both ranks connect and sum although 7 was aborted.
  auto outcomes = RunRanks(
      listeners, options,
      [](int rank, Communicator& comm) {
        std::vector<double> data(3, rank + 1.0);
        comm.AllreduceSum(std::span<double>(data));
        if (data[0] != 3.0) throw std::runtime_error("wrong sum");
      },
      [&](int rank) { return MakeRing(ports, rank, /*generation=*/8); });
  for (const auto& o : outcomes) EXPECT_FALSE(o.error) << o.message;
}

}  // namespace
}  // namespace ringtrain::allreduce
