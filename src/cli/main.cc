// cli/main.cc — the ringtrain executable: subcommands, and the one place where an Error
// becomes an exit code. Subcommands are registered from their own files (cli/command.h).
#include <signal.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <exception>
#include <memory>
#include <string>

#include "allreduce/mpi_session.h"
#include "cli/command.h"
#include "common/error.h"
#include "common/log.h"

int main(int argc, char** argv) {
  using ringtrain::ExitCode;
  CLI::App app{"ringtrain: data-parallel linear models over a ring all-reduce"};
  app.require_subcommand(1);
  std::string log_level = "info";
  app.add_option("--log-level", log_level, "debug|info|warn|error")->capture_default_str();
  ringtrain::cli::RunFn run;
  // Each Add*Command below registers one subcommand (see cli/command.h).
  // [subcommands]
  ringtrain::cli::AddStatusCommand(app, &run);
  ringtrain::cli::AddCheckpointsCommand(app, &run);
  ringtrain::cli::AddTrainCommand(app, &run);
  ringtrain::cli::AddPredictCommand(app, &run);
  ringtrain::cli::AddEvalCommand(app, &run);
  ringtrain::cli::AddExportCommand(app, &run);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : static_cast<int>(ExitCode::kUsage);
  }
  ringtrain::log::Level level;
  if (!ringtrain::log::ParseLevel(log_level, &level)) {
    std::fprintf(stderr, "ringtrain: --log-level '%s' is not one of debug|info|warn|error\n",
                 log_level.c_str());
    return static_cast<int>(ExitCode::kUsage);
  }
  ringtrain::log::SetLevel(level);
  if (!run) return static_cast<int>(ExitCode::kUsage);
  // MPI is initialised here only (STYLE.md), and only when mpirun started this process. The
  // session outlives the try block: on an error the message is printed first, and then the
  // process ends without MPI_Finalize (which would wait for a dead or stuck peer forever).
  std::unique_ptr<ringtrain::allreduce::MpiSession> mpi;
  int code = 0;
  try {
    if (ringtrain::allreduce::MpiSession::LaunchedByMpirun(environ)) {
      // MPI starts threads; they must inherit SIGINT/SIGTERM blocked so that only train's
      // signal watcher receives them (it leaves the ring cleanly).
      sigset_t set;
      sigemptyset(&set);
      sigaddset(&set, SIGINT);
      sigaddset(&set, SIGTERM);
      pthread_sigmask(SIG_BLOCK, &set, nullptr);
      mpi = std::make_unique<ringtrain::allreduce::MpiSession>(&argc, &argv);
    }
    code = run();
  } catch (const ringtrain::Error& e) {
    ringtrain::log::Error(e.what());
    code = static_cast<int>(e.code());
  } catch (const std::exception& e) {
    ringtrain::log::Error(std::string("internal error: ") + e.what() +
                          "; please report it with the command line that caused it");
    code = 70;
  }
  // Under mpirun a failed rank does not finalize: the job cannot continue, and its peers may
  // be dead, stopped or blocked. It aborts the job after a grace period in which the other
  // ranks report the same failure themselves (docs/reliability.md, "Under mpirun"); the
  // grace grows a little with the rank so that one rank, not all at once, calls MPI_Abort.
  if (mpi && code != 0) {
    const int stagger = 200 * std::min(mpi->rank(), 10);
    const int grace_ms = mpi->size() > 1 ? 3000 + stagger : 0;
    ringtrain::log::Info("MPI rank " + std::to_string(mpi->rank()) + " exits with code " +
                         std::to_string(code) + "; it ends the MPI job with MPI_Abort in " +
                         std::to_string(grace_ms) + " ms unless mpirun ends the job first");
    mpi->AbortJob(code, std::chrono::milliseconds(grace_ms));
  }
  return code;  // a successful run finalizes MPI here (~MpiSession)
}
