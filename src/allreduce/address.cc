#include "allreduce/address.h"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <set>

#include "common/error.h"

namespace ringtrain::allreduce {

std::string InterfaceAddress(const std::string& name) {
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) {
    throw UsageError(std::string("cannot list network interfaces: ") + std::strerror(errno),
                     "--interface " + name, "pass --advertise-address instead");
  }
  std::string found;
  std::set<std::string> names;
  for (ifaddrs* a = list; a != nullptr; a = a->ifa_next) {
    if (a->ifa_name == nullptr) continue;
    names.insert(a->ifa_name);
    if (found.empty() && name == a->ifa_name && a->ifa_addr != nullptr &&
        a->ifa_addr->sa_family == AF_INET) {
      char buf[INET_ADDRSTRLEN];
      const auto* in = reinterpret_cast<const sockaddr_in*>(a->ifa_addr);
      if (::inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf) != nullptr) found = buf;
    }
  }
  ::freeifaddrs(list);
  if (found.empty()) {
    std::string known;
    for (const auto& n : names) known += (known.empty() ? "" : ", ") + n;
    throw UsageError("network interface '" + name + "' has no IPv4 address", "--interface " + name,
                     "choose one of: " + known + " (or pass --advertise-address)");
  }
  return found;
}

std::string LocalAddressToward(const std::string& host, const std::string& port) {
  const std::string where = host + ":" + port;
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &res);
  if (rc != 0 || res == nullptr) {
    // The same fault as the ZooKeeper client's own: exit 3 (README), not a usage error.
    throw RendezvousError("cannot resolve the ZooKeeper host '" + host + "': " + ::gai_strerror(rc),
                          where, "check the host names of --zk");
  }
  int fd = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  std::string out;
  int err = 0;
  if (fd >= 0 && ::connect(fd, res->ai_addr, res->ai_addrlen) == 0) {
    sockaddr_in local{};
    socklen_t len = sizeof local;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&local), &len) == 0) {
      char buf[INET_ADDRSTRLEN];
      if (::inet_ntop(AF_INET, &local.sin_addr, buf, sizeof buf) != nullptr) out = buf;
    }
  } else {
    err = errno;
  }
  if (fd >= 0) ::close(fd);
  ::freeaddrinfo(res);
  if (out.empty()) {
    throw UsageError(std::string("no route toward the ZooKeeper host: ") + std::strerror(err),
                     where, "pass --advertise-address or --interface");
  }
  return out;
}

void FirstZkHost(const std::string& connect, std::string* host, std::string* port) {
  std::string first = connect.substr(0, connect.find_first_of(",/"));
  auto colon = first.rfind(':');
  if (colon == std::string::npos) {
    *host = first;
    *port = "2181";
  } else {
    *host = first.substr(0, colon);
    *port = first.substr(colon + 1);
  }
  if (host->size() >= 2 && host->front() == '[' && host->back() == ']')
    *host = host->substr(1, host->size() - 2);
}

}  // namespace ringtrain::allreduce
