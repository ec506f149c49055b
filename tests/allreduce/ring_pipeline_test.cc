// The ring's pipelining with several exchanges in flight, threads as ranks over an in-process
// transport that copies what is sent at StartExchange (as an eager MPI send does) and delivers
// it after a random delay: an exchange started before the data it sends on is final would send
// a stale partial sum and fail the exact-sum check. Every (world, length, segment, depth) mix;
// the MPI transport itself (depth 3) is checked against MPI_Allreduce under mpiexec
// (tests/mpi).
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <memory>
#include <mutex>
#include <random>
#include <thread>
#include <vector>

#include "allreduce/ring_checks.h"
#include "allreduce/ring_communicator.h"
#include "allreduce/ring_harness.h"
#include "common/error.h"

namespace ringtrain::allreduce {
namespace {

struct Message {
  MessageTag tag;
  std::vector<std::byte> bytes;
};

// One inbox per rank: what its predecessor sent, in order.
struct Inbox {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Message> queue;
};

class QueueTransport final : public Transport {
 public:
  QueueTransport(Ring ring, std::vector<std::unique_ptr<Inbox>>* inboxes, int depth, unsigned seed)
      : ring_(std::move(ring)), inboxes_(inboxes), depth_(depth), rng_(seed) {}

  const Ring& ring() const override { return ring_; }
  int MaxExchangesInFlight() const override { return depth_; }

  void StartExchange(const MessageTag& tag, std::span<const std::byte> send,
                     std::span<std::byte> recv, Deadline /*deadline*/) override {
    if (static_cast<int>(pending_.size()) == depth_) {
      throw UsageError("more exchanges in flight than MaxExchangesInFlight", "test transport");
    }
    Send(tag, send);
    pending_.push_back({tag, recv});
  }
  void FinishExchange(Deadline deadline) override {
    if (pending_.empty()) throw UsageError("FinishExchange without StartExchange", "test");
    const auto [tag, recv] = pending_.front();
    pending_.pop_front();
    Receive(tag, recv, deadline);
  }
  void SendToNext(const MessageTag& tag, std::span<const std::byte> data, Deadline) override {
    Send(tag, data);
  }
  void RecvFromPrev(const MessageTag& tag, std::span<std::byte> data, Deadline deadline) override {
    Receive(tag, data, deadline);
  }
  void Abort() override {}

 private:
  void Send(const MessageTag& tag, std::span<const std::byte> data) {
    Message m{tag, std::vector<std::byte>(data.begin(), data.end())};  // the data as of now
    Inbox& box = *(*inboxes_)[static_cast<std::size_t>(ring_.next())];
    {
      std::lock_guard<std::mutex> lock(box.mu);
      box.queue.push_back(std::move(m));
    }
    box.cv.notify_all();
  }
  void Receive(const MessageTag& tag, std::span<std::byte> into, Deadline deadline) {
    // A random pause, so ranks drift apart and the pipeline fills and drains.
    if (std::uniform_int_distribution<int>(0, 15)(rng_) == 0) {
      std::this_thread::sleep_for(
          std::chrono::microseconds(std::uniform_int_distribution<int>(0, 100)(rng_)));
    }
    Inbox& box = *(*inboxes_)[static_cast<std::size_t>(ring_.rank)];
    std::unique_lock<std::mutex> lock(box.mu);
    if (!box.cv.wait_for(lock, std::chrono::milliseconds(deadline.RemainingMs()),
                         [&] { return !box.queue.empty(); })) {
      throw PeerError(ring_, ring_.prev(), "nothing from the predecessor before the deadline");
    }
    Message m = std::move(box.queue.front());
    box.queue.pop_front();
    lock.unlock();
    if (!(m.tag == tag) || m.bytes.size() != into.size()) {
      throw PeerError(ring_, ring_.prev(), "collective mismatch in the test transport");
    }
    if (!into.empty()) std::memcpy(into.data(), m.bytes.data(), into.size());
  }

  struct Pending {
    MessageTag tag;
    std::span<std::byte> recv;
  };
  Ring ring_;
  std::vector<std::unique_ptr<Inbox>>* inboxes_;
  int depth_;
  std::mt19937 rng_;
  std::deque<Pending> pending_;
};

// Every rank sums `lengths` in turn; the sums must be exact and the bits identical everywhere.
template <typename T>
void CheckPipelinedRing(int world, int depth, std::size_t segment_bytes,
                        const std::vector<std::size_t>& lengths) {
  std::vector<std::unique_ptr<Inbox>> inboxes;
  for (int r = 0; r < world; ++r) inboxes.push_back(std::make_unique<Inbox>());
  const std::vector<std::uint16_t> ports(static_cast<std::size_t>(world), 1);
  std::vector<std::vector<std::vector<T>>> results(static_cast<std::size_t>(world));
  std::vector<std::string> errors(static_cast<std::size_t>(world));
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      try {
        RingOptions options;
        options.timeout = std::chrono::seconds(30);
        options.segment_bytes = segment_bytes;
        options.gather_bytes = 0;  // the reduce-scatter + all-gather path only
        RingCommunicator comm(
            std::make_unique<QueueTransport>(testing::MakeRing(ports, r), &inboxes, depth,
                                             static_cast<unsigned>(r * 7919 + depth)),
            r, world, options);
        for (std::size_t n : lengths) {
          std::vector<T> data(n);
          for (std::size_t i = 0; i < n; ++i) data[i] = testing::Input<T>(i, r);
          comm.AllreduceSum(std::span<T>(data));
          results[static_cast<std::size_t>(r)].push_back(std::move(data));
        }
      } catch (const std::exception& e) {
        errors[static_cast<std::size_t>(r)] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (int r = 0; r < world; ++r) {
    ASSERT_EQ(errors[static_cast<std::size_t>(r)], "") << "rank " << r;
  }
  for (std::size_t k = 0; k < lengths.size(); ++k) {
    const std::size_t n = lengths[k];
    for (std::size_t i = 0; i < n; ++i) {
      ASSERT_EQ(results[0][k][i], testing::Expected<T>(i, world))
          << "world " << world << " depth " << depth << " segment " << segment_bytes << " length "
          << n << " element " << i;
    }
    for (int r = 1; r < world && n > 0; ++r) {
      ASSERT_EQ(std::memcmp(results[0][k].data(), results[static_cast<std::size_t>(r)][k].data(),
                            n * sizeof(T)),
                0)
          << "rank " << r << " differs, length " << n;
    }
  }
}

// Segment sizes give one, two, three and many segments per chunk, so the rule "an exchange
// waits for the one whose data it sends on" binds at every depth.
TEST(RingPipeline, SeveralExchangesInFlightSumExactlyAtEveryMix) {
  for (int world : {2, 3, 4, 5}) {
    const auto w = static_cast<std::size_t>(world);
    for (int depth : {1, 2, 3}) {
      for (std::size_t segment : {std::size_t{8}, std::size_t{24}, std::size_t{40},
                                  std::size_t{1000}, std::size_t{1} << 20}) {
        std::vector<std::size_t> lengths{0, 1, w - 1, w, w + 1, 6 * w, 1009};
        if (segment >= 1000) lengths.push_back(40000);
        CheckPipelinedRing<float>(world, depth, segment, lengths);
        CheckPipelinedRing<double>(world, depth, segment, lengths);
        if (::testing::Test::HasFatalFailure()) return;
      }
    }
  }
}

}  // namespace
}  // namespace ringtrain::allreduce
