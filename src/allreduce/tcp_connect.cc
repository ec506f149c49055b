// Listener, connect-with-retry, accept-with-handshake: how a TcpTransport comes to be.
#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <limits>
#include <utility>
#include <vector>

#include "allreduce/handshake.h"
#include "allreduce/shm_ring.h"
#include "allreduce/shm_transport.h"
#include "allreduce/socket_io.h"
#include "allreduce/tcp.h"
#include "allreduce/tcp_transport.h"
#include "common/log.h"

namespace ringtrain::allreduce {

using internal::ErrnoText;
using internal::UniqueFd;

struct TcpListener::AbortState {
  internal::AbortSignal event;  // only its eventfd is used: readable after AbortConnect
  std::atomic<std::int64_t> upto{std::numeric_limits<std::int64_t>::min()};
};

TcpListener::TcpListener(int fd, std::string address, std::uint16_t port)
    : fd_(fd), address_(std::move(address)), port_(port), abort_(std::make_unique<AbortState>()) {}
TcpListener::TcpListener(TcpListener&& o) noexcept
    : fd_(std::exchange(o.fd_, -1)),
      address_(std::move(o.address_)),
      port_(o.port_),
      abort_(std::move(o.abort_)) {}
TcpListener& TcpListener::operator=(TcpListener&& o) noexcept {
  if (this != &o) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = std::exchange(o.fd_, -1);
    address_ = std::move(o.address_);
    port_ = o.port_;
    abort_ = std::move(o.abort_);
  }
  return *this;
}
TcpListener::~TcpListener() {
  if (fd_ >= 0) ::close(fd_);
}

void TcpListener::AbortConnect(std::int64_t generation) {
  if (!abort_) return;
  std::int64_t cur = abort_->upto.load();
  while (cur < generation && !abort_->upto.compare_exchange_weak(cur, generation)) {
  }
  abort_->event.Trigger();
}
bool TcpListener::ConnectAborted(std::int64_t generation) const {
  return abort_ && generation <= abort_->upto.load();
}
int TcpListener::abort_fd() const { return abort_ ? abort_->event.fd() : -1; }
void TcpListener::ClearAbortFd() const {
  std::uint64_t count = 0;
  if (abort_) [[maybe_unused]]
    ssize_t n = ::read(abort_->event.fd(), &count, sizeof(count));
}

TcpListener TcpListener::Bind(const std::string& address, std::uint16_t port) {
  const std::string where = address + ":" + std::to_string(port);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  if (::inet_pton(AF_INET, address.c_str(), &addr.sin_addr) != 1) {
    throw TransportError("cannot bind: '" + address + "' is not an IPv4 address", where,
                         "pass a numeric address such as 0.0.0.0 or 127.0.0.1");
  }
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) throw TransportError("socket() failed: " + ErrnoText(errno), where);
  int one = 1;
  ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    const int err = errno;
    if (err == EADDRNOTAVAIL) {
      throw TransportError("cannot bind: this host has no address " + address, where,
                           "pass --advertise-address with one of this host's addresses, or "
                           "--interface NAME");
    }
    throw TransportError("bind() failed: " + ErrnoText(err), where,
                         "choose another port, or 0 to let the system pick one");
  }
  if (::listen(fd.get(), 128) != 0) {
    throw TransportError("listen() failed: " + ErrnoText(errno), where);
  }
  socklen_t len = sizeof(addr);
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len);
  return TcpListener(fd.Release(), address, ntohs(addr.sin_port));
}

namespace {

// What ends a connect early besides its deadline: the listener's AbortConnect for this ring.
struct Stop {
  const TcpListener& listener;
  const Ring& ring;

  void Check() const {
    if (listener.ConnectAborted(ring.generation)) {
      throw PeerError(ring, ring.rank,
                      "connecting the ring of generation " + std::to_string(ring.generation) +
                          " was aborted: that ring is gone",
                      "a newer generation is forming; rejoin through rendezvous");
    }
  }
  // poll() on `fds` and the abort eventfd until an event on `fds` or the deadline; throws
  // once the connect is aborted. Returns poll's count of ready entries of `fds` (0: deadline).
  int Poll(pollfd* fds, std::size_t n, Deadline deadline) const {
    std::vector<pollfd> all(fds, fds + n);
    all.push_back({listener.abort_fd(), POLLIN, 0});
    while (true) {
      Check();
      const int rc = ::poll(all.data(), all.size(), deadline.RemainingMs());
      if (rc < 0 && errno == EINTR) continue;
      if (rc < 0) return rc;
      const bool woken = all.back().revents != 0;
      if (woken) listener.ClearAbortFd();  // an abort of an older generation, or ours: Check
      for (std::size_t i = 0; i < n; ++i) fds[i].revents = all[i].revents;
      const int ready = rc - (woken ? 1 : 0);
      if (ready > 0 || rc == 0) return ready;
    }
  }
  // Sleeps for `pause` unless aborted first.
  void Sleep(Deadline::Clock::duration pause) const {
    Poll(nullptr, 0, Deadline::After(pause));
    Check();
  }
};

// Writes all of `data` to a non-blocking socket before the deadline; false on failure.
bool WriteAll(int fd, const std::byte* data, std::size_t size, Deadline deadline, const Stop& stop,
              std::string* error) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::send(fd, data + done, size - done, MSG_NOSIGNAL | MSG_DONTWAIT);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      *error = ErrnoText(errno);
      return false;
    }
    pollfd p{fd, POLLOUT, 0};
    if (stop.Poll(&p, 1, deadline) == 0) {
      *error = "timed out writing";
      return false;
    }
  }
  return true;
}

// Reads exactly `size` bytes before the deadline; false on EOF, error or timeout.
bool ReadAll(int fd, std::byte* data, std::size_t size, Deadline deadline, const Stop& stop,
             std::string* error) {
  std::size_t done = 0;
  while (done < size) {
    const ssize_t n = ::recv(fd, data + done, size - done, MSG_DONTWAIT);
    if (n > 0) {
      done += static_cast<std::size_t>(n);
      continue;
    }
    if (n == 0) {
      *error = "connection closed";
      return false;
    }
    if (errno == EINTR) continue;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
      *error = ErrnoText(errno);
      return false;
    }
    pollfd p{fd, POLLIN, 0};
    if (stop.Poll(&p, 1, deadline) == 0) {
      *error = "timed out waiting for the reply";
      return false;
    }
  }
  return true;
}

// One non-blocking connect attempt, bounded by `deadline`; a connected fd or invalid.
UniqueFd TryConnect(const Member& peer, int buffer_bytes, Deadline deadline, const Stop& stop,
                    std::string* error) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  const std::string port = std::to_string(peer.port);
  if (int rc = ::getaddrinfo(peer.host.c_str(), port.c_str(), &hints, &res); rc != 0) {
    *error = std::string("cannot resolve host: ") + ::gai_strerror(rc);
    return UniqueFd();
  }
  UniqueFd fd(::socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (!fd.valid()) {
    *error = "socket() failed: " + ErrnoText(errno);
    ::freeaddrinfo(res);
    return UniqueFd();
  }
  internal::TuneSocket(fd.get(), buffer_bytes);  // before connect: sizes the TCP window
  int rc = ::connect(fd.get(), res->ai_addr, res->ai_addrlen);
  ::freeaddrinfo(res);
  if (rc != 0 && errno != EINPROGRESS) {
    *error = "connect() failed: " + ErrnoText(errno);
    return UniqueFd();
  }
  if (rc != 0) {
    pollfd p{fd.get(), POLLOUT, 0};
    if (stop.Poll(&p, 1, deadline) <= 0) {
      *error = "connect() timed out";
      return UniqueFd();
    }
    int err = 0;
    socklen_t len = sizeof(err);
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &len);
    if (err != 0) {
      *error = "connect() failed: " + ErrnoText(err);
      return UniqueFd();
    }
  }
  return fd;
}

UniqueFd ConnectSuccessor(const Ring& ring, const TcpOptions& options, Deadline deadline,
                          const Stop& stop) {
  const int next = ring.next();
  const Member& peer = ring.members[static_cast<std::size_t>(next)];
  const std::vector<std::byte> hello =
      EncodeHello(Hello{ring.generation, ring.rank, ring.world_size(), ring.job, ring.token});
  std::string error = "no attempt made";
  auto backoff = std::chrono::milliseconds(10);
  while (!deadline.Expired()) {
    UniqueFd fd = TryConnect(peer, options.socket_buffer_bytes, deadline, stop, &error);
    if (fd.valid() && WriteAll(fd.get(), hello.data(), hello.size(), deadline, stop, &error)) {
      return fd;
    }
    stop.Sleep(std::min<Deadline::Clock::duration>(backoff, deadline.Remaining()));
    backoff = std::min(backoff * 2, std::chrono::milliseconds(200));
  }
  throw PeerError(ring, next, "could not connect to the successor before the deadline: " + error,
                  "check that rank " + std::to_string(next) +
                      " is running and its advertised address is reachable");
}

struct Pending {
  UniqueFd fd;
  std::vector<std::byte> buf;
  std::size_t need = kHelloFixedBytes;
};

// Accepts connections until one carries a valid hello from the predecessor; refuses others.
UniqueFd AcceptPredecessor(TcpListener& listener, const Ring& ring, const TcpOptions& options,
                           Deadline deadline, const Stop& stop) {
  const int prev = ring.prev();
  constexpr std::size_t kMaxPending = 64;
  std::deque<Pending> pending;
  std::string last_refusal;
  int refused = 0;
  while (true) {
    std::vector<pollfd> fds;
    fds.push_back({listener.fd(), POLLIN, 0});
    for (const Pending& p : pending) fds.push_back({p.fd.get(), POLLIN, 0});
    const int rc = stop.Poll(fds.data(), fds.size(), deadline);
    if (rc <= 0) break;  // deadline (or a poll failure, reported the same way)
    // Existing connections first (their indices shift once new ones are added).
    for (std::size_t i = pending.size(); i-- > 0;) {
      if (fds[i + 1].revents == 0) continue;
      Pending& p = pending[i];
      const std::size_t have = p.buf.size();
      p.buf.resize(p.need);
      const ssize_t n = ::recv(p.fd.get(), p.buf.data() + have, p.need - have, MSG_DONTWAIT);
      if (n <= 0) {
        p.buf.resize(have);
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) continue;
        pending.erase(pending.begin() + static_cast<std::ptrdiff_t>(i));  // closed: drop
        continue;
      }
      p.buf.resize(have + static_cast<std::size_t>(n));
      if (p.buf.size() < p.need) continue;
      if (p.need == kHelloFixedBytes) {
        auto total = HelloLength(p.buf.data());
        if (!total) {
          ++refused;
          last_refusal = "garbage instead of a ringtrain hello";
          log::Warn("refused a connection on port " + std::to_string(listener.port()) + ": " +
                    last_refusal);
          pending.erase(pending.begin() + static_cast<std::ptrdiff_t>(i));
          continue;
        }
        p.need = *total;
        if (p.buf.size() < p.need) continue;
      }
      const auto hello = DecodeHello(p.buf.data(), p.buf.size());
      const HelloStatus status = hello ? CheckHello(*hello, ring) : HelloStatus::kWrongJob;
      const auto reply = EncodeReply(Reply{status, ring.rank, ring.generation});
      std::string error;
      const bool sent =
          WriteAll(p.fd.get(), reply.data(), reply.size(),
                   Deadline::Min(deadline, Deadline::After(std::chrono::seconds(1))), stop, &error);
      if (status == HelloStatus::kOk && sent) {
        UniqueFd fd = std::move(p.fd);
        internal::TuneSocket(fd.get(), options.socket_buffer_bytes);
        return fd;
      }
      ++refused;
      last_refusal = hello ? "rank " + std::to_string(hello->rank) + " of generation " +
                                 std::to_string(hello->generation) + ": " + DescribeStatus(status)
                           : "undecodable hello";
      log::Warn("refused a connection on port " + std::to_string(listener.port()) + " (" +
                last_refusal + ")");
      pending.erase(pending.begin() + static_cast<std::ptrdiff_t>(i));
    }
    if (fds[0].revents != 0) {
      while (true) {
        const int fd = ::accept4(listener.fd(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;  // EAGAIN: drained (other errors: try again on the next poll)
        if (pending.size() >= kMaxPending) pending.pop_front();  // oldest silent one goes
        pending.push_back(Pending{UniqueFd(fd), {}, kHelloFixedBytes});
      }
    }
  }
  std::string what = "the predecessor did not connect with a valid handshake before the deadline";
  if (refused > 0) {
    what += " (refused " + std::to_string(refused) + " connection(s), last: " + last_refusal + ")";
  }
  throw PeerError(ring, prev, what,
                  "check that rank " + std::to_string(prev) +
                      " is running the same job and generation with the same token");
}

void ReadReply(int fd, const Ring& ring, Deadline deadline, const Stop& stop) {
  const int next = ring.next();
  std::byte buf[kReplyBytes];
  std::string error;
  if (!ReadAll(fd, buf, sizeof(buf), deadline, stop, &error)) {
    throw PeerError(ring, next, "no handshake reply from the successor: " + error);
  }
  const auto reply = DecodeReply(buf);
  if (!reply) throw PeerError(ring, next, "the successor answered with garbage");
  if (reply->status != HelloStatus::kOk) {
    throw PeerError(
        ring, next,
        "the successor refused this rank's handshake: " + DescribeStatus(reply->status) +
            " (it is rank " + std::to_string(reply->rank) + " of generation " +
            std::to_string(reply->generation) + ")",
        "the ring changed; rejoin through rendezvous");
  }
}

// Shared-memory upgrade (docs/allreduce.md, "Shared-memory links"), after both handshakes.
// On every link the sender offers, native byte order: u32 magic 'RTSO' | u32 capacity |
// u64 nonce | u16 boot id length | u16 name length | boot id | name (an empty name: no
// segment, e.g. shared_memory off).
// The receiver maps the segment if the boot id is its own; then every rank passes the AND of
// "my predecessor's segment is mapped" round the ring (N-1 one-byte steps), so all ranks
// switch or none does. Returns the shm transport, or nullptr to stay on TCP.
constexpr std::uint32_t kOfferMagic = 0x4f535452;  // "RTSO"
constexpr std::size_t kOfferFixedBytes = 20;

std::unique_ptr<Transport> UpgradeToShm(const Ring& ring, const TcpOptions& options,
                                        UniqueFd& next_fd, UniqueFd& prev_fd, Deadline deadline,
                                        const Stop& stop) {
  const bool want = options.shared_memory == SharedMemory::kAuto;
  const std::string boot = want ? internal::BootId() : std::string();
  std::optional<internal::ShmRing> send;
  std::string error;
  if (want && !boot.empty()) {
    send = internal::ShmRing::Create(options.shm_ring_bytes, &error);
    if (!send) log::Info("shared memory unavailable, staying on TCP: " + error);
  }
  const std::string name = send ? send->name() : std::string();
  std::vector<std::byte> offer(kOfferFixedBytes + boot.size() + name.size());
  const std::uint32_t capacity = send ? send->capacity() : 0;
  const std::uint64_t nonce = send ? send->nonce() : 0;
  const auto boot_len = static_cast<std::uint16_t>(boot.size());
  const auto name_len = static_cast<std::uint16_t>(name.size());
  std::memcpy(offer.data(), &kOfferMagic, 4);
  std::memcpy(offer.data() + 4, &capacity, 4);
  std::memcpy(offer.data() + 8, &nonce, 8);
  std::memcpy(offer.data() + 16, &boot_len, 2);
  std::memcpy(offer.data() + 18, &name_len, 2);
  std::memcpy(offer.data() + kOfferFixedBytes, boot.data(), boot.size());
  std::memcpy(offer.data() + kOfferFixedBytes + boot.size(), name.data(), name.size());
  if (!WriteAll(next_fd.get(), offer.data(), offer.size(), deadline, stop, &error)) {
    throw PeerError(ring, ring.next(), "sending the shared-memory offer failed: " + error);
  }

  std::byte fixed[kOfferFixedBytes];
  if (!ReadAll(prev_fd.get(), fixed, sizeof(fixed), deadline, stop, &error)) {
    throw PeerError(ring, ring.prev(), "no shared-memory offer from the predecessor: " + error);
  }
  std::uint32_t magic = 0, their_capacity = 0;
  std::uint64_t their_nonce = 0;
  std::uint16_t their_boot_len = 0, their_name_len = 0;
  std::memcpy(&magic, fixed, 4);
  std::memcpy(&their_capacity, fixed + 4, 4);
  std::memcpy(&their_nonce, fixed + 8, 8);
  std::memcpy(&their_boot_len, fixed + 16, 2);
  std::memcpy(&their_name_len, fixed + 18, 2);
  if (magic != kOfferMagic || their_boot_len > 255 || their_name_len > 255) {
    throw PeerError(ring, ring.prev(), "the predecessor sent garbage instead of a link offer",
                    "every rank of a job must run the same ringtrain version");
  }
  std::vector<std::byte> rest(std::size_t{their_boot_len} + their_name_len);
  if (!ReadAll(prev_fd.get(), rest.data(), rest.size(), deadline, stop, &error)) {
    throw PeerError(ring, ring.prev(), "no shared-memory offer from the predecessor: " + error);
  }
  const std::string their_boot(reinterpret_cast<const char*>(rest.data()), their_boot_len);
  const std::string their_name(reinterpret_cast<const char*>(rest.data()) + their_boot_len,
                               their_name_len);
  std::optional<internal::ShmRing> recv;
  if (want && !their_name.empty() && their_boot == boot) {
    recv = internal::ShmRing::Open(their_name, their_capacity, their_nonce, &error);
    if (!recv) log::Info("cannot map the predecessor's shared memory, staying on TCP: " + error);
  }

  std::uint8_t all = recv ? 1 : 0;
  for (int s = 0; s + 1 < ring.world_size(); ++s) {
    std::uint8_t theirs = 0;
    if (!WriteAll(next_fd.get(), reinterpret_cast<const std::byte*>(&all), 1, deadline, stop,
                  &error)) {
      throw PeerError(ring, ring.next(), "the shared-memory vote failed: " + error);
    }
    if (!ReadAll(prev_fd.get(), reinterpret_cast<std::byte*>(&theirs), 1, deadline, stop, &error)) {
      throw PeerError(ring, ring.prev(), "the shared-memory vote failed: " + error);
    }
    all = static_cast<std::uint8_t>(all & theirs);
  }
  if (send) send->Unlink();  // mapped by the successor or never to be: the name goes now
  if (all == 0) return nullptr;
  log::Info("ring links over shared memory (same host; --shm off keeps them on TCP)");
  // All ranks run on this host: spinning pays only while each can have a CPU of its own.
  const long cpus = ::sysconf(_SC_NPROCESSORS_ONLN);
  const int spins = options.shm_spins != kShmSpinsAuto      ? std::max(0, options.shm_spins)
                    : cpus > 0 && ring.world_size() <= cpus ? kShmAutoSpins
                                                            : 0;
  const internal::ShmPolls polls{spins, options.shm_yield_for};
  return std::make_unique<internal::ShmTransport>(ring, std::move(next_fd), std::move(prev_fd),
                                                  std::move(*send), std::move(*recv), polls);
}

}  // namespace

std::unique_ptr<Transport> ConnectTcpTransport(TcpListener& listener, const Ring& ring,
                                               const TcpOptions& options) {
  if (ring.world_size() < 1 || ring.rank < 0 || ring.rank >= ring.world_size()) {
    throw UsageError("malformed ring: rank " + std::to_string(ring.rank) + " of " +
                     std::to_string(ring.world_size()));
  }
  if (ring.world_size() == 1) return nullptr;
  const Deadline deadline = Deadline::After(options.timeout);
  // Connect and send our hello first (kernel-buffered), then accept, then read the reply:
  // no rank waits on another's accept, so the ring cannot deadlock.
  const Stop stop{listener, ring};
  stop.Check();
  UniqueFd next_fd = ConnectSuccessor(ring, options, deadline, stop);
  UniqueFd prev_fd = AcceptPredecessor(listener, ring, options, deadline, stop);
  ReadReply(next_fd.get(), ring, deadline, stop);
  if (auto shm = UpgradeToShm(ring, options, next_fd, prev_fd, deadline, stop)) return shm;
  return std::make_unique<internal::TcpTransport>(ring, std::move(next_fd), std::move(prev_fd));
}

std::unique_ptr<RingCommunicator> ConnectTcpRing(TcpListener& listener, const Ring& ring,
                                                 const TcpOptions& options) {
  auto transport = ConnectTcpTransport(listener, ring, options);
  const bool shared_memory = dynamic_cast<internal::ShmTransport*>(transport.get()) != nullptr;
  auto comm = std::make_unique<RingCommunicator>(
      std::move(transport), ring.rank, ring.world_size(),
      RingOptions{options.timeout, options.segment_bytes, options.gather_bytes});
  // Only shared-memory links are tuned: on loopback TCP the tuning's larger and smaller
  // segments left the ring in a slow mode afterwards (the kernel's grown socket buffers?):
  // 16 MiB at 0.6x the untuned ring even where the default segment was chosen.
  if (options.tune && shared_memory) {
    RingTuneOptions tune{{options.segment_bytes}, options.tune_budget};
    for (std::size_t s : {std::size_t{1} << 20, std::size_t{64} << 10}) {
      if (s != options.segment_bytes) tune.candidates.push_back(s);
    }
    comm->Tune(tune);
  }
  return comm;
}

}  // namespace ringtrain::allreduce
