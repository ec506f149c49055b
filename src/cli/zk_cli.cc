#include "cli/zk_cli.h"

#include "common/error.h"
#include "common/file_util.h"

namespace ringtrain::cli {

void AddZkCliOptions(CLI::App* cmd, ZkCli& o, const char* json_help, bool job_required) {
  cmd->add_option("--job", o.job, job_required ? "job name" : "job name (none: list the jobs)")
      ->required(job_required);
  cmd->add_option("--zk", o.zk, "ZooKeeper connect string HOSTS[/chroot]")->capture_default_str();
  cmd->add_option("--zk-auth", o.zk_auth, "digest auth USER:PASS");
  cmd->add_option("--zk-auth-file", o.zk_auth_file, "file holding USER:PASS");
  cmd->add_option("--zk-root", o.zk_root, "root znode of ringtrain jobs")->capture_default_str();
  cmd->add_option("--timeout", o.timeout_s, "seconds to wait for ZooKeeper")->capture_default_str();
  cmd->add_flag("--json", o.json, json_help);
}

std::string ReadZkAuth(const std::string& auth, const std::string& auth_file) {
  if (auth_file.empty()) return auth;
  auto bytes = ReadWholeFile(auth_file, ExitCode::kUsage);
  std::string text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.pop_back();
  return text;
}

}  // namespace ringtrain::cli
