// cli/status_cmd.cc — `ringtrain status --job NAME [--zk HOSTS] [--zk-auth U:P] [--json]`.
//
// Read-only: job record, ring generation and order with addresses, live members, the acting
// leader, and the recorded checkpoints. Text for a person on stdout, or one JSON object with
// --json for scripts. Errors (exit 3) name the connect string and the znode path.
#include <cstdio>
#include <string>

#include "cli/command.h"
#include "common/deadline.h"
#include "common/error.h"
#include "common/file_util.h"
#include "rendezvous/rendezvous.h"

namespace ringtrain::cli {
namespace {

struct StatusOptions {
  std::string job;
  std::string zk = "127.0.0.1:2181";
  std::string zk_auth;
  std::string zk_auth_file;
  std::string zk_root = "/ringtrain";
  double timeout_s = 15;
  bool json = false;
};

std::string Auth(const StatusOptions& o) {
  if (o.zk_auth_file.empty()) return o.zk_auth;
  auto bytes = ReadWholeFile(o.zk_auth_file, ExitCode::kUsage);
  std::string text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
  return text;
}

int RunStatus(const StatusOptions& o) {
  auto st = rendezvous::ReadJobStatus(o.zk, o.zk_root, o.job, Auth(o),
                                      Deadline::AfterSeconds(o.timeout_s));
  std::string out = o.json ? rendezvous::ToJson(st) + "\n" : rendezvous::ToText(st);
  std::fputs(out.c_str(), stdout);
  return 0;
}

}  // namespace

void AddStatusCommand(CLI::App& app, RunFn* run) {
  auto opts = std::make_shared<StatusOptions>();
  CLI::App* cmd = app.add_subcommand("status", "show a job's ring, members and checkpoints");
  cmd->add_option("--job", opts->job, "job name")->required();
  cmd->add_option("--zk", opts->zk, "ZooKeeper connect string HOSTS[/chroot]")
      ->capture_default_str();
  cmd->add_option("--zk-auth", opts->zk_auth, "digest auth USER:PASS");
  cmd->add_option("--zk-auth-file", opts->zk_auth_file, "file holding USER:PASS");
  cmd->add_option("--zk-root", opts->zk_root, "root znode of ringtrain jobs")
      ->capture_default_str();
  cmd->add_option("--timeout", opts->timeout_s, "seconds to wait for ZooKeeper")
      ->capture_default_str();
  cmd->add_flag("--json", opts->json, "one JSON object instead of text");
  cmd->callback([opts, run] { *run = [opts] { return RunStatus(*opts); }; });
}

}  // namespace ringtrain::cli
