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
#include <vector>

#include "allreduce/mpi_session.h"
#include "cli/command.h"
#include "common/error.h"
#include "common/log.h"

namespace {

// The subcommand CLI11 was parsing when it stopped (the deepest one seen), and its name as
// typed: "ringtrain checkpoints list".
CLI::App* DeepestCommand(CLI::App* app) {
  for (;;) {
    auto subs = app->get_subcommands();
    if (subs.empty()) return app;
    app = subs.back();
  }
}
std::string CommandName(const CLI::App* cmd) {
  std::string name;
  for (const CLI::App* a = cmd; a != nullptr; a = a->get_parent()) {
    std::string part = a->get_parent() == nullptr ? "ringtrain" : a->get_name();
    name = name.empty() ? part : part + " " + name;
  }
  return name;
}
std::string OneLine(std::string text) {
  for (char& c : text)
    if (c == '\n' || c == '\r') c = ' ';
  while (!text.empty() && text.back() == ' ') text.pop_back();
  return text;
}

// A CLI11 parse error as the one documented error line (exit 1): what (the unknown option or
// subcommand first: CLI11 reports a missing required option before arguments it did not
// expect), where (the subcommand), what to do (its --help).
ringtrain::UsageError ParseErrorLine(CLI::App& app, const CLI::ParseError& e) {
  CLI::App* cmd = DeepestCommand(&app);
  const std::string where = CommandName(cmd);
  const std::string help = "see `" + where + " --help`";
  std::vector<std::string> extra;
  for (CLI::App* a = cmd; a != nullptr; a = a->get_parent())
    for (const auto& r : a->remaining(false)) extra.push_back(r);
  if (!extra.empty()) {
    const std::string& first = extra.front();
    if (first.size() > 1 && first[0] == '-') {
      return ringtrain::UsageError("unknown option '" + first + "'", where,
                                   help + " for the options of this command");
    }
    if (cmd == &app) {
      std::string names;
      for (const CLI::App* s : app.get_subcommands([](CLI::App*) { return true; }))
        names += (names.empty() ? "" : ", ") + s->get_name();
      return ringtrain::UsageError("unknown command '" + first + "'", where,
                                   "the commands are " + names);
    }
    return ringtrain::UsageError("unexpected argument '" + first + "'", where, help);
  }
  if (cmd == &app && e.get_name() == "RequiredError") {
    return ringtrain::UsageError("no command given", where,
                                 "run `ringtrain --help` for the commands, e.g. ringtrain train");
  }
  std::string what = OneLine(e.what());
  const std::string convert = "Could not convert: ";
  if (e.get_name() == "ConversionError" && what.rfind(convert, 0) == 0)
    what = "bad value " + what.substr(convert.size()) + " (not of the option's type)";
  if (e.get_name() == "ArgumentMismatch" && what.find(" required ") != std::string::npos)
    what = "missing value: " + what;
  return ringtrain::UsageError(what, where, help + " for the option's type");
}

}  // namespace

int main(int argc, char** argv) {
  using ringtrain::ExitCode;
  CLI::App app{"ringtrain: data-parallel linear models over a ring all-reduce"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "ringtrain " RINGTRAIN_VERSION);
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
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    ringtrain::log::Error(ParseErrorLine(app, e).what());
    return static_cast<int>(ExitCode::kUsage);
  }
  ringtrain::log::Level level;
  if (!ringtrain::log::ParseLevel(log_level, &level)) {
    ringtrain::log::Error(
        ringtrain::UsageError("--log-level '" + log_level + "' is not a log level", "ringtrain",
                              "use debug, info, warn or error")
            .what());
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
