#include "allreduce/shm_transport.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

#include "common/log.h"

namespace ringtrain::allreduce::internal {

ShmTransport::ShmTransport(Ring ring, UniqueFd next_fd, UniqueFd prev_fd, ShmRing send,
                           ShmRing recv, int spins)
    : ring_(std::move(ring)),
      next_fd_(std::move(next_fd)),
      prev_fd_(std::move(prev_fd)),
      send_(std::move(send)),
      recv_(std::move(recv)),
      spins_(spins) {
  SetNonBlocking(next_fd_.get());
  SetNonBlocking(prev_fd_.get());
}

ShmTransport::~ShmTransport() = default;

void ShmTransport::Abort() {
  aborted_.store(true, std::memory_order_seq_cst);
  // Wake our own sleeping wait (a wake of the other end is harmless: it looks again).
  send_.WakeAll();
  recv_.WakeAll();
}

void ShmTransport::StartExchange(const MessageTag& tag, std::span<const std::byte> send,
                                 std::span<std::byte> recv, Deadline /*deadline*/) {
  if (broken_) throw *broken_;
  started_ = Job{};
  started_.sending = true;
  started_.out_header = MakeHeader(tag, send.size());
  started_.out = send;
  started_.receiving = true;
  started_.expect_tag = tag;
  started_.in = recv;
  Pump(&started_);  // copy what fits now; the rest moves in FinishExchange
}

void ShmTransport::FinishExchange(Deadline deadline) {
  if (!started_.sending && !started_.receiving) {
    throw UsageError("FinishExchange without StartExchange", "shm transport");
  }
  Run(&started_, deadline);
  started_.sending = started_.receiving = false;
}

void ShmTransport::SendToNext(const MessageTag& tag, std::span<const std::byte> data,
                              Deadline deadline) {
  Job job;
  job.sending = true;
  job.out_header = MakeHeader(tag, data.size());
  job.out = data;
  Run(&job, deadline);
}

void ShmTransport::RecvFromPrev(const MessageTag& tag, std::span<std::byte> data,
                                Deadline deadline) {
  Job job;
  job.receiving = true;
  job.expect_tag = tag;
  job.in = data;
  Run(&job, deadline);
}

// Copy, and when nothing moves, sleep on the segment we need (our predecessor's while we
// still expect bytes, else our successor's for room). Only a wait that ended with nothing to
// do looks at the sockets, so the fast path makes no system call besides the futex wake.
void ShmTransport::Run(Job* job, Deadline deadline) {
  if (broken_) throw *broken_;
  bool idle = false;
  while (!job->send_done() || !job->recv_done()) {
    if (aborted_.load(std::memory_order_seq_cst)) {
      Fail(ring_.rank, ring_.rank, "collective aborted by this rank");
    }
    const bool progress = Pump(job);
    if (job->send_done() && job->recv_done()) break;
    if (!progress && idle) CheckSockets(job);
    if (deadline.Expired()) {
      const int peer = job->recv_done() ? ring_.next() : ring_.prev();
      Fail(peer, peer,
           job->recv_done() ? "the successor did not take our data before the deadline"
                            : "no data from the predecessor before the deadline");
    }
    if (progress) {
      idle = false;
      continue;
    }
    const auto slice = std::min<Deadline::Clock::duration>(kShmWaitSlice, deadline.Remaining());
    const auto ms = std::chrono::ceil<std::chrono::milliseconds>(slice);
    if (!job->recv_done()) {
      recv_.WaitForData(ms, spins_);
    } else {
      send_.WaitForSpace(ms, spins_);
    }
    idle = true;
  }
}

bool ShmTransport::Pump(Job* job) {
  constexpr std::size_t kHdr = sizeof(WireHeader);
  bool progress = false;
  if (!job->send_done()) {
    std::size_t n;
    if (job->sent < kHdr) {
      n = send_.Write(reinterpret_cast<const std::byte*>(&job->out_header) + job->sent,
                      kHdr - job->sent);
      job->sent += n;
      progress = n > 0;
    }
    if (job->sent >= kHdr && !job->send_done()) {
      const std::size_t off = job->sent - kHdr;
      n = send_.Write(job->out.data() + off, job->out.size() - off);
      job->sent += n;
      progress = progress || n > 0;
    }
  }
  if (!job->recv_done()) {
    if (job->received < kHdr) {
      const std::size_t n = recv_.Read(
          reinterpret_cast<std::byte*>(&job->in_header) + job->received, kHdr - job->received);
      job->received += n;
      progress = progress || n > 0;
      if (job->received == kHdr && n > 0) {
        const WireHeader& h = job->in_header;
        const MessageTag got{static_cast<Op>(h.op), h.seq, h.count};
        if (!(got == job->expect_tag) || h.payload != job->in.size()) {
          const int prev = ring_.prev();
          Fail(prev, prev,
               "collective mismatch: predecessor sent " + DescribeTag(got, h.payload) +
                   ", this rank expected " + DescribeTag(job->expect_tag, job->in.size()));
        }
      }
    }
    if (job->received >= kHdr && !job->recv_done()) {
      const std::size_t off = job->received - kHdr;
      const std::size_t n = recv_.Read(job->in.data() + off, job->in.size() - off);
      job->received += n;
      progress = progress || n > 0;
    }
  }
  return progress;
}

// The sockets carry only failure news: an abort notice, or EOF when a neighbour is gone. A
// neighbour that finished and closed is fine as long as we need nothing more from it (its
// bytes are already in the segment: look once more before blaming it).
void ShmTransport::CheckSockets(Job* job) {
  pollfd fds[2] = {{prev_eof_ ? -1 : prev_fd_.get(), POLLIN, 0},
                   {next_eof_ ? -1 : next_fd_.get(), POLLIN, 0}};
  if (::poll(fds, 2, 0) < 0 && errno != EINTR) {
    Fail(ring_.rank, ring_.rank, "poll() failed: " + ErrnoText(errno));
  }
  const int peers[2] = {ring_.prev(), ring_.next()};
  const char* roles[2] = {"predecessor", "successor"};
  bool* eofs[2] = {&prev_eof_, &next_eof_};
  const int socks[2] = {prev_fd_.get(), next_fd_.get()};
  for (int i = 0; i < 2; ++i) {
    if (fds[i].revents == 0) continue;
    WireHeader h{};
    const ssize_t n = ::recv(socks[i], &h, sizeof(h), MSG_DONTWAIT | MSG_PEEK);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
    if (n == static_cast<ssize_t>(sizeof(h)) &&
        h.op == static_cast<std::uint32_t>(Op::kAbortNotice)) {
      FailRingBroken(static_cast<int>(h.count), roles[i], peers[i]);
    }
    if (n == 0) {
      *eofs[i] = true;
    } else if (n < 0) {
      Fail(peers[i], peers[i],
           std::string("the ") + roles[i] + " connection failed: " + ErrnoText(errno));
    } else if (n == static_cast<ssize_t>(sizeof(h))) {
      Fail(peers[i], peers[i], std::string("the ") + roles[i] + " sent unexpected bytes");
    }
  }
  if ((prev_eof_ && !job->recv_done()) || (next_eof_ && !job->send_done())) {
    Pump(job);
    if (prev_eof_ && !job->recv_done()) {
      Fail(ring_.prev(), ring_.prev(), "the predecessor closed the connection mid-collective");
    }
    if (next_eof_ && !job->send_done()) {
      Fail(ring_.next(), ring_.next(), "the successor closed the connection mid-collective");
    }
  }
}

void ShmTransport::FailRingBroken(int lost, const char* role, int reporter) {
  Fail(lost, lost,
       "the ring is broken: " + ring_.Describe(lost) + " failed or was lost (reported by " + role +
           " " + ring_.Describe(reporter) + ")");
}

void ShmTransport::Fail(int blamed, int peer, const std::string& what) {
  broken_ = PeerError(ring_, peer, what + " (shared-memory link)");
  // As in the TCP transport: tell both neighbours who is to blame, shut the sockets, and wake
  // whoever sleeps on our segments so they read the notice now. Never blocks, never throws.
  const WireHeader notice{static_cast<std::uint32_t>(Op::kAbortNotice), 0,
                          static_cast<std::uint64_t>(blamed), 0};
  [[maybe_unused]] ssize_t a =
      ::send(next_fd_.get(), &notice, sizeof(notice), MSG_NOSIGNAL | MSG_DONTWAIT);
  [[maybe_unused]] ssize_t b =
      ::send(prev_fd_.get(), &notice, sizeof(notice), MSG_NOSIGNAL | MSG_DONTWAIT);
  ::shutdown(next_fd_.get(), SHUT_WR);
  ::shutdown(prev_fd_.get(), SHUT_WR);
  send_.WakeAll();
  recv_.WakeAll();
  if (peer == ring_.rank) {
    log::Debug(FormatError(*broken_));
  } else {
    log::Warn(FormatError(*broken_));
  }
  throw *broken_;
}

}  // namespace ringtrain::allreduce::internal
