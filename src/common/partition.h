// common/partition.h — the partition map: which rows of the training data each rank holds.
//
// A PartitionMap is plain data, like Ring: train/ computes it (an equal split when a ring
// forms, then rows in proportion to the measured speeds when the leader balances the load),
// rendezvous/ stores it in the znode /<root>/<job>/partitions and `status` shows it, and the
// checkpoint file records it so a resume is exact. Format: docs/rendezvous.md.
//
// Parts are in rank order and tile the data: part r holds the global rows
// [first_row, first_row + rows) and the source range [begin, end) in the source's unit
// (bytes of a text file, rows of an IDX file); part 0 starts at row 0 and position 0, each
// part starts where the previous ends, and the last ends at total_rows and source_size. So
// every row belongs to exactly one rank. A map read from ZooKeeper or a file is untrusted:
// PartitionMapFromJson checks every field and the tiling.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ringtrain {

struct Part {
  std::int64_t begin = 0;  // source range, in PartitionMap::unit
  std::int64_t end = 0;
  std::int64_t first_row = 0;  // global index of the part's first row
  std::int64_t rows = 0;
  std::int64_t nonzeros = 0;  // stored feature values (CSR entries, or rows x columns dense)
  // Measured on the map's previous epochs (0 until measured): compute seconds per epoch (the
  // gradient and Hessian work, not the allreduce) and rows per second of compute.
  double compute_s = 0;
  double rows_per_s = 0;
  bool operator==(const Part&) const = default;
};

struct PartitionMap {
  std::int64_t generation = 0;       // partition generation: 1 for the first map of a job
  std::int64_t ring_generation = 0;  // the ring it was made for (its world size = parts)
  std::int64_t epoch = 0;            // epochs completed when it took effect
  std::string source;                // the training data file
  std::string unit = "bytes";        // "bytes" (LIBSVM, CSV) or "rows" (IDX)
  std::int64_t source_size = 0;      // bytes or rows of the source
  std::int64_t total_rows = 0;
  std::string reason;       // "equal split", "balance: ...", "resume"
  std::vector<Part> parts;  // by rank
  bool operator==(const PartitionMap&) const = default;
};

// One line of JSON (the znode payload and the checkpoint's copy).
std::string ToJson(const PartitionMap& map);
// Parses and validates (every field typed and in range, parts tile the data); a bad map
// throws RendezvousError naming `where` and the first fault.
PartitionMap PartitionMapFromJson(const std::string& text, const std::string& where);
// The tiling and range rules alone; "" when the map is valid, else the first fault.
std::string PartitionMapFault(const PartitionMap& map);

// Rows per rank in proportion to `speeds` (rows per second), summing exactly to `total`:
// the largest-remainder rounding of total * s_r / sum(s), ties to the lower rank. A speed
// that is not finite and positive counts as the mean of the others (all bad: equal split).
// More ranks than rows is fine (some get 0).
// With `fixed_s` (one per rank: seconds a rank spends whatever its rows, e.g. the optimizer's
// own work, which a slower rank does more slowly), the rows that make every rank's time
// rows_r / s_r + fixed_r equal, T = (total + sum s_r fixed_r) / sum s_r; a rank whose fixed
// seconds alone exceed T gets no rows (and T is solved again without it). A fixed time that
// is not finite and non-negative counts as 0; all zeros is the proportional split above.
std::vector<std::int64_t> ProportionalRows(std::int64_t total, std::span<const double> speeds,
                                           std::span<const double> fixed_s = {});

}  // namespace ringtrain
