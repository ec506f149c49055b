// tests/support/zk_proxy.h — a TCP proxy in front of a ZooKeeper server that can lose a reply.
//
// Forwards bytes both ways between clients and `upstream` ("host:port"). When armed, the next
// create request (ops create/create2/createContainer/createTTL) whose bytes contain
// `path_part` is forwarded to the server, and then — before the server's reply reaches the
// client — both connections are closed. The client sees a connection loss for a create that
// did happen: the "lost reply" fault. Frames are parsed only to find that request (4-byte
// length, then xid and op type; the first frame of a connection is the ConnectRequest).
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <thread>

namespace ringtrain::testing {

class ZkLostReplyProxy {
 public:
  explicit ZkLostReplyProxy(const std::string& upstream);
  ~ZkLostReplyProxy();
  ZkLostReplyProxy(const ZkLostReplyProxy&) = delete;
  ZkLostReplyProxy& operator=(const ZkLostReplyProxy&) = delete;

  std::string address() const;  // "127.0.0.1:<port>"
  void ArmDropAfterCreate(const std::string& path_part);
  int drops() const { return drops_.load(); }

 private:
  void Loop();
  std::string upstream_host_;
  int upstream_port_ = 0;
  int listen_fd_ = -1;
  int port_ = 0;
  int wake_[2] = {-1, -1};
  std::atomic<bool> stop_{false};
  std::atomic<int> drops_{0};
  std::mutex mu_;
  std::string armed_;  // empty: not armed
  std::thread thread_;
};

}  // namespace ringtrain::testing
