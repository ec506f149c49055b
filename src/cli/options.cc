// cli/options.cc — TrainOptions -> CLI11 options, driven by train::VisitTrainFields.
#include "cli/options.h"

#include <string>
#include <type_traits>

namespace ringtrain::cli {

CLI::Option* RegisterTrainOptions(CLI::App& app, train::TrainOptions& options) {
  app.set_config("--config", "", "TOML file with any of these options (command line wins)");
  CLI::Option* zk = nullptr;
  train::VisitTrainFields(
      options, [&](const char* name, auto& value, const char* help, train::Scope scope) {
        std::string flag = std::string("--") + name;
        std::string text = help;
        if (scope == train::Scope::kShape) text += " [must match across ranks and on resume]";
        CLI::Option* opt = nullptr;
        if constexpr (std::is_same_v<std::remove_reference_t<decltype(value)>, bool>) {
          opt = app.add_flag(flag, value, text);
        } else {
          opt = app.add_option(flag, value, text)->capture_default_str();
        }
        if (std::string(name) == "zk") zk = opt;
      });
  return zk;
}

}  // namespace ringtrain::cli
