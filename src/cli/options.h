// cli/options.h — CLI11 registration of `ringtrain train`'s options from the one field list
// (train/options.h), so every option is also a TOML key of --config FILE.toml.
//
// CLI11 2.1.2 reads set_config() files only for the root app, not for a subcommand, so the
// TOML file is applied here after parsing: every key must be a train option (an unknown key
// is a UsageError naming it), and an option given on the command line wins over the file.
// Keys may sit at the top level or in a [train] section.
#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "train/options.h"

namespace ringtrain::cli {

struct TrainCli {
  train::TrainOptions options;
  std::string config_path;
  bool ranks_given = false;  // --ranks came from the command line or the file
};

// Registers --config and every TrainOptions field as --<name> (bools as flags) on `app`.
void RegisterTrainOptions(CLI::App& app, TrainCli& cli);
// After app.parse(): applies --config (command line wins), sets options.zk_given and
// ranks_given. Throws UsageError for a missing/malformed file or an unknown key.
void FinishTrainOptions(CLI::App& app, TrainCli& cli);

}  // namespace ringtrain::cli
