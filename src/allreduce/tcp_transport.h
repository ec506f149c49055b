// allreduce/tcp_transport.h — internal: the TCP data path over two connected sockets.
//
// next_fd was connected by us to the successor (we write messages on it); prev_fd was
// accepted from the predecessor (we read messages from it). Each message is a 24-byte
// header (u32 op, u32 seq, u64 count, u64 payload bytes; native little-endian) then the
// payload. The reverse direction of each socket carries only abort notices (a header with
// op kAbortNotice and count = the lost rank), so a failure is reported around the ring
// instead of every rank waiting for its deadline. Use ConnectTcpRing (tcp.h) to build one.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>

#include "allreduce/message_transport.h"
#include "allreduce/socket_io.h"

namespace ringtrain::allreduce::internal {

class TcpTransport final : public MessageTransport {
 public:
  TcpTransport(Ring ring, UniqueFd next_fd, UniqueFd prev_fd);
  ~TcpTransport() override;

  void Abort() override { abort_.Trigger(); }

 private:
  void Run(MessageJob* job, Deadline deadline) override;
  bool Pump(MessageJob* job) override;
  bool CanNotifySuccessor() const override { return !next_mid_message_; }
  // Peeks the successor socket's reverse direction (never consumes): fails the transport if an
  // abort notice is there, else returns what recv(MSG_PEEK) returned, errno as it left it.
  ssize_t PeekReverse();
  void CheckReverse(bool send_done);
  // A neighbour's link failed (reset, EOF, broken pipe). If it is the echo of a failure
  // further round the ring, the successor's abort notice names the rank really lost: it is
  // queued on the reverse channel ahead of any reset, so look there first — for up to `wait`
  // when the predecessor closed (it cannot send a notice in the middle of a message, and the
  // successor's notice may still be on its way) — then blame `peer` if no notice came.
  [[noreturn]] void FailLink(int peer, const std::string& what, std::chrono::milliseconds wait);

  AbortSignal abort_;
  bool next_mid_message_ = false;
  bool reverse_eof_ = false;
};

}  // namespace ringtrain::allreduce::internal
