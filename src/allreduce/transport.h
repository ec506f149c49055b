// allreduce/transport.h — moves bytes to the ring successor and from the predecessor.
//
// What it does: the only I/O a ring algorithm needs (STYLE.md lesson 1): a full-duplex
// Exchange (send to next while receiving from prev), and one-directional SendToNext /
// RecvFromPrev for pipelined broadcast, each under a Deadline. What it must not know: which
// collective is running beyond the MessageTag it is handed, ZooKeeper, models.
//
// Every message carries a small header (the tag and the payload size). The receiver checks
// the header against what it expects (same tag, recv.size() bytes), so ranks that disagree
// on a collective's length or order fail with a TransportError instead of corrupting data.
//
// Errors: every failure is a TransportError naming the peer (rank, host:port) and the
// generation. After the first error a transport is broken: every later call throws again.
// Thread-safety: one thread drives the data calls; Abort() may be called from any thread
// and makes a blocked or future call throw promptly.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "common/deadline.h"
#include "common/error.h"
#include "common/ring.h"

namespace ringtrain::allreduce {

enum class Op : std::uint32_t {
  kAllreduceFloat = 1,
  kAllreduceDouble = 2,
  kBroadcast = 3,
  kBarrier = 4,
  kAbortNotice = 0xDEAD,  // in-band "rank `count` is lost" notice between neighbours
};

// Identifies one message of one collective; both sides of a message must agree on it.
struct MessageTag {
  Op op = Op::kBarrier;
  std::uint32_t seq = 0;    // collective sequence number on this communicator
  std::uint64_t count = 0;  // total element count of the collective (bytes for broadcast)
  bool operator==(const MessageTag&) const = default;
};

// "allreduce<float> #3 of 1000 elements".
std::string DescribeTag(const MessageTag& tag, std::uint64_t payload_bytes);

// A TransportError naming ring member `peer` and the generation:
// "<what> [peer rank 2 (10.0.0.3:4711), generation 5]", where = host:port.
TransportError PeerError(const Ring& ring, int peer, const std::string& what,
                         const std::string& hint = {});

class Transport {
 public:
  virtual ~Transport() = default;

  virtual const Ring& ring() const = 0;

  // Sends `send` to the successor while receiving exactly recv.size() bytes from the
  // predecessor. The predecessor's message must carry `tag` and recv.size() bytes.
  void Exchange(const MessageTag& tag, std::span<const std::byte> send, std::span<std::byte> recv,
                Deadline deadline) {
    StartExchange(tag, send, recv, deadline);
    FinishExchange(deadline);
  }
  // Exchange in two halves, so the caller can compute (reduce the previous segment) while
  // the bytes move: StartExchange posts the transfer and moves what it can without waiting;
  // FinishExchange completes the oldest exchange started and not finished. At most
  // MaxExchangesInFlight() may be started and not finished; their spans must stay untouched
  // until their FinishExchange returns. SendToNext/RecvFromPrev only with none in flight.
  virtual void StartExchange(const MessageTag& tag, std::span<const std::byte> send,
                             std::span<std::byte> recv, Deadline deadline) = 0;
  virtual void FinishExchange(Deadline deadline) = 0;
  // Whether StartAddExchange is available: shared memory, where the receiver can read the
  // payload in place. Byte streams and MPI must land it in memory first (false).
  virtual bool AddsOnArrival() const { return false; }
  // StartExchange whose payload, elements of the tag's type (kAllreduceFloat/Double), is
  // added into `accum` (accum[i] = accum[i] + payload[i], the operands in this order) as it
  // arrives instead of being copied into it: one pass over the bytes instead of a copy to
  // scratch and an add. Finished by FinishExchange, under the same in-flight rules; `accum`
  // must be aligned for the element type. Throws UsageError unless AddsOnArrival().
  virtual void StartAddExchange(const MessageTag& tag, std::span<const std::byte> send,
                                std::span<std::byte> accum, Deadline deadline);
  // StartAddExchange whose sums, as they are made, go on to the successor as a second message
  // with the same tag (the all-gather's first step: the chunk a rank completes in the last
  // reduce-scatter step is the one it sends next), while the predecessor's second message
  // lands in `recv_next`. One pass instead of adding, then reading the sums again to send
  // them. Same rules as StartAddExchange.
  virtual void StartAddForwardExchange(const MessageTag& tag, std::span<const std::byte> send,
                                       std::span<std::byte> accum, std::span<std::byte> recv_next,
                                       Deadline deadline);
  // 1 for the byte-stream transports (TCP, shared memory); 3 for MPI, where a receive posted
  // early is matched on arrival instead of being queued as unexpected and copied twice.
  virtual int MaxExchangesInFlight() const { return 1; }
  virtual void SendToNext(const MessageTag& tag, std::span<const std::byte> data,
                          Deadline deadline) = 0;
  virtual void RecvFromPrev(const MessageTag& tag, std::span<std::byte> data,
                            Deadline deadline) = 0;

  // Any thread: break a blocked or future call with a TransportError.
  virtual void Abort() = 0;
};

}  // namespace ringtrain::allreduce
