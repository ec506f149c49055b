// allreduce/shm_transport.h — internal: the data path of a ring whose links all run between
// processes on one host, through shared-memory byte rings (shm_ring.h).
//
// Built by ConnectTcpTransport (tcp.h) when TcpOptions::shared_memory is kAuto and every link
// of the ring could map its segment (the ranks vote round the ring, so all or none switch).
// Messages are the TCP transport's (WireHeader then payload), written into the successor's
// segment and read from the predecessor's, so collective mismatches are caught the same way.
// The two handshaken TCP sockets stay open and carry nothing but failure news: an abort notice
// (as in tcp_transport.h) or EOF when a neighbour dies, which a waiting rank checks every
// kShmWaitSlice. So a SIGKILLed neighbour is named within that slice, and every wait ends by
// the caller's deadline. Abort() (any thread) wakes a sleeping wait at once.
// No allocation per call.
#pragma once

#include <atomic>
#include <chrono>
#include <optional>

#include "allreduce/message_transport.h"
#include "allreduce/shm_ring.h"
#include "allreduce/socket_io.h"

namespace ringtrain::allreduce::internal {

// How long a waiting rank sleeps on a segment before it looks at the sockets again.
inline constexpr std::chrono::milliseconds kShmWaitSlice{10};
// A forwarding add (StartAddForwardExchange) adds and forwards in slices of this many bytes.
inline constexpr std::size_t kShmSliceBytes = std::size_t{64} << 10;

class ShmTransport final : public MessageTransport {
 public:
  // send: the segment this rank created for its successor; recv: the predecessor's, mapped.
  // polls: how a wait looks at the shared counter before sleeping in FUTEX_WAIT.
  ShmTransport(Ring ring, UniqueFd next_fd, UniqueFd prev_fd, ShmRing send, ShmRing recv,
               ShmPolls polls);
  ~ShmTransport() override;

  void Abort() override;
  bool AddsOnArrival() const override { return true; }

 private:
  void Run(MessageJob* job, Deadline deadline) override;
  bool Pump(MessageJob* job) override;  // copies what fits each way; true if bytes moved
  const char* LinkName() const override { return " (shared-memory link)"; }
  void WakeOnFailure() override;
  void CheckSockets(MessageJob* job);
  template <typename T>
  bool AddSlices(MessageJob* job);
  bool ForwardSums(MessageJob* job);

  ShmRing send_;
  ShmRing recv_;
  ShmPolls polls_;
  std::atomic<bool> aborted_{false};
  bool next_eof_ = false;
  bool prev_eof_ = false;
};

}  // namespace ringtrain::allreduce::internal
