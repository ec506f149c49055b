// allreduce_rank_helper — one ring rank as a real process, for the failure tests.
//
//   allreduce_rank_helper RANK PORT0,PORT1,... COUNT ITERATIONS [shm]
// Binds 127.0.0.1:PORT[RANK], joins the ring (generation 7, job-test, tok-123, as
// ring_harness.h; `shm`: shared-memory links), runs ITERATIONS allreduces of COUNT doubles. Exit 0,
// or 4 on a TransportError (printed to stderr).
#include <cstdio>
#include <cstdlib>
#include <sstream>
#include <vector>

#include "allreduce/ring_harness.h"
#include "common/error.h"

int main(int argc, char** argv) {
  using namespace ringtrain::allreduce;
  if (argc != 5 && !(argc == 6 && std::string(argv[5]) == "shm")) {
    std::fprintf(stderr, "usage: %s RANK PORTS COUNT ITERATIONS [shm]\n", argv[0]);
    return 1;
  }
  const int rank = std::atoi(argv[1]);
  std::vector<std::uint16_t> ports;
  std::stringstream list(argv[2]);
  for (std::string item; std::getline(list, item, ',');) {
    ports.push_back(static_cast<std::uint16_t>(std::atoi(item.c_str())));
  }
  const std::size_t count = std::strtoull(argv[3], nullptr, 10);
  const long iterations = std::atol(argv[4]);
  try {
    auto listener = TcpListener::Bind("127.0.0.1", ports[static_cast<std::size_t>(rank)]);
    TcpOptions options;
    options.timeout = std::chrono::seconds(20);
    if (argc == 6) options.shared_memory = SharedMemory::kAuto;
    auto comm = ConnectTcpRing(listener, testing::MakeRing(ports, rank), options);
    std::vector<double> data(count, 1.0);
    for (long i = 0; i < iterations; ++i) comm->AllreduceSum(std::span<double>(data));
  } catch (const ringtrain::Error& e) {
    std::fprintf(stderr, "%s\n", ringtrain::FormatError(e).c_str());
    return static_cast<int>(e.code());
  }
  return 0;
}
