// models/dataset.h — one rank's shard of a dataset, and the readers that produce it.
//
// What this box does: reads data (LIBSVM text, IDX/MNIST, CSV) into a shard held as CSR
// sparse rows, or as dense rows (the fast path for IDX and dense CSV). What it must not
// know: processes, sockets, ZooKeeper. Sharding is by (shard, num_shards) given by the
// caller; a reader reads only its shard (byte ranges aligned to line starts for text, row
// ranges for IDX), so memory per rank is about its shard.
// Ownership: a Dataset owns its arrays; it is immutable after AssignClasses.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace ringtrain::models {

enum class Format { kLibsvm, kIdx, kCsv };

// "libsvm" | "idx" | "csv"; throws UsageError otherwise.
Format ParseFormat(const std::string& text);
// From the file name: *.idx*-ubyte[.gz] or *-ubyte[.gz] -> idx, *.csv -> csv, else libsvm.
Format GuessFormat(const std::string& path);

struct ReadOptions {
  std::string path;         // data file (IDX: the images file)
  std::string labels_path;  // IDX: the labels file (required); otherwise unused
  Format format = Format::kLibsvm;
  int shard = 0;  // this rank's shard index, 0 <= shard < num_shards
  int num_shards = 1;
  int label_column = 0;  // CSV: 0-based label column; -1 = last column
  // CSV: 0-based column of instance weights (C_i = C * weight), or kNoColumn. The column is
  // neither a feature nor the label; each value must be a finite number >= 0 (Dataset::
  // row_weight). Other formats refuse it.
  static constexpr int kNoColumn = -1000000;
  int weight_column = kNoColumn;
  // The labels are classes (the data of a classifier): a label that is not an integer means
  // the targets are real values, and is a DataError naming file:line ("the labels look
  // continuous"). IDX labels are bytes, always integers.
  bool class_labels = false;
  // An explicit source range instead of (shard, num_shards), from a partition map: text
  // formats: bytes [range_begin, range_end), both line starts (or the file size); IDX: rows.
  // Unused while range_begin < 0.
  std::int64_t range_begin = -1;
  std::int64_t range_end = -1;
  // CSV: a header line is detected automatically (first line not numeric) unless forced.
};

struct Dataset {
  // Global position of this shard's first row; rows of shard s precede those of s+1.
  std::int64_t first_row = 0;
  // Text formats: the 1-based line of this shard's first row in the file (0: no row, or IDX),
  // so checks made after reading can still name file:line.
  std::int64_t first_line = 0;
  // Feature count: max feature index seen in this shard + 1 until the trainer agrees the
  // global count across ranks and sets it (SetNumFeatures).
  std::int64_t num_features = 0;
  // Line (1-based) of the largest feature index read (LIBSVM); 0 when not known.
  std::int64_t widest_line = 0;
  std::vector<double> labels;  // raw labels as read, one per row

  // Exactly one of the two storages is used.
  // CSR: row r's entries are [row_ptr[r], row_ptr[r+1]) of col/val; col is 0-based and
  // strictly ascending within a row.
  std::vector<std::int64_t> row_ptr;  // rows + 1 entries (just {0} when empty)
  std::vector<std::int32_t> col;
  std::vector<float> val;
  // Dense: rows x dense_cols row-major, dense_cols == num_features at read time.
  std::vector<float> dense;
  std::int64_t dense_cols = 0;

  // Filled by AssignClasses: index into the agreed, sorted class list, one per row;
  // kUnseenClass for a label that is not one of the classes (evaluation data only).
  std::vector<std::int32_t> class_index;
  // Per-row weight of the data term (C_i = C * weight: instance weight times class weight),
  // one per row, >= 0; empty = every row weighs 1. Set by the trainer (train/weights.h).
  std::vector<double> row_weight;
  // One-vs-rest with more than two classes: class c's weight scales only output c of the rows
  // of class c (liblinear's -wi: the positives of subproblem c), per class; empty = none (then
  // class weights are folded into row_weight). Set by the trainer (train/weights.h).
  std::vector<double> own_class_weight;

  // Where the rows came from, to cut a partition at any row (common/partition.h): the source
  // range read ([source_begin, source_end) of source_size; bytes of a text file, rows of an
  // IDX file) and, for text files, the byte offset of each row's line (empty for IDX: row i
  // is at source_begin + i).
  std::int64_t source_begin = 0;
  std::int64_t source_end = 0;
  std::int64_t source_size = 0;
  std::vector<std::int64_t> row_offset;

  std::int64_t rows() const { return static_cast<std::int64_t>(labels.size()); }
  // Stored feature values: CSR entries, or rows x columns when dense.
  std::int64_t nonzeros() const;
  // The source position of local row i (0 <= i <= rows(); rows() gives source_end).
  std::int64_t SourcePosition(std::int64_t i) const;
  bool is_dense() const { return dense_cols > 0 || (!dense.empty()); }
  // Bytes held by the feature storage (for memory reports).
  std::size_t StorageBytes() const;
};

// Reads this rank's shard. Bad input throws DataError naming file:line (or byte offset)
// and the offending text.
Dataset ReadShard(const ReadOptions& options);

// Local rows [from, to) of `data` as a dataset of their own (features, classes and source
// positions kept; first_row and source range adjusted).
Dataset SliceRows(const Dataset& data, std::int64_t from, std::int64_t to);
// Appends `tail`'s rows after `head`'s: same storage kind and feature count, tail's rows
// follow head's in the source (the caller keeps first_row and the source range right).
void AppendRows(Dataset& head, const Dataset& tail);

// The sorted distinct labels of this shard.
std::vector<double> DistinctLabels(const Dataset& data);

// Sets the agreed global feature count (>= the shard's own). For dense shards narrower than
// n the rows are widened with zeros.
void SetNumFeatures(Dataset& data, std::int64_t n);

inline constexpr std::int32_t kUnseenClass = -1;

// Maps every label to its index in `classes` (sorted ascending). A label not in the list (a
// class the model never saw) gets kUnseenClass; returns those labels, sorted and distinct
// (empty when every label is a class). Evaluate counts such rows as errors.
std::vector<double> AssignClasses(Dataset& data, std::span<const double> classes);

// The one warning about them: "<path>: 12 rows have labels the model never saw (classes 7,
// 9); they are evaluated and count as errors" (`rows` of `all_rows` rows).
std::string UnseenClassesWarning(const std::string& path, const std::vector<double>& unseen,
                                 double rows, double all_rows);
// "1, 2.5, 7" (at most `at_most` labels, then "and N more").
std::string LabelList(const std::vector<double>& labels, std::size_t at_most);

// "2.5", "-1", "1e+30": a label as the messages print it (shortest round trip).
std::string LabelText(double label);
// What to do with real-valued targets, for the "labels look continuous" errors: names the
// regression models.
std::string RegressionHint();

}  // namespace ringtrain::models
