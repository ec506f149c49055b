// cli/train_cmd.cc — `ringtrain train`: options -> (standalone | rendezvous + transports) ->
// train::Job, whose errors main() reports.
//
// Standalone (--ranks 1 without --zk, not under mpirun): Job::RunLocal. Distributed: bind a
// TCP listener -> rendezvous::Join (member = advertised host, listener port, MPI rank, pid)
// -> Job::Run with the rendezvous as its RingSource (rings, checkpoint registry) and the TCP
// or MPI ring as its TransportFactory. The job lifecycle (resume, rings, elastic recovery)
// lives in train/job.h. This file and its two helpers (fault_hooks.h: RINGTRAIN_FAULT;
// signal_watcher.h: SIGINT/SIGTERM) are the only places of the train path that read the
// environment (RINGTRAIN_FAULT, RINGTRAIN_ZK_SESSION_TIMEOUT_MS; docs/checkpoints.md).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <vector>

#include "allreduce/address.h"
#include "allreduce/communicator.h"
#include "allreduce/mpi_communicator.h"
#include "allreduce/mpi_session.h"
#include "allreduce/tcp.h"
#include "cli/command.h"
#include "cli/fault_hooks.h"
#include "cli/options.h"
#include "cli/signal_watcher.h"
#include "cli/zk_cli.h"
#include "common/deadline.h"
#include "common/error.h"
#include "common/file_util.h"
#include "common/log.h"
#include "rendezvous/rendezvous.h"
#include "train/checkpoint.h"
#include "train/job.h"

namespace ringtrain::cli {
namespace {

struct MpiEnv {
  bool present = false;
  int rank = -1;
  int size = 0;
};

// main() owns the MpiSession; here we only need mpirun's rank and size, which its launcher
// exports (Open MPI, MPICH/PMI, PMIx).
MpiEnv DetectMpi() {
  MpiEnv env;
  if (!allreduce::MpiSession::LaunchedByMpirun(environ)) return env;
  auto first = [](std::initializer_list<const char*> names) -> const char* {
    for (const char* n : names)
      if (const char* v = std::getenv(n)) return v;
    return nullptr;
  };
  const char* size = first({"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"});
  const char* rank = first({"OMPI_COMM_WORLD_RANK", "PMI_RANK", "PMIX_RANK"});
  env.present = true;
  env.size = size != nullptr ? std::atoi(size) : 0;
  env.rank = rank != nullptr ? std::atoi(rank) : -1;
  return env;
}

// The address this rank binds and advertises: --advertise-address, else --interface's,
// else the local address facing the first ZooKeeper server.
std::string ChooseAddress(const train::TrainOptions& o) {
  if (!o.advertise_address.empty() && !o.interface.empty())
    throw UsageError("--advertise-address and --interface exclude each other", "ringtrain train",
                     "give one of them");
  if (!o.advertise_address.empty()) return o.advertise_address;
  if (!o.interface.empty()) return allreduce::InterfaceAddress(o.interface);
  std::string host, port;
  allreduce::FirstZkHost(o.zk, &host, &port);
  return allreduce::LocalAddressToward(host, port);
}

std::chrono::milliseconds SessionTimeout() {
  const char* v = std::getenv("RINGTRAIN_ZK_SESSION_TIMEOUT_MS");
  return std::chrono::milliseconds(v != nullptr ? std::max(1000LL, std::atoll(v)) : 10000LL);
}

// The ZooKeeper rendezvous as the job's ring source: rings, the checkpoint registry (records
// fenced by the generation; pruned records' files removed), and who is missing.
class ZkRingSource final : public train::RingSource {
 public:
  ZkRingSource(rendezvous::Rendezvous& rv, const train::TrainOptions& o) : rv_(rv), o_(o) {}
  Ring WaitForRing(Deadline deadline) override { return rv_.WaitForRing(deadline); }
  bool RingLost() const override { return rv_.RingLost(); }
  std::string LostReason() const override { return rv_.LostReason(); }
  bool Refused() const override { return rv_.Refused(); }
  bool RingSuperseded() override { return rv_.RingSuperseded(); }
  void SetRingLostHook(std::function<void()> hook) override {
    rv_.SetRingLostHook(std::move(hook));
  }
  void Record(const train::WrittenCheckpoint& w, const train::CheckpointFile& c) override {
    rendezvous::CheckpointRecord r;
    r.epoch = c.epoch();
    r.generation = c.generation;
    r.world_size = c.world_size;
    r.path = w.path;
    r.bytes = w.bytes;
    r.checksum = w.checksum;
    r.metrics_json = c.metrics_json;
    r.time_unix_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                         std::chrono::system_clock::now().time_since_epoch())
                         .count();
    try {
      rv_.checkpoints().Record(r);
    } catch (const RendezvousError& e) {
      // The epoch is already recorded with other contents: an earlier run of this job (not
      // resumed), or epochs redone after an elastic re-formation. The new file replaces the
      // old one at the same path, so the record is replaced too — unless this ring is gone.
      auto old = rv_.RingLost() ? std::nullopt : rv_.checkpoints().Get(r.epoch);
      if (!old) throw;
      log::Warn("replacing the record of epoch " + std::to_string(r.epoch) + " (generation " +
                std::to_string(old->generation) + ") by this run's (" + e.what_happened() + ")");
      rv_.checkpoints().Delete(r.epoch);
      rv_.checkpoints().Record(r);
    }
  }
  // A pruned record's file is removed only if it is this job's recorded checkpoint inside
  // this rank's --checkpoint-dir (the record is untrusted input); each removal is logged.
  void Prune(int keep, std::int64_t newest) override {
    for (const auto& r : rv_.checkpoints().Prune(keep, newest)) {
      if (r.path.empty()) continue;
      auto removal = train::RemoveCheckpointFile(
          o_.checkpoint_dir, o_.job,
          {r.path, r.epoch, r.checksum, "pruned record of epoch " + std::to_string(r.epoch)});
      (removal.removed ? log::Info : log::Warn)(removal.line);
    }
  }
  // The candidate files of a distributed resume, newest first: `latest` (or --resume-from's
  // record) and every older record, each with the record's epoch and checksum (the file is
  // verified against them before it is read).
  std::vector<train::CheckpointCandidate> ResumeCandidates(std::int64_t resume_from) override {
    auto& reg = rv_.checkpoints();
    const std::string where = "/ringtrain/" + o_.job + "/checkpoints";
    std::int64_t newest = -1;
    if (resume_from >= 0) {
      if (!reg.Get(resume_from))
        throw CheckpointError(
            "no checkpoint of epoch " + std::to_string(resume_from) + " is recorded", where,
            "see `ringtrain checkpoints --job " + o_.job + " list`");
      newest = resume_from;
    } else {
      auto latest = reg.Latest();
      if (!latest)
        throw CheckpointError("no checkpoint is recorded for job " + o_.job, where,
                              "run without --resume (and with --checkpoint-every K)");
      newest = latest->epoch;
    }
    auto all = reg.List();
    std::vector<train::CheckpointCandidate> files;
    for (auto it = all.rbegin(); it != all.rend(); ++it)
      if (it->epoch <= newest)
        files.push_back(
            {it->path, it->epoch, it->checksum, "record of epoch " + std::to_string(it->epoch)});
    return files;
  }
  // "; missing: rank 1 (host:port, pid P), ..." — members of the lost ring whose member node
  // is gone (read with a short-lived session; "" if that fails).
  std::string MissingMembers(const std::vector<Member>& ring) override {
    try {
      auto st = rendezvous::ReadJobStatus(o_.zk, "/ringtrain", o_.job,
                                          ReadZkAuth(o_.zk_auth, o_.zk_auth_file),
                                          Deadline::AfterSeconds(5));
      std::string out;
      for (std::size_t i = 0; i < ring.size(); ++i) {
        bool live = false;
        for (const auto& m : st.live_members) live = live || m.member.uuid == ring[i].uuid;
        if (live) continue;
        out += (out.empty() ? "; missing: " : ", ") + std::string("rank ") + std::to_string(i) +
               " (" + ring[i].host + ":" + std::to_string(ring[i].port) + ", pid " +
               std::to_string(ring[i].pid) +
               (ring[i].mpi_rank >= 0 ? ", MPI rank " + std::to_string(ring[i].mpi_rank) : "") +
               ")";
      }
      return out;
    } catch (const Error&) {
      return "";
    }
  }
  void PublishPartitions(const PartitionMap& map) override {
    rv_.checkpoints().PublishPartitions(map);
  }
  // The job record says "finished" (the leader writes it; the others only stop their
  // publications from touching the record).
  void Finished(const train::RunSummary& s, bool leader) override {
    if (!leader) {
      rv_.MarkEnded();
      return;
    }
    rendezvous::JobOutcome out;
    out.final_epoch = s.final_epoch;
    out.objective = s.objective;
    std::error_code ec;
    const auto abs = std::filesystem::absolute(s.model_path, ec);
    out.model_path = s.model_path.empty() || ec ? s.model_path : abs.lexically_normal().string();
    std::string err = rv_.RecordOutcome("finished", out, Deadline::AfterSeconds(5));
    if (!err.empty()) log::Warn("the job record does not say finished: " + err);
  }
  std::string where() const override { return o_.zk + " /ringtrain/" + o_.job; }
  void Leave() override { rv_.Leave(); }

 private:
  rendezvous::Rendezvous& rv_;
  const train::TrainOptions& o_;
};

// The ring's communicator: TCP (shared memory on one host with --shm auto) over the listener
// bound before the rendezvous, or MPI point-to-point under mpirun.
class RingTransports final : public train::TransportFactory {
 public:
  RingTransports(const train::TrainOptions& o, allreduce::TcpListener& listener)
      : o_(o),
        listener_(listener),
        timeout_(std::chrono::milliseconds(static_cast<std::int64_t>(o.timeout * 1000))) {}
  // --allreduce-segment auto measures the segment sizes while the ring forms (every rank
  // takes part; docs/allreduce.md "Start-up tuning"); the leader logs the schedule.
  std::unique_ptr<allreduce::Communicator> Connect(const Ring& ring) override {
    const std::size_t segment = train::AllreduceSegmentBytes(o_);
    std::unique_ptr<allreduce::RingCommunicator> comm;
    if (o_.transport == "mpi") {
      allreduce::MpiOptions mo;
      mo.timeout = timeout_;
      mo.segment_bytes = segment;
      mo.tune = segment == 0;
      comm = allreduce::MakeMpiRingCommunicator(ring, mo);
    } else {
      allreduce::TcpOptions to;
      to.timeout = timeout_;
      to.shared_memory =
          o_.shm == "off" ? allreduce::SharedMemory::kOff : allreduce::SharedMemory::kAuto;
      if (segment != 0) to.segment_bytes = segment;
      to.tune = segment == 0;
      comm = allreduce::ConnectTcpRing(listener_, ring, to);
    }
    if (ring.is_leader() && ring.world_size() > 1) {
      log::Info("allreduce " + comm->ScheduleText() + " (--allreduce-segment " +
                o_.allreduce_segment +
                (segment == 0 && comm->tune_result().classes_measured == 0
                     ? ": links over loopback or network TCP keep the default"
                     : "") +
                ")");
    }
    return comm;
  }
  void AbortConnect(std::int64_t generation) override { listener_.AbortConnect(generation); }

 private:
  const train::TrainOptions& o_;
  allreduce::TcpListener& listener_;
  std::chrono::milliseconds timeout_;
};

int RunDistributed(const train::TrainOptions& o, const MpiEnv& mpi) {
  if (o.transport == "mpi" && !mpi.present)
    throw UsageError("--transport mpi needs the process to be started by mpirun", "ringtrain train",
                     "run under mpirun, or use --transport tcp");
  const bool elastic = o.max_ranks > 0;
  if (elastic && o.transport == "mpi")
    throw UsageError("elastic runs (--min-ranks/--max-ranks) need --transport tcp",
                     "ringtrain train", "use --transport tcp or a fixed --ranks");
  const std::string address = ChooseAddress(o);
  allreduce::TcpListener listener = allreduce::TcpListener::Bind(address, 0);
  auto target = std::make_shared<AbortTarget>();
  SignalWatcher signals(target);
  const Faults faults = ReadFaults();
  train::JobHooks hooks = FaultJobHooks(faults);
  hooks.stopping = [&signals] { return signals.signal() != 0; };
  // Declared before the rendezvous: its ring-lost hook calls into the job until it is gone.
  train::Job job(o, std::move(hooks));

  rendezvous::Options ro;
  ro.zk_hosts = o.zk;
  ro.job = o.job;
  ro.auth = ReadZkAuth(o.zk_auth, o.zk_auth_file);
  ro.ranks = elastic ? 0 : o.ranks;
  ro.min_ranks = o.min_ranks;
  ro.max_ranks = o.max_ranks;
  ro.timeout = std::chrono::milliseconds(static_cast<std::int64_t>(o.timeout * 1000));
  ro.session_timeout = SessionTimeout();
  ro.config_text = train::CanonicalText(o);
  ro.agreed_text = train::AgreedText(o);
  ro.self.host = address;
  ro.self.port = listener.port();
  ro.self.mpi_rank = mpi.rank;
  ro.self.pid = static_cast<std::int64_t>(::getpid());
  auto rv = rendezvous::Rendezvous::Join(ro);
  if (faults.kill_at_join) {
    log::Warn("RINGTRAIN_FAULT: killing this process after joining, before the ring forms");
    ::raise(SIGKILL);
  }
  {
    std::lock_guard<std::mutex> lock(target->mu);
    target->rendezvous = rv.get();
    target->job = &job;
  }
  struct Detach {  // the signal thread must not touch rv or the job once they are gone
    std::shared_ptr<AbortTarget> t;
    ~Detach() {
      std::lock_guard<std::mutex> lock(t->mu);
      t->job = nullptr;
      t->rendezvous = nullptr;
    }
  } detach{target};
  ZkRingSource source(*rv, o);
  RingTransports transports(o, listener);
  // A failure is recorded in the job record (state "failed", the cause and this rank) unless
  // the ranks disagreed (the leader recorded "refused"); the first rank to record it wins.
  auto record_failure = [&](const std::string& cause) {
    if (rv->Refused()) return;
    rendezvous::JobOutcome out;
    out.cause = cause;
    out.reported_by = address + ":" + std::to_string(listener.port()) + ", pid " +
                      std::to_string(::getpid()) +
                      (mpi.rank >= 0 ? ", MPI rank " + std::to_string(mpi.rank) : "");
    std::string err = rv->RecordOutcome("failed", out, Deadline::AfterSeconds(2));
    if (!err.empty()) log::Debug("the job record does not say failed: " + err);
  };
  try {
    job.Run(source, transports);
  } catch (const Error& e) {
    record_failure(signals.signal() == 0 ? e.what()
                                         : std::string("interrupted by ") +
                                               (signals.signal() == SIGINT ? "SIGINT" : "SIGTERM"));
    if (signals.signal() == 0) throw;
    // The error is this rank's own abort (its collective or wait broken on purpose), whose
    // text names this rank as the peer: the cause is the signal, so that is what is said.
    log::Debug(std::string("after the signal: ") + e.what());
    log::Error(std::string("interrupted by ") +
               (signals.signal() == SIGINT ? "SIGINT" : "SIGTERM") +
               "; this rank left the ring (job " + o.job + "); rerun with --resume to continue");
    return 128 + signals.signal();
  }
  return 0;
}

int RunTrain(train::TrainOptions o, bool ranks_given) {
  MpiEnv mpi = DetectMpi();
  if (o.transport.empty()) o.transport = mpi.present ? "mpi" : "tcp";
  if (mpi.present && !ranks_given && o.max_ranks == 0) o.ranks = mpi.size;
  train::FinalizeAndValidate(o);
  if ((o.resume || o.resume_from >= 0) && o.checkpoint_dir.empty() && o.ranks == 1 &&
      o.max_ranks <= 1 && !o.zk_given && !mpi.present)
    throw UsageError("--resume without ZooKeeper reads --checkpoint-dir", "ringtrain train",
                     "give --checkpoint-dir DIR (where the checkpoints were written)");
  bool standalone = o.ranks == 1 && o.max_ranks <= 1 && !o.zk_given && !mpi.present;
  if (!standalone) return RunDistributed(o, mpi);
  train::Job(o, FaultJobHooks(ReadFaults())).RunLocal();
  return 0;
}

}  // namespace

void AddTrainCommand(CLI::App& app, RunFn* run) {
  CLI::App* sub = app.add_subcommand("train", "train a linear model (data-parallel)");
  auto cli = std::make_shared<TrainCli>();
  RegisterTrainOptions(*sub, *cli);
  sub->callback([run, cli, sub] {
    *run = [cli, sub] {
      FinishTrainOptions(*sub, *cli);
      return RunTrain(cli->options, cli->ranks_given);
    };
  });
}

}  // namespace ringtrain::cli
