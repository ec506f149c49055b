// tests/support/zk_server.h — real ZooKeeper servers for tests (never a mock).
//
// ZkServer: the server named by $RINGTRAIN_TEST_ZK when set (CI starts one; tests then use
// unique job names), otherwise a throwaway standalone server started with scripts/zk.sh and
// stopped by the destructor. ZkEnsemble: always its own 3-node ensemble, with Kill/Restart of
// node i for fault tests. Starting a JVM takes seconds: share one server per test binary via
// ZkServer::Shared().
#pragma once

#include <string>

namespace ringtrain::testing {

class ZkServer {
 public:
  ZkServer();
  ~ZkServer();
  ZkServer(const ZkServer&) = delete;
  ZkServer& operator=(const ZkServer&) = delete;
  // One per process, created on first use, stopped at exit.
  static ZkServer& Shared();
  const std::string& connect() const { return connect_; }  // "127.0.0.1:port"
  bool owned() const { return !dir_.empty(); }

 private:
  std::string connect_;
  std::string dir_;  // zk.sh state dir if we started it
};

class ZkEnsemble {
 public:
  ZkEnsemble();  // 3 nodes on free 127.0.0.1 ports; waits until all serve
  ~ZkEnsemble();
  ZkEnsemble(const ZkEnsemble&) = delete;
  ZkEnsemble& operator=(const ZkEnsemble&) = delete;
  const std::string& connect() const { return connect_; }  // "h:p,h:p,h:p"
  void Kill(int node);                                     // SIGKILL node 1..3
  void Restart(int node);  // start node 1..3 again, wait until it serves

 private:
  std::string connect_;
  std::string dir_;
};

// A job name no other test (or test process) uses: prefix-<pid>-<counter>-<random>.
std::string UniqueJobName(const std::string& prefix);
// The zk.sh script of this source tree.
std::string ZkScriptPath();

}  // namespace ringtrain::testing
