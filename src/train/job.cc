// train/job.cc — the job lifecycle (job.h): resume, rings, train, re-form, re-shard.
#include "train/job.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <thread>
#include <utility>

#include "common/error.h"
#include "common/log.h"

namespace ringtrain::train {
namespace {

// How long the end of training (or a re-formation) waits for the checkpoint writer: its
// registry calls are each bounded by --timeout, a record and a prune may both take that long.
Deadline DrainDeadline(const TrainOptions& o) { return Deadline::AfterSeconds(2 * o.timeout + 5); }

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

std::function<void(const TrainState&, const EpochMetrics&)> AfterEpoch(Checkpointer& checkpointer,
                                                                       const JobHooks& hooks) {
  return [&checkpointer, &hooks](const TrainState& s, const EpochMetrics& m) {
    checkpointer.AfterEpoch(s, m);
    if (hooks.after_epoch) hooks.after_epoch(s, m);
  };
}

// Every rank's on_partitions hook: notes the generation in effect in `seen` (a ring formed
// after a loss makes maps above it); the leader also publishes: a new map at once, its
// figures at most once a second. A failed publication (a deposed leader, ZooKeeper away) is
// logged; training goes on.
std::function<void(const PartitionMap&)> PartitionHook(RingSource& source, bool leader,
                                                       std::int64_t& seen) {
  struct Last {
    std::int64_t generation = -1;
    std::chrono::steady_clock::time_point when;
  };
  return [&source, leader, &seen, last = std::make_shared<Last>()](const PartitionMap& map) {
    seen = std::max(seen, map.generation);
    if (!leader) return;
    const auto now = std::chrono::steady_clock::now();
    if (map.generation == last->generation && now - last->when < std::chrono::seconds(1)) return;
    try {
      source.PublishPartitions(map);
      last->generation = map.generation;
      last->when = now;
    } catch (const Error& e) {
      // A new map not published is worth a WARN; a figure refresh is retried next epoch.
      (map.generation != last->generation ? log::Warn : log::Debug)(std::string("partition map ") +
                                                                    std::to_string(map.generation) +
                                                                    " not published: " + e.what());
    }
  };
}

}  // namespace

Job::Job(const TrainOptions& options, JobHooks hooks)
    : options_(options), hooks_(std::move(hooks)) {}

void Job::Abort() {
  std::lock_guard<std::mutex> lock(mu_);
  aborted_ = true;
  if (comm_ != nullptr) comm_->Abort();
  if (transports_ != nullptr) transports_->AbortConnect(std::numeric_limits<std::int64_t>::max());
}

void Job::AbortGeneration(std::int64_t generation) {
  std::lock_guard<std::mutex> lock(mu_);
  if (comm_ != nullptr) comm_->Abort();
  if (transports_ != nullptr) transports_->AbortConnect(generation);
}

void Job::RunLocal() {
  const TrainOptions& o = options_;
  log::SetContext(0, 1, 0);
  allreduce::SelfCommunicator comm(
      std::chrono::milliseconds(static_cast<std::int64_t>(o.timeout * 1000)));
  RunInfo info;
  info.job = o.job.empty() ? "local" : o.job;
  CheckpointSink sink;
  sink.after_write = hooks_.after_checkpoint_write;
  Checkpointer checkpointer(o, info.job, false, std::move(sink));
  TrainHooks hooks;
  hooks.after_epoch = AfterEpoch(checkpointer, hooks_);
  hooks.needs_state = [&checkpointer](std::int64_t e) { return checkpointer.NeedsState(e); };
  hooks.after_compute = hooks_.after_compute;
  std::optional<LoadedCheckpoint> start;
  if (o.resume || o.resume_from >= 0) {
    // Standalone: no registry; the newest valid file of this job in --checkpoint-dir (at or
    // below --resume-from).
    std::vector<CheckpointCandidate> files;
    for (const auto& [epoch, path] : ListCheckpointFiles(o.checkpoint_dir, info.job))
      if (o.resume_from < 0 || epoch <= o.resume_from) files.push_back({path, epoch, "", ""});
    if (o.resume_from >= 0 &&
        !std::filesystem::exists(CheckpointPath(o.checkpoint_dir, info.job, o.resume_from)))
      log::Warn("no checkpoint file of epoch " + std::to_string(o.resume_from) + " at " +
                CheckpointPath(o.checkpoint_dir, info.job, o.resume_from) + "; trying older ones");
    start = LoadFirstValid(o.checkpoint_dir, info.job, files, o);
    log::Info("resuming job " + info.job + " from epoch " + std::to_string(start->file.epoch()) +
              " (" + start->path + ")");
    hooks.start = &start->file.state;
  }
  Train(o, comm, info, hooks);
  checkpointer.Drain(DrainDeadline(o));  // the last checkpoints are written before exit 0
}

void Job::Run(RingSource& source, TransportFactory& transports) {
  const TrainOptions& o = options_;
  const bool elastic = o.max_ranks > 0;
  const auto timeout = std::chrono::milliseconds(static_cast<std::int64_t>(o.timeout * 1000));
  {
    std::lock_guard<std::mutex> lock(mu_);
    transports_ = &transports;
    if (aborted_) transports.AbortConnect(std::numeric_limits<std::int64_t>::max());
  }
  struct Detach {  // Abort and the lost hook must not touch the factory once Run is over
    Job* job;
    ~Detach() {
      std::lock_guard<std::mutex> lock(job->mu_);
      job->comm_ = nullptr;
      job->transports_ = nullptr;
    }
  } detach{this};
  source.SetRingLostHook([this] {
    std::int64_t g;
    {
      std::lock_guard<std::mutex> lock(mu_);
      g = generation_;
    }
    AbortGeneration(g);
  });
  auto stopping = [this] { return hooks_.stopping && hooks_.stopping(); };

  // The registry sink: record (fenced by the generation) + latest, then prune records and
  // their files together.
  CheckpointSink sink;
  sink.after_write = hooks_.after_checkpoint_write;
  sink.record = [&source](const WrittenCheckpoint& w, const CheckpointFile& c) {
    source.Record(w, c);
  };
  sink.prune = [&source](int keep, std::int64_t newest) { source.Prune(keep, newest); };
  // Elastic without --checkpoint-every: keep every epoch's state in memory (nothing written).
  Checkpointer checkpointer(o, o.job, elastic && o.checkpoint_every == 0, std::move(sink));

  bool first = true;
  std::int64_t partitions_seen = 0;  // the highest partition generation this rank moved to
  std::string cause;
  std::vector<Member> last_members;
  std::int64_t lost_generation = 0;
  auto lost_clock = std::chrono::steady_clock::now();
  for (;;) {
    Ring ring;
    try {
      ring = source.WaitForRing(Deadline::After(timeout));
    } catch (const Error& e) {
      if (first || stopping() || source.Refused()) throw;
      throw TransportError("generation " + std::to_string(lost_generation) + " was lost (" + cause +
                               ") and no new ring took this member: " + e.what_happened() +
                               source.MissingMembers(last_members),
                           source.where(),
                           "start the missing ranks (at least --min-ranks " +
                               std::to_string(o.min_ranks) + ") and rerun with --resume");
    }
    last_members = ring.members;
    {
      std::lock_guard<std::mutex> lock(mu_);
      generation_ = ring.generation;
    }
    if (source.RingLost()) transports.AbortConnect(ring.generation);  // lost before the hook
    log::SetContext(ring.rank, ring.world_size(), ring.generation);
    if (ring.is_leader() && first) {
      std::string hosts;
      for (int r = 0; r < ring.world_size(); ++r) hosts += (r ? ", " : "") + ring.Describe(r);
      log::Info("ring of " + std::to_string(ring.world_size()) + " formed, generation " +
                std::to_string(ring.generation) + ", job " + o.job + ": " + hosts);
    }

    std::unique_ptr<allreduce::Communicator> comm;
    auto detach_comm = [this, &comm] {
      {
        std::lock_guard<std::mutex> lock(mu_);
        comm_ = nullptr;
      }
      comm.reset();
    };
    try {
      comm = transports.Connect(ring);
      {
        std::lock_guard<std::mutex> lock(mu_);
        comm_ = comm.get();
        if (aborted_) comm->Abort();
      }
      if (source.RingLost()) comm->Abort();  // lost while connecting: the hook saw no comm

      RunInfo info;
      info.job = o.job;
      info.generation = ring.generation;
      info.local_ranks = 0;
      info.partition_floor = partitions_seen + 1;
      for (const auto& m : ring.members)
        if (m.host == ring.members[static_cast<std::size_t>(ring.rank)].host) ++info.local_ranks;
      checkpointer.SetRing(ring.rank, ring.world_size(), ring.generation);

      // The state to start from: on the first ring with --resume the leader reads the file
      // (only it needs it); after a re-formation whoever holds the newest checkpoint in
      // memory. Broadcast to every rank either way.
      std::optional<CheckpointFile> mine = checkpointer.held();
      std::string from_where = "memory";
      if (first && (o.resume || o.resume_from >= 0) && ring.is_leader()) {
        auto loaded =
            LoadFirstValid(o.checkpoint_dir, o.job, source.ResumeCandidates(o.resume_from), o);
        from_where = loaded.path;
        mine = std::move(loaded.file);
      }
      std::optional<CheckpointFile> start = ShareNewestCheckpoint(*comm, mine);
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
                    std::to_string(from) + (start ? " (checkpoint in " + from_where + ")" : "") +
                    ", " + buf + " s after the loss");
        } else if (start) {
          log::Info("resuming job " + o.job + " from epoch " + std::to_string(from) + " (" +
                    from_where + ")");
        }
      }
      if (start) checkpointer.Hold(*start);
      TrainHooks hooks;
      hooks.start = start ? &start->state : nullptr;
      hooks.after_epoch = AfterEpoch(checkpointer, hooks_);
      hooks.needs_state = [&checkpointer](std::int64_t e) { return checkpointer.NeedsState(e); };
      hooks.after_compute = hooks_.after_compute;
      hooks.before_move = hooks_.before_move;
      hooks.on_partitions = PartitionHook(source, ring.is_leader(), partitions_seen);
      TrainResult result = Train(o, *comm, info, hooks);
      // The leader's last checkpoints are written and recorded before the ring is left (a
      // member leaving could publish a new generation and fence the record out).
      checkpointer.Drain(DrainDeadline(o));
      RunSummary summary;
      // The model's epoch (with --early-stop, the best one, not the last trained) and its
      // objective.
      summary.final_epoch = result.state.model.epoch;
      summary.objective = std::numeric_limits<double>::quiet_NaN();
      for (const auto& m : result.history)
        if (m.epoch == summary.final_epoch) summary.objective = m.objective;
      summary.model_path = o.output;
      source.Finished(summary, ring.is_leader());
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
      if (stopping()) throw;
      const bool broken = dynamic_cast<const TransportError*>(&e) != nullptr;
      if (broken && !elastic && !source.RingLost() && source.RingSuperseded()) {
        // A peer that saw the ring refused (or lost) aborts its links at once; this rank's own
        // notification of the same publication is in flight: wait for it briefly, so the
        // error said is the cause (a refusal is exit 1), not the broken link. (A peer that
        // died leaves the ring node as it was: no wait.)
        const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        while (!source.RingLost() && std::chrono::steady_clock::now() < until)
          std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
      if (source.Refused()) {
        // The ranks disagree on options (a member of this launch joined late): exit 1.
        throw UsageError(source.LostReason(), source.where(),
                         "start every rank with the same options (`ringtrain train --help` "
                         "marks the ones that must match)");
      }
      const auto* link = dynamic_cast<const TransportError*>(&e);
      const bool transport = link != nullptr;
      const bool rendezvous = dynamic_cast<const RendezvousError*>(&e) != nullptr;
      if (!elastic || !(transport || (rendezvous && source.RingLost()))) {
        // ZooKeeper's account of a lost ring names the member whose node went first: when a
        // rank is killed, that is often a survivor that saw the failure on its link and
        // exited (its session closes at once; the killed rank's node stays until its session
        // expires). The link's own evidence of which rank failed (e) comes first.
        if (transport && link->failed_rank < 0 && source.RingLost())
          throw TransportError("the ring was lost: " + source.LostReason() +
                                   MpiRanksNamed(source.LostReason(), ring),
                               e.where(),
                               "rerun the same command with --resume (checkpoints are taken "
                               "with --checkpoint-every K)");
        throw;
      }
      cause = source.RingLost() ? source.LostReason() : e.what_happened();
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
  source.Leave();
}

}  // namespace ringtrain::train
