// Load balancing (train/partitions.h) with 3 ranks as threads over real loopback TCP: one
// rank is made slower by a per-row cost in the after_compute hook (a deterministic "slow
// host"); the ranks move to a balanced map within 3 epochs, every map tiles the data, the
// objective trajectory stays within 1e-9 relative of an unbalanced run (lbfgs, tron), and
// sgd is reproducible for the same sequence of maps (a resume from a checkpoint state holding
// the balanced map ends with the same bits); a resume reads the recorded map in the same
// world (under a higher generation when the ring's floor is above it) and an equal split in
// another.
#include <gtest/gtest.h>

#include <chrono>
#include <cmath>
#include <mutex>
#include <thread>

#include "common/partition.h"
#include "train/heart_reference.h"
#include "train/partitions.h"
#include "train/ring_threads.h"
#include "train/trainer.h"

namespace ringtrain::train {
namespace {

struct Outcome {
  std::vector<EpochMetrics> history;         // rank 0's
  std::vector<PartitionMap> maps;            // rank 0's maps, in order of taking effect
  std::vector<std::vector<double>> weights;  // every rank's final weights
  std::vector<TrainState> states;            // rank 0's state after each epoch
};

// Rank r spends cost_us[r] microseconds per row of every computation.
Outcome TrainWithCosts(const TrainOptions& o, std::vector<int> cost_us,
                       const TrainState* start = nullptr, RunInfo info = {}) {
  const int world = static_cast<int>(cost_us.size());
  Outcome run;
  run.weights.resize(static_cast<std::size_t>(world));
  std::mutex mu;
  testing::RunRanks(world, [&](allreduce::Communicator& comm) {
    const int rank = comm.rank();
    TrainHooks hooks;
    hooks.start = start;
    hooks.after_compute = [us = cost_us[static_cast<std::size_t>(rank)]](double,
                                                                         std::int64_t rows) {
      std::this_thread::sleep_for(std::chrono::microseconds(us * rows));
    };
    std::int64_t last_generation = -1;
    if (rank == 0) {
      hooks.on_partitions = [&](const PartitionMap& m) {
        if (m.generation == last_generation) return;
        last_generation = m.generation;
        std::lock_guard<std::mutex> lock(mu);
        run.maps.push_back(m);
      };
      hooks.after_epoch = [&](const TrainState& s, const EpochMetrics&) {
        std::lock_guard<std::mutex> lock(mu);
        run.states.push_back(s);
      };
    }
    TrainResult r = Train(o, comm, info, hooks);
    std::lock_guard<std::mutex> lock(mu);
    run.weights[static_cast<std::size_t>(rank)] = r.state.model.weights;
    if (rank == 0) run.history = r.history;
  });
  return run;
}

void ExpectEveryRowOnce(const std::vector<PartitionMap>& maps) {
  for (const auto& m : maps) {
    EXPECT_EQ(PartitionMapFault(m), "") << ToJson(m);
    EXPECT_EQ(m.total_rows, 270);
  }
}

class Balance : public ::testing::TestWithParam<const char*> {};

TEST_P(Balance, SlowRankGetsFewerRowsAndTheObjectiveIsUnchanged) {
  TrainOptions o = testing::HeartOptions("logistic", GetParam(), 8);
  o.tol = 1e-12;  // run all 8 epochs
  TrainOptions off = o;
  off.balance = "off";
  // Rank 2 at half speed: 200 vs 400 us per row, 90 rows each => 18 vs 36 ms per pass.
  const std::vector<int> costs = {200, 200, 400};
  const Outcome balanced = TrainWithCosts(o, costs);
  const Outcome plain = TrainWithCosts(off, costs);

  ExpectEveryRowOnce(balanced.maps);
  ASSERT_GE(balanced.maps.size(), 2u) << "no balanced map was made";
  const PartitionMap& first = balanced.maps[0];
  const PartitionMap& moved = balanced.maps[1];
  EXPECT_EQ(first.reason, "equal split");
  EXPECT_LE(moved.epoch, 3) << "balanced only after epoch " << moved.epoch;
  EXPECT_EQ(moved.generation, first.generation + 1);
  // Speeds 1 : 1 : 0.5 of 270 rows: 108, 108, 54 (measured speeds, so within a few rows).
  EXPECT_LT(moved.parts[2].rows, 70);
  EXPECT_GT(moved.parts[0].rows, 95);
  EXPECT_GT(moved.parts[1].rows, 95);
  ASSERT_EQ(plain.maps.size(), 1u) << "--balance off moved rows";

  ASSERT_EQ(balanced.history.size(), plain.history.size());
  for (std::size_t e = 0; e < plain.history.size(); ++e)
    EXPECT_NEAR(balanced.history[e].objective, plain.history[e].objective,
                1e-9 * std::fabs(plain.history[e].objective))
        << "epoch " << e + 1;
  for (const auto& w : balanced.weights) EXPECT_EQ(w, balanced.weights[0]) << "ranks disagree";
}

INSTANTIATE_TEST_SUITE_P(FullBatch, Balance, ::testing::Values("lbfgs", "tron"));

TEST(BalanceSgd, ResumeWithTheRecordedMapIsBitExact) {
  TrainOptions o = testing::HeartOptions("logistic", "sgd", 6);
  o.batch_size = 8;
  const std::vector<int> costs = {300, 300, 600};  // 12 batches of 8 rows: 29 vs 58 ms per epoch
  const Outcome whole = TrainWithCosts(o, costs);
  ExpectEveryRowOnce(whole.maps);
  ASSERT_GE(whole.maps.size(), 2u) << "sgd did not balance";
  // Resume from the state after the epoch of the LAST map change (it holds that map; a loaded
  // host may have moved rows more than once), with equal costs and no balancing: the recorded
  // map is read as is and `whole` moved no rows after it, so the rest is the same bits.
  const std::int64_t at = whole.maps.back().epoch;
  const TrainState& state = whole.states[static_cast<std::size_t>(at - 1)];
  ASSERT_EQ(state.partitions.generation, whole.maps.back().generation);
  TrainOptions later = o;
  later.balance = "off";
  const Outcome resumed = TrainWithCosts(later, {0, 0, 0}, &state);
  ASSERT_FALSE(resumed.history.empty());
  EXPECT_EQ(resumed.history.front().epoch, at + 1);
  EXPECT_EQ(resumed.weights[0], whole.weights[0]) << "resume after balancing is not exact";
}

// The decision alone: a consistently slow rank moves the ranks after two uneven epochs, at
// the speeds of both; a move that continues the last one (the same rank still too slow) waits
// as long, one that reverses it (the slowest rank gained rows at the last move) doubles the
// wait, and even epochs halve it again; noise that makes a different rank the slowest each
// epoch never moves them.
TEST(Balancer, MovesForASlowRankNotForNoise) {
  std::vector<std::int64_t> rows = {100, 100, 100};
  const std::vector<double> none = {0, 0, 0};
  Balancer slow(0.1);
  // One epoch at these speeds (rows per second); after a move the ranks hold its rows.
  const auto epoch = [&](std::vector<double> speed) {
    std::vector<double> compute(3);
    for (std::size_t r = 0; r < 3; ++r) compute[r] = static_cast<double>(rows[r]) / speed[r];
    const bool move = slow.Observe(compute, none, rows);
    if (move) rows = slow.rows();
    return move;
  };
  EXPECT_FALSE(epoch({1000, 1000, 500}));
  ASSERT_TRUE(epoch({1000, 1000, 500}));
  EXPECT_NEAR(slow.rows_per_s()[2], 500.0, 1e-9);
  EXPECT_NEAR(slow.rows_per_s()[0], 1000.0, 1e-9);
  EXPECT_EQ(rows, (std::vector<std::int64_t>{120, 120, 60}));
  // Rank 2 slows further: the same rank is slowest, the move continues the last: 2 epochs.
  EXPECT_FALSE(epoch({1000, 1000, 250}));
  ASSERT_TRUE(epoch({1000, 1000, 250}));
  EXPECT_EQ(rows, (std::vector<std::int64_t>{133, 133, 34}));  // 133.3 each, rounded
  // Rank 2 recovers: rank 0, which gained rows, is the slowest: a reversal, after 2 epochs,
  // and the next reversal waits 4.
  EXPECT_FALSE(epoch({1000, 1000, 1000}));
  ASSERT_TRUE(epoch({1000, 1000, 1000}));
  EXPECT_EQ(rows, (std::vector<std::int64_t>{100, 100, 100}));
  // Rank 0 (it lost rows) slows: not a reversal, 4 epochs (the wait stays).
  for (int e = 0; e < 3; ++e) EXPECT_FALSE(epoch({500, 1000, 1000})) << e;
  ASSERT_TRUE(epoch({500, 1000, 1000}));
  EXPECT_EQ(rows, (std::vector<std::int64_t>{60, 120, 120}));
  // Rank 0 recovers and rank 1 (it gained rows) slows: a reversal after 4; then 8.
  for (int e = 0; e < 3; ++e) EXPECT_FALSE(epoch({1000, 500, 1000})) << e;
  ASSERT_TRUE(epoch({1000, 500, 1000}));
  for (int e = 0; e < 7; ++e) EXPECT_FALSE(epoch({1000, 1000, 1000})) << e;
  // kBalanceEvenEpochs even epochs halve the run needed (8 -> 4).
  for (int e = 0; e < kBalanceEvenEpochs; ++e)
    EXPECT_FALSE(slow.Observe(std::vector<double>{0.10, 0.10, 0.10}, none, rows));
  for (int e = 0; e < 3; ++e) EXPECT_FALSE(epoch({1000, 1000, 500})) << e;
  EXPECT_TRUE(epoch({1000, 1000, 500}));

  const std::vector<std::int64_t> equal = {100, 100, 100};
  Balancer noise(0.1);
  for (int e = 0; e < 30; ++e) {
    std::vector<double> s = {0.10, 0.10, 0.10};
    s[static_cast<std::size_t>(e % 3)] = 0.13;  // 30 % slower, a different rank each epoch
    EXPECT_FALSE(noise.Observe(s, none, equal)) << "epoch " << e;
  }
  // Below the threshold, or below kBalanceMinSeconds: even.
  Balancer even(0.1);
  for (int e = 0; e < 5; ++e) {
    EXPECT_FALSE(even.Observe(std::vector<double>{0.100, 0.105, 0.109}, none, equal));
    EXPECT_FALSE(even.Observe(std::vector<double>{0.001, 0.001, 0.009}, none, equal));
  }
}

// The optimizer's own seconds count: a rank whose optimizer work is slower is the slowest
// even when its compute is not, and the rows it is given leave room for that work.
TEST(Balancer, CountsTheOptimizerSeconds) {
  const std::vector<std::int64_t> rows = {100, 100};
  Balancer b(0.1);
  const std::vector<double> compute = {0.10, 0.10}, optimizer = {0.01, 0.05};
  EXPECT_FALSE(b.Observe(compute, optimizer, rows));
  ASSERT_TRUE(b.Observe(compute, optimizer, rows));
  // 1000 rows/s each; times rows / 1000 + (0.01, 0.05) equal at 120 and 80 rows.
  EXPECT_EQ(b.rows(), (std::vector<std::int64_t>{120, 80}));
  EXPECT_NEAR(b.optimizer_s()[1], 0.05, 1e-12);
  // Without the optimizer seconds the same compute is even.
  Balancer plain(0.1);
  for (int e = 0; e < 4; ++e) EXPECT_FALSE(plain.Observe(compute, std::vector<double>{0, 0}, rows));
}

TEST(BalanceResume, RecordedMapInTheSameWorldEqualSplitOtherwise) {
  TrainOptions o = testing::HeartOptions("logistic", "lbfgs", 4);
  o.tol = 1e-12;
  const Outcome whole = TrainWithCosts(o, {200, 200, 400});
  ASSERT_GE(whole.maps.size(), 2u) << "did not balance";
  const TrainState& state = whole.states[static_cast<std::size_t>(whole.maps[1].epoch - 1)];
  const PartitionMap& recorded = state.partitions;
  ASSERT_EQ(recorded.generation, whole.maps[1].generation);
  ASSERT_NE(recorded.parts[0].rows, recorded.parts[2].rows);
  TrainOptions later = o;
  later.balance = "off";
  later.epochs = state.model.epoch + 1;

  const Outcome same = TrainWithCosts(later, {0, 0, 0}, &state);
  ASSERT_EQ(same.maps.size(), 1u);
  EXPECT_EQ(same.maps[0].generation, recorded.generation);
  for (std::size_t r = 0; r < 3; ++r) {
    EXPECT_EQ(same.maps[0].parts[r].rows, recorded.parts[r].rows) << "rank " << r;
    EXPECT_EQ(same.maps[0].parts[r].begin, recorded.parts[r].begin) << "rank " << r;
  }

  // After an elastic loss the ring's floor is above every map a survivor moved to: the same
  // rows under a new generation.
  RunInfo info;
  info.partition_floor = recorded.generation + 3;
  const Outcome floored = TrainWithCosts(later, {0, 0, 0}, &state, info);
  ASSERT_EQ(floored.maps.size(), 1u);
  EXPECT_EQ(floored.maps[0].generation, recorded.generation + 3);
  EXPECT_EQ(floored.maps[0].parts[2].rows, recorded.parts[2].rows);

  const Outcome two = TrainWithCosts(later, {0, 0}, &state);
  ASSERT_EQ(two.maps.size(), 1u);
  EXPECT_EQ(two.maps[0].reason, "equal split");
  EXPECT_EQ(two.maps[0].generation, recorded.generation + 1);
  ASSERT_EQ(two.maps[0].parts.size(), 2u);
  EXPECT_EQ(two.maps[0].parts[0].rows + two.maps[0].parts[1].rows, 270);
  EXPECT_GT(two.maps[0].parts[0].rows, 100);  // byte halves: near 135 each
  EXPECT_GT(two.maps[0].parts[1].rows, 100);
  ExpectEveryRowOnce({recorded, same.maps[0], floored.maps[0], two.maps[0]});
}

}  // namespace
}  // namespace ringtrain::train

namespace ringtrain::train {
namespace {

// A regression model's gained rows are read as targets (not classes): heart_scale's labels as
// SVR targets, rank 2 at half speed; rows move and the objective follows the unbalanced run.
TEST(BalanceRegression, RowsMovedToARegressionModelKeepTheirTargets) {
  TrainOptions o = testing::HeartOptions("logistic", "tron", 8);
  o.model = "svr";
  o.loss = "squared_epsilon_insensitive";
  o.tol = 1e-12;
  FinalizeAndValidate(o);
  TrainOptions off = o;
  off.balance = "off";
  const std::vector<int> costs = {200, 200, 400};
  const Outcome balanced = TrainWithCosts(o, costs);
  const Outcome plain = TrainWithCosts(off, costs);
  ExpectEveryRowOnce(balanced.maps);
  ASSERT_GE(balanced.maps.size(), 2u) << "no balanced map was made";
  ASSERT_EQ(balanced.history.size(), plain.history.size());
  for (std::size_t e = 0; e < plain.history.size(); ++e)
    EXPECT_NEAR(balanced.history[e].objective, plain.history[e].objective,
                1e-9 * std::fabs(plain.history[e].objective))
        << "epoch " << e + 1;
}

}  // namespace
}  // namespace ringtrain::train
