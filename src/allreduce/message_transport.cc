#include "allreduce/message_transport.h"

#include <sys/socket.h>

#include "common/log.h"

namespace ringtrain::allreduce::internal {

MessageTransport::MessageTransport(Ring ring, UniqueFd next_fd, UniqueFd prev_fd)
    : ring_(std::move(ring)), next_fd_(std::move(next_fd)), prev_fd_(std::move(prev_fd)) {
  SetNonBlocking(next_fd_.get());
  SetNonBlocking(prev_fd_.get());
}

void MessageTransport::StartExchange(const MessageTag& tag, std::span<const std::byte> send,
                                     std::span<std::byte> recv, Deadline /*deadline*/) {
  Start(tag, send, recv, false);
}

void MessageTransport::StartAddExchange(const MessageTag& tag, std::span<const std::byte> send,
                                        std::span<std::byte> accum, Deadline /*deadline*/) {
  CheckCanAdd(tag, "StartAddExchange");
  Start(tag, send, accum, true);
}

void MessageTransport::StartAddForwardExchange(const MessageTag& tag,
                                               std::span<const std::byte> send,
                                               std::span<std::byte> accum,
                                               std::span<std::byte> recv_next,
                                               Deadline /*deadline*/) {
  CheckCanAdd(tag, "StartAddForwardExchange");
  Start(tag, send, accum, true, true, recv_next);
}

void MessageTransport::CheckCanAdd(const MessageTag& tag, const char* call) const {
  if (!AddsOnArrival() || (tag.op != Op::kAllreduceFloat && tag.op != Op::kAllreduceDouble)) {
    throw UsageError(
        std::string(call) + " needs an allreduce tag and a transport that adds on arrival",
        "ring transport");
  }
}

void MessageTransport::Start(const MessageTag& tag, std::span<const std::byte> send,
                             std::span<std::byte> recv, bool add, bool forward,
                             std::span<std::byte> recv_next) {
  ThrowIfBroken();
  started_ = MessageJob{};
  started_.sending = true;
  started_.out_header = MakeHeader(tag, send.size());
  started_.out = send;
  started_.receiving = true;
  started_.add = add;
  started_.expect_tag = tag;
  started_.in = recv;
  started_.forward = forward;
  started_.fwd_header = MakeHeader(tag, recv.size());
  started_.in2 = recv_next;
  Pump(&started_);  // move what fits now; the rest moves in FinishExchange
}

void MessageTransport::FinishExchange(Deadline deadline) {
  if (!started_.sending && !started_.receiving) {
    throw UsageError("FinishExchange without StartExchange", "ring transport");
  }
  Run(&started_, deadline);
  started_.sending = started_.receiving = false;
}

void MessageTransport::SendToNext(const MessageTag& tag, std::span<const std::byte> data,
                                  Deadline deadline) {
  MessageJob job;
  job.sending = true;
  job.out_header = MakeHeader(tag, data.size());
  job.out = data;
  Run(&job, deadline);
}

void MessageTransport::RecvFromPrev(const MessageTag& tag, std::span<std::byte> data,
                                    Deadline deadline) {
  MessageJob job;
  job.receiving = true;
  job.expect_tag = tag;
  job.in = data;
  Run(&job, deadline);
}

void MessageTransport::CheckInHeader(const MessageJob& job) {
  CheckInHeader(job.in_header, job.expect_tag, job.in.size());
}

void MessageTransport::CheckInHeader(const WireHeader& h, const MessageTag& expect,
                                     std::size_t payload) {
  const int prev = ring_.prev();
  if (h.op == static_cast<std::uint32_t>(Op::kAbortNotice)) {
    FailRingBroken(h, "predecessor", prev);
  }
  const MessageTag got{static_cast<Op>(h.op), h.seq, h.count};
  if (!(got == expect) || h.payload != payload) {
    Fail(prev, prev,
         "collective mismatch: predecessor sent " + DescribeTag(got, h.payload) +
             ", this rank expected " + DescribeTag(expect, payload));
  }
}

void MessageTransport::FailRingBroken(const WireHeader& h, const char* role, int reporter) {
  const int lost = static_cast<int>(h.count);
  const bool failed = h.seq == kNoticeFailed;
  Fail(lost, lost,
       "the ring is broken: " + ring_.Describe(lost) +
           (failed ? " failed or was lost" : " aborted the collective") + " (reported by " + role +
           " " + ring_.Describe(reporter) + ")",
       failed);
}

ssize_t MessageTransport::PeekNotice(int fd, const char* role, int reporter, bool failures_only) {
  WireHeader h{};
  const ssize_t n = ::recv(fd, &h, sizeof(h), MSG_DONTWAIT | MSG_PEEK);
  if (n == static_cast<ssize_t>(sizeof(h)) &&
      h.op == static_cast<std::uint32_t>(Op::kAbortNotice) &&
      (!failures_only || h.seq == kNoticeFailed)) {
    FailRingBroken(h, role, reporter);
  }
  return n;
}

void MessageTransport::Fail(int blamed, int peer, const std::string& what, bool evidence) {
  broken_ = PeerError(ring_, peer, what + LinkName());
  if (evidence && blamed != ring_.rank) broken_->failed_rank = blamed;
  const WireHeader notice{static_cast<std::uint32_t>(Op::kAbortNotice),
                          evidence ? kNoticeFailed : 0, static_cast<std::uint64_t>(blamed), 0};
  if (CanNotifySuccessor()) {
    [[maybe_unused]] ssize_t a =
        ::send(next_fd_.get(), &notice, sizeof(notice), MSG_NOSIGNAL | MSG_DONTWAIT);
  }
  [[maybe_unused]] ssize_t b =
      ::send(prev_fd_.get(), &notice, sizeof(notice), MSG_NOSIGNAL | MSG_DONTWAIT);
  // SHUT_WR only: a FIN, not a reset, so a neighbour still reads our notice first.
  ::shutdown(next_fd_.get(), SHUT_WR);
  ::shutdown(prev_fd_.get(), SHUT_WR);
  WakeOnFailure();
  // An abort this process asked for (ring superseded, signal, end of run) is no news to it.
  if (peer == ring_.rank) {
    log::Debug(FormatError(*broken_));
  } else {
    log::Warn(FormatError(*broken_));
  }
  throw *broken_;
}

}  // namespace ringtrain::allreduce::internal
