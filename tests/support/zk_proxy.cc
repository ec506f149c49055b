#include "support/zk_proxy.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <vector>

namespace ringtrain::testing {

namespace {
struct Conn {
  int client = -1;
  int server = -1;
  bool first_frame_seen = false;
  std::string from_client;  // unparsed client bytes
  bool dropping = false;    // forwarded the armed create; close at drop_at
  std::chrono::steady_clock::time_point drop_at;
};

bool SendAll(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

std::int32_t BigEndian32(const char* p) {
  std::uint32_t v;
  std::memcpy(&v, p, 4);
  return static_cast<std::int32_t>(ntohl(v));
}

bool IsCreateOp(std::int32_t type) { return type == 1 || type == 15 || type == 19 || type == 21; }
}  // namespace

ZkLostReplyProxy::ZkLostReplyProxy(const std::string& upstream) {
  auto colon = upstream.rfind(':');
  if (colon == std::string::npos) throw std::runtime_error("proxy upstream needs host:port");
  upstream_host_ = upstream.substr(0, colon);
  upstream_port_ = std::stoi(upstream.substr(colon + 1));
  listen_fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  int one = 1;
  ::setsockopt(listen_fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  if (::bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(listen_fd_, 64) != 0) {
    throw std::runtime_error(std::string("proxy bind/listen: ") + std::strerror(errno));
  }
  socklen_t len = sizeof a;
  ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
  port_ = ntohs(a.sin_port);
  if (::pipe(wake_) != 0) throw std::runtime_error("proxy pipe");
  thread_ = std::thread([this] { Loop(); });
}

ZkLostReplyProxy::~ZkLostReplyProxy() {
  stop_ = true;
  char c = 0;
  (void)!::write(wake_[1], &c, 1);
  thread_.join();
  ::close(listen_fd_);
  ::close(wake_[0]);
  ::close(wake_[1]);
}

std::string ZkLostReplyProxy::address() const { return "127.0.0.1:" + std::to_string(port_); }

void ZkLostReplyProxy::ArmDropAfterCreate(const std::string& path_part) {
  std::lock_guard<std::mutex> lock(mu_);
  armed_ = path_part;
}

void ZkLostReplyProxy::Loop() {
  std::vector<Conn> conns;
  auto close_conn = [](Conn& c) {
    if (c.client >= 0) ::close(c.client);
    if (c.server >= 0) ::close(c.server);
    c.client = c.server = -1;
  };
  while (!stop_) {
    std::vector<pollfd> fds = {{listen_fd_, POLLIN, 0}, {wake_[0], POLLIN, 0}};
    for (auto& c : conns) {
      fds.push_back({c.client, POLLIN, 0});
      fds.push_back({c.server, static_cast<short>(c.dropping ? 0 : POLLIN), 0});
    }
    ::poll(fds.data(), fds.size(), 50);
    const std::size_t polled = conns.size();  // accepted below: no fds entry yet
    auto now = std::chrono::steady_clock::now();
    if (fds[0].revents & POLLIN) {
      int cfd = ::accept(listen_fd_, nullptr, nullptr);
      if (cfd >= 0) {
        int sfd = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(static_cast<std::uint16_t>(upstream_port_));
        ::inet_pton(AF_INET, upstream_host_.c_str(), &a.sin_addr);
        if (::connect(sfd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
          ::close(sfd);
          ::close(cfd);
        } else {
          Conn c;
          c.client = cfd;
          c.server = sfd;
          conns.push_back(c);
        }
      }
    }
    for (std::size_t i = 0; i < polled; ++i) {
      Conn& c = conns[i];
      if (c.client < 0) continue;
      short crev = fds[2 + 2 * i].revents, srev = fds[3 + 2 * i].revents;
      char buf[65536];
      if (c.dropping) {
        if (now >= c.drop_at) close_conn(c);
        continue;
      }
      if (srev & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = ::recv(c.server, buf, sizeof buf, 0);
        if (n <= 0 || !SendAll(c.client, buf, static_cast<std::size_t>(n))) {
          close_conn(c);
          continue;
        }
      }
      if (crev & (POLLIN | POLLHUP | POLLERR)) {
        ssize_t n = ::recv(c.client, buf, sizeof buf, 0);
        if (n <= 0) {
          close_conn(c);
          continue;
        }
        c.from_client.append(buf, static_cast<std::size_t>(n));
        // Forward whole frames; inspect each for the armed create.
        while (c.from_client.size() >= 4) {
          std::int32_t len = BigEndian32(c.from_client.data());
          if (len < 0 || c.from_client.size() < 4 + static_cast<std::size_t>(len)) break;
          std::string frame = c.from_client.substr(0, 4 + static_cast<std::size_t>(len));
          c.from_client.erase(0, frame.size());
          bool drop = false;
          if (c.first_frame_seen && len >= 8) {
            std::int32_t type = BigEndian32(frame.data() + 8);
            std::lock_guard<std::mutex> lock(mu_);
            if (!armed_.empty() && IsCreateOp(type) && frame.find(armed_) != std::string::npos) {
              armed_.clear();
              drop = true;
            }
          }
          c.first_frame_seen = true;
          if (!SendAll(c.server, frame.data(), frame.size())) {
            close_conn(c);
            break;
          }
          if (drop) {
            // Let the server apply the create, then cut both sides before its reply passes.
            c.dropping = true;
            c.drop_at = now + std::chrono::milliseconds(300);
            drops_++;
            break;
          }
        }
      }
    }
    std::erase_if(conns, [](const Conn& c) { return c.client < 0; });
  }
  for (auto& c : conns) close_conn(c);
}

}  // namespace ringtrain::testing
