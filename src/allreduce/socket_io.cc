#include "allreduce/socket_io.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>

#include "common/error.h"

namespace ringtrain::allreduce::internal {

void UniqueFd::Reset(int fd) {
  if (fd_ >= 0) ::close(fd_);
  fd_ = fd;
}

AbortSignal::AbortSignal() : fd_(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {
  if (!fd_.valid()) {
    throw TransportError("eventfd() failed: " + ErrnoText(errno), {},
                         "raise the open-file limit (ulimit -n)");
  }
}

void AbortSignal::Trigger() {
  flag_.store(true, std::memory_order_release);
  std::uint64_t one = 1;
  // Best effort: the flag alone already stops the next loop iteration.
  [[maybe_unused]] ssize_t n = ::write(fd_.get(), &one, sizeof(one));
}

std::string ErrnoText(int err) {
  char buf[256];
  // GNU strerror_r returns the message pointer.
  const char* msg = ::strerror_r(err, buf, sizeof(buf));
  return std::string(msg) + " (errno " + std::to_string(err) + ")";
}

bool SetNonBlocking(int fd) {
  int flags = ::fcntl(fd, F_GETFL, 0);
  return flags >= 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) == 0;
}

void TuneSocket(int fd, int buffer_bytes) {
  int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
  if (buffer_bytes > 0) {
    ::setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buffer_bytes, sizeof(buffer_bytes));
    ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buffer_bytes, sizeof(buffer_bytes));
  }
}

}  // namespace ringtrain::allreduce::internal
