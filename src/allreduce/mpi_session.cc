#include "allreduce/mpi_session.h"

#include <mpi.h>
#include <unistd.h>

#include <cstdio>
#include <string>
#include <string_view>

#include "common/error.h"

namespace ringtrain::allreduce {

MpiSession::MpiSession(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) {
    throw TransportError("MPI is already initialised in this process", "MpiSession",
                         "create exactly one MpiSession, in main()");
  }
  int provided = 0;
  if (MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided) != MPI_SUCCESS) {
    throw TransportError("MPI_Init_thread failed", "MpiSession",
                         "start the program with mpirun, or check the MPI installation");
  }
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank_);
  MPI_Comm_size(MPI_COMM_WORLD, &size_);
}

MpiSession::~MpiSession() {
  int finalized = 0;
  MPI_Finalized(&finalized);
  if (!finalized) MPI_Finalize();
}

void MpiSession::ExitWithoutFinalize(int code, bool abort_job) {
  std::fflush(stdout);
  std::fflush(stderr);
  if (abort_job) MPI_Abort(MPI_COMM_WORLD, code);
  ::_exit(code);
}

bool MpiSession::LaunchedByMpirun(char** envp) {
  if (envp == nullptr) return false;
  constexpr std::string_view kMarkers[] = {
      "OMPI_COMM_WORLD_SIZE=", "PMIX_RANK=", "PMI_RANK=", "PMI_SIZE="};
  for (char** e = envp; *e != nullptr; ++e) {
    const std::string_view entry(*e);
    for (std::string_view marker : kMarkers) {
      if (entry.starts_with(marker)) return true;
    }
  }
  return false;
}

}  // namespace ringtrain::allreduce
