// train/trainer.h — the training loop: shard, agree the shape, optimise, evaluate, report.
//
// Train() is what every rank runs once it has a Communicator (SelfCommunicator standalone,
// a TCP or MPI ring otherwise). It reads shard `rank` of `world` of the training (and test)
// data, agrees the global feature count and class set by allreduce so every rank builds the
// same ModelSpec, then runs the optimizer epoch by epoch. After each epoch the train/test
// accuracy is computed from EvalSums summed across ranks; the leader (rank 0) prints one
// progress line and appends one JSON line to --metrics. Non-leader ranks are quiet. The
// leader writes --output (atomically) at the end. Every rank returns the same model bits.
//
// Resume hook (issue 5): TrainHooks::start restores model + optimizer state + epoch
// exactly; TrainHooks::after_epoch receives the same TrainState after each epoch (what a
// checkpoint file must hold). The sgd shuffle is a pure function of (seed, epoch, rank), so
// there is no further RNG state.
// Thread-safety: one call per rank thread; nothing global is touched except the log and
// OpenMP's per-thread thread count.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "allreduce/communicator.h"
#include "common/partition.h"
#include "models/dataset.h"
#include "models/linear_model.h"
#include "train/options.h"

namespace ringtrain::train {

struct RunInfo {
  std::string job = "local";
  std::int64_t generation = 0;
  int local_ranks = 1;  // ranks on this host, for the default thread count
  // A map this ring makes gets at least this generation (the ranks take the largest of
  // theirs): after an elastic re-formation, above every map a survivor moved to, so the
  // published generations only grow.
  std::int64_t partition_floor = 1;
};

struct EpochMetrics {
  std::int64_t epoch = 0;
  double objective = 0;
  double grad_norm = 0;       // NaN for sgd
  double train_accuracy = 0;  // NaN when not evaluated this epoch
  double test_accuracy = 0;   // NaN without --test-data or when not evaluated
  // Every metric of the task (models::TaskMetrics, plus auc and pr_auc for two classes) when
  // evaluated: JSON "train_<name>", "test_<name>" and "validation_<name>"; a regression line
  // carries no accuracy keys.
  std::vector<std::pair<std::string, double>> train_metrics, test_metrics, validation_metrics;
  // Classifiers, when evaluated: the confusion matrices (K x K, [true * K + predicted]), JSON
  // "train_confusion" / "test_confusion" / "validation_confusion" as arrays of rows.
  std::vector<double> train_confusion, test_confusion, validation_confusion;
  std::int64_t best_epoch = 0;  // --early-stop: the best epoch so far (0 = not tracked)
  bool regression = false;
  double samples_per_s = 0;  // rows processed (all ranks) per second of epoch time
  double allreduce_s = 0;    // seconds this epoch spent in collectives (this rank)
  double wall_s = 0;         // seconds since training started (after reading the data)
  double epoch_s = 0;
  std::int64_t passes = 0;            // passes over the data this epoch (sgd: 1; full batch:
                                      // gradients + Hessian-vector products + diagonals)
  std::int64_t hessian_products = 0;  // of which Hessian-vector products (tron's CG steps)
  double read_s = 0;                  // seconds reading + agreeing the data (same every epoch)
  std::int64_t generation = 0;
  int world_size = 1;
  bool converged = false;                 // the optimizer's stopping rule holds after this epoch
  std::string stop_reason;                // the run's last epoch: "converged" | "epoch_cap" |
                                          // "early_stop"; else ""
  std::string ToJson() const;             // one line, no newline; stop_reason only when set
  std::int64_t partition_generation = 0;  // the partition map the epoch ran with
  std::vector<double> rank_compute_s;     // every rank's compute seconds this epoch
  std::vector<double> rank_optimizer_s;   // every rank's optimizer seconds (DistributedObjective)
  std::vector<std::int64_t> rank_rows;    // every rank's rows this epoch
};

struct TrainState {
  models::LinearModel model;  // weights and model.epoch = epochs completed
  // Optimizer::SaveState() where the after_epoch hook asked for it (empty otherwise, and in
  // TrainResult: no copy of the optimizer's vectors is made when training ends).
  std::vector<double> optimizer_state;
  std::string options_hash;  // OptionsHash(options) of the run that saved it
  PartitionMap partitions;   // the map the next epochs run with (no parts: none)
};

struct TrainHooks {
  // Resume from here (same on every rank). Its partition map is read as is when it fits this
  // ring (same world size and data); otherwise the ranks start from an equal split.
  const TrainState* start = nullptr;
  std::function<void(const TrainState&, const EpochMetrics&)> after_epoch;
  // Whether after_epoch needs the optimizer state at this epoch (unset: always). When false,
  // after_epoch sees an empty optimizer_state: lbfgs's state is 2 x memory x dim doubles, and
  // building it every epoch cost about as much as a pass at 2^20 features (issue 11).
  std::function<bool(std::int64_t epoch)> needs_state;
  // Every rank, when a map takes effect and after each epoch (with the measured figures).
  std::function<void(const PartitionMap&)> on_partitions;
  // Every rank, once the ranks agreed a new balanced map and before this rank reads the rows
  // it gains (and before the leader publishes it): a fault hook.
  std::function<void(const PartitionMap& next)> before_move;
  // After each local gradient/Hessian computation, with its seconds and rows (a test hook:
  // time spent in it counts as compute). Per call, never per row.
  std::function<void(double seconds, std::int64_t rows)> after_compute;
};

struct TrainResult {
  TrainState state;
  std::vector<EpochMetrics> history;
  bool converged = false;
  std::string stop_reason;        // "converged" | "epoch_cap" | "early_stop" ("" when no epoch ran)
  std::int64_t best_epoch = 0;    // --early-stop: the epoch whose model state.model holds
  double read_s = 0;              // reading + agreeing the data
  double train_s = 0;             // the epochs
  double peak_rss_bytes = 0;      // this process's peak resident set when training ended
  double memory_bound_bytes = 0;  // its bound (trainer.cc; logged as "memory: ...")
  std::int64_t global_rows = 0;
};

// The agreed data of one rank: its train (and test) shard with classes assigned, and the
// model shape every rank shares.
struct ShardedData {
  models::Dataset train;
  models::Dataset test;
  bool has_test = false;
  models::Dataset validation;  // --validation-data, sharded like the test data
  bool has_validation = false;
  models::ModelSpec spec;
  std::int64_t global_rows = 0;
  std::int64_t max_local_rows = 0;
  std::vector<std::int64_t> rows_per_rank;
  double read_s = 0;  // seconds LoadShardedData took on this rank
  // The process's peak RSS before reading (code, libraries, ZooKeeper and transport
  // buffers): the constant the memory bound of the run header adds to the data's share.
  double baseline_rss_bytes = 0;
  PartitionMap map;  // the training shards of every rank (train/partitions.h)
};

// Reads this rank's shards and agrees the shape (allreduce). Options must be finalized.
// `start`: a recorded map, read as is when it fits (same world and data); otherwise an
// equal split of generation start->generation + 1 (1 without a start). `floor`: the map's
// generation is at least the largest floor of the ranks (RunInfo::partition_floor; a
// recorded map below it is read as is under that new generation).
ShardedData LoadShardedData(const TrainOptions& options, allreduce::Communicator& comm,
                            const PartitionMap* start = nullptr, std::int64_t ring_generation = 0,
                            std::int64_t epoch = 0, std::int64_t floor = 1);

// Trains on loaded data. Options must be finalized (FinalizeAndValidate).
TrainResult TrainOnData(const TrainOptions& options, ShardedData& data,
                        allreduce::Communicator& comm, const RunInfo& info,
                        const TrainHooks& hooks = {});

// LoadShardedData + TrainOnData + (leader) SaveModel to options.output.
TrainResult Train(const TrainOptions& options, allreduce::Communicator& comm, const RunInfo& info,
                  const TrainHooks& hooks = {});

// Drops features >= n (CSR) or narrows dense rows: test data wider than the model is
// evaluated like liblinear does, ignoring unknown features. Widens when narrower.
void FitFeatures(models::Dataset& data, std::int64_t n);

}  // namespace ringtrain::train
