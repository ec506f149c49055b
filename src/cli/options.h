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
#include <type_traits>

#include "train/options.h"

namespace ringtrain::cli {

struct TrainCli {
  train::TrainOptions options;
  std::string config_path;
  bool ranks_given = false;  // --ranks came from the command line or the file
};

// One field as --<name>: a bool is a flag (--<name>=false also works; a bool on by default
// gets --no-<name> too), anything else an option whose last occurrence wins, so wrapper
// scripts can append to a user's command line.
template <class T>
void AddFieldOption(CLI::App& app, const std::string& name, T& value, const std::string& help) {
  if constexpr (std::is_same_v<T, bool>) {
    app.add_flag(value ? "--" + name + ",!--no-" + name : "--" + name, value, help);
  } else if (name == "class-weight") {
    // Repeatable like liblinear's -wi: every LABEL:W given is kept, joined with ','.
    app.add_option("--" + name, value, help)->join(',');
  } else {
    app.add_option("--" + name, value, help)
        ->capture_default_str()
        ->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  }
}

// Registers --config and every TrainOptions field as --<name> (bools as flags) on `app`.
void RegisterTrainOptions(CLI::App& app, TrainCli& cli);

// Registers train's reader fields (train::VisitReaderFields: --labels, --format,
// --label-column, ...) on a command that reads a data file too (eval, predict).
template <class Fields>
void RegisterReaderOptions(CLI::App& app, Fields& fields) {
  train::VisitReaderFields(fields, [&](const char* name, auto& value, const char* help,
                                       train::Scope) { AddFieldOption(app, name, value, help); });
}
// After app.parse(): applies --config (command line wins), sets options.zk_given and
// ranks_given. Throws UsageError for a missing/malformed file or an unknown key.
void FinishTrainOptions(CLI::App& app, TrainCli& cli);

}  // namespace ringtrain::cli
