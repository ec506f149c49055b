// Partition maps (common/partition.h): every row exactly once for any speeds, and a map read
// from ZooKeeper or a checkpoint is refused unless every field is valid and the parts tile
// the data.
#include "common/partition.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <numeric>
#include <random>

#include "common/error.h"

namespace ringtrain {
namespace {

// Builds the map ProportionalRows gives (unit rows: a row range is its source range).
PartitionMap RowMap(std::int64_t total, const std::vector<double>& speeds) {
  PartitionMap m;
  m.generation = 1;
  m.source = "data.idx";
  m.unit = "rows";
  m.total_rows = total;
  m.source_size = total;
  std::int64_t at = 0;
  for (std::int64_t n : ProportionalRows(total, speeds)) {
    Part p;
    p.first_row = p.begin = at;
    p.rows = n;
    p.end = at + n;
    at += n;
    m.parts.push_back(p);
  }
  return m;
}

// One share per rank, none negative, summing to the total: every row exactly once.
::testing::AssertionResult EveryRowOnce(const std::vector<std::int64_t>& rows, std::size_t world,
                                        std::int64_t total) {
  if (rows.size() != world)
    return ::testing::AssertionFailure() << rows.size() << " shares for " << world << " ranks";
  std::int64_t sum = 0;
  for (auto n : rows) {
    if (n < 0) return ::testing::AssertionFailure() << "a negative share " << n;
    sum += n;
  }
  if (sum != total) return ::testing::AssertionFailure() << sum << " rows of " << total;
  return ::testing::AssertionSuccess();
}

TEST(ProportionalRows, EveryRowExactlyOnceForRandomSpeedsAndCounts) {
  std::mt19937_64 rng(14);
  std::uniform_int_distribution<int> world_dist(1, 40);
  std::uniform_int_distribution<std::int64_t> rows_dist(0, 100000);
  std::uniform_real_distribution<double> speed_dist(0.01, 100.0);
  for (int trial = 0; trial < 2000; ++trial) {
    const int world = world_dist(rng);
    // A third of the trials have more ranks than rows.
    const std::int64_t total = trial % 3 == 0 ? rows_dist(rng) % (world + 1) : rows_dist(rng);
    std::vector<double> speeds(static_cast<std::size_t>(world));
    for (double& s : speeds) s = speed_dist(rng);
    if (trial % 7 == 0) speeds[0] = std::numeric_limits<double>::quiet_NaN();
    if (trial % 11 == 0) speeds.back() = 0;
    const auto rows = ProportionalRows(total, speeds);
    ASSERT_TRUE(EveryRowOnce(rows, speeds.size(), total)) << "trial " << trial;
    // Rows follow speed: within one row of the exact quota (bad speeds count as the mean).
    double good = 0, count = 0;
    for (double s : speeds)
      if (std::isfinite(s) && s > 0) good += s, ++count;
    std::vector<double> filled = speeds;
    for (double& s : filled)
      if (!(std::isfinite(s) && s > 0)) s = count > 0 ? good / count : 1.0;
    const double all = std::accumulate(filled.begin(), filled.end(), 0.0);
    for (std::size_t r = 0; r < rows.size(); ++r)
      EXPECT_LE(
          std::abs(static_cast<double>(rows[r]) - static_cast<double>(total) * filled[r] / all),
          1.0 + 1e-9)
          << "trial " << trial << " rank " << r;
    EXPECT_EQ(PartitionMapFault(RowMap(total, speeds)), "") << "trial " << trial;
  }
}

// With fixed seconds per rank (the optimizer's own work): every row exactly once, and every
// rank given rows finishes within a row's time of the others (rows_r / s_r + fixed_r).
TEST(ProportionalRows, FixedSecondsEqualiseThePredictedTimes) {
  std::mt19937_64 rng(15);
  std::uniform_int_distribution<int> world_dist(1, 40);
  std::uniform_int_distribution<std::int64_t> rows_dist(0, 100000);
  std::uniform_real_distribution<double> speed_dist(0.01, 100.0), unit(0.0, 1.0);
  for (int trial = 0; trial < 2000; ++trial) {
    const int world = world_dist(rng);
    const std::int64_t total = trial % 3 == 0 ? rows_dist(rng) % (world + 1) : rows_dist(rng);
    std::vector<double> speeds(static_cast<std::size_t>(world)), fixed(speeds.size());
    for (double& s : speeds) s = speed_dist(rng);
    // Fixed times up to twice the time of an equal share on the mean speed: some ranks drop out.
    const double share = static_cast<double>(total) / static_cast<double>(world) / 50.0;
    for (double& f : fixed) f = 2.0 * share * unit(rng);
    if (trial % 13 == 0) fixed[0] = std::numeric_limits<double>::quiet_NaN();
    const auto rows = ProportionalRows(total, speeds, fixed);
    ASSERT_TRUE(EveryRowOnce(rows, speeds.size(), total)) << "trial " << trial;
    double lo = std::numeric_limits<double>::infinity(), hi = 0, row_s = 0;
    for (std::size_t r = 0; r < rows.size(); ++r) {
      const double f = std::isfinite(fixed[r]) ? fixed[r] : 0.0;
      row_s = std::max(row_s, 1.0 / speeds[r]);
      if (rows[r] == 0) continue;
      const double t = static_cast<double>(rows[r]) / speeds[r] + f;
      lo = std::min(lo, t), hi = std::max(hi, t);
    }
    if (total > 0) {
      EXPECT_LE(hi - lo, 2 * row_s * (1 + 1e-9) + 1e-9 * hi) << "trial " << trial;
    }
    // A rank left without rows would take longer on its fixed time alone than the others
    // (less one row's rounding).
    for (std::size_t r = 0; r < rows.size(); ++r) {
      if (rows[r] == 0 && total > 0 && std::isfinite(fixed[r])) {
        EXPECT_GE(fixed[r] + 1.0 / speeds[r], lo - row_s) << "trial " << trial << " rank " << r;
      }
    }
  }
  EXPECT_EQ(ProportionalRows(300, std::vector<double>{200, 100}, std::vector<double>{0.1, 0.2}),
            (std::vector<std::int64_t>{207, 93}));
  // Rank 1's fixed time (5 s) exceeds what all rows take on rank 0 alone (1 s).
  EXPECT_EQ(ProportionalRows(100, std::vector<double>{100, 100}, std::vector<double>{0, 5}),
            (std::vector<std::int64_t>{100, 0}));
  // All zeros: the proportional split.
  EXPECT_EQ(ProportionalRows(300, std::vector<double>{2, 1}, std::vector<double>{0, 0}),
            (std::vector<std::int64_t>{200, 100}));
}

TEST(ProportionalRows, EqualSpeedsSplitEvenlyAndHalfSpeedGetsAThird) {
  EXPECT_EQ(ProportionalRows(9, std::vector<double>{1, 1, 1}),
            (std::vector<std::int64_t>{3, 3, 3}));
  EXPECT_EQ(ProportionalRows(300, std::vector<double>{2, 1}),
            (std::vector<std::int64_t>{200, 100}));
  EXPECT_EQ(ProportionalRows(2, std::vector<double>{1, 1, 1, 1}),
            (std::vector<std::int64_t>{1, 1, 0, 0}));
  EXPECT_EQ(ProportionalRows(5, std::vector<double>{0, -1}), (std::vector<std::int64_t>{3, 2}));
}

PartitionMap ByteMap() {
  PartitionMap m;
  m.generation = 3;
  m.ring_generation = 2;
  m.epoch = 7;
  m.source = "/data/train.libsvm";
  m.unit = "bytes";
  m.source_size = 1000;
  m.total_rows = 30;
  m.reason = "balance: compute 0.1-0.2 s per epoch";
  m.parts = {{0, 400, 0, 12, 120, 0.25, 48.0}, {400, 1000, 12, 18, 180, 0.125, 144.0}};
  return m;
}

TEST(PartitionMapJson, RoundTripsExactly) {
  const PartitionMap m = ByteMap();
  EXPECT_EQ(PartitionMapFromJson(ToJson(m), "test"), m);
}

TEST(PartitionMapJson, RefusesMapsThatDoNotTileTheData) {
  auto refused = [](PartitionMap m) {
    try {
      PartitionMapFromJson(ToJson(m), "zk /ringtrain/j/partitions");
    } catch (const RendezvousError& e) {
      EXPECT_EQ(e.where(), "zk /ringtrain/j/partitions");
      return true;
    }
    return false;
  };
  EXPECT_FALSE(refused(ByteMap()));
  PartitionMap gap = ByteMap();
  gap.parts[1].first_row = 13;  // row 12 belongs to no rank
  EXPECT_TRUE(refused(gap));
  PartitionMap overlap = ByteMap();
  overlap.parts[1].begin = 300;  // bytes 300-400 read twice
  EXPECT_TRUE(refused(overlap));
  PartitionMap short_rows = ByteMap();
  short_rows.total_rows = 31;
  EXPECT_TRUE(refused(short_rows));
  PartitionMap short_source = ByteMap();
  short_source.source_size = 1001;
  EXPECT_TRUE(refused(short_source));
  PartitionMap negative = ByteMap();
  negative.parts[0].rows = -1;
  negative.parts[1].first_row = -1;
  EXPECT_TRUE(refused(negative));
  PartitionMap zero_gen = ByteMap();
  zero_gen.generation = 0;
  EXPECT_TRUE(refused(zero_gen));
  PartitionMap unit = ByteMap();
  unit.unit = "pages";
  EXPECT_TRUE(refused(unit));
  PartitionMap none = ByteMap();
  none.parts.clear();
  EXPECT_TRUE(refused(none));
  PartitionMap rows = ByteMap();  // a row range that does not hold its rows
  rows.unit = "rows";
  EXPECT_TRUE(refused(rows));
}

TEST(PartitionMapJson, RefusesMalformedFields) {
  const std::string good = ToJson(ByteMap());
  auto with = [&](const std::string& from, const std::string& to) {
    std::string s = good;
    const auto at = s.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    s.replace(at, from.size(), to);
    return s;
  };
  const std::vector<std::string> bad = {
      "",
      "[]",
      "{\"generation\": 1}",
      with("\"generation\":3", "\"generation\":3.5"),
      with("\"generation\":3", "\"generation\":\"3\""),
      with("\"generation\":3", "\"generation\":1e300"),
      with("\"compute_s\":0.25", "\"compute_s\":-1"),
      with("\"compute_s\":0.25", "\"compute_s\":\"fast\""),
      with("\"rank\":1", "\"rank\":0"),
      with("\"source\":\"/data/train.libsvm\"", "\"source\":7"),
      with("\"parts\":[", "\"parts\":{\"x\":["),
  };
  for (const auto& text : bad)
    EXPECT_THROW(PartitionMapFromJson(text, "test"), RendezvousError) << text;
}

}  // namespace
}  // namespace ringtrain
