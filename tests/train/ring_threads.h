// tests/train/ring_threads.h — N ranks as threads, each with its own real TCP ring
// connection on loopback (STYLE.md lesson 6). RunRanks(world, fn) binds one listener per
// rank, builds the Ring by hand (no ZooKeeper), connects every rank concurrently and runs
// fn(comm) on each rank's thread. An exception on any rank is rethrown after all joined,
// preferring a non-transport error (the cause) over the transport errors it provoked.
#pragma once

#include <barrier>
#include <chrono>
#include <exception>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "allreduce/tcp.h"
#include "common/error.h"
#include "common/log.h"
#include "common/ring.h"

namespace ringtrain::train::testing {

template <class Fn>
void RunRanks(int world, Fn fn, std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
  std::vector<allreduce::TcpListener> listeners;
  Ring ring;
  ring.job = "train-test";
  ring.generation = 1;
  ring.token = "train-test-token";
  for (int r = 0; r < world; ++r) {
    listeners.push_back(allreduce::TcpListener::Bind("127.0.0.1", 0));
    Member m;
    m.name = "rank-" + std::to_string(r);
    m.host = "127.0.0.1";
    m.port = listeners.back().port();
    ring.members.push_back(m);
  }
  std::mutex mu;
  std::exception_ptr transport_error;
  std::exception_ptr root_cause;
  auto record = [&](std::exception_ptr e, bool is_transport) {
    std::lock_guard<std::mutex> lock(mu);
    std::exception_ptr& slot = is_transport ? transport_error : root_cause;
    if (!slot) slot = e;
  };
  std::barrier done(world);
  std::vector<std::thread> threads;
  for (int r = 0; r < world; ++r) {
    threads.emplace_back([&, r] {
      try {
        Ring mine = ring;
        mine.rank = r;
        log::SetContext(r, world, mine.generation);
        allreduce::TcpOptions options;
        options.timeout = timeout;
        auto comm =
            allreduce::ConnectTcpRing(listeners[static_cast<std::size_t>(r)], mine, options);
        fn(*comm);
        // Keep every connection open until all ranks are done: a rank that closes while a
        // neighbour is still in its last collective is reported as lost by the transport.
        done.arrive_and_wait();
        return;
      } catch (const TransportError&) {
        record(std::current_exception(), true);
      } catch (...) {
        record(std::current_exception(), false);
      }
      done.arrive_and_wait();  // this rank's connections are closed by now
    });
  }
  for (auto& t : threads) t.join();
  if (root_cause) std::rethrow_exception(root_cause);
  if (transport_error) std::rethrow_exception(transport_error);
}

}  // namespace ringtrain::train::testing
