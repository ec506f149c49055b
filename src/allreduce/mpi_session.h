// allreduce/mpi_session.h — MPI's lifetime, owned by main() (STYLE.md: MPI initialised in
// main only, from one thread). No mpi.h here: only target ringtrain::allreduce_mpi sees it.
//
// MpiSession calls MPI_Init_thread (MPI_THREAD_FUNNELED: only the thread that created the
// session calls MPI; before it, btl_vader_eager_limit = 32 KiB unless the user set it: see
// mpi_session.cc
// session calls MPI) and sets MPI_ERRORS_RETURN on MPI_COMM_WORLD so MPI failures become
// TransportErrors instead of killing the job; its destructor calls MPI_Finalize. At most one
// session per process, ever (MPI cannot be re-initialised).
//
// MPI_Finalize synchronises with every rank of the job, so a process that failed because a
// peer died or hangs must not call it: AbortJob ends the process instead (main() uses it for
// every non-zero exit under mpirun; docs/reliability.md).
#pragma once

#include <chrono>
#include <cstddef>

namespace ringtrain::allreduce {

// The eager limit MpiSession gives Open MPI's shared-memory BTL (OMPI_MCA_btl_vader_eager_limit)
// unless the environment already sets one, e.g. `mpirun --mca btl_vader_eager_limit 4096`.
inline constexpr const char* kDefaultVaderEagerLimit = "32768";

// The eager limit Open MPI's shared-memory BTL runs with in this job, read through the MPI
// tool interface (MPI_T control variable btl_vader_eager_limit) after MPI_Init, so a value
// from `mpirun --mca`, the environment or an MCA parameter file all count. 0 when MPI is not
// initialised or the variable is unknown (a single process loads no shared-memory BTL; another
// MPI library). Collective over nothing: any rank may call it any time after MPI_Init.
std::size_t SharedMemoryEagerLimit();

class MpiSession {
 public:
  // argc/argv may be null. Throws TransportError if MPI is already initialised or fails.
  MpiSession(int* argc, char*** argv);
  ~MpiSession();
  MpiSession(const MpiSession&) = delete;
  MpiSession& operator=(const MpiSession&) = delete;

  // Ends a failed rank: flushes stdout/stderr, waits `grace` (so the other ranks that saw the
  // same failure print their own message first; a SIGTERM/SIGINT meanwhile ends the process
  // at once with `code`), then MPI_Abort(MPI_COMM_WORLD, code) — never MPI_Finalize, which
  // synchronises with every rank and blocks forever on a dead or stopped peer. mpirun then
  // kills whatever rank is left and exits non-zero (even with orte_abort_on_non_zero_status
  // 0, where ranks that merely exit leave mpirun waiting).
  [[noreturn]] void AbortJob(int code, std::chrono::milliseconds grace);

  int rank() const { return rank_; }  // in MPI_COMM_WORLD
  int size() const { return size_; }

  // Whether the process was started by mpirun/mpiexec (Open MPI, MPICH, PMIx variables),
  // judged from an environment block such as main's envp (null-terminated).
  static bool LaunchedByMpirun(char** envp);

 private:
  int rank_ = 0;
  int size_ = 1;
};

}  // namespace ringtrain::allreduce
