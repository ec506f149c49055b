#include "allreduce/shm_transport.h"

#include <poll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cassert>
#include <cerrno>

#include "common/log.h"

namespace ringtrain::allreduce::internal {

ShmTransport::ShmTransport(Ring ring, UniqueFd next_fd, UniqueFd prev_fd, ShmRing send,
                           ShmRing recv, ShmPolls polls)
    : MessageTransport(std::move(ring), std::move(next_fd), std::move(prev_fd)),
      send_(std::move(send)),
      recv_(std::move(recv)),
      polls_(polls) {}

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
namespace {
// The element an add exchange sums (its tag is a float or double allreduce: CheckCanAdd).
std::size_t AddedElementBytes(const MessageJob& job) {
  return job.expect_tag.op == Op::kAllreduceDouble ? sizeof(double) : sizeof(float);
}
}  // namespace

void ShmTransport::Run(MessageJob* job, Deadline deadline) {
  ThrowIfBroken();
  bool idle = false;
  while (!job->send_done() || !job->recv_done()) {
    if (aborted_.load(std::memory_order_seq_cst)) {
      // Sockets are looked at only between waits: a neighbour's notice may be there already.
      if (!prev_eof_) PeekNotice(prev_fd_.get(), "predecessor", ring_.prev(), true);
      if (!next_eof_) PeekNotice(next_fd_.get(), "successor", ring_.next(), true);
      Fail(ring_.rank, ring_.rank, "collective aborted by this rank", false);
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
    // A forwarding exchange with bytes it could not write yet waits for room first: the
    // successor's progress (and so, round the ring, ours) may hang on them.
    const bool send_blocked =
        job->forward && job->sending && !job->send_done() &&
        (!job->first_sent() || job->fwd_sent < sizeof(WireHeader) || job->fwd_sent < job->received);
    if (!job->recv_done() && !send_blocked) {
      // An add reads whole elements: a part of one is not enough to move on.
      const bool adding = job->add && !job->first_received() && job->received >= sizeof(WireHeader);
      const std::size_t need = adding ? AddedElementBytes(*job) : 1;
      recv_.WaitForData(ms, polls_, need);
    } else {
      send_.WaitForSpace(ms, polls_);
    }
    idle = true;
  }
}

// Every message starts at a multiple of kShmAlign in the segment (both ends align at their
// first byte of it), so the payload of an add exchange is read in place as whole elements.
// A forwarding exchange (StartAddForwardExchange) moves two messages each way, in this order
// on both links: ours, then the sums we make out of the predecessor's first message. Adding
// never waits for the forwarding (which needs ours out first and room at the successor), so
// no link waits on itself round the ring; the sums go on right after each slice is added
// while room allows (still in cache), else later from `in`.
bool ShmTransport::Pump(MessageJob* job) {
  constexpr std::size_t kHdr = sizeof(WireHeader);
  bool progress = false;
  if (job->sending && !job->first_sent() && (job->sent > 0 || send_.AlignWrite())) {
    std::size_t n;
    if (job->sent < kHdr) {
      n = send_.Write(reinterpret_cast<const std::byte*>(&job->out_header) + job->sent,
                      kHdr - job->sent);
      job->sent += n;
      progress = n > 0;
    }
    if (job->sent >= kHdr && !job->first_sent()) {
      const std::size_t off = job->sent - kHdr;
      n = send_.Write(job->out.data() + off, job->out.size() - off);
      job->sent += n;
      progress = progress || n > 0;
    }
  }
  progress = ForwardSums(job) || progress;
  if (job->receiving && !job->first_received() && (job->received > 0 || recv_.AlignRead())) {
    if (job->received < kHdr) {
      const std::size_t n = recv_.Read(
          reinterpret_cast<std::byte*>(&job->in_header) + job->received, kHdr - job->received);
      job->received += n;
      progress = progress || n > 0;
      if (job->received == kHdr && n > 0) CheckInHeader(*job);
    }
    if (job->received >= kHdr && !job->first_received()) {
      if (!job->add) {
        const std::size_t off = job->received - kHdr;
        const std::size_t n = recv_.Read(job->in.data() + off, job->in.size() - off);
        job->received += n;
        progress = progress || n > 0;
      } else {
        progress = (AddedElementBytes(*job) == sizeof(double) ? AddSlices<double>(job)
                                                              : AddSlices<float>(job)) ||
                   progress;
      }
    }
  }
  if (job->receiving && job->forward && job->first_received() &&
      job->received2 < kHdr + job->in2.size() && (job->received2 > 0 || recv_.AlignRead())) {
    if (job->received2 < kHdr) {
      const std::size_t n = recv_.Read(
          reinterpret_cast<std::byte*>(&job->in2_header) + job->received2, kHdr - job->received2);
      job->received2 += n;
      progress = progress || n > 0;
      if (job->received2 == kHdr && n > 0) {
        CheckInHeader(job->in2_header, job->expect_tag, job->in2.size());
      }
    }
    if (job->received2 >= kHdr && job->received2 < kHdr + job->in2.size()) {
      const std::size_t off = job->received2 - kHdr;
      const std::size_t n = recv_.Read(job->in2.data() + off, job->in2.size() - off);
      job->received2 += n;
      progress = progress || n > 0;
    }
  }
  return progress;
}

// Adds what has arrived of the first message into `in`, slice by slice, each slice's sums
// forwarded at once when this is a forwarding exchange. True if anything was added.
template <typename T>
bool ShmTransport::AddSlices(MessageJob* job) {
  constexpr std::size_t kHdr = sizeof(WireHeader);
  const std::size_t slice = job->forward ? kShmSliceBytes / sizeof(T) : job->in.size();
  bool moved = false;
  while (!job->first_received()) {
    const std::size_t off = job->received - kHdr;
    const std::size_t want = std::min((job->in.size() - off) / sizeof(T), slice);
    const std::size_t got = recv_.ReadAdd(reinterpret_cast<T*>(job->in.data() + off), want);
    if (got == 0) break;
    job->received += got * sizeof(T);
    moved = true;
    ForwardSums(job);
  }
  return moved;
}

// Writes the second message: its header once our first message is out, then the sums made so
// far, as far as the successor's segment has room. True if bytes moved.
bool ShmTransport::ForwardSums(MessageJob* job) {
  constexpr std::size_t kHdr = sizeof(WireHeader);
  if (!job->forward || !job->first_sent()) return false;
  bool moved = false;
  if (job->fwd_sent < kHdr) {
    if (job->fwd_sent == 0 && !send_.AlignWrite()) return false;
    const std::size_t n = send_.Write(
        reinterpret_cast<const std::byte*>(&job->fwd_header) + job->fwd_sent, kHdr - job->fwd_sent);
    job->fwd_sent += n;
    moved = n > 0;
    if (job->fwd_sent < kHdr) return moved;
  }
  const std::size_t off = job->fwd_sent - kHdr;
  const std::size_t summed = job->received > kHdr ? job->received - kHdr : 0;
  if (summed > off) {
    const std::size_t n = send_.Write(job->in.data() + off, summed - off);
    job->fwd_sent += n;
    moved = moved || n > 0;
  }
  return moved;
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
    const ssize_t n = PeekNotice(socks[i], roles[i], peers[i]);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
    if (n == 0) {
      *eofs[i] = true;
    } else if (n < 0) {
      Fail(peers[i], peers[i],
           std::string("the ") + roles[i] + " connection failed: " + ErrnoText(errno));
    } else if (n == static_cast<ssize_t>(sizeof(WireHeader))) {
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
