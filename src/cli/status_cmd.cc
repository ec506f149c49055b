// cli/status_cmd.cc — `ringtrain status [--job NAME] [--zk HOSTS] [--zk-auth U:P] [--json]`.
//
// Read-only: job state (running, finished, failed, abandoned, ...), ring generation and order
// with addresses, live members, the acting leader, and the recorded checkpoints. Without
// --job: every job under the root with its state, generation, live members, latest
// checkpoint and last change. Text for a person on stdout, or one JSON object with
// --json for scripts. Errors (exit 3) name the connect string and the znode path.
#include <cstdio>
#include <string>

#include "cli/command.h"
#include "cli/zk_cli.h"
#include "common/deadline.h"
#include "common/error.h"
#include "rendezvous/rendezvous.h"

namespace ringtrain::cli {
namespace {

using StatusOptions = ZkCli;

int RunStatus(const StatusOptions& o) {
  const std::string auth = ReadZkAuth(o.zk_auth, o.zk_auth_file);
  if (o.job.empty()) {  // no --job: the jobs under the root, one line each
    auto list = rendezvous::ListJobs(o.zk, o.zk_root, auth, Deadline::AfterSeconds(o.timeout_s));
    std::string out = o.json ? rendezvous::ToJson(list) + "\n" : rendezvous::ToText(list);
    std::fputs(out.c_str(), stdout);
    return 0;
  }
  auto st =
      rendezvous::ReadJobStatus(o.zk, o.zk_root, o.job, auth, Deadline::AfterSeconds(o.timeout_s));
  std::string out = o.json ? rendezvous::ToJson(st) + "\n" : rendezvous::ToText(st);
  std::fputs(out.c_str(), stdout);
  return 0;
}

}  // namespace

void AddStatusCommand(CLI::App& app, RunFn* run) {
  auto opts = std::make_shared<StatusOptions>();
  CLI::App* cmd = app.add_subcommand(
      "status", "show a job's state, ring, members and checkpoints; without --job, list the jobs");
  AddZkCliOptions(cmd, *opts, "one JSON object instead of text", /*job_required=*/false);
  cmd->callback([opts, run] { *run = [opts] { return RunStatus(*opts); }; });
}

}  // namespace ringtrain::cli
