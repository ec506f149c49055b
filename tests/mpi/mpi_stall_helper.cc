// Under mpiexec -np 2: MPI rank 1 stays out of the collectives while MPI rank 0 calls the
// reference MpiCommunicator, to show that its deadline holds (mpi_reference_deadline_test.sh).
//   mpi_stall_helper timeout  rank 0: AllreduceSum with a 500 ms timeout (rank 1 sleeps 20 s)
//   mpi_stall_helper abort    rank 0: AllreduceSum with a 60 s timeout; another thread calls
//                             Abort() after 300 ms (rank 1 sleeps 20 s)
//   mpi_stall_helper busy     both ranks: 1000 allreduces 2 ms apart with a 1 s timeout,
//                             over 2 s in all: the watchdog must not fire; exit 0
// The watchdog ends a stalled rank with exit code 4; anything else exits 1.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "allreduce/mpi_communicator.h"
#include "allreduce/mpi_session.h"

int main(int argc, char** argv) {
  using namespace std::chrono_literals;
  ringtrain::allreduce::MpiSession session(&argc, &argv);
  const std::string mode = argc > 1 ? argv[1] : "";
  std::vector<double> data(256, 1.0);
  if (mode == "busy") {
    auto comm = ringtrain::allreduce::MakeMpiCommunicator({.timeout = 1s});
    for (int i = 0; i < 1000; ++i) {
      comm->AllreduceSum(std::span<double>(data));
      std::this_thread::sleep_for(2ms);
    }
    return data[0] == std::ldexp(1.0, 1000) ? 0 : 1;  // each sum of 2 ranks doubles it
  }
  if (session.rank() != 0) {
    std::this_thread::sleep_for(20s);
    return 1;
  }
  const bool abort = mode == "abort";
  auto comm = ringtrain::allreduce::MakeMpiCommunicator(
      {.timeout = abort ? std::chrono::milliseconds(60000) : std::chrono::milliseconds(500)});
  std::thread aborter;
  if (abort) {
    aborter = std::thread([&comm] {
      std::this_thread::sleep_for(300ms);
      comm->Abort();
    });
  }
  comm->AllreduceSum(std::span<double>(data));  // never completes: rank 1 is not calling
  std::fprintf(stderr, "mpi_stall_helper: the allreduce returned without rank 1\n");
  if (aborter.joinable()) aborter.join();
  return 1;
}
