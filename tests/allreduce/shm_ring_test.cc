// N ranks as threads whose ring links run through shared memory (TcpOptions::shared_memory =
// kAuto over real loopback connections): every world x length x type gives exact sums and
// identical bits; a segment smaller than a message forces wraparound and partial copies; a rank
// with shared memory off keeps the whole ring on TCP; mismatch, deadline and Abort() behave as
// on TCP; no segment name is left in /dev/shm.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <random>

#include "allreduce/ring_checks.h"
#include "allreduce/ring_harness.h"
#include "allreduce/shm_transport.h"
#include "allreduce/tcp_transport.h"
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

TcpOptions ShmOptions() {
  TcpOptions options;
  options.timeout = std::chrono::seconds(60);
  options.shared_memory = SharedMemory::kAuto;
  return options;
}

class ShmWorldTest : public ::testing::TestWithParam<int> {};

TEST_P(ShmWorldTest, TinySegmentsAllLengthsFloatAndDouble) {
  CheckTinySegmentsAllLengths(GetParam(), ShmOptions());
}

TEST_P(ShmWorldTest, GatherPathAllLengthsFloatAndDouble) {
  CheckGatherPathAllLengths(GetParam(), ShmOptions());
}

TEST_P(ShmWorldTest, BigLengthFloatAndDouble) { CheckBigLength(GetParam(), ShmOptions()); }

INSTANTIATE_TEST_SUITE_P(Worlds, ShmWorldTest, ::testing::Values(1, 2, 3, 4, 5, 8));

bool ShmNameExists(const std::string& name) {
  return ::access(("/dev/shm" + name).c_str(), F_OK) == 0;
}

// The segment itself: a receiver maps only a ringtrain name holding the offered nonce (and
// never unlinks anything else); bytes written through one mapping come out of the other in
// order, across the wrap point, never more than the capacity at once.
TEST(ShmRing, SegmentRefusesForeignNamesAndCarriesBytesAcrossTheWrap) {
  std::string error;
  auto sender = internal::ShmRing::Create(4096, &error);
  ASSERT_TRUE(sender) << error;
  EXPECT_EQ(sender->capacity(), 4096u);
  ASSERT_TRUE(ShmNameExists(sender->name())) << sender->name();
  EXPECT_FALSE(internal::ShmRing::Open(sender->name(), 4096, sender->nonce() + 1, &error));
  EXPECT_NE(error.find("not the one offered"), std::string::npos) << error;
  EXPECT_TRUE(ShmNameExists(sender->name())) << "a refused segment must not be unlinked";
  EXPECT_FALSE(internal::ShmRing::Open("/vader_segment.x", 4096, 0, &error));
  EXPECT_NE(error.find("not a ringtrain segment"), std::string::npos) << error;
  EXPECT_FALSE(internal::ShmRing::Open(sender->name(), 3000, sender->nonce(), &error));

  auto receiver = internal::ShmRing::Open(sender->name(), 4096, sender->nonce(), &error);
  ASSERT_TRUE(receiver) << error;
  EXPECT_FALSE(ShmNameExists(sender->name())) << "the receiver unlinks the name";
  std::vector<std::byte> in(10007), out(10007);
  for (std::size_t i = 0; i < in.size(); ++i) in[i] = static_cast<std::byte>(i * 131 % 251);
  std::size_t written = 0, read = 0;
  for (int round = 0; read < in.size(); ++round) {
    ASSERT_LT(round, 100);
    const std::size_t w = sender->Write(in.data() + written, in.size() - written);
    EXPECT_LE(written + w - read, 4096u) << "more than the capacity in flight";
    written += w;
    read += receiver->Read(out.data() + read, std::min<std::size_t>(1000, in.size() - read));
  }
  EXPECT_EQ(in, out);
  EXPECT_EQ(receiver->Read(out.data(), 1), 0u) << "an empty segment reads nothing";
}

// A segment whose creator died before its successor mapped it is removed by the next Create;
// one of a live process (this one) is left alone.
TEST(ShmRing, CreateRemovesSegmentsLeftByDeadProcesses) {
  const pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) ::_exit(0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);  // `child` is now a pid of no process
  const std::string dead = "/ringtrain-" + std::to_string(child) + "-00000000deadbeef";
  const std::string live = "/ringtrain-" + std::to_string(::getpid()) + "-00000000feedf00d";
  for (const std::string& name : {dead, live}) {
    const int fd = ::shm_open(name.c_str(), O_CREAT | O_EXCL | O_RDWR, 0600);
    ASSERT_GE(fd, 0) << name;
    ::close(fd);
  }
  std::string error;
  auto ring = internal::ShmRing::Create(4096, &error);
  ASSERT_TRUE(ring) << error;
  EXPECT_FALSE(ShmNameExists(dead)) << "left by a dead process: removed";
  EXPECT_TRUE(ShmNameExists(live)) << "of a live process: kept";
  ::shm_unlink(live.c_str());
}

// 4 KiB segments, 32 KiB messages: every message wraps round its segment many times and is
// copied in partial pieces on both sides; odd lengths misalign the wrap point.
TEST(ShmRing, SegmentSmallerThanAMessageWrapsAround) {
  TcpOptions options = ShmOptions();
  options.shm_ring_bytes = 4096;
  options.segment_bytes = std::size_t{32} * 1024;
  options.gather_bytes = 0;
  CheckAllreduce<double>(3, {0, 5, 10007, 100003}, options);
  CheckAllreduce<float>(4, {7, 20011}, options);
  options.gather_bytes = std::size_t{1} << 30;  // whole buffers of 80 KB through 4 KiB
  CheckAllreduce<double>(3, {5, 10007}, options);
}

// The transport really is shared memory when every rank asks for it, and TCP on every rank
// when one rank does not (the vote), with the same sums either way; no name stays in /dev/shm.
TEST(ShmRing, AllRanksSwitchOrNone) {
  for (int off_rank : {-1, 2}) {
    const int world = 4;
    auto listeners = BindListeners(world);
    const auto ports = PortsOf(listeners);
    std::vector<std::string> kinds(world);
    std::vector<std::string> errors(world);
    std::vector<std::vector<double>> results(world);
    std::vector<std::thread> threads;
    for (int r = 0; r < world; ++r) {
      threads.emplace_back([&, r] {
        try {
          TcpOptions options = ShmOptions();
          if (r == off_rank) options.shared_memory = SharedMemory::kOff;
          auto transport = ConnectTcpTransport(listeners[r], MakeRing(ports, r), options);
          kinds[r] = dynamic_cast<internal::ShmTransport*>(transport.get())   ? "shm"
                     : dynamic_cast<internal::TcpTransport*>(transport.get()) ? "tcp"
                                                                              : "?";
          RingCommunicator comm(std::move(transport), r, world, RingOptions{});
          std::vector<double> data(100003);
          for (std::size_t i = 0; i < data.size(); ++i) data[i] = Input<double>(i, r);
          comm.AllreduceSum(std::span<double>(data));
          results[r] = std::move(data);
        } catch (const std::exception& e) {
          errors[r] = e.what();
        }
      });
    }
    for (auto& t : threads) t.join();
    for (int r = 0; r < world; ++r) {
      ASSERT_TRUE(errors[r].empty()) << "rank " << r << ": " << errors[r];
      EXPECT_EQ(kinds[r], off_rank < 0 ? "shm" : "tcp") << "rank " << r << " off " << off_rank;
      for (std::size_t i = 0; i < results[r].size(); i += 997) {
        ASSERT_EQ(results[r][i], Expected<double>(i, world)) << "rank " << r << " index " << i;
      }
    }
    const std::string prefix = "ringtrain-" + std::to_string(::getpid()) + "-";
    DIR* dir = ::opendir("/dev/shm");
    ASSERT_NE(dir, nullptr);
    int left = 0;
    while (dirent* e = ::readdir(dir))
      left += std::strncmp(e->d_name, prefix.c_str(), prefix.size()) == 0;
    ::closedir(dir);
    EXPECT_EQ(left, 0) << "segment names left in /dev/shm";
  }
}

TEST(ShmRing, InexactValuesGiveIdenticalBitsOnEveryRank) {
  TcpOptions options = ShmOptions();
  options.segment_bytes = 1024;
  options.gather_bytes = 0;
  CheckInexactValuesGiveIdenticalBits(options);
}

// The receiver adds straight out of the shared segment (Transport::StartAddExchange); the sums
// must keep the TCP ring's order exactly. Inexact values of mixed magnitudes (so the order
// shows in the bits) on worlds 2, 3, 4, odd lengths, float and double: every rank of the shm
// ring holds the TCP ring's bits. The 4 KiB-ring case first broadcasts an odd number of bytes,
// so messages start misaligned (padding) and elements arrive in parts.
template <typename T>
std::vector<std::vector<T>> RandomSums(int world, const std::vector<std::size_t>& lengths,
                                       const TcpOptions& options) {
  auto listeners = BindListeners(world);
  std::vector<std::vector<T>> out(static_cast<std::size_t>(world));
  auto outcomes = testing::RunRanks(listeners, options, [&](int rank, Communicator& comm) {
    std::vector<std::byte> odd(4093, std::byte{1});
    comm.Broadcast(std::span<std::byte>(odd), 0);
    std::mt19937_64 rng(static_cast<std::uint64_t>(rank) * 7919 + 11);
    std::uniform_real_distribution<double> mantissa(-1.0, 1.0);
    std::uniform_int_distribution<int> exponent(-6, 6);
    auto& mine = out[static_cast<std::size_t>(rank)];
    for (std::size_t n : lengths) {
      std::vector<T> data(n);
      for (T& x : data) x = static_cast<T>(mantissa(rng) * std::ldexp(1.0, 3 * exponent(rng)));
      comm.AllreduceSum(std::span<T>(data));
      mine.insert(mine.end(), data.begin(), data.end());
    }
  });
  for (const auto& o : outcomes) EXPECT_FALSE(o.error) << o.message;
  return out;
}

template <typename T>
void CheckShmGivesTheTcpRingsBits(TcpOptions tcp, const char* what) {
  TcpOptions shm = tcp;
  shm.shared_memory = SharedMemory::kAuto;
  tcp.shared_memory = SharedMemory::kOff;
  for (int world : {2, 3, 4}) {
    const auto w = static_cast<std::size_t>(world);
    const std::vector<std::size_t> lengths = {1, w + 1, 1009, 30011, 300007};
    const auto want = RandomSums<T>(world, lengths, tcp);
    const auto got = RandomSums<T>(world, lengths, shm);
    ASSERT_EQ(want.size(), got.size());
    for (std::size_t r = 0; r < w; ++r) {
      ASSERT_EQ(got[r].size(), want[0].size()) << what << " world " << world << " rank " << r;
      ASSERT_EQ(want[r].size(), want[0].size()) << what << " world " << world << " rank " << r;
      EXPECT_EQ(std::memcmp(want[r].data(), want[0].data(), want[0].size() * sizeof(T)), 0)
          << what << " world " << world << ": TCP ranks differ";
      for (std::size_t i = 0; i < got[r].size(); ++i) {
        ASSERT_EQ(std::memcmp(&got[r][i], &want[0][i], sizeof(T)), 0)
            << what << " world " << world << " rank " << r << " element " << i << ": shm "
            << got[r][i] << ", tcp " << want[0][i];
      }
    }
  }
}

TEST(ShmRing, AddingOutOfTheSegmentGivesTheTcpRingsBits) {
  TcpOptions options = ShmOptions();
  options.gather_bytes = 0;  // the segmented path (reduce-scatter + all-gather) at every length
  CheckShmGivesTheTcpRingsBits<double>(options, "default segments, double");
  CheckShmGivesTheTcpRingsBits<float>(options, "default segments, float");
  options.segment_bytes = 1000;
  options.shm_ring_bytes = 4096;
  CheckShmGivesTheTcpRingsBits<double>(options, "1000-byte segments, 4 KiB rings, double");
  CheckShmGivesTheTcpRingsBits<float>(options, "1000-byte segments, 4 KiB rings, float");
}

// 4 KiB segments under 40 KiB broadcasts: every segment wraps.
TEST(ShmRing, BroadcastFromEveryRootAndBarrier) {
  TcpOptions options = ShmOptions();
  options.segment_bytes = 1000;
  options.shm_ring_bytes = 4096;
  CheckBroadcastFromEveryRootAndBarrier(4, 40099, options);
}

TEST(ShmRing, LengthMismatchIsATransportErrorNamingThePeer) {
  CheckLengthMismatchIsATransportErrorNamingThePeer(ShmOptions());
}

TEST(ShmRing, AbortFromAnotherThreadBreaksABlockedAllreduce) {
  CheckAbortFromAnotherThreadBreaksABlockedAllreduce(ShmOptions());
}

TEST(ShmRing, DeadlineFiresAndNamesTheSilentPeer) {
  CheckDeadlineFiresAndNamesTheSilentPeer(ShmOptions());
}

}  // namespace
}  // namespace ringtrain::allreduce
