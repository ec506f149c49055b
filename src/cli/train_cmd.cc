// cli/train_cmd.cc — `ringtrain train`: options -> communicator -> train::Train, with
// checkpoints, resume and elastic recovery.
//
// Standalone (--ranks 1 without --zk, not under mpirun): a SelfCommunicator, no ZooKeeper;
// checkpoints are files in --checkpoint-dir and --resume reads the newest valid one of the job.
// Distributed: bind a TCP listener -> rendezvous::Join (member = advertised host, listener
// port, MPI rank, pid) -> WaitForRing -> ConnectTcpRing -> (resume: the leader reads the
// recorded file, ShareNewestCheckpoint broadcasts it) -> train -> barrier -> Leave. The
// leader writes a checkpoint every --checkpoint-every epochs and records it in the registry
// (train/checkpoint_writer.h). The rendezvous ring-lost hook aborts the communicator, so a
// blocked allreduce ends with TransportError. Not elastic: exit code 4 naming the reason.
// Elastic (--max-ranks): wait for the next generation, reconnect on the same listener,
// re-read the shard, restore the newest checkpoint any survivor holds in memory, go on.
// This file and its two helpers (fault_hooks.h: RINGTRAIN_FAULT; signal_watcher.h: SIGINT/
// SIGTERM) are the only places of the train path that read the environment
// (RINGTRAIN_FAULT, RINGTRAIN_ZK_SESSION_TIMEOUT_MS; docs/checkpoints.md).
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <system_error>
#include <thread>
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
#include "train/checkpoint_writer.h"
#include "train/trainer.h"

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

// How long the end of training (or a re-formation) waits for the checkpoint writer: its
// registry calls are each bounded by --timeout, a record and a prune may both take that long.
Deadline DrainDeadline(const train::TrainOptions& o) {
  return Deadline::AfterSeconds(2 * o.timeout + 5);
}

int RunStandalone(const train::TrainOptions& o) {
  log::SetContext(0, 1, 0);
  allreduce::SelfCommunicator comm(
      std::chrono::milliseconds(static_cast<std::int64_t>(o.timeout * 1000)));
  train::RunInfo info;
  info.job = o.job.empty() ? "local" : o.job;
  const Faults faults = ReadFaults();
  train::Checkpointer checkpointer(o, info.job, false, FaultSink(faults));
  train::TrainHooks hooks;
  hooks.after_epoch = AfterEpoch(checkpointer, faults);
  std::optional<train::LoadedCheckpoint> start;
  if (o.resume || o.resume_from >= 0) {
    // Standalone: no registry; the newest valid file of this job in --checkpoint-dir (at or
    // below --resume-from).
    std::vector<train::CheckpointCandidate> files;
    for (const auto& [epoch, path] : train::ListCheckpointFiles(o.checkpoint_dir, info.job))
      if (o.resume_from < 0 || epoch <= o.resume_from) files.push_back({path, epoch, "", ""});
    if (o.resume_from >= 0 &&
        !std::filesystem::exists(train::CheckpointPath(o.checkpoint_dir, info.job, o.resume_from)))
      log::Warn("no checkpoint file of epoch " + std::to_string(o.resume_from) + " at " +
                train::CheckpointPath(o.checkpoint_dir, info.job, o.resume_from) +
                "; trying older ones");
    start = train::LoadFirstValid(o.checkpoint_dir, info.job, files, o);
    log::Info("resuming job " + info.job + " from epoch " + std::to_string(start->file.epoch()) +
              " (" + start->path + ")");
    hooks.start = &start->file.state;
  }
  train::Train(o, comm, info, hooks);
  checkpointer.Drain(DrainDeadline(o));  // the last checkpoints are written before exit 0
  return 0;
}

// The candidate files of a distributed resume, newest first: `latest` (or --resume-from's
// record) and every older record, each with the record's epoch and checksum (the file is
// verified against them before it is read).
std::vector<train::CheckpointCandidate> RecordedFiles(rendezvous::CheckpointRegistry& reg,
                                                      const train::TrainOptions& o) {
  const std::string where = "/ringtrain/" + o.job + "/checkpoints";
  std::int64_t newest = -1;
  if (o.resume_from >= 0) {
    if (!reg.Get(o.resume_from))
      throw CheckpointError(
          "no checkpoint of epoch " + std::to_string(o.resume_from) + " is recorded", where,
          "see `ringtrain checkpoints --job " + o.job + " list`");
    newest = o.resume_from;
  } else {
    auto latest = reg.Latest();
    if (!latest)
      throw CheckpointError("no checkpoint is recorded for job " + o.job, where,
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

// "; missing: rank 1 (host:port, pid P), ..." — members of the lost ring whose member node is
// gone (read with a short-lived session; "" if that fails).
std::string MissingMembers(const train::TrainOptions& o, const std::vector<Member>& ring) {
  try {
    auto st =
        rendezvous::ReadJobStatus(o.zk, "/ringtrain", o.job, ReadZkAuth(o.zk_auth, o.zk_auth_file),
                                  Deadline::AfterSeconds(5));
    std::string out;
    for (std::size_t i = 0; i < ring.size(); ++i) {
      bool live = false;
      for (const auto& m : st.live_members) live = live || m.member.uuid == ring[i].uuid;
      if (live) continue;
      out += (out.empty() ? "; missing: " : ", ") + std::string("rank ") + std::to_string(i) +
             " (" + ring[i].host + ":" + std::to_string(ring[i].port) + ", pid " +
             std::to_string(ring[i].pid) +
             (ring[i].mpi_rank >= 0 ? ", MPI rank " + std::to_string(ring[i].mpi_rank) : "") + ")";
    }
    return out;
  } catch (const Error&) {
    return "";
  }
}

// Under mpirun the ring rank is not the rank mpirun reports: " [rank 1 (host:port) is MPI
// rank 2, pid P]" for each member `reason` names ("" without MPI ranks).
std::string MpiRanksNamed(const std::string& reason, const Ring& ring) {
  std::string out;
  for (int r = 0; r < ring.world_size(); ++r) {
    const Member& m = ring.members[static_cast<std::size_t>(r)];
    if (m.mpi_rank < 0 || reason.find(ring.Describe(r)) == std::string::npos) continue;
    out += (out.empty() ? " [" : ", ") + ring.Describe(r) + " is MPI rank " +
           std::to_string(m.mpi_rank) + ", pid " + std::to_string(m.pid);
  }
  return out.empty() ? out : out + "]";
}

int RunDistributed(const train::TrainOptions& o, const MpiEnv& mpi) {
  if (o.transport == "mpi" && !mpi.present)
    throw UsageError("--transport mpi needs the process to be started by mpirun", "ringtrain train",
                     "run under mpirun, or use --transport tcp");
  const bool elastic = o.max_ranks > 0;
  if (elastic && o.transport == "mpi")
    throw UsageError("elastic runs (--min-ranks/--max-ranks) need --transport tcp",
                     "ringtrain train", "use --transport tcp or a fixed --ranks");
  const auto timeout = std::chrono::milliseconds(static_cast<std::int64_t>(o.timeout * 1000));
  const std::string address = ChooseAddress(o);
  allreduce::TcpListener listener = allreduce::TcpListener::Bind(address, 0);
  auto target = std::make_shared<AbortTarget>();
  SignalWatcher signals(target);
  auto interrupted = [&signals, &o](const Error& e) -> int {
    if (signals.signal() == 0) throw;  // rethrows the Error being handled
    // The error is this rank's own abort (its collective or wait broken on purpose), whose
    // text names this rank as the peer: the cause is the signal, so that is what is said.
    log::Debug(std::string("after the signal: ") + e.what());
    log::Error(std::string("interrupted by ") +
               (signals.signal() == SIGINT ? "SIGINT" : "SIGTERM") +
               "; this rank left the ring (job " + o.job + "); rerun with --resume to continue");
    return 128 + signals.signal();
  };

  rendezvous::Options ro;
  ro.zk_hosts = o.zk;
  ro.job = o.job;
  ro.auth = ReadZkAuth(o.zk_auth, o.zk_auth_file);
  ro.ranks = elastic ? 0 : o.ranks;
  ro.min_ranks = o.min_ranks;
  ro.max_ranks = o.max_ranks;
  ro.timeout = timeout;
  ro.session_timeout = SessionTimeout();
  ro.config_text = train::CanonicalText(o);
  ro.self.host = address;
  ro.self.port = listener.port();
  ro.self.mpi_rank = mpi.rank;
  ro.self.pid = static_cast<std::int64_t>(::getpid());
  auto rv = rendezvous::Rendezvous::Join(ro);
  const Faults faults = ReadFaults();
  if (faults.kill_at_join) {
    log::Warn("RINGTRAIN_FAULT: killing this process after joining, before the ring forms");
    ::raise(SIGKILL);
  }
  {
    std::lock_guard<std::mutex> lock(target->mu);
    target->rendezvous = rv.get();
    target->listener = &listener;
  }
  struct Detach {  // the signal thread must not touch rv or comm once they are gone
    std::shared_ptr<AbortTarget> t;
    ~Detach() {
      std::lock_guard<std::mutex> lock(t->mu);
      t->comm = nullptr;
      t->rendezvous = nullptr;
      t->listener = nullptr;
    }
  } detach{target};
  rv->SetRingLostHook([target] {
    std::lock_guard<std::mutex> lock(target->mu);
    if (target->comm != nullptr) target->comm->Abort();
    if (target->listener != nullptr) target->listener->AbortConnect(target->generation);
  });

  // The registry sink: record (fenced by the generation) + latest, then prune records and
  // their files together.
  train::CheckpointSink sink = FaultSink(faults);
  sink.record = [&rv](const train::WrittenCheckpoint& w, const train::CheckpointFile& c) {
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
      rv->checkpoints().Record(r);
    } catch (const RendezvousError& e) {
      // The epoch is already recorded with other contents: an earlier run of this job (not
      // resumed), or epochs redone after an elastic re-formation. The new file replaces the
      // old one at the same path, so the record is replaced too — unless this ring is gone.
      auto old = rv->RingLost() ? std::nullopt : rv->checkpoints().Get(r.epoch);
      if (!old) throw;
      log::Warn("replacing the record of epoch " + std::to_string(r.epoch) + " (generation " +
                std::to_string(old->generation) + ") by this run's (" + e.what_happened() + ")");
      rv->checkpoints().Delete(r.epoch);
      rv->checkpoints().Record(r);
    }
  };
  // A pruned record's file is removed only if it is this job's recorded checkpoint inside this
  // rank's --checkpoint-dir (the record is untrusted input); each removal is logged.
  sink.prune = [&rv, &o](int keep, std::int64_t newest) {
    for (const auto& r : rv->checkpoints().Prune(keep, newest)) {
      if (r.path.empty()) continue;
      auto removal = train::RemoveCheckpointFile(
          o.checkpoint_dir, o.job,
          {r.path, r.epoch, r.checksum, "pruned record of epoch " + std::to_string(r.epoch)});
      (removal.removed ? log::Info : log::Warn)(removal.line);
    }
  };
  // Elastic without --checkpoint-every: keep every epoch's state in memory (nothing written).
  train::Checkpointer checkpointer(o, o.job, elastic && o.checkpoint_every == 0, std::move(sink));

  bool first = true;
  std::string cause;
  std::vector<Member> last_members;
  std::int64_t lost_generation = 0;
  auto lost_clock = std::chrono::steady_clock::now();
  for (;;) {
    Ring ring;
    try {
      ring = rv->WaitForRing(Deadline::After(timeout));
    } catch (const Error& e) {
      if (signals.signal() != 0) return interrupted(e);
      if (first) throw;
      throw TransportError("generation " + std::to_string(lost_generation) + " was lost (" + cause +
                               ") and no new ring took this member: " + e.what_happened() +
                               MissingMembers(o, last_members),
                           o.zk + " /ringtrain/" + o.job,
                           "start the missing ranks (at least --min-ranks " +
                               std::to_string(o.min_ranks) + ") and rerun with --resume");
    }
    last_members = ring.members;
    {
      std::lock_guard<std::mutex> lock(target->mu);
      target->generation = ring.generation;
    }
    if (rv->RingLost()) listener.AbortConnect(ring.generation);  // lost before the hook knew it
    log::SetContext(ring.rank, ring.world_size(), ring.generation);
    if (ring.is_leader() && first) {
      std::string hosts;
      for (int r = 0; r < ring.world_size(); ++r) hosts += (r ? ", " : "") + ring.Describe(r);
      log::Info("ring of " + std::to_string(ring.world_size()) + " formed, generation " +
                std::to_string(ring.generation) + ", job " + o.job + ": " + hosts);
    }

    std::unique_ptr<allreduce::Communicator> comm;
    auto detach_comm = [&target, &comm] {
      {
        std::lock_guard<std::mutex> lock(target->mu);
        target->comm = nullptr;
      }
      comm.reset();
    };
    try {
      if (o.transport == "mpi") {
        allreduce::MpiOptions mo;
        mo.timeout = timeout;
        comm = allreduce::MakeMpiRingCommunicator(ring, mo);
        if (!comm) comm = std::make_unique<allreduce::SelfCommunicator>(timeout);
      } else {
        allreduce::TcpOptions to;
        to.timeout = timeout;
        to.shared_memory =
            o.shm == "off" ? allreduce::SharedMemory::kOff : allreduce::SharedMemory::kAuto;
        comm = allreduce::ConnectTcpRing(listener, ring, to);
      }
      {
        std::lock_guard<std::mutex> lock(target->mu);
        target->comm = comm.get();
      }
      if (rv->RingLost()) comm->Abort();  // lost while connecting: the hook saw no comm

      train::RunInfo info;
      info.job = o.job;
      info.generation = ring.generation;
      info.local_ranks = 0;
      for (const auto& m : ring.members)
        if (m.host == ring.members[static_cast<std::size_t>(ring.rank)].host) ++info.local_ranks;
      checkpointer.SetRing(ring.rank, ring.world_size(), ring.generation);

      // The state to start from: on the first ring with --resume the leader reads the file
      // (only it needs it); after a re-formation whoever holds the newest checkpoint in
      // memory. Broadcast to every rank either way.
      std::optional<train::CheckpointFile> mine = checkpointer.held();
      std::string source = "memory";
      if (first && (o.resume || o.resume_from >= 0) && ring.is_leader()) {
        auto loaded =
            train::LoadFirstValid(o.checkpoint_dir, o.job, RecordedFiles(rv->checkpoints(), o), o);
        source = loaded.path;
        mine = std::move(loaded.file);
      }
      std::optional<train::CheckpointFile> start = train::ShareNewestCheckpoint(*comm, mine);
      const std::int64_t from = start ? start->epoch() : 0;
      if (ring.is_leader()) {
        if (!first) {
          char buf[64];
          std::snprintf(
              buf, sizeof buf, "%.2f",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - lost_clock).count());
          log::Info("recovery: generation " + std::to_string(lost_generation) + " lost (" + cause +
                    "); new generation " + std::to_string(ring.generation) + " of " +
                    std::to_string(ring.world_size()) + " ranks resumes from epoch " +
                    std::to_string(from) + (start ? " (checkpoint in " + source + ")" : "") + ", " +
                    buf + " s after the loss");
        } else if (start) {
          log::Info("resuming job " + o.job + " from epoch " + std::to_string(from) + " (" +
                    source + ")");
        }
      }
      if (start) checkpointer.Hold(*start);
      train::TrainHooks hooks;
      hooks.start = start ? &start->state : nullptr;
      hooks.after_epoch = AfterEpoch(checkpointer, faults);
      train::Train(o, *comm, info, hooks);
      // The leader's last checkpoints are written and recorded before the ring is left (a
      // member leaving could publish a new generation and fence the record out).
      checkpointer.Drain(DrainDeadline(o));
      // Everyone has the final model; a barrier so no rank tears its sockets down while a
      // neighbour is still finishing the last collective. A failure here (a peer already
      // gone, or the ring superseded by its leaving) cannot change the result.
      try {
        comm->Barrier();
      } catch (const Error& e) {
        log::Debug(std::string("final barrier: ") + e.what());
      }
      detach_comm();
      break;
    } catch (const Error& e) {
      detach_comm();
      if (signals.signal() != 0) return interrupted(e);
      const bool transport = dynamic_cast<const TransportError*>(&e) != nullptr;
      const bool rendezvous = dynamic_cast<const RendezvousError*>(&e) != nullptr;
      if (!elastic || !(transport || (rendezvous && rv->RingLost()))) {
        if (transport && rv->RingLost())
          throw TransportError(
              "the ring was lost: " + rv->LostReason() + MpiRanksNamed(rv->LostReason(), ring),
              e.where(),
              "rerun the same command with --resume (checkpoints are taken "
              "with --checkpoint-every K)");
        throw;
      }
      cause = rv->RingLost() ? rv->LostReason() : e.what_happened();
      // Finish (or fail) the lost generation's queued checkpoint before the next ring is taken,
      // so its record is fenced by the generation that wrote it.
      try {
        checkpointer.Drain(DrainDeadline(o));
      } catch (const Error& d) {
        log::Warn(std::string("a checkpoint of generation ") + std::to_string(ring.generation) +
                  " was not recorded: " + d.what());
      }
      lost_generation = ring.generation;
      lost_clock = std::chrono::steady_clock::now();
      log::Warn("generation " + std::to_string(ring.generation) + " lost (" + cause +
                "); waiting for the next ring (elastic)");
      first = false;
    }
  }
  rv->Leave();
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
  return standalone ? RunStandalone(o) : RunDistributed(o, mpi);
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
