// cli/zk_cli.h — the ZooKeeper options every job-inspecting subcommand takes, and the one
// reader of --zk-auth / --zk-auth-file (shared by train, status and checkpoints).
#pragma once

#include <CLI/CLI.hpp>
#include <string>

namespace ringtrain::cli {

struct ZkCli {
  std::string job;
  std::string zk = "127.0.0.1:2181";
  std::string zk_auth;
  std::string zk_auth_file;
  std::string zk_root = "/ringtrain";
  double timeout_s = 15;
  bool json = false;
};

// --job (required unless job_required is false), --zk, --zk-auth, --zk-auth-file, --zk-root,
// --timeout, --json.
void AddZkCliOptions(CLI::App* cmd, ZkCli& o, const char* json_help, bool job_required = true);

// The digest credentials: --zk-auth, or the first line of --zk-auth-file (trailing newline
// and spaces dropped). A missing file is exit 1 naming it.
std::string ReadZkAuth(const std::string& auth, const std::string& auth_file);

}  // namespace ringtrain::cli
