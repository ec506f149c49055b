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

#include "allreduce/shm_ring.h"
#include "allreduce/socket_io.h"
#include "allreduce/tcp_transport.h"
#include "allreduce/transport.h"

namespace ringtrain::allreduce::internal {

// How long a waiting rank sleeps on a segment before it looks at the sockets again.
inline constexpr std::chrono::milliseconds kShmWaitSlice{10};

class ShmTransport final : public Transport {
 public:
  // send: the segment this rank created for its successor; recv: the predecessor's, mapped.
  // spins: polls of the shared counter before sleeping in FUTEX_WAIT.
  ShmTransport(Ring ring, UniqueFd next_fd, UniqueFd prev_fd, ShmRing send, ShmRing recv,
               int spins);
  ~ShmTransport() override;

  const Ring& ring() const override { return ring_; }
  void StartExchange(const MessageTag& tag, std::span<const std::byte> send,
                     std::span<std::byte> recv, Deadline deadline) override;
  void FinishExchange(Deadline deadline) override;
  void SendToNext(const MessageTag& tag, std::span<const std::byte> data,
                  Deadline deadline) override;
  void RecvFromPrev(const MessageTag& tag, std::span<std::byte> data, Deadline deadline) override;
  void Abort() override;

 private:
  struct Job {
    bool sending = false;
    WireHeader out_header{};
    std::span<const std::byte> out;
    std::size_t sent = 0;  // bytes of header+payload written into the successor's segment

    bool receiving = false;
    MessageTag expect_tag;
    std::span<std::byte> in;
    WireHeader in_header{};
    std::size_t received = 0;  // bytes of header+payload read from the predecessor's segment

    bool send_done() const { return !sending || sent == sizeof(WireHeader) + out.size(); }
    bool recv_done() const { return !receiving || received == sizeof(WireHeader) + in.size(); }
  };
  void Run(Job* job, Deadline deadline);
  bool Pump(Job* job);  // copies what fits each way; true if bytes moved
  void CheckSockets(Job* job);
  [[noreturn]] void Fail(int blamed, int peer, const std::string& what);
  [[noreturn]] void FailRingBroken(int lost, const char* role, int reporter);

  Ring ring_;
  UniqueFd next_fd_;
  UniqueFd prev_fd_;
  ShmRing send_;
  ShmRing recv_;
  int spins_;
  std::atomic<bool> aborted_{false};
  bool next_eof_ = false;
  bool prev_eof_ = false;
  std::optional<TransportError> broken_;
  Job started_;  // the exchange between StartExchange and FinishExchange
};

}  // namespace ringtrain::allreduce::internal
