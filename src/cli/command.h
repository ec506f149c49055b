// cli/command.h — how a subcommand plugs into the ringtrain executable.
//
// Each subcommand lives in its own file and exposes one Add<Name>Command(app, run) function.
// It registers a CLI11 subcommand whose parse callback stores the function to run in `*run`.
// main() parses, then calls *run inside the one try block that maps ringtrain::Error to the
// exit codes of DESIGN.md. A command returns the process exit code (0 on success).
#pragma once

#include <CLI/CLI.hpp>
#include <functional>

namespace ringtrain::cli {

using RunFn = std::function<int()>;

void AddTrainCommand(CLI::App& app, RunFn* run);
void AddPredictCommand(CLI::App& app, RunFn* run);
void AddEvalCommand(CLI::App& app, RunFn* run);
void AddExportCommand(CLI::App& app, RunFn* run);
void AddStatusCommand(CLI::App& app, RunFn* run);
void AddCheckpointsCommand(CLI::App& app, RunFn* run);

}  // namespace ringtrain::cli
