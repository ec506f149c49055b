#include "support/zk_server.h"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <string>

#include "support/subprocess.h"

#ifndef RINGTRAIN_SOURCE_DIR
#error "RINGTRAIN_SOURCE_DIR must name the source tree (tests/rendezvous/CMakeLists.txt sets it)"
#endif

namespace ringtrain::testing {

namespace {
std::string RunZk(const std::vector<std::string>& args, std::chrono::milliseconds timeout) {
  TempDir tmp;
  std::vector<std::string> argv = {"/bin/bash", ZkScriptPath()};
  argv.insert(argv.end(), args.begin(), args.end());
  Subprocess p(argv, {}, tmp.File("out"), tmp.File("err"));
  ExitStatus st = p.Wait(timeout);
  std::string out = ReadTextFile(tmp.File("out"));
  if (!st.exited || st.code != 0) {
    std::string cmd;
    for (const auto& a : argv) cmd += a + " ";
    throw std::runtime_error("`" + cmd + "` failed (" + st.Describe() +
                             "): " + ReadTextFile(tmp.File("err")));
  }
  return out;
}

std::string Field(const std::string& out, const std::string& key) {
  auto pos = out.find(key + "=");
  if (pos == std::string::npos) {
    throw std::runtime_error("zk.sh printed no " + key + "= line: " + out);
  }
  pos += key.size() + 1;
  auto end = out.find('\n', pos);
  return out.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
}
}  // namespace

std::string ZkScriptPath() { return std::string(RINGTRAIN_SOURCE_DIR) + "/scripts/zk.sh"; }

ZkServer::ZkServer() {
  if (const char* env = std::getenv("RINGTRAIN_TEST_ZK"); env != nullptr && *env != '\0') {
    connect_ = env;
    return;
  }
  std::string out = RunZk({"start"}, std::chrono::seconds(90));
  connect_ = Field(out, "ZK_CONNECT");
  dir_ = Field(out, "ZK_DIR");
}

ZkServer::~ZkServer() {
  if (dir_.empty()) return;
  try {
    RunZk({"stop", dir_}, std::chrono::seconds(30));
  } catch (...) {
  }
}

ZkServer& ZkServer::Shared() {
  static ZkServer server;
  return server;
}

ZkEnsemble::ZkEnsemble() {
  std::string out = RunZk({"start", "--ensemble"}, std::chrono::seconds(120));
  connect_ = Field(out, "ZK_CONNECT");
  dir_ = Field(out, "ZK_DIR");
}

ZkEnsemble::~ZkEnsemble() {
  try {
    RunZk({"stop", dir_}, std::chrono::seconds(30));
  } catch (...) {
  }
}

void ZkEnsemble::Kill(int node) {
  RunZk({"kill", dir_, std::to_string(node)}, std::chrono::seconds(30));
}
void ZkEnsemble::Restart(int node) {
  RunZk({"restart", dir_, std::to_string(node)}, std::chrono::seconds(90));
}

std::string UniqueJobName(const std::string& prefix) {
  static std::atomic<int> counter{0};
  std::random_device rd;
  return prefix + "-" + std::to_string(getpid()) + "-" + std::to_string(counter++) + "-" +
         std::to_string(rd() % 100000);
}

}  // namespace ringtrain::testing
