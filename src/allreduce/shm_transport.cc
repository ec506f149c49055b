#include "allreduce/shm_transport.h"

#include <poll.h>
#include <sys/socket.h>

#include <cerrno>

#include "common/log.h"

namespace ringtrain::allreduce::internal {

ShmTransport::ShmTransport(Ring ring, UniqueFd next_fd, UniqueFd prev_fd, ShmRing send,
                           ShmRing recv, int spins)
    : MessageTransport(std::move(ring), std::move(next_fd), std::move(prev_fd)),
      send_(std::move(send)),
      recv_(std::move(recv)),
      spins_(spins) {}

ShmTransport::~ShmTransport() = default;

void ShmTransport::Abort() {
  aborted_.store(true, std::memory_order_seq_cst);
  // Wake our own sleeping wait (a wake of the other end is harmless: it looks again).
  send_.WakeAll();
  recv_.WakeAll();
}

// Copy, and when nothing moves, sleep on the segment we need (our predecessor's while we
// still expect bytes, else our successor's for room). Only a wait that ended with nothing to
// do looks at the sockets, so the fast path makes no system call besides the futex wake.
void ShmTransport::Run(MessageJob* job, Deadline deadline) {
  ThrowIfBroken();
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
      // An add reads whole elements: a part of one is not enough to move on.
      const std::size_t need = !job->add || job->received < sizeof(WireHeader) ? 1
                               : job->expect_tag.op == Op::kAllreduceDouble    ? sizeof(double)
                                                                               : sizeof(float);
      recv_.WaitForData(ms, spins_, need);
    } else {
      send_.WaitForSpace(ms, spins_);
    }
    idle = true;
  }
}

// Every message starts at a multiple of kShmAlign in the segment (both ends align at their
// first byte of it), so the payload of an add exchange is read in place as whole elements.
bool ShmTransport::Pump(MessageJob* job) {
  constexpr std::size_t kHdr = sizeof(WireHeader);
  bool progress = false;
  if (!job->send_done() && (job->sent > 0 || send_.AlignWrite())) {
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
  if (!job->recv_done() && (job->received > 0 || recv_.AlignRead())) {
    if (job->received < kHdr) {
      const std::size_t n = recv_.Read(
          reinterpret_cast<std::byte*>(&job->in_header) + job->received, kHdr - job->received);
      job->received += n;
      progress = progress || n > 0;
      if (job->received == kHdr && n > 0) CheckInHeader(*job);
    }
    if (job->received >= kHdr && !job->recv_done()) {
      const std::size_t off = job->received - kHdr;
      std::size_t n;
      if (!job->add) {
        n = recv_.Read(job->in.data() + off, job->in.size() - off);
      } else if (job->expect_tag.op == Op::kAllreduceDouble) {
        n = sizeof(double) * recv_.ReadAdd(reinterpret_cast<double*>(job->in.data() + off),
                                           (job->in.size() - off) / sizeof(double));
      } else {
        n = sizeof(float) * recv_.ReadAdd(reinterpret_cast<float*>(job->in.data() + off),
                                          (job->in.size() - off) / sizeof(float));
      }
      job->received += n;
      progress = progress || n > 0;
    }
  }
  return progress;
}

// The sockets carry only failure news: an abort notice, or EOF when a neighbour is gone. A
// neighbour that finished and closed is fine as long as we need nothing more from it (its
// bytes are already in the segment: look once more before blaming it).
void ShmTransport::CheckSockets(MessageJob* job) {
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

void ShmTransport::WakeOnFailure() {
  // Whoever sleeps on our segments reads the abort notice now.
  send_.WakeAll();
  recv_.WakeAll();
}

}  // namespace ringtrain::allreduce::internal
