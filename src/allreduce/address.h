// allreduce/address.h — which local address a rank binds and advertises to its peers.
//
// A rank binds only the address it advertises (never 0.0.0.0). The default is the local
// address the kernel would use to reach the first ZooKeeper server: on one host with a
// loopback ZooKeeper that is 127.0.0.1, across hosts it is the interface facing the cluster.
#pragma once

#include <string>

namespace ringtrain::allreduce {

// The IPv4 address of interface `name` (e.g. "eth0"). UsageError naming the interface and
// listing the ones that exist if it has none.
std::string InterfaceAddress(const std::string& name);

// The local IPv4 address whose route reaches host:port (no packet is sent: a UDP socket is
// connected and asked for its name). UsageError naming host:port if it cannot be resolved
// or routed.
std::string LocalAddressToward(const std::string& host, const std::string& port);

// First "host" and "port" of a ZooKeeper connect string "h1:p1,h2:p2[/chroot]".
void FirstZkHost(const std::string& connect, std::string* host, std::string* port);

}  // namespace ringtrain::allreduce
