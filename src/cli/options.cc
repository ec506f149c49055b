// cli/options.cc — TrainOptions -> CLI11 options, driven by train::VisitTrainFields, and
// the TOML --config file applied under the command line.
#include "cli/options.h"

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "common/error.h"

namespace ringtrain::cli {
namespace {

// CLI11 2.1's TOML reader accepts some broken lines (e.g. `data = [` becomes the string "[").
// Our configs are flat: `[section]`, `key = value` with a quoted string, a number, a boolean
// or a one-line array, and comments. Anything else is reported as file:line.
void CheckTomlLines(const std::string& path) {
  std::ifstream in(path);
  std::string line;
  int n = 0;
  auto trim = [](std::string t) {
    auto b = t.find_first_not_of(" \t\r");
    auto e = t.find_last_not_of(" \t\r");
    return b == std::string::npos ? std::string() : t.substr(b, e - b + 1);
  };
  while (std::getline(in, line)) {
    ++n;
    std::string t = trim(line);
    if (t.empty() || t[0] == '#') continue;
    if (t.front() == '[' && t.back() == ']') continue;
    auto eq = t.find('=');
    std::string value = eq == std::string::npos ? std::string() : trim(t.substr(eq + 1));
    if (!value.empty() && value[0] != '"' && value[0] != '\'') {
      auto hash = value.find('#');  // a trailing comment after an unquoted value
      if (hash != std::string::npos) value = trim(value.substr(0, hash));
    }
    bool ok = eq != std::string::npos && eq > 0 && !value.empty();
    if (ok && (value[0] == '"' || value[0] == '\'')) {
      ok = value.size() >= 2 && value.find(value[0], 1) != std::string::npos;
    } else if (ok && value[0] == '[') {
      ok = value.back() == ']';
    }
    if (!ok) {
      throw UsageError("malformed TOML line '" + t + "'", path + ":" + std::to_string(n),
                       "write key = value (strings in double quotes)");
    }
  }
}

}  // namespace

void RegisterTrainOptions(CLI::App& app, TrainCli& cli) {
  app.add_option("--config", cli.config_path,
                 "TOML file with any of these options as keys (the command line wins)");
  train::VisitTrainFields(cli.options,
                          [&](const char* name, auto& value, const char* help, train::Scope scope) {
                            std::string text = help;
                            if (scope == train::Scope::kShape)
                              text += " [must match across ranks and on resume]";
                            if (scope == train::Scope::kAgreed)
                              text += " [must match across the ranks of a run]";
                            AddFieldOption(app, name, value, text);
                          });
}

void FinishTrainOptions(CLI::App& app, TrainCli& cli) {
  if (!cli.config_path.empty()) {
    const std::string& path = cli.config_path;
    if (!std::filesystem::is_regular_file(path))
      throw UsageError("--config file not found", path, "check the path of the TOML file");
    CheckTomlLines(path);
    std::vector<CLI::ConfigItem> items;
    try {
      items = CLI::ConfigTOML().from_file(path);
    } catch (const CLI::Error& e) {
      throw UsageError(std::string("--config file is not valid TOML: ") + e.what(), path);
    }
    for (const auto& item : items) {
      if (item.name == "++" || item.name == "--") continue;  // CLI11's section markers
      bool in_train =
          item.parents.empty() || (item.parents.size() == 1 && item.parents[0] == "train");
      CLI::Option* opt = app.get_option_no_throw("--" + item.name);
      // Only a field's own name is a key (not an alias such as --no-bias: bias = false).
      if (!in_train || opt == nullptr || item.name == "config" ||
          opt->get_single_name() != item.name)
        throw UsageError("unknown key '" + item.fullname() + "' in the --config file", path,
                         "keys are train options without the dashes, e.g. C = 1.0");
      if (opt->count() > 0) continue;  // the command line wins
      try {
        opt->add_result(item.inputs);
        opt->run_callback();
      } catch (const CLI::Error& e) {
        throw UsageError("bad value for key '" + item.name + "' in the --config file: " + e.what(),
                         path, "give --" + item.name + " a value of its type (see --help)");
      }
    }
  }
  cli.options.zk_given = app.get_option("--zk")->count() > 0;
  cli.ranks_given = app.get_option("--ranks")->count() > 0;
}

}  // namespace ringtrain::cli
