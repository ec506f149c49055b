// cli/main.cc — the ringtrain executable: subcommands, and the one place where an Error
// becomes an exit code.
#include <CLI/CLI.hpp>

#include <cstdio>

#include "common/error.h"
#include "common/log.h"

int main(int argc, char** argv) {
  CLI::App app{"ringtrain: data-parallel linear models over a ring all-reduce"};
  app.require_subcommand(1);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? 0 : static_cast<int>(ringtrain::ExitCode::kUsage);
  } catch (const ringtrain::Error& e) {
    ringtrain::log::Error(e.what());
    return static_cast<int>(e.code());
  }
  return 0;
}
