// cli/checkpoints_cmd.cc — `ringtrain checkpoints --job NAME [--zk HOSTS] list|show EPOCH|delete
// EPOCH`.
//
// Reads and edits the checkpoint registry (/<root>/<job>/checkpoints + latest) without
// joining the job. `delete` removes the record (and fixes `latest`), then the checkpoint file
// at the record's path when it exists on this host and is the recorded checkpoint of this job
// (train::RemoveCheckpointFile); it says which: removed, not found on this host (remove it on
// the host that wrote it), or left in place and why (not this job's, not the recorded file,
// a symlink, outside a real directory, ...). Errors exit 3 naming the connect string and path.
#include <unistd.h>

#include <cstdio>
#include <nlohmann/json.hpp>
#include <string>

#include "cli/command.h"
#include "cli/zk_cli.h"
#include "common/deadline.h"
#include "common/error.h"
#include "rendezvous/rendezvous.h"
#include "train/checkpoint.h"

namespace ringtrain::cli {
namespace {

struct CheckpointsOptions : ZkCli {
  std::string action;  // list | show | delete
  std::int64_t epoch = -1;
  std::string checkpoint_dir;  // delete: the file must be inside it ("" = its own real directory)
};

std::string HostName() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0) return "this host";
  return buf;
}

std::string Line(const rendezvous::CheckpointRecord& c, bool latest) {
  char buf[512];
  std::snprintf(buf, sizeof buf, "epoch %lld  generation %lld  world %d  %lld bytes  %s  %s%s\n",
                static_cast<long long>(c.epoch), static_cast<long long>(c.generation), c.world_size,
                static_cast<long long>(c.bytes), c.checksum.c_str(), c.path.c_str(),
                latest ? "  (latest)" : "");
  return buf;
}

nlohmann::json ToJson(const rendezvous::CheckpointRecord& c) {
  nlohmann::json m;
  try {
    m = nlohmann::json::parse(c.metrics_json.empty() ? "{}" : c.metrics_json);
  } catch (const nlohmann::json::exception&) {
    m = c.metrics_json;
  }
  return {{"epoch", c.epoch},
          {"generation", c.generation},
          {"world_size", c.world_size},
          {"path", c.path},
          {"bytes", c.bytes},
          {"checksum", c.checksum},
          {"metrics", m},
          {"time_unix_ms", c.time_unix_ms}};
}

// Removes the file of a deleted record if it is on this host and is the recorded file of this
// job (train::RemoveCheckpointFile: name, real directory, no symlink, header, CRC = record);
// says what was done.
std::string RemoveRecordedFile(const rendezvous::CheckpointRecord& c, const std::string& dir,
                               const std::string& job, const std::string& node) {
  auto r = train::RemoveCheckpointFile(dir, job, {c.path, c.epoch, c.checksum, "record " + node});
  if (r.removed) return "removed its file " + c.path;
  if (r.missing)
    return "its file " + c.path + " was not found on this host (" + HostName() +
           "); remove it on the host that wrote it";
  return "its file " + c.path + " was left in place: " + r.reason;
}

int RunCheckpoints(const CheckpointsOptions& o) {
  const std::string auth = ReadZkAuth(o.zk_auth, o.zk_auth_file);
  auto reg = rendezvous::CheckpointRegistry::Open(o.zk, o.zk_root, o.job, auth,
                                                  Deadline::AfterSeconds(o.timeout_s));
  const std::string where = o.zk + " " + o.zk_root + "/" + o.job + "/checkpoints";
  if (o.action == "list") {
    auto all = reg->List();
    auto latest = reg->Latest();
    if (o.json) {
      nlohmann::json arr = nlohmann::json::array();
      for (const auto& c : all) arr.push_back(ToJson(c));
      std::printf("%s\n", arr.dump().c_str());
      return 0;
    }
    if (all.empty()) std::printf("no checkpoints recorded for job %s\n", o.job.c_str());
    for (const auto& c : all)
      std::fputs(Line(c, latest && latest->epoch == c.epoch).c_str(), stdout);
    return 0;
  }
  if (o.epoch < 0)
    throw UsageError(o.action + " needs an EPOCH", "checkpoints " + o.action,
                     "pass the epoch number, see `ringtrain checkpoints list`");
  if (o.action == "show") {
    auto c = reg->Get(o.epoch);
    if (!c) {
      throw RendezvousError("no checkpoint epoch " + std::to_string(o.epoch) + " is recorded",
                            where, "see `ringtrain checkpoints --job " + o.job + " list`");
    }
    std::printf("%s\n", ToJson(*c).dump(o.json ? -1 : 2).c_str());
    return 0;
  }
  auto c = reg->Get(o.epoch);
  reg->Delete(o.epoch);
  std::printf("deleted the record of epoch %lld\n", static_cast<long long>(o.epoch));
  if (c && !c->path.empty())
    std::printf("%s\n", RemoveRecordedFile(*c, o.checkpoint_dir, o.job,
                                           where + "/epoch-" + std::to_string(o.epoch))
                            .c_str());
  return 0;
}

}  // namespace

void AddCheckpointsCommand(CLI::App& app, RunFn* run) {
  auto opts = std::make_shared<CheckpointsOptions>();
  CLI::App* cmd = app.add_subcommand("checkpoints", "list, show or delete recorded checkpoints");
  AddZkCliOptions(cmd, *opts, "JSON output");
  cmd->add_option("action", opts->action, "list | show | delete")
      ->check(CLI::IsMember({"list", "show", "delete"}))
      ->default_val("list");
  cmd->add_option("epoch", opts->epoch, "epoch for show/delete");
  cmd->add_option("--checkpoint-dir", opts->checkpoint_dir,
                  "delete: remove the file only if it is inside this directory (default: the "
                  "record's own directory, which must be a real path)");
  cmd->callback([opts, run] { *run = [opts] { return RunCheckpoints(*opts); }; });
}

}  // namespace ringtrain::cli
