// rendezvous/checkpoint_registry.cc — checkpoint records in znodes.
//
// A record and the update of `latest` are one multi-op (both or neither), fenced by a check
// of the ring node's version as of the ring this process last received: after a newer
// generation is published, a deposed leader's Record fails with ZBADVERSION. The epoch is in
// the node name, so a retry after a connection loss meets NODEEXISTS and is verified by
// reading the record back: recording is idempotent and never duplicates.
#include <algorithm>
#include <thread>

#include "common/error.h"
#include "common/log.h"
#include "rendezvous/records.h"
#include "rendezvous/registry_impl.h"
#include "rendezvous/rendezvous.h"
#include "rendezvous/zk_session.h"

namespace ringtrain::rendezvous {

namespace {
[[noreturn]] void Fail(const CheckpointRegistry::Impl& s, const std::string& what, int rc,
                       const std::string& path, const std::string& hint = {}) {
  std::string where = s.session->hosts() + " " + path;
  if (rc == kZNoAuth) {
    throw RendezvousError(what + ": not authorised (" + AclNote(*s.session, path) + ")", where,
                          NoAuthHint(s.session->secure()));
  }
  if (rc == kZNoNode && path == s.paths.job) {
    throw RendezvousError(what + ": no such job", where, "check --job, --zk and --zk-root");
  }
  throw RendezvousError(what + ": " + ZkErrorText(rc), where, hint);
}
}  // namespace

CheckpointRegistry::CheckpointRegistry(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
CheckpointRegistry::~CheckpointRegistry() = default;

std::unique_ptr<CheckpointRegistry> CheckpointRegistry::Open(const std::string& zk_hosts,
                                                             const std::string& root,
                                                             const std::string& job,
                                                             const std::string& auth,
                                                             Deadline deadline) {
  ValidateJobName(job);
  auto impl = std::make_unique<Impl>();
  impl->owned = std::make_unique<ZkSession>(
      ZkSession::Connect(zk_hosts, auth, std::chrono::milliseconds(10000), deadline));
  impl->session = impl->owned.get();
  impl->paths = JobPaths::For(root, job);
  impl->timeout = std::chrono::duration_cast<std::chrono::milliseconds>(deadline.Remaining());
  if (impl->timeout < std::chrono::milliseconds(1000))
    impl->timeout = std::chrono::milliseconds(1000);
  int rc = RetryIdempotent([&] { return impl->session->Exists(impl->paths.job, nullptr, false); },
                           deadline);
  if (rc != kZOk) Fail(*impl, "cannot open the checkpoint registry", rc, impl->paths.job);
  return std::make_unique<CheckpointRegistry>(std::move(impl));
}

void CheckpointRegistry::Record(const CheckpointRecord& r) {
  Impl& s = *impl_;
  const std::string node = s.paths.checkpoints + "/" + EpochNodeName(r.epoch);
  if (!s.fence) {
    throw RendezvousError(
        "this registry was opened without joining the ring; only the ring "
        "leader records checkpoints",
        s.session->hosts() + " " + node, "record from the training process");
  }
  auto [version, generation] = s.fence();
  const std::string data = EncodeCheckpoint(r);
  Deadline deadline = Deadline::After(s.timeout);
  for (;;) {
    std::vector<ZkOp> ops = {ZkOp::Check(s.paths.ring, version), ZkOp::Create(node, data),
                             ZkOp::Set(s.paths.latest, EncodeLatest(r.epoch), -1)};
    int rc = s.session->Multi(ops, nullptr);
    if (rc == kZOk) return;
    if (rc == kZBadVersion) {
      throw RendezvousError(
          "checkpoint epoch " + std::to_string(r.epoch) + " not recorded: ring generation " +
              std::to_string(generation) + " was superseded, this process no longer leads it",
          s.session->hosts() + " " + s.paths.ring, "stop recording and wait for the new ring");
    }
    if (rc == kZConnectionLoss || rc == kZOperationTimeout || rc == kZNodeExists) {
      // Outcome unknown (or a retry of our own): read the record back.
      std::string got;
      int gr =
          RetryIdempotent([&] { return s.session->Get(node, &got, nullptr, false); }, deadline);
      if (gr == kZOk) {
        if (got == data) return;  // ours, recorded once
        throw RendezvousError("checkpoint epoch " + std::to_string(r.epoch) +
                                  " is already recorded with different contents",
                              s.session->hosts() + " " + node,
                              "delete it first (ringtrain checkpoints delete EPOCH)");
      }
      if (gr != kZNoNode) Fail(s, "cannot read back checkpoint record", gr, node);
      if (deadline.Expired()) Fail(s, "cannot record checkpoint", rc, node);
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;  // it did not happen: try again
    }
    Fail(s, "cannot record checkpoint epoch " + std::to_string(r.epoch), rc, node);
  }
}

std::optional<CheckpointRecord> CheckpointRegistry::Get(std::int64_t epoch) {
  Impl& s = *impl_;
  const std::string node = s.paths.checkpoints + "/" + EpochNodeName(epoch);
  std::string data;
  int rc = RetryIdempotent([&] { return s.session->Get(node, &data, nullptr, false); },
                           Deadline::After(s.timeout));
  if (rc == kZNoNode) return std::nullopt;
  if (rc != kZOk) Fail(s, "cannot read checkpoint record", rc, node);
  return DecodeCheckpoint(data, s.session->hosts() + " " + node);
}

std::vector<CheckpointRecord> CheckpointRegistry::List() {
  Impl& s = *impl_;
  std::vector<std::string> kids;
  int rc = RetryIdempotent([&] { return s.session->Children(s.paths.checkpoints, &kids, false); },
                           Deadline::After(s.timeout));
  if (rc != kZOk) Fail(s, "cannot list checkpoints", rc, s.paths.checkpoints);
  std::vector<std::int64_t> epochs;
  for (const auto& k : kids) {
    if (auto e = ParseEpochNodeName(k)) epochs.push_back(*e);
  }
  std::sort(epochs.begin(), epochs.end());
  std::vector<CheckpointRecord> out;
  for (auto e : epochs) {
    if (auto r = Get(e)) out.push_back(*r);
  }
  return out;
}

void CheckpointRegistry::PublishPartitions(const PartitionMap& map) {
  Impl& s = *impl_;
  const std::string& node = s.paths.partitions;
  if (!s.fence) {
    throw RendezvousError(
        "this registry was opened without joining the ring; only the ring "
        "leader publishes the partition map",
        s.session->hosts() + " " + node, "publish from the training process");
  }
  auto [version, generation] = s.fence();
  const std::string data = ToJson(map);
  // The map is informational (the checkpoint records the map a resume uses), and the leader
  // publishes from its training thread: retry a connection loss briefly, never for the whole
  // timeout, so a lost quorum is seen by the session watcher, not waited out here.
  Deadline deadline = Deadline::After(
      std::min<std::chrono::milliseconds>(s.timeout, std::chrono::milliseconds(1000)));
  bool create = false;
  for (;;) {
    std::vector<ZkOp> ops = {ZkOp::Check(s.paths.ring, version),
                             create ? ZkOp::Create(node, data) : ZkOp::Set(node, data, -1)};
    int rc = s.session->Multi(ops, nullptr);
    if (rc == kZOk) return;
    if (rc == kZBadVersion)
      throw RendezvousError(
          "partition map " + std::to_string(map.generation) + " not published: ring generation " +
              std::to_string(generation) + " was superseded, this process no longer leads it",
          s.session->hosts() + " " + s.paths.ring, "stop publishing and wait for the new ring");
    if (rc == kZNoNode && !create) {  // a job made before partition maps: make the node
      create = true;
      continue;
    }
    if (rc == kZNodeExists && create) {
      create = false;
      continue;
    }
    // A set is idempotent: retry a connection loss until the deadline.
    if ((rc == kZConnectionLoss || rc == kZOperationTimeout) && !deadline.Expired()) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
      continue;
    }
    Fail(s, "cannot publish the partition map", rc, node);
  }
}

std::optional<PartitionMap> CheckpointRegistry::Partitions() {
  Impl& s = *impl_;
  std::string data;
  int rc =
      RetryIdempotent([&] { return s.session->Get(s.paths.partitions, &data, nullptr, false); },
                      Deadline::After(s.timeout));
  if (rc == kZNoNode) return std::nullopt;
  if (rc != kZOk) Fail(s, "cannot read the partition map", rc, s.paths.partitions);
  if (data.empty()) return std::nullopt;
  return PartitionMapFromJson(data, s.session->hosts() + " " + s.paths.partitions);
}

std::optional<CheckpointRecord> CheckpointRegistry::Latest() {
  Impl& s = *impl_;
  std::string data;
  int rc = RetryIdempotent([&] { return s.session->Get(s.paths.latest, &data, nullptr, false); },
                           Deadline::After(s.timeout));
  if (rc == kZNoNode) return std::nullopt;
  if (rc != kZOk) Fail(s, "cannot read latest", rc, s.paths.latest);
  auto epoch = DecodeLatest(data);
  if (!epoch) return std::nullopt;
  return Get(*epoch);
}

void CheckpointRegistry::Delete(std::int64_t epoch) {
  Impl& s = *impl_;
  const std::string node = s.paths.checkpoints + "/" + EpochNodeName(epoch);
  Deadline deadline = Deadline::After(s.timeout);
  for (;;) {
    std::string data;
    NodeStat ls;
    int rc = RetryIdempotent([&] { return s.session->Get(s.paths.latest, &data, &ls, false); },
                             deadline);
    if (rc != kZOk) Fail(s, "cannot read latest", rc, s.paths.latest);
    std::vector<ZkOp> ops = {ZkOp::Delete(node, -1)};
    if (DecodeLatest(data) == epoch) {
      std::optional<std::int64_t> next;
      for (const auto& r : List()) {
        if (r.epoch != epoch) next = r.epoch;
      }
      ops.push_back(ZkOp::Set(s.paths.latest, EncodeLatest(next), ls.version));
    } else {
      ops.push_back(ZkOp::Check(s.paths.latest, ls.version));
    }
    rc = s.session->Multi(ops, nullptr);
    if (rc == kZOk) return;
    if (rc == kZBadVersion) continue;  // latest moved meanwhile: decide again
    if (rc == kZNoNode) {
      throw RendezvousError("no checkpoint epoch " + std::to_string(epoch) + " is recorded",
                            s.session->hosts() + " " + node,
                            "see the recorded epochs with `ringtrain checkpoints list`");
    }
    if ((rc == kZConnectionLoss || rc == kZOperationTimeout) && !deadline.Expired()) {
      int er = RetryIdempotent([&] { return s.session->Exists(node, nullptr, false); }, deadline);
      if (er == kZNoNode) return;  // it happened
      continue;
    }
    Fail(s, "cannot delete checkpoint record", rc, node);
  }
}

std::vector<CheckpointRecord> CheckpointRegistry::Prune(int keep, std::int64_t newest) {
  if (keep < 0) keep = 0;
  auto all = List();
  std::erase_if(all, [newest](const CheckpointRecord& r) { return r.epoch > newest; });
  std::vector<CheckpointRecord> deleted;
  if (static_cast<int>(all.size()) <= keep) return deleted;
  std::size_t n = all.size() - static_cast<std::size_t>(keep);
  for (std::size_t i = 0; i < n; ++i) {
    Delete(all[i].epoch);
    deleted.push_back(all[i]);
  }
  return deleted;
}

}  // namespace ringtrain::rendezvous
