// cli/options.h — CLI11 registration of `ringtrain train`'s options from the one field list
// (train/options.h), so every option is also a TOML key of --config FILE.toml.
#pragma once

#include <CLI/CLI.hpp>

#include "train/options.h"

namespace ringtrain::cli {

// Registers every TrainOptions field on `app` as --<name> (bools as flags) plus
// --config FILE.toml (CLI11's config support: command line wins over the file). Returns the
// --zk option so the caller can tell whether it was given (TrainOptions::zk_given).
CLI::Option* RegisterTrainOptions(CLI::App& app, train::TrainOptions& options);

}  // namespace ringtrain::cli
