// tests/rendezvous/rdv_test_util.h — helpers for rendezvous tests: options for a test job,
// and N members joining as threads, each with its own ZooKeeper session.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common/ring.h"
#include "rendezvous/rendezvous.h"

namespace ringtrain::testing {

inline rendezvous::Options TestOptions(const std::string& zk, const std::string& job, int ranks,
                                       int port) {
  rendezvous::Options o;
  o.zk_hosts = zk;
  o.job = job;
  o.ranks = ranks;
  o.session_timeout = std::chrono::milliseconds(2000);
  o.timeout = std::chrono::milliseconds(30000);
  o.settle = std::chrono::milliseconds(300);
  o.config_text = "epochs = 3\nlr = 0.1\n";
  o.self.host = "127.0.0.1";
  o.self.port = static_cast<std::uint16_t>(port);
  return o;
}

struct Joined {
  std::vector<std::unique_ptr<rendezvous::Rendezvous>> members;
  std::vector<Ring> rings;
};

// Joins options[i] concurrently (one thread each) and waits for every member's first ring.
inline Joined JoinAll(const std::vector<rendezvous::Options>& options,
                      std::chrono::seconds limit = std::chrono::seconds(60)) {
  Joined j;
  std::size_t n = options.size();
  j.members.resize(n);
  j.rings.resize(n);
  std::vector<std::string> errors(n);
  std::vector<std::thread> threads;
  Deadline deadline = Deadline::After(limit);
  for (std::size_t i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      try {
        j.members[i] = rendezvous::Rendezvous::Join(options[i]);
        j.rings[i] = j.members[i]->WaitForRing(deadline);
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (std::size_t i = 0; i < n; ++i) {
    if (!errors[i].empty())
      throw std::runtime_error("member " + std::to_string(i) + ": " + errors[i]);
  }
  return j;
}

// Polls `pred` until true or the limit passes; returns its last value.
template <typename Pred>
bool Eventually(Pred pred, std::chrono::milliseconds limit) {
  Deadline d = Deadline::After(limit);
  while (!d.Expired()) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return pred();
}

}  // namespace ringtrain::testing
