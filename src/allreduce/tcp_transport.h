// allreduce/tcp_transport.h — internal: the TCP data path over two connected sockets.
//
// next_fd was connected by us to the successor (we write messages on it); prev_fd was
// accepted from the predecessor (we read messages from it). Each message is a 24-byte
// header (u32 op, u32 seq, u64 count, u64 payload bytes; native little-endian) then the
// payload. The reverse direction of each socket carries only abort notices (a header with
// op kAbortNotice and count = the lost rank), so a failure is reported around the ring
// instead of every rank waiting for its deadline. Use ConnectTcpRing (tcp.h) to build one.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>

#include "allreduce/socket_io.h"
#include "allreduce/transport.h"

namespace ringtrain::allreduce::internal {

// The header of every message (also inside shared-memory links, shm_transport.h).
struct WireHeader {
  std::uint32_t op;
  std::uint32_t seq;
  std::uint64_t count;
  std::uint64_t payload;
};
static_assert(sizeof(WireHeader) == 24);

inline WireHeader MakeHeader(const MessageTag& tag, std::size_t payload) {
  return {static_cast<std::uint32_t>(tag.op), tag.seq, tag.count, payload};
}

class TcpTransport final : public Transport {
 public:
  TcpTransport(Ring ring, UniqueFd next_fd, UniqueFd prev_fd);
  ~TcpTransport() override;

  const Ring& ring() const override { return ring_; }
  void StartExchange(const MessageTag& tag, std::span<const std::byte> send,
                     std::span<std::byte> recv, Deadline deadline) override;
  void FinishExchange(Deadline deadline) override;
  void SendToNext(const MessageTag& tag, std::span<const std::byte> data,
                  Deadline deadline) override;
  void RecvFromPrev(const MessageTag& tag, std::span<std::byte> data, Deadline deadline) override;
  void Abort() override { abort_.Trigger(); }

 private:
  struct Job;
  void Run(Job* job, Deadline deadline);
  bool Pump(Job* job);  // one non-blocking attempt each way; true if bytes moved
  [[noreturn]] void Fail(int blamed, int peer, const std::string& what);
  // An abort notice naming `lost` arrived from our `role` ("predecessor"/"successor").
  [[noreturn]] void FailRingBroken(int lost, const char* role, int reporter);
  void CheckReverse(bool send_done);

  Ring ring_;
  UniqueFd next_fd_;
  UniqueFd prev_fd_;
  AbortSignal abort_;
  bool next_mid_message_ = false;
  bool reverse_eof_ = false;
  std::optional<TransportError> broken_;
  std::unique_ptr<Job> started_;  // the exchange between StartExchange and FinishExchange
};

}  // namespace ringtrain::allreduce::internal
