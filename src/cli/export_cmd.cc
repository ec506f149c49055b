// cli/export_cmd.cc — `ringtrain export --format liblinear`: a text model that Debian's
// liblinear-predict reads.
#include <cstdio>
#include <memory>
#include <string>

#include "cli/command.h"
#include "common/error.h"
#include "models/linear_model.h"

namespace ringtrain::cli {
namespace {

struct ExportOptions {
  std::string model, format = "liblinear", output;
};

int RunExport(const ExportOptions& o) {
  if (o.format != "liblinear")
    throw UsageError("--format must be liblinear, got '" + o.format + "'", "ringtrain export");
  const models::LinearModel model = models::LoadModel(o.model);
  models::ExportLiblinear(model, o.output);
  // The sparsity travels as exact zeros; say how much of it there is.
  std::printf("exported %s: %lld of %zu weights nonzero (penalty %s)\n", o.output.c_str(),
              static_cast<long long>(model.nonzero_weights()), model.weights.size(),
              models::ToString(model.penalty).c_str());
  return 0;
}

}  // namespace

void AddExportCommand(CLI::App& app, RunFn* run) {
  CLI::App* sub = app.add_subcommand("export", "export a model to another format");
  auto o = std::make_shared<ExportOptions>();
  sub->add_option("--model", o->model, "model file written by train")->required();
  sub->add_option("--format", o->format, "liblinear")->capture_default_str();
  sub->add_option("--output", o->output, "output file")->required();
  sub->callback([run, o] { *run = [o] { return RunExport(*o); }; });
}

}  // namespace ringtrain::cli
