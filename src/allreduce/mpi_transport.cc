// The MPI point-to-point transport: ring neighbours are MPI ranks of MPI_COMM_WORLD.
//
// Each message is the payload on kDataTag, preceded on the first message of every collective
// on each link by a 3 x u64 header (op|seq, count, payload bytes) on kHeaderTag. Both sides
// decide "first message" from the tag alone, so they agree exactly when their tags agree, and
// a disagreement shows on that first header. Later segments of the same collective have sizes
// fixed by the agreed count, so one header per collective and link suffices (MPI messages are
// not free: a header per segment cost ~5% at 1-4 MiB). All four requests of an Exchange are posted
// at once (so large payloads go single-copy as early as possible), then polled with MPI_Testall
// until done, the deadline passes or Abort() is called. Up to kMaxInFlight exchanges may be
// started before the oldest is finished (MPI matches one link's messages in posting order).
#include <mpi.h>

#include <algorithm>
#include <atomic>
#include <climits>
#include <optional>
#include <string>

#include "allreduce/mpi_communicator.h"
#include "allreduce/mpi_session.h"
#include "common/log.h"

namespace ringtrain::allreduce {
namespace {

constexpr int kHeaderTag = 0x5254;
constexpr int kDataTag = 0x5255;

struct Header {
  std::uint64_t op_seq;
  std::uint64_t count;
  std::uint64_t payload;
};

Header MakeHeader(const MessageTag& tag, std::size_t payload) {
  return {(std::uint64_t{static_cast<std::uint32_t>(tag.op)} << 32) | tag.seq, tag.count, payload};
}
MessageTag TagOf(const Header& h) {
  return {static_cast<Op>(h.op_seq >> 32), static_cast<std::uint32_t>(h.op_seq & 0xffffffffu),
          h.count};
}
std::string MpiErrorText(int code) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(code, text, &len);
  return std::string(text, static_cast<std::size_t>(len));
}

class MpiTransport final : public Transport {
 public:
  explicit MpiTransport(Ring ring) : ring_(std::move(ring)) {
    for (int r = 0; r < ring_.world_size(); ++r) {
      if (ring_.members[static_cast<std::size_t>(r)].mpi_rank < 0) {
        throw UsageError("ring member " + ring_.Describe(r) + " has no MPI rank",
                         "ring generation " + std::to_string(ring_.generation),
                         "use --transport tcp outside mpirun");
      }
    }
    next_mpi_ = ring_.members[static_cast<std::size_t>(ring_.next())].mpi_rank;
    prev_mpi_ = ring_.members[static_cast<std::size_t>(ring_.prev())].mpi_rank;
  }

  const Ring& ring() const override { return ring_; }

  void StartExchange(const MessageTag& tag, std::span<const std::byte> send,
                     std::span<std::byte> recv, Deadline /*deadline*/) override {
    Post(tag, &send, &recv);
  }
  void FinishExchange(Deadline deadline) override { Wait(deadline); }
  int MaxExchangesInFlight() const override { return kMaxInFlight; }
  void SendToNext(const MessageTag& tag, std::span<const std::byte> data,
                  Deadline deadline) override {
    RequireNoneInFlight();
    Post(tag, &data, nullptr);
    Wait(deadline);
  }
  void RecvFromPrev(const MessageTag& tag, std::span<std::byte> data, Deadline deadline) override {
    RequireNoneInFlight();
    Post(tag, nullptr, &data);
    Wait(deadline);
  }
  void Abort() override { aborted_.store(true, std::memory_order_release); }

 private:
  // Receives posted ahead: at np=4 on two cores, 1 MiB ring_mpi/MPI_Allreduce 0.91 with one
  // exchange in flight, 1.07 with two, 1.37 with three, 1.37 with four (docs/allreduce.md).
  static constexpr int kMaxInFlight = 3;

  // One exchange in flight; requests: 0 header in, 1 data in, 2 header out, 3 data out.
  struct Pending {
    MessageTag tag;
    std::size_t recv_bytes = 0;
    bool header_checked = true;
    MPI_Request reqs[4] = {MPI_REQUEST_NULL, MPI_REQUEST_NULL, MPI_REQUEST_NULL, MPI_REQUEST_NULL};
    Header out{};
    Header in{};
  };

  static int Count(std::size_t bytes, const Ring& ring, int peer) {
    if (bytes > static_cast<std::size_t>(INT_MAX)) {
      throw PeerError(ring, peer,
                      "message of " + std::to_string(bytes) + " bytes exceeds MPI's int count",
                      "use a smaller segment size");
    }
    return static_cast<int>(bytes);
  }

  void RequireNoneInFlight() const {
    if (in_flight_ != 0) {
      throw UsageError("a one-way MPI transfer while an exchange is in flight", "mpi transport");
    }
  }

  void Post(const MessageTag& tag, const std::span<const std::byte>* send,
            const std::span<std::byte>* recv) {
    if (broken_) throw *broken_;
    if (in_flight_ == kMaxInFlight) {
      throw UsageError("more than " + std::to_string(kMaxInFlight) + " MPI exchanges in flight",
                       "mpi transport");
    }
    const int recv_count = recv != nullptr ? Count(recv->size(), ring_, ring_.prev()) : 0;
    const int send_count = send != nullptr ? Count(send->size(), ring_, ring_.next()) : 0;
    const bool recv_header = recv != nullptr && !(last_recv_ && *last_recv_ == tag);
    const bool send_header = send != nullptr && !(last_sent_ && *last_sent_ == tag);
    if (recv != nullptr) last_recv_ = tag;
    if (send != nullptr) last_sent_ = tag;
    Pending& p = queue_[(oldest_ + in_flight_) % kMaxInFlight];
    ++in_flight_;
    p.tag = tag;
    p.recv_bytes = recv != nullptr ? recv->size() : 0;
    p.header_checked = !recv_header;
    if (recv != nullptr) {
      if (recv_header) {
        MPI_Irecv(&p.in, 3, MPI_UINT64_T, prev_mpi_, kHeaderTag, MPI_COMM_WORLD, &p.reqs[0]);
      }
      MPI_Irecv(recv->data(), recv_count, MPI_BYTE, prev_mpi_, kDataTag, MPI_COMM_WORLD,
                &p.reqs[1]);
    }
    if (send != nullptr) {
      p.out = MakeHeader(tag, send->size());
      if (send_header) {
        MPI_Isend(&p.out, 3, MPI_UINT64_T, next_mpi_, kHeaderTag, MPI_COMM_WORLD, &p.reqs[2]);
      }
      MPI_Isend(const_cast<std::byte*>(send->data()), send_count, MPI_BYTE, next_mpi_, kDataTag,
                MPI_COMM_WORLD, &p.reqs[3]);
    }
  }

  void CheckHeader(Pending& p) {
    p.header_checked = true;
    if (!(TagOf(p.in) == p.tag) || p.in.payload != p.recv_bytes) {
      Fail(ring_.prev(), "collective mismatch: predecessor sent " +
                             DescribeTag(TagOf(p.in), p.in.payload) + ", this rank expected " +
                             DescribeTag(p.tag, p.recv_bytes));
    }
  }

  // Completes the oldest exchange in flight.
  void Wait(Deadline deadline) {
    if (broken_) throw *broken_;
    if (in_flight_ == 0) throw UsageError("FinishExchange without StartExchange", "mpi transport");
    Pending& p = queue_[oldest_];
    while (true) {
      int done = 0;
      MPI_Status statuses[4];
      const int rc = MPI_Testall(4, p.reqs, &done, statuses);
      if (!p.header_checked && p.reqs[0] == MPI_REQUEST_NULL) CheckHeader(p);
      if (rc != MPI_SUCCESS) Fail(ring_.prev(), "MPI point-to-point failed: " + MpiErrorText(rc));
      if (done) break;
      if (aborted_.load(std::memory_order_acquire)) {
        Fail(ring_.rank, "collective aborted by this rank");
      }
      if (deadline.Expired()) {
        Fail(p.header_checked ? ring_.next() : ring_.prev(), "deadline passed during a collective");
      }
    }
    if (!p.header_checked) CheckHeader(p);
    oldest_ = (oldest_ + 1) % kMaxInFlight;
    --in_flight_;
  }

  [[noreturn]] void Fail(int peer, const std::string& what) {
    for (Pending& p : queue_) {
      for (MPI_Request& req : p.reqs) {
        if (req != MPI_REQUEST_NULL) {
          MPI_Cancel(&req);
          MPI_Request_free(&req);
        }
      }
    }
    in_flight_ = 0;
    broken_ = PeerError(ring_, peer, what);
    // An abort this process asked for (ring superseded, signal, end of run) is no news to it.
    if (peer == ring_.rank) {
      log::Debug(FormatError(*broken_));
    } else {
      log::Warn(FormatError(*broken_));
    }
    throw *broken_;
  }

  Ring ring_;
  int next_mpi_ = 0;
  int prev_mpi_ = 0;
  std::atomic<bool> aborted_{false};
  std::optional<TransportError> broken_;
  std::optional<MessageTag> last_sent_;  // tag of the last header sent / received
  std::optional<MessageTag> last_recv_;
  Pending queue_[kMaxInFlight];  // in flight: queue_[oldest_], then the next in_flight_ - 1
  int oldest_ = 0;
  int in_flight_ = 0;
};

}  // namespace

std::unique_ptr<Transport> MakeMpiTransport(const Ring& ring) {
  if (ring.world_size() <= 1) return nullptr;
  return std::make_unique<MpiTransport>(ring);
}

std::unique_ptr<RingCommunicator> MakeMpiRingCommunicator(const Ring& ring,
                                                          const MpiOptions& options) {
  // Which buffers go round whole depends on Open MPI's shared-memory eager limit: a message
  // above it needs a rendezvous handshake, so a whole buffer is worth passing only while it
  // goes eagerly (or while its halves would not either).
  //  - Default 4 KiB limit: a whole 4 KiB buffer would need the handshake where its halves go
  //    eagerly (measured 2.5x slower), so the path starts at 8 KiB (up to gather_bytes).
  //  - The 32 KiB limit MpiSession sets: whole buffers from the smallest size (4 KiB: np=2
  //    0.9 -> 1.3-1.7x MPI_Allreduce), but only below the limit: a whole 32 KiB buffer
  //    took 6.7 us at np=2 against 2.1 us as eager halves (docs/allreduce.md).
  // A gather_bytes above kMaxGatherScratchBytes (tests forcing the path) is left alone.
  // The segment (options.segment_bytes 0) follows the same limit: mpi_communicator.h.
  // The limit Open MPI actually runs with (MPI_T); its 4 KiB default if it cannot say.
  std::size_t eager_limit = SharedMemoryEagerLimit();
  if (eager_limit == 0) eager_limit = 4096;
  const bool large_eager = eager_limit >= 8 * 1024;
  RingOptions ring_options{options.timeout, options.segment_bytes, options.gather_bytes, 0};
  if (ring_options.segment_bytes == 0) {
    ring_options.segment_bytes =
        large_eager ? eager_limit - kMpiEagerHeaderSlack : kDefaultMpiSegmentBytes;
  }
  if (!large_eager) {
    ring_options.gather_min_bytes = 8 * 1024;
  } else if (options.gather_bytes <= kMaxGatherScratchBytes) {
    ring_options.gather_bytes = std::min(options.gather_bytes, eager_limit - kMpiEagerHeaderSlack);
  }
  auto comm = std::make_unique<RingCommunicator>(MakeMpiTransport(ring), ring.rank,
                                                 ring.world_size(), ring_options);
  if (options.tune) {
    // The default first (it wins ties), then the rendezvous sizes that go single-copy.
    RingTuneOptions tune{{ring_options.segment_bytes}, options.tune_budget};
    for (std::size_t s : {std::size_t{256} << 10, std::size_t{1} << 20}) {
      if (s != ring_options.segment_bytes) tune.candidates.push_back(s);
    }
    comm->Tune(tune);
  }
  return comm;
}

}  // namespace ringtrain::allreduce
