#include "allreduce/tcp_transport.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>

#include "common/log.h"

namespace ringtrain::allreduce::internal {
namespace {

// How long a rank whose predecessor closed waits for the successor's abort notice before it
// blames the predecessor. Ranks beside a lost process see its sockets close at once and pass
// the news on within milliseconds; a predecessor that is itself gone sends nothing, and this is
// what its discovery costs.
constexpr std::chrono::milliseconds kNoticeGrace{200};

}  // namespace

TcpTransport::TcpTransport(Ring ring, UniqueFd next_fd, UniqueFd prev_fd)
    : MessageTransport(std::move(ring), std::move(next_fd), std::move(prev_fd)) {}

TcpTransport::~TcpTransport() = default;

void TcpTransport::Run(MessageJob* job, Deadline deadline) {
  ThrowIfBroken();
  const int next = ring_.next();
  const int prev = ring_.prev();
  while (!job->send_done() || !job->recv_done()) {
    if (abort_.triggered()) {
      if (!reverse_eof_) PeekNotice(next_fd_.get(), "successor", next, true);
      Fail(ring_.rank, ring_.rank, "collective aborted by this rank", false);
    }
    const bool progress = Pump(job);
    if (progress) {
      if (deadline.Expired()) {
        Fail(job->recv_done() ? next : prev, job->recv_done() ? next : prev,
             "deadline passed during a collective");
      }
      continue;
    }
    pollfd fds[3];
    // The reverse direction is watched for abort notices; once the successor has closed it
    // (it finished its part), the socket matters only while we still owe it data.
    const bool watch_next = !job->send_done() || !reverse_eof_;
    fds[0] = {watch_next ? next_fd_.get() : -1,
              static_cast<short>((reverse_eof_ ? 0 : POLLIN) | (job->send_done() ? 0 : POLLOUT)),
              0};
    // fd -1 when not receiving: a closed predecessor's POLLHUP must not spin this loop.
    fds[1] = {job->recv_done() ? -1 : prev_fd_.get(), POLLIN, 0};
    fds[2] = {abort_.fd(), POLLIN, 0};
    const int rc = ::poll(fds, 3, deadline.RemainingMs());
    if (rc < 0) {
      if (errno == EINTR) continue;
      Fail(ring_.rank, ring_.rank, "poll() failed: " + ErrnoText(errno));
    }
    if (rc == 0) {
      if (!job->recv_done()) {
        Fail(prev, prev, "no data from the predecessor before the deadline");
      }
      Fail(next, next, "the successor did not take our data before the deadline");
    }
    if (fds[2].revents != 0) continue;  // the loop head sees the flag
    if ((fds[0].revents & (POLLIN | POLLHUP | POLLERR)) != 0) CheckReverse(job->send_done());
  }
}

bool TcpTransport::Pump(MessageJob* job) {
  const int next = ring_.next();
  const int prev = ring_.prev();
  bool progress = false;
  if (!job->send_done()) {
    iovec iov[2];
    int n_iov = 0;
    const std::size_t hdr = sizeof(WireHeader);
    if (job->sent < hdr) {
      iov[n_iov++] = {reinterpret_cast<char*>(&job->out_header) + job->sent, hdr - job->sent};
      if (!job->out.empty()) {
        iov[n_iov++] = {const_cast<std::byte*>(job->out.data()), job->out.size()};
      }
    } else {
      const std::size_t off = job->sent - hdr;
      iov[n_iov++] = {const_cast<std::byte*>(job->out.data()) + off, job->out.size() - off};
    }
    msghdr msg{};
    msg.msg_iov = iov;
    msg.msg_iovlen = static_cast<std::size_t>(n_iov);
    const ssize_t n = ::sendmsg(next_fd_.get(), &msg, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      job->sent += static_cast<std::size_t>(n);
      next_mid_message_ = !job->send_done();
      progress = true;
    } else if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      FailLink(next, "sending to the successor failed: " + ErrnoText(errno),
               std::chrono::milliseconds(0));
    }
  }
  if (!job->recv_done()) {
    const std::size_t hdr = sizeof(WireHeader);
    std::byte* dst;
    std::size_t want;
    if (job->received < hdr) {
      dst = reinterpret_cast<std::byte*>(&job->in_header) + job->received;
      want = hdr - job->received;
    } else {
      dst = job->in.data() + (job->received - hdr);
      want = job->in.size() - (job->received - hdr);
    }
    const ssize_t n = ::recv(prev_fd_.get(), dst, want, MSG_DONTWAIT);
    if (n > 0) {
      const bool had_header = job->received >= hdr;
      job->received += static_cast<std::size_t>(n);
      progress = true;
      if (!had_header && job->received >= hdr) CheckInHeader(*job);
    } else if (n == 0) {
      FailLink(prev, "the predecessor closed the connection mid-collective", kNoticeGrace);
    } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
      FailLink(prev, "receiving from the predecessor failed: " + ErrnoText(errno), kNoticeGrace);
    }
  }
  return progress;
}

void TcpTransport::FailLink(int peer, const std::string& what, std::chrono::milliseconds wait) {
  const auto until = std::chrono::steady_clock::now() + wait;
  while (!reverse_eof_) {
    const ssize_t n = PeekReverse();
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)) break;
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        until - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd fd{next_fd_.get(), POLLIN, 0};
    if (::poll(&fd, 1, static_cast<int>(left.count()) + 1) < 0 && errno != EINTR) break;
  }
  Fail(peer, peer, what);
}

ssize_t TcpTransport::PeekReverse() {
  return PeekNotice(next_fd_.get(), "successor", ring_.next());
}

// Data on the successor socket's reverse direction: an abort notice, EOF or an error.
void TcpTransport::CheckReverse(bool send_done) {
  const int next = ring_.next();
  const ssize_t n = PeekReverse();
  if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return;
  if (n == 0) {
    if (send_done) {  // it has everything we owed it; a finished successor may close
      reverse_eof_ = true;
      return;
    }
    Fail(next, next, "the successor closed the connection mid-collective");
  }
  if (n < 0) Fail(next, next, "the successor connection failed: " + ErrnoText(errno));
  if (n != static_cast<ssize_t>(sizeof(WireHeader))) return;  // partial notice: wait for it
  Fail(next, next, "the successor sent unexpected bytes on the reverse channel");
}

}  // namespace ringtrain::allreduce::internal
