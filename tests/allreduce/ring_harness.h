// tests/allreduce/ring_harness.h — N ranks as threads over real loopback TCP.
//
// Binds one TcpListener per rank on 127.0.0.1:0, builds each rank's Ring by hand, and runs
// `body(rank, communicator)` on one thread per rank after ConnectTcpRing. Exceptions are
// captured per rank (nothing escapes a thread).
#pragma once

#include <exception>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "allreduce/tcp.h"
#include "common/ring.h"

namespace ringtrain::allreduce::testing {

inline Ring MakeRing(const std::vector<std::uint16_t>& ports, int rank, std::int64_t generation = 7,
                     const std::string& job = "job-test", const std::string& token = "tok-123") {
  Ring ring;
  ring.job = job;
  ring.generation = generation;
  ring.rank = rank;
  ring.token = token;
  for (std::size_t i = 0; i < ports.size(); ++i) {
    Member m;
    m.host = "127.0.0.1";
    m.port = ports[i];
    m.mpi_rank = static_cast<int>(i);
    ring.members.push_back(m);
  }
  return ring;
}

struct RankOutcome {
  std::exception_ptr error;
  std::string message;  // what() of a caught exception
};

inline std::vector<std::uint16_t> PortsOf(const std::vector<TcpListener>& listeners) {
  std::vector<std::uint16_t> ports;
  for (const auto& l : listeners) ports.push_back(l.port());
  return ports;
}

inline std::vector<TcpListener> BindListeners(int world) {
  std::vector<TcpListener> listeners;
  for (int r = 0; r < world; ++r) listeners.push_back(TcpListener::Bind("127.0.0.1", 0));
  return listeners;
}

// Runs `body` on `world` threads, rank r connected through listeners[r].
inline std::vector<RankOutcome> RunRanks(std::vector<TcpListener>& listeners,
                                         const TcpOptions& options,
                                         const std::function<void(int, Communicator&)>& body,
                                         const std::function<Ring(int)>& make_ring = nullptr) {
  const int world = static_cast<int>(listeners.size());
  const auto ports = PortsOf(listeners);
  std::vector<RankOutcome> out(static_cast<std::size_t>(world));
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      try {
        const Ring ring = make_ring ? make_ring(r) : MakeRing(ports, r);
        auto comm = ConnectTcpRing(listeners[static_cast<std::size_t>(r)], ring, options);
        body(r, *comm);
      } catch (const std::exception& e) {
        out[static_cast<std::size_t>(r)].error = std::current_exception();
        out[static_cast<std::size_t>(r)].message = e.what();
      }
    });
  }
  for (auto& t : threads) t.join();
  return out;
}

}  // namespace ringtrain::allreduce::testing
