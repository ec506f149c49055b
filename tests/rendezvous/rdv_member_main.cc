// rdv_member — a test helper process: joins a job, prints every ring it receives as one JSON
// line on stdout, and leaves after --hold-ms (or is killed by the test).
//   rdv_member --zk HOSTS --job J [--ranks N | --min N --max M] --port P --hold-ms T
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <string>

#include "common/error.h"
#include "rendezvous/rendezvous.h"

int main(int argc, char** argv) {
  ringtrain::rendezvous::Options o;
  int hold_ms = 10000;
  o.session_timeout = std::chrono::milliseconds(2000);
  o.timeout = std::chrono::milliseconds(30000);
  o.settle = std::chrono::milliseconds(300);
  o.config_text = "epochs = 3\n";
  o.self.host = "127.0.0.1";
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--zk")
      o.zk_hosts = v;
    else if (k == "--job")
      o.job = v;
    else if (k == "--ranks")
      o.ranks = std::stoi(v);
    else if (k == "--min")
      o.min_ranks = std::stoi(v);
    else if (k == "--max")
      o.max_ranks = std::stoi(v);
    else if (k == "--port")
      o.self.port = static_cast<std::uint16_t>(std::stoi(v));
    else if (k == "--hold-ms")
      hold_ms = std::stoi(v);
    else if (k == "--session-ms")
      o.session_timeout = std::chrono::milliseconds(std::stoi(v));
    else {
      std::fprintf(stderr, "rdv_member: unknown option %s\n", k.c_str());
      return 1;
    }
  }
  try {
    auto r = ringtrain::rendezvous::Rendezvous::Join(o);
    auto end = ringtrain::Deadline::After(std::chrono::milliseconds(hold_ms));
    for (;;) {
      ringtrain::Ring ring;
      try {
        ring = r->WaitForRing(end);
      } catch (const ringtrain::RendezvousError&) {
        if (end.Expired()) break;
        throw;
      }
      nlohmann::json pids = nlohmann::json::array();
      for (const auto& m : ring.members) pids.push_back(m.pid);
      nlohmann::json line = {{"pid", getpid()},       {"generation", ring.generation},
                             {"rank", ring.rank},     {"world", ring.world_size()},
                             {"pids", pids},          {"leader", ring.members[0].name},
                             {"me", r->member_name()}};
      std::printf("%s\n", line.dump().c_str());
      std::fflush(stdout);
    }
    r->Leave();
    return 0;
  } catch (const ringtrain::Error& e) {
    std::fprintf(stderr, "rdv_member: %s\n", e.what());
    return static_cast<int>(e.code());
  }
}
