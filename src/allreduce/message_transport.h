// allreduce/message_transport.h — internal: what the TCP and shared-memory transports share.
//
// Both move the same messages — a 24-byte WireHeader (u32 op, u32 seq, u64 count, u64 payload
// bytes; native little-endian) then the payload — over two handshaken sockets to the ring
// neighbours: the TCP transport through the sockets themselves, the shared-memory transport
// through byte rings (shm_transport.h), keeping the sockets for failure news only. What they
// share lives here, once: the call bookkeeping (a MessageJob per call; StartExchange /
// FinishExchange / SendToNext / RecvFromPrev), the header check, and the failure path (the
// first error breaks the transport, both neighbours get an abort notice naming the rank to
// blame, the sockets are shut for writing, the error is logged and thrown).
// A subclass supplies Pump (one non-blocking attempt each way) and Run (pump and wait until
// the job is done, the deadline passes or Abort() is called).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>

#include "allreduce/socket_io.h"
#include "allreduce/transport.h"

namespace ringtrain::allreduce::internal {

// The header of every message; op kAbortNotice with count = the lost rank is the abort notice.
struct WireHeader {
  std::uint32_t op;
  std::uint32_t seq;
  std::uint64_t count;
  std::uint64_t payload;
};
static_assert(sizeof(WireHeader) == 24);
// An abort notice's seq: the rank it blames (count) failed; 0: it aborted by its own decision.
inline constexpr std::uint32_t kNoticeFailed = 1;

inline WireHeader MakeHeader(const MessageTag& tag, std::size_t payload) {
  return {static_cast<std::uint32_t>(tag.op), tag.seq, tag.count, payload};
}

// One call's progress: an outgoing header+payload and/or an incoming header+payload.
struct MessageJob {
  bool sending = false;
  WireHeader out_header{};
  std::span<const std::byte> out;
  std::size_t sent = 0;  // bytes of header+payload written

  bool receiving = false;
  bool add = false;  // StartAddExchange: the payload is added into `in`, not copied
  MessageTag expect_tag;
  std::span<std::byte> in;
  WireHeader in_header{};
  std::size_t received = 0;  // bytes of header+payload read

  // StartAddForwardExchange: the sums made in `in` go out as a second message (header
  // fwd_header, payload = in), and a second message comes in to `in2`.
  bool forward = false;
  WireHeader fwd_header{};
  std::size_t fwd_sent = 0;  // bytes of the second message's header+payload written
  std::span<std::byte> in2;
  WireHeader in2_header{};
  std::size_t received2 = 0;  // bytes of the second incoming message read

  bool first_sent() const { return sent == sizeof(WireHeader) + out.size(); }
  bool first_received() const { return received == sizeof(WireHeader) + in.size(); }
  bool send_done() const {
    return !sending || (first_sent() && (!forward || fwd_sent == sizeof(WireHeader) + in.size()));
  }
  bool recv_done() const {
    return !receiving ||
           (first_received() && (!forward || received2 == sizeof(WireHeader) + in2.size()));
  }
};

class MessageTransport : public Transport {
 public:
  // Takes the handshaken sockets and makes them non-blocking.
  MessageTransport(Ring ring, UniqueFd next_fd, UniqueFd prev_fd);

  const Ring& ring() const final { return ring_; }
  void StartExchange(const MessageTag& tag, std::span<const std::byte> send,
                     std::span<std::byte> recv, Deadline deadline) final;
  void FinishExchange(Deadline deadline) final;
  void StartAddExchange(const MessageTag& tag, std::span<const std::byte> send,
                        std::span<std::byte> accum, Deadline deadline) final;
  void StartAddForwardExchange(const MessageTag& tag, std::span<const std::byte> send,
                               std::span<std::byte> accum, std::span<std::byte> recv_next,
                               Deadline deadline) final;
  void SendToNext(const MessageTag& tag, std::span<const std::byte> data, Deadline deadline) final;
  void RecvFromPrev(const MessageTag& tag, std::span<std::byte> data, Deadline deadline) final;

 protected:
  virtual void Run(MessageJob* job, Deadline deadline) = 0;
  virtual bool Pump(MessageJob* job) = 0;  // one non-blocking attempt each way; true if moved
  // What the subclass adds to a failure: a suffix for the message (which link), whether the
  // successor may get an abort notice now (not in the middle of one of our messages), and
  // whom to wake (sleepers on shared memory).
  virtual const char* LinkName() const { return ""; }
  virtual bool CanNotifySuccessor() const { return true; }
  virtual void WakeOnFailure() {}

  void ThrowIfBroken() const {
    if (broken_) throw *broken_;
  }
  // The full header of job->in_header has arrived: an abort notice (from the predecessor)
  // or a header that does not match the expected collective fails the transport.
  void CheckInHeader(const MessageJob& job);
  void CheckInHeader(const WireHeader& h, const MessageTag& expect, std::size_t payload);
  // Records the error (every later call rethrows it), tells both neighbours which rank is to
  // blame (`blamed`), shuts the sockets for writing, logs (Debug when this rank aborted
  // itself, else Warn) and throws. Best effort towards the neighbours: never blocks.
  // `evidence`: `blamed` failed (false: it aborted by its own decision); the error then names
  // it in TransportError::failed_rank (unless it is this rank) and the notices say so.
  [[noreturn]] void Fail(int blamed, int peer, const std::string& what, bool evidence = true);
  // An abort notice `h` (naming the rank to blame) arrived from our `role`
  // ("predecessor"/"successor"). Its seq is kNoticeFailed when that rank failed, 0 when it
  // aborted by its own decision (ring lost or superseded, a signal; and every notice of a
  // peer older than this flag): only the first is evidence (TransportError::failed_rank).
  [[noreturn]] void FailRingBroken(const WireHeader& h, const char* role, int reporter);
  // Peeks (never consumes, never blocks) a socket that carries only abort notices, from our
  // `role` neighbour `reporter`: fails the transport if a notice is there (with
  // `failures_only`, only a notice that the rank it blames failed), else returns what
  // recv(MSG_PEEK) returned, errno as it left it. A rank that aborts by its own decision peeks
  // with failures_only first: the decision (the trainer's reaction to ZooKeeper's news of a
  // lost ring) may have come from the same failure, and the notice says which rank it was.
  ssize_t PeekNotice(int fd, const char* role, int reporter, bool failures_only = false);

  Ring ring_;
  UniqueFd next_fd_;
  UniqueFd prev_fd_;

 private:
  void Start(const MessageTag& tag, std::span<const std::byte> send, std::span<std::byte> recv,
             bool add, bool forward = false, std::span<std::byte> recv_next = {});
  // The add exchanges need a transport that adds on arrival and a float/double allreduce tag.
  void CheckCanAdd(const MessageTag& tag, const char* call) const;

  std::optional<TransportError> broken_;
  MessageJob started_;  // the exchange between StartExchange and FinishExchange
};

}  // namespace ringtrain::allreduce::internal
