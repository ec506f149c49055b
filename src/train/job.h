// train/job.h — the lifecycle of one training job: resume, form rings, train, re-form after a
// loss, re-shard. cli/ parses the options and hands the Job its ring source and its transport
// factory (as Gloo's connectFullMesh(store, device) is handed a Store and a Device); the Job
// does the rest and cli/ reports what it throws.
//
// Distributed (Job::Run): source.WaitForRing -> transports.Connect -> (resume: the leader
// reads the recorded file, ShareNewestCheckpoint broadcasts it) -> Train -> Drain the
// checkpoint writer -> barrier -> source.Leave. The leader writes a checkpoint every
// --checkpoint-every epochs and records it through the source (train/checkpoint_writer.h).
// The source's ring-lost hook aborts the communicator and the connect, so a blocked
// collective ends with TransportError. Not elastic: TransportError (exit 4) naming the
// reason. Elastic (--max-ranks): wait for the next generation, reconnect, re-read the
// shard, restore the newest checkpoint any survivor holds in memory, go on.
// Standalone (RunLocal): a SelfCommunicator, checkpoints are files in --checkpoint-dir and
// --resume reads the newest valid one of the job.
//
// What it must not know: ZooKeeper, sockets, MPI, the environment (RingSource and
// TransportFactory are the seams; cli/ plugs in the rendezvous and the TCP/MPI transports).
// Threads: Run/RunLocal on one thread; Abort from any thread (a signal watcher). The source's
// lost hook runs on the source's thread and only aborts.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "allreduce/communicator.h"
#include "common/deadline.h"
#include "common/partition.h"
#include "common/ring.h"
#include "train/checkpoint.h"
#include "train/checkpoint_writer.h"
#include "train/options.h"
#include "train/trainer.h"

namespace ringtrain::train {

// How a run ended well (recorded as the job's state "finished" by the ring source).
struct RunSummary {
  std::int64_t final_epoch = 0;
  double objective = 0;    // the last epoch's; NaN when no epoch ran (a resume at the end)
  std::string model_path;  // --output ("" if none)
};

// Where the rings of a job come from, and where its checkpoints are recorded (cli/: the
// ZooKeeper rendezvous). Calls may block up to the options' timeout; errors are typed.
class RingSource {
 public:
  virtual ~RingSource() = default;
  // The next ring containing this process, with a generation above any returned before.
  virtual Ring WaitForRing(Deadline deadline) = 0;
  // The last returned ring is superseded or lost a member.
  virtual bool RingLost() const = 0;
  virtual std::string LostReason() const = 0;
  // The ranks disagree on options (AgreedText): LostReason() names each differing key with
  // its values; the job ends with a UsageError (exit 1) on every rank.
  virtual bool Refused() const = 0;
  // Asks the source now (one round trip) whether the last returned ring has been superseded;
  // its notification may still be on its way.
  virtual bool RingSuperseded() = 0;
  // Runs once per lost ring on the source's own thread: cheap, never calls back into it.
  virtual void SetRingLostHook(std::function<void()> hook) = 0;
  // Records a durable checkpoint file (fenced by the last returned ring's generation).
  virtual void Record(const WrittenCheckpoint& written, const CheckpointFile& file) = 0;
  // Deletes all but the newest `keep` records up to epoch `newest` (the one just recorded),
  // and their files when they pass RemoveCheckpointFile's checks.
  virtual void Prune(int keep, std::int64_t newest) = 0;
  // The recorded checkpoint files to resume from, newest first: the newest record (or the
  // record of `resume_from` when >= 0) and every older one, each with the record's epoch and
  // checksum (verified before the file is read). Throws CheckpointError if none.
  virtual std::vector<CheckpointCandidate> ResumeCandidates(std::int64_t resume_from) = 0;
  // "; missing: rank 1 (host:port, pid P), ..." for members of `ring` that are gone; "" if
  // unknown. Used in the error of a ring that did not re-form.
  virtual std::string MissingMembers(const std::vector<Member>& ring) = 0;
  // The leader publishes the partition map (fenced by the last returned ring's generation):
  // whenever a new map takes effect, and its measured figures at most about once a second.
  virtual void PublishPartitions(const PartitionMap& map) = 0;
  // Training is done on this rank (every rank calls it, before the final barrier); the
  // leader's summary is the job's outcome. Must not throw: the model is already written.
  virtual void Finished(const RunSummary& summary, bool leader) {
    (void)summary;
    (void)leader;
  }
  // Where errors point (e.g. "zk:2181 /ringtrain/job").
  virtual std::string where() const = 0;
  // Leaves the job (idempotent).
  virtual void Leave() = 0;
};

// Makes the communicator of a ring (cli/: TCP, shared memory or MPI).
class TransportFactory {
 public:
  virtual ~TransportFactory() = default;
  // Connected and handshaken, within the options' timeout; TransportError otherwise.
  virtual std::unique_ptr<allreduce::Communicator> Connect(const Ring& ring) = 0;
  // Any thread: a Connect of generation <= `generation`, running or later, throws at once.
  virtual void AbortConnect(std::int64_t generation) = 0;
};

// Test and fault hooks (cli/: RINGTRAIN_FAULT; docs/checkpoints.md). All optional.
struct JobHooks {
  // After the checkpointer has taken the epoch (delays, kills, stops).
  std::function<void(const TrainState&, const EpochMetrics&)> after_epoch;
  // On the writer thread, once a checkpoint file is durable and before it is recorded.
  std::function<void(const WrittenCheckpoint&, const CheckpointFile&)> after_checkpoint_write;
  // True once the job is being stopped (a signal): an error then ends Run at once.
  std::function<bool()> stopping;
  // After each local gradient/Hessian computation, with its seconds (TrainHooks).
  std::function<void(double seconds, std::int64_t rows)> after_compute;
};

class Job {
 public:
  // Options must be finalized (FinalizeAndValidate) and outlive the Job.
  Job(const TrainOptions& options, JobHooks hooks);
  Job(const Job&) = delete;
  Job& operator=(const Job&) = delete;

  // Standalone: one process, no ring source. Returns when training is done and the last
  // checkpoints are written.
  void RunLocal();
  // Distributed: rings from `source`, communicators from `transports` (both outlive Run).
  // Returns after the final barrier and Leave; throws the error that ended the job.
  void Run(RingSource& source, TransportFactory& transports);
  // Any thread: break the collective or connect in progress (and any later connect).
  void Abort();

 private:
  void AbortGeneration(std::int64_t generation);

  const TrainOptions& options_;
  JobHooks hooks_;
  std::mutex mu_;  // guards the three below (Abort and the lost hook run on other threads)
  allreduce::Communicator* comm_ = nullptr;
  TransportFactory* transports_ = nullptr;
  std::int64_t generation_ = 0;
  bool aborted_ = false;  // Abort() was called: every later communicator starts aborted
};

}  // namespace ringtrain::train
