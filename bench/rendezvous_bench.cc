// bench/rendezvous_bench.cc — `rendezvous_bench --zk HOSTS [--sizes 2,8,64,256] [--repeat R]`
//
// For each N: N threads join one fresh job (one session each, --ranks N), and the bench
// prints one JSON line: members, seconds (from the last join completing to every member
// holding the ring; the median over --repeat runs), notifications (watch notifications
// delivered to all sessions during the run), join_seconds (first join start to last join
// done), generation. Target: 256 members < 1 s; notifications linear in N (about 2N: N-1
// child events to the leader, N ring notifications).
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "common/error.h"
#include "common/log.h"
#include "rendezvous/rendezvous.h"

namespace {
using Clock = std::chrono::steady_clock;
using ringtrain::rendezvous::Options;
using ringtrain::rendezvous::Rendezvous;

struct Result {
  double seconds = 0, join_seconds = 0;
  std::int64_t notifications = 0;
  std::int64_t generation = 0;
};

Result RunOnce(const std::string& zk, int n, int run) {
  std::string job =
      "bench-" + std::to_string(getpid()) + "-" + std::to_string(n) + "-" + std::to_string(run);
  std::vector<std::unique_ptr<Rendezvous>> members(static_cast<std::size_t>(n));
  std::vector<Clock::time_point> joined(members.size()), ringed(members.size());
  std::vector<std::int64_t> generation(members.size());
  std::vector<std::string> errors(members.size());
  auto start = Clock::now();
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      auto k = static_cast<std::size_t>(i);
      try {
        Options o;
        o.zk_hosts = zk;
        o.job = job;
        o.ranks = n;
        o.session_timeout = std::chrono::milliseconds(10000);
        o.timeout = std::chrono::milliseconds(120000);
        o.config_text = "bench = 1\n";
        o.self.host = "127.0.0.1";
        o.self.port = static_cast<std::uint16_t>(20000 + i);
        members[k] = Rendezvous::Join(o);
        joined[k] = Clock::now();
        auto ring = members[k]->WaitForRing(ringtrain::Deadline::After(std::chrono::seconds(120)));
        ringed[k] = Clock::now();
        generation[k] = ring.generation;
      } catch (const std::exception& e) {
        errors[k] = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  for (const auto& e : errors) {
    if (!e.empty()) throw std::runtime_error(e);
  }
  Result r;
  auto last_join = *std::max_element(joined.begin(), joined.end());
  auto last_ring = *std::max_element(ringed.begin(), ringed.end());
  r.seconds = std::chrono::duration<double>(last_ring - last_join).count();
  r.join_seconds = std::chrono::duration<double>(last_join - start).count();
  for (auto& m : members) r.notifications += m->notifications();
  r.generation = generation[0];
  // Leave in parallel (closing 256 sessions one by one takes seconds).
  std::vector<std::thread> leavers;
  for (auto& m : members) leavers.emplace_back([&m] { m->Leave(); });
  for (auto& t : leavers) t.join();
  return r;
}
}  // namespace

int main(int argc, char** argv) {
  std::string zk = "127.0.0.1:2181";
  std::string sizes = "2,8,64,256";
  int repeat = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--zk")
      zk = argv[i + 1];
    else if (k == "--sizes")
      sizes = argv[i + 1];
    else if (k == "--repeat")
      repeat = std::max(1, std::atoi(argv[i + 1]));
    else {
      std::fprintf(stderr,
                   "usage: rendezvous_bench --zk HOSTS [--sizes 2,8,64,256] [--repeat R]\n");
      return 1;
    }
  }
  ringtrain::log::SetLevel(ringtrain::log::Level::kWarn);
  std::vector<int> ns;
  std::stringstream ss(sizes);
  for (std::string tok; std::getline(ss, tok, ',');) ns.push_back(std::stoi(tok));
  try {
    for (int n : ns) {
      std::vector<Result> rs;
      for (int k = 0; k < repeat; ++k) rs.push_back(RunOnce(zk, n, k));
      std::sort(rs.begin(), rs.end(),
                [](const Result& a, const Result& b) { return a.seconds < b.seconds; });
      const Result& med = rs[rs.size() / 2];
      nlohmann::json line = {{"bench", "rendezvous"},
                             {"members", n},
                             {"seconds", med.seconds},
                             {"seconds_max", rs.back().seconds},
                             {"notifications", med.notifications},
                             {"join_seconds", med.join_seconds},
                             {"generation", med.generation},
                             {"repeat", repeat},
                             {"zk", zk}};
      std::printf("%s\n", line.dump().c_str());
      std::fflush(stdout);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rendezvous_bench: %s\n", e.what());
    return 3;
  }
  return 0;
}
