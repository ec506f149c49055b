// cli/status_cmd.cc — `ringtrain status --job NAME [--zk HOSTS] [--zk-auth U:P] [--json]`.
//
// Read-only: job record, ring generation and order with addresses, live members, the acting
// leader, and the recorded checkpoints. Text for a person on stdout, or one JSON object with
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
  auto st = rendezvous::ReadJobStatus(o.zk, o.zk_root, o.job, ReadZkAuth(o.zk_auth, o.zk_auth_file),
                                      Deadline::AfterSeconds(o.timeout_s));
  std::string out = o.json ? rendezvous::ToJson(st) + "\n" : rendezvous::ToText(st);
  std::fputs(out.c_str(), stdout);
  return 0;
}

}  // namespace

void AddStatusCommand(CLI::App& app, RunFn* run) {
  auto opts = std::make_shared<StatusOptions>();
  CLI::App* cmd = app.add_subcommand("status", "show a job's ring, members and checkpoints");
  AddZkCliOptions(cmd, *opts, "one JSON object instead of text");
  cmd->callback([opts, run] { *run = [opts] { return RunStatus(*opts); }; });
}

}  // namespace ringtrain::cli
