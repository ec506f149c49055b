#include "allreduce/mpi_session.h"

#include <mpi.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <string>
#include <string_view>

#include "common/error.h"

namespace ringtrain::allreduce {
namespace {
volatile sig_atomic_t g_abort_code = 1;  // AbortJob's code, for its signal handler
}  // namespace

MpiSession::MpiSession(int* argc, char*** argv) {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (initialized) {
    throw TransportError("MPI is already initialised in this process", "MpiSession",
                         "create exactly one MpiSession, in main()");
  }
  // Open MPI's shared-memory BTL sends a message of more than its eager limit (4 KiB by
  // default) by rendezvous: the sender's request completes only when the receiver has pulled
  // the data and answered, so every ring step waits for both neighbours to be scheduled.
  // Up to 32 KiB (the BTL's fragment size) eager messages complete at the sender. Measured
  // (docs/allreduce.md): ring_mpi np=4 64 KiB 1.6 -> 2.7-3.4 GB/s, np=2 16 KiB 2.0 -> 5.7;
  // MPI_Allreduce gains too. Set unless the user chose a value (mpirun --mca exports it).
  ::setenv("OMPI_MCA_btl_vader_eager_limit", kDefaultVaderEagerLimit, /*overwrite=*/0);
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

void MpiSession::AbortJob(int code, std::chrono::milliseconds grace) {
  std::fflush(stdout);
  std::fflush(stderr);
  // During the grace period a SIGTERM/SIGINT means mpirun (or the user) is already ending the
  // job: leave at once with this rank's own code instead of being killed by the next signal.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  const auto end = std::chrono::steady_clock::now() + grace;
  for (auto now = std::chrono::steady_clock::now(); now < end;
       now = std::chrono::steady_clock::now()) {
    const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(end - now).count();
    const timespec wait{static_cast<time_t>(ns / 1000000000), static_cast<long>(ns % 1000000000)};
    if (sigtimedwait(&set, nullptr, &wait) > 0) ::_exit(code);
  }
  // mpirun answers MPI_Abort by signalling every rank, this one too: end with `code` then
  // rather than by the signal (or mpirun's SIGKILL after it).
  g_abort_code = code;
  struct sigaction sa {};
  sa.sa_handler = [](int) { ::_exit(g_abort_code); };
  sigemptyset(&sa.sa_mask);
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  pthread_sigmask(SIG_UNBLOCK, &set, nullptr);
  MPI_Abort(MPI_COMM_WORLD, code);
  ::_exit(code);  // MPI_Abort does not return; in case it does
}

std::size_t SharedMemoryEagerLimit() {
  int initialized = 0;
  MPI_Initialized(&initialized);
  if (!initialized) return 0;
  int provided = 0;
  if (MPI_T_init_thread(MPI_THREAD_SINGLE, &provided) != MPI_SUCCESS) return 0;
  std::size_t limit = 0;
  int index = 0;
  if (MPI_T_cvar_get_index("btl_vader_eager_limit", &index) == MPI_SUCCESS) {
    char name[128];
    char desc[8];
    int name_len = sizeof(name);
    int desc_len = sizeof(desc);
    int verbosity = 0;
    int bind = 0;
    int scope = 0;
    MPI_Datatype type = MPI_DATATYPE_NULL;
    MPI_T_enum enumtype{};
    MPI_T_cvar_handle handle{};
    int count = 0;
    if (MPI_T_cvar_get_info(index, name, &name_len, &verbosity, &type, &enumtype, desc, &desc_len,
                            &bind, &scope) == MPI_SUCCESS &&
        MPI_T_cvar_handle_alloc(index, nullptr, &handle, &count) == MPI_SUCCESS) {
      if (count == 1) {
        if (type == MPI_UNSIGNED_LONG) {
          unsigned long v = 0;
          if (MPI_T_cvar_read(handle, &v) == MPI_SUCCESS) limit = v;
        } else if (type == MPI_UNSIGNED_LONG_LONG) {
          unsigned long long v = 0;
          if (MPI_T_cvar_read(handle, &v) == MPI_SUCCESS) limit = static_cast<std::size_t>(v);
        } else if (type == MPI_INT || type == MPI_UNSIGNED) {
          unsigned v = 0;
          if (MPI_T_cvar_read(handle, &v) == MPI_SUCCESS) limit = v;
        }
      }
      MPI_T_cvar_handle_free(&handle);
    }
  }
  MPI_T_finalize();
  return limit;
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
