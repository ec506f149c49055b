// tests/allreduce/ring_checks.h — the checks every same-ring transport must pass, run by
// tcp_ring_test.cc (loopback sockets) and shm_ring_test.cc (shared-memory links) with their
// own TcpOptions: exact sums and identical bits, inexact values, broadcast and barrier, a
// length mismatch, Abort() from another thread, and the deadline. Threads as ranks over real
// loopback connections (ring_harness.h).
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "allreduce/ring_harness.h"
#include "common/error.h"

// Sanitizer builds define a smaller one (tests/allreduce/CMakeLists.txt).
#ifndef RINGTRAIN_TEST_BIG_LENGTH
#define RINGTRAIN_TEST_BIG_LENGTH ((1u << 20) + 3)
#endif

namespace ringtrain::allreduce::testing {

// Exact in float and double: small integers.
template <typename T>
T Input(std::size_t i, int rank) {
  return static_cast<T>((i * 7 + static_cast<std::size_t>(rank) * 13) % 4096);
}
template <typename T>
T Expected(std::size_t i, int world) {
  std::uint64_t s = 0;
  for (int r = 0; r < world; ++r) s += (i * 7 + static_cast<std::size_t>(r) * 13) % 4096;
  return static_cast<T>(s);
}

inline std::vector<std::size_t> Lengths(int world) {
  const auto w = static_cast<std::size_t>(world);
  return {0, 1, w - 1, w, w + 1, 1009};
}

// Runs one allreduce per length on every rank; checks the sums and identical bits.
template <typename T>
void CheckAllreduce(int world, const std::vector<std::size_t>& lengths, const TcpOptions& options) {
  auto listeners = BindListeners(world);
  std::vector<std::vector<std::vector<T>>> results(static_cast<std::size_t>(world));
  auto outcomes = RunRanks(listeners, options, [&](int rank, Communicator& comm) {
    for (std::size_t n : lengths) {
      std::vector<T> data(n);
      for (std::size_t i = 0; i < n; ++i) data[i] = Input<T>(i, rank);
      comm.AllreduceSum(std::span<T>(data));
      results[static_cast<std::size_t>(rank)].push_back(std::move(data));
    }
  });
  for (int r = 0; r < world; ++r) {
    ASSERT_FALSE(outcomes[static_cast<std::size_t>(r)].error)
        << "rank " << r << ": " << outcomes[static_cast<std::size_t>(r)].message;
  }
  for (std::size_t k = 0; k < lengths.size(); ++k) {
    const auto& ref = results[0][k];
    ASSERT_EQ(ref.size(), lengths[k]);
    for (std::size_t i = 0; i < ref.size(); ++i) {
      ASSERT_EQ(ref[i], Expected<T>(i, world))
          << "world " << world << " length " << lengths[k] << " index " << i;
    }
    for (int r = 1; r < world; ++r) {
      const auto& mine = results[static_cast<std::size_t>(r)][k];
      ASSERT_EQ(mine.size(), ref.size());
      ASSERT_TRUE(ref.empty() || std::memcmp(mine.data(), ref.data(), ref.size() * sizeof(T)) == 0)
          << "rank " << r << " differs from rank 0 at length " << lengths[k];
    }
  }
}

// The per-world checks every transport runs, over `base` (its TcpOptions), float and double:
// tiny segments on the reduce-scatter + all-gather path (many and empty segments, short
// chunks) at every length of Lengths(); the whole-buffer path at the same lengths; one big
// length in 64 KiB segments.
inline void CheckTinySegmentsAllLengths(int world, TcpOptions options) {
  options.segment_bytes = 16;
  options.gather_bytes = 0;  // always reduce-scatter + all-gather
  CheckAllreduce<float>(world, Lengths(world), options);
  CheckAllreduce<double>(world, Lengths(world), options);
}
inline void CheckGatherPathAllLengths(int world, TcpOptions options) {
  options.gather_bytes = std::size_t{1} << 30;
  CheckAllreduce<float>(world, Lengths(world), options);
  CheckAllreduce<double>(world, Lengths(world), options);
}
inline void CheckBigLength(int world, TcpOptions options) {
  options.segment_bytes = std::size_t{64} * 1024;
  options.gather_bytes = 0;
  CheckAllreduce<float>(world, {RINGTRAIN_TEST_BIG_LENGTH}, options);
  CheckAllreduce<double>(world, {RINGTRAIN_TEST_BIG_LENGTH}, options);
}

// Random inexact doubles on 5 ranks: every rank ends with the same bits.
inline void CheckInexactValuesGiveIdenticalBits(const TcpOptions& options) {
  const int world = 5;
  auto listeners = BindListeners(world);
  std::vector<std::vector<double>> results(world);
  auto outcomes = RunRanks(listeners, options, [&](int rank, Communicator& comm) {
    std::mt19937_64 rng(static_cast<std::uint64_t>(rank) + 1);
    std::uniform_real_distribution<double> dist(-1.0, 1.0);
    std::vector<double> data(10007);
    for (double& x : data) x = dist(rng) * 1e-3 + 0.1;
    comm.AllreduceSum(std::span<double>(data));
    results[static_cast<std::size_t>(rank)] = data;
  });
  for (const auto& o : outcomes) ASSERT_FALSE(o.error) << o.message;
  for (int r = 1; r < world; ++r) {
    ASSERT_EQ(std::memcmp(results[r].data(), results[0].data(), results[0].size() * 8), 0)
        << "gather_bytes " << options.gather_bytes << " rank " << r;
  }
  EXPECT_NEAR(results[0][0], 0.5, 0.01);
}

// A broadcast of `bytes` bytes from every root in turn, each followed by a barrier.
inline void CheckBroadcastFromEveryRootAndBarrier(int world, std::size_t bytes,
                                                  const TcpOptions& options) {
  auto listeners = BindListeners(world);
  std::vector<std::vector<std::vector<std::byte>>> got(world);
  auto outcomes = RunRanks(listeners, options, [&](int rank, Communicator& comm) {
    for (int root = 0; root < world; ++root) {
      std::vector<std::byte> buf(bytes, std::byte{0});
      if (rank == root) {
        for (std::size_t i = 0; i < buf.size(); ++i) {
          buf[i] = static_cast<std::byte>((i * 31 + static_cast<std::size_t>(root)) & 0xff);
        }
      }
      comm.Broadcast(std::span<std::byte>(buf), root);
      got[static_cast<std::size_t>(rank)].push_back(buf);
      comm.Barrier();
    }
  });
  for (const auto& o : outcomes) ASSERT_FALSE(o.error) << o.message;
  for (int r = 0; r < world; ++r) {
    for (int root = 0; root < world; ++root) {
      const auto& buf = got[r][root];
      for (std::size_t i = 0; i < buf.size(); ++i) {
        ASSERT_EQ(buf[i], static_cast<std::byte>((i * 31 + static_cast<std::size_t>(root)) & 0xff))
            << "world " << world << " rank " << r << " root " << root;
      }
    }
  }
}

// Rank 1 of 3 passes 10 elements, the others 11: every rank fails with a TransportError
// naming the generation, and at least one names the mismatch.
inline void CheckLengthMismatchIsATransportErrorNamingThePeer(TcpOptions options) {
  const int world = 3;
  auto listeners = BindListeners(world);
  options.timeout = std::chrono::seconds(20);
  auto outcomes = RunRanks(listeners, options, [&](int rank, Communicator& comm) {
    std::vector<float> data(rank == 1 ? 10 : 11, 1.0f);
    comm.AllreduceSum(std::span<float>(data));
  });
  int mismatches = 0;
  for (int r = 0; r < world; ++r) {
    const auto& o = outcomes[static_cast<std::size_t>(r)];
    ASSERT_TRUE(o.error) << "rank " << r << " did not fail";
    EXPECT_THROW(std::rethrow_exception(o.error), TransportError);
    EXPECT_NE(o.message.find("generation 7"), std::string::npos) << o.message;
    if (o.message.find("mismatch") != std::string::npos) {
      ++mismatches;
      EXPECT_NE(o.message.find("of 10 elements"), std::string::npos) << o.message;
    }
  }
  EXPECT_GE(mismatches, 1);
}

// Rank 1 never joins; another thread aborts rank 0's blocked allreduce after 200 ms: it
// throws "aborted" long before its 60 s timeout.
inline void CheckAbortFromAnotherThreadBreaksABlockedAllreduce(TcpOptions options) {
  auto listeners = BindListeners(2);
  options.timeout = std::chrono::seconds(60);
  std::atomic<bool> rank0_done{false};
  double seconds_blocked = 0;
  auto outcomes = RunRanks(listeners, options, [&](int rank, Communicator& comm) {
    if (rank == 1) {  // never joins the collective; waits (bounded) for rank 0 to give up
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      while (!rank0_done && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      return;
    }
    std::thread aborter([&comm] {
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
      comm.Abort();
    });
    const auto start = std::chrono::steady_clock::now();
    std::vector<double> data(1 << 16, 1.0);
    try {
      comm.AllreduceSum(std::span<double>(data));
    } catch (...) {
      seconds_blocked =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      rank0_done = true;
      aborter.join();
      throw;
    }
    rank0_done = true;
    aborter.join();
  });
  ASSERT_TRUE(outcomes[0].error) << "rank 0 was not aborted";
  EXPECT_THROW(std::rethrow_exception(outcomes[0].error), TransportError);
  EXPECT_NE(outcomes[0].message.find("aborted"), std::string::npos) << outcomes[0].message;
  EXPECT_LT(seconds_blocked, 30.0);  // far below the 60 s timeout: the abort, not the deadline
  EXPECT_FALSE(outcomes[1].error) << outcomes[1].message;
}

// TransportError::failed_rank of an outcome (-2: no TransportError).
inline int FailedRankOf(const RankOutcome& o) {
  try {
    std::rethrow_exception(o.error);
  } catch (const TransportError& e) {
    return e.failed_rank;
  } catch (...) {
  }
  return -2;
}

// Rank 1 of 4 aborts by its own decision (as when ZooKeeper says the ring is lost) while all
// four loop on allreduces: every rank fails, the neighbours from rank 1's notice and rank 3
// from a notice passed on, and none may take rank 1 for a failed rank (the trainer would then
// name it as the cause instead of ZooKeeper's account).
inline void CheckADeliberateAbortNamesNoFailedRank(TcpOptions options) {
  auto listeners = BindListeners(4);
  options.timeout = std::chrono::seconds(30);
  auto outcomes = RunRanks(listeners, options, [&](int rank, Communicator& comm) {
    std::thread aborter;
    if (rank == 1) {
      aborter = std::thread([&comm] {
        std::this_thread::sleep_for(std::chrono::milliseconds(100));
        comm.Abort();
      });
    }
    std::vector<double> data(1 << 14, 1.0);
    try {
      for (int i = 0; i < 10000000; ++i) comm.AllreduceSum(std::span<double>(data));
    } catch (...) {
      if (aborter.joinable()) aborter.join();
      throw;
    }
    if (aborter.joinable()) aborter.join();
  });
  for (int r = 0; r < 4; ++r) {
    ASSERT_TRUE(outcomes[static_cast<std::size_t>(r)].error) << "rank " << r << " not stopped";
    EXPECT_EQ(FailedRankOf(outcomes[static_cast<std::size_t>(r)]), -1)
        << "rank " << r << ": " << outcomes[static_cast<std::size_t>(r)].message;
  }
  EXPECT_NE(outcomes[1].message.find("aborted by this rank"), std::string::npos)
      << outcomes[1].message;
}

// Rank 1 never joins: rank 0's allreduce ends at its 500 ms deadline naming rank 1.
inline void CheckDeadlineFiresAndNamesTheSilentPeer(TcpOptions options) {
  auto listeners = BindListeners(2);
  const auto ports = PortsOf(listeners);
  options.timeout = std::chrono::milliseconds(500);
  std::atomic<bool> rank0_done{false};
  double seconds = 0;
  auto outcomes = RunRanks(listeners, options, [&](int rank, Communicator& comm) {
    if (rank == 1) {
      const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
      while (!rank0_done && std::chrono::steady_clock::now() < until) {
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
      }
      return;
    }
    std::vector<float> data(100, 1.0f);
    const auto start = std::chrono::steady_clock::now();
    try {
      comm.AllreduceSum(std::span<float>(data));
    } catch (...) {
      seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      rank0_done = true;
      throw;
    }
    rank0_done = true;
  });
  ASSERT_TRUE(outcomes[0].error);
  EXPECT_NE(outcomes[0].message.find("deadline"), std::string::npos) << outcomes[0].message;
  EXPECT_NE(outcomes[0].message.find("rank 1 (127.0.0.1:" + std::to_string(ports[1]) + ")"),
            std::string::npos)
      << outcomes[0].message;
  EXPECT_GE(seconds, 0.45);
  EXPECT_LT(seconds, 15.0);
}

}  // namespace ringtrain::allreduce::testing
