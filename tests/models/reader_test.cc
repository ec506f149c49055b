// tests/models/reader_test.cc — LIBSVM / CSV / IDX readers: parsing rules, every bad-input
// error with its file:line (or offset), and sharding (shards 0..n-1 concatenated == the
// unsharded rows, including more shards than rows).
#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdint>
#include <fstream>
#include <iterator>
#include <string>
#include <tuple>
#include <vector>

#include "common/error.h"
#include "models/dataset.h"
#include "models/linear_model.h"
#include "support/subprocess.h"

namespace ringtrain::models {
namespace {

using ringtrain::testing::TempDir;

void WriteText(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::binary) << text;
}

Dataset Read(const std::string& path, Format format, int shard = 0, int n = 1,
             const std::string& labels = {}, int label_column = 0) {
  ReadOptions o;
  o.path = path;
  o.labels_path = labels;
  o.format = format;
  o.shard = shard;
  o.num_shards = n;
  o.label_column = label_column;
  return ReadShard(o);
}

// Expects ReadShard to throw DataError whose message contains every needle.
void ExpectDataError(const std::string& path, Format format, std::vector<std::string> needles,
                     const std::string& labels = {}) {
  try {
    Read(path, format, 0, 1, labels);
    ADD_FAILURE() << "no DataError for " << path;
  } catch (const DataError& e) {
    for (const auto& n : needles) {
      EXPECT_NE(std::string(e.what()).find(n), std::string::npos)
          << "message '" << e.what() << "' lacks '" << n << "'";
    }
    EXPECT_FALSE(e.hint().empty()) << e.what();
  }
}

TEST(LibsvmReader, ParsesLabelsIndicesCommentsQid) {
  TempDir dir;
  const std::string p = dir.File("a.svm");
  WriteText(p,
            "# leading comment\n"
            "+1 qid:3 1:0.5 3:-2e-1\n"
            "\n"
            "   \t\n"
            "-1 2:+4 # trailing comment 9:9\n"
            "7\r\n"
            "0 10:1");  // no final newline
  Dataset d = Read(p, Format::kLibsvm);
  ASSERT_EQ(d.rows(), 4);
  EXPECT_EQ(d.labels, (std::vector<double>{1, -1, 7, 0}));
  EXPECT_EQ(d.row_ptr, (std::vector<std::int64_t>{0, 2, 3, 3, 4}));
  EXPECT_EQ(d.col, (std::vector<std::int32_t>{0, 2, 1, 9}));
  EXPECT_EQ(d.val, (std::vector<float>{0.5f, -0.2f, 4.0f, 1.0f}));
  EXPECT_EQ(d.num_features, 10);
  EXPECT_EQ(d.first_row, 0);
  EXPECT_FALSE(d.is_dense());
  EXPECT_EQ(DistinctLabels(d), (std::vector<double>{-1, 0, 1, 7}));
}

TEST(LibsvmReader, BadInputsNameFileLineAndText) {
  TempDir dir;
  struct Case {
    std::string text;
    std::vector<std::string> needles;
  };
  const std::vector<Case> cases = {
      {"1 1:1\n1 2:x\n", {":2", "malformed value", "'2:x'"}},
      {"1 1:1\n\n1 abc\n", {":3", "malformed token", "'abc'"}},
      {"1 0:1\n", {":1", "index must be >= 1", "'0:1'"}},
      {"1 3:1 2:1\n", {":1", "descending", "'2:1'"}},
      {"1 2:1 2:3\n", {":1", "repeated", "'2:3'"}},
      {"1 1:nan\n", {":1", "non-finite", "'1:nan'"}},
      {"1 1:inf\n", {":1", "non-finite", "'1:inf'"}},
      {"1 1:1e300\n", {":1", "float range", "'1:1e300'"}},
      {"# c\nyes 1:1\n", {":2", "unparsable label", "'yes'"}},
      {"nan 1:1\n", {":1", "unparsable label", "'nan'"}},
      {"1 x:1\n", {":1", "malformed feature index", "'x:1'"}},
      {"1 1:\n", {":1", "malformed token", "'1:'"}},
  };
  for (std::size_t i = 0; i < cases.size(); ++i) {
    const std::string p = dir.File("bad" + std::to_string(i) + ".svm");
    WriteText(p, cases[i].text);
    auto needles = cases[i].needles;
    needles[0] = p + needles[0];  // file:line
    SCOPED_TRACE(cases[i].text);
    ExpectDataError(p, Format::kLibsvm, needles);
  }
}

TEST(LibsvmReader, MissingAndEmptyFiles) {
  TempDir dir;
  ExpectDataError(dir.File("nope.svm"), Format::kLibsvm, {dir.File("nope.svm"), "cannot open"});
  WriteText(dir.File("empty.svm"), "");
  ExpectDataError(dir.File("empty.svm"), Format::kLibsvm, {"empty.svm", "no rows"});
  WriteText(dir.File("comments.svm"), "# only\n\n");
  ExpectDataError(dir.File("comments.svm"), Format::kLibsvm, {"comments.svm", "no rows"});
}

// Shards 0..n-1 concatenated give the unsharded rows, and first_row counts rows before.
void ExpectShardsConcatenate(const std::string& path, Format format, const std::string& labels,
                             int max_shards) {
  const Dataset whole = Read(path, format, 0, 1, labels);
  for (int n = 1; n <= max_shards; ++n) {
    SCOPED_TRACE("shards " + std::to_string(n));
    Dataset cat;
    cat.row_ptr.push_back(0);
    for (int s = 0; s < n; ++s) {
      const Dataset d = Read(path, format, s, n, labels);
      EXPECT_EQ(d.first_row, cat.rows()) << "shard " << s;
      EXPECT_LE(d.num_features, whole.num_features);
      cat.labels.insert(cat.labels.end(), d.labels.begin(), d.labels.end());
      if (d.is_dense()) {
        EXPECT_EQ(d.dense_cols, whole.dense_cols);
        cat.dense.insert(cat.dense.end(), d.dense.begin(), d.dense.end());
      } else {
        for (std::size_t r = 1; r < d.row_ptr.size(); ++r) {
          cat.row_ptr.push_back(d.row_ptr[r] + static_cast<std::int64_t>(cat.col.size()));
        }
        cat.col.insert(cat.col.end(), d.col.begin(), d.col.end());
        cat.val.insert(cat.val.end(), d.val.begin(), d.val.end());
      }
    }
    EXPECT_EQ(cat.labels, whole.labels);
    EXPECT_EQ(cat.dense, whole.dense);
    EXPECT_EQ(cat.col, whole.col);
    EXPECT_EQ(cat.val, whole.val);
    if (!whole.is_dense()) {
      EXPECT_EQ(cat.row_ptr, whole.row_ptr);
    }
  }
}

TEST(Sharding, LibsvmShardsConcatenate) {
  TempDir dir;
  std::string text = "# header comment\n";
  for (int i = 0; i < 23; ++i) {
    text += std::to_string(i % 3) + " " + std::to_string(1 + i % 5) + ":" + std::to_string(i);
    if (i % 4 == 0) text += " 9:0.25";
    text += i % 7 == 0 ? "\n\n# c\n" : "\n";
  }
  WriteText(dir.File("s.svm"), text);
  ExpectShardsConcatenate(dir.File("s.svm"), Format::kLibsvm, "", 5);
  ExpectShardsConcatenate(dir.File("s.svm"), Format::kLibsvm, "", 40);  // > rows
  WriteText(dir.File("two.svm"), "1 1:1\n-1 2:2");
  ExpectShardsConcatenate(dir.File("two.svm"), Format::kLibsvm, "", 5);
}

TEST(CsvReader, HeaderLabelColumnAndErrors) {
  TempDir dir;
  const std::string p = dir.File("a.csv");
  WriteText(p, "f1, f2 ,label\n1,2,0\n\n3, 4.5 ,1\n");
  Dataset d = Read(p, Format::kCsv, 0, 1, "", -1);
  EXPECT_EQ(d.labels, (std::vector<double>{0, 1}));
  EXPECT_EQ(d.dense, (std::vector<float>{1, 2, 3, 4.5f}));
  EXPECT_EQ(d.dense_cols, 2);
  EXPECT_TRUE(d.is_dense());
  Dataset first = Read(p, Format::kCsv, 0, 1, "", 0);  // header skipped, label column 0
  EXPECT_EQ(first.labels, (std::vector<double>{1, 3}));

  const std::string q = dir.File("noheader.csv");
  WriteText(q, "1,2,3\n4,5,6\n");
  EXPECT_EQ(Read(q, Format::kCsv).rows(), 2);

  WriteText(dir.File("b.csv"), "1,2,3\n4,5\n");
  ExpectDataError(dir.File("b.csv"), Format::kCsv, {dir.File("b.csv") + ":2", "expected 3"});
  WriteText(dir.File("c.csv"), "1,2,3\n4,x,6\n");
  ExpectDataError(dir.File("c.csv"), Format::kCsv, {dir.File("c.csv") + ":2", "'x'"});
  WriteText(dir.File("d.csv"), "1,2,3\nz,5,6\n");
  ExpectDataError(dir.File("d.csv"), Format::kCsv, {dir.File("d.csv") + ":2", "unparsable label"});
  WriteText(dir.File("e.csv"), "1,2,3\n4,inf,6\n");
  ExpectDataError(dir.File("e.csv"), Format::kCsv, {dir.File("e.csv") + ":2", "non-finite"});
  WriteText(dir.File("h.csv"), "a,b,c\n");
  ExpectDataError(dir.File("h.csv"), Format::kCsv, {"h.csv", "no rows"});
}

TEST(Sharding, CsvShardsConcatenate) {
  TempDir dir;
  std::string text = "y,a,b\n";
  for (int i = 0; i < 17; ++i) {
    text += std::to_string(i % 2) + "," + std::to_string(i) + "," + std::to_string(i * 0.5) + "\n";
  }
  WriteText(dir.File("s.csv"), text);
  ExpectShardsConcatenate(dir.File("s.csv"), Format::kCsv, "", 5);
  ExpectShardsConcatenate(dir.File("s.csv"), Format::kCsv, "", 30);
}

// IDX helpers: big-endian header + bytes, plain or gzip.
std::string IdxBytes(std::vector<std::uint32_t> dims, const std::vector<unsigned char>& body) {
  std::string s = {0, 0, 8, static_cast<char>(dims.size())};
  for (std::uint32_t d : dims) {
    for (int sh = 24; sh >= 0; sh -= 8) s.push_back(static_cast<char>((d >> sh) & 0xff));
  }
  s.append(body.begin(), body.end());
  return s;
}

void WriteGzip(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), static_cast<unsigned>(bytes.size())),
            static_cast<int>(bytes.size()));
  gzclose(f);
}

struct IdxPair {
  std::string images, labels;
};

IdxPair MakeIdx(const TempDir& dir, const std::string& name, int rows, bool gz) {
  std::vector<unsigned char> pixels(static_cast<std::size_t>(rows * 6));
  for (std::size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<unsigned char>(i * 37);
  std::vector<unsigned char> labels(static_cast<std::size_t>(rows));
  for (int i = 0; i < rows; ++i)
    labels[static_cast<std::size_t>(i)] = static_cast<unsigned char>(i % 4);
  IdxPair p{dir.File(name + "-images-idx3-ubyte" + (gz ? ".gz" : "")),
            dir.File(name + "-labels-idx1-ubyte" + (gz ? ".gz" : ""))};
  const std::string img = IdxBytes({static_cast<std::uint32_t>(rows), 2, 3}, pixels);
  const std::string lab = IdxBytes({static_cast<std::uint32_t>(rows)}, labels);
  if (gz) {
    WriteGzip(p.images, img);
    WriteGzip(p.labels, lab);
  } else {
    WriteText(p.images, img);
    WriteText(p.labels, lab);
  }
  return p;
}

// Gzip'd LIBSVM and CSV (issue 12): read transparently whatever the name, the same rows as
// the plain file for every shard count; errors name the file and line of the inflated text;
// a truncated or corrupt stream is a DataError naming the file.
TEST(TextReaders, GzipIsReadLikeThePlainFile) {
  TempDir dir;
  std::string svm = "# c\n";
  for (int i = 0; i < 31; ++i)
    svm += std::to_string(i % 3) + " " + std::to_string(1 + i % 4) + ":" + std::to_string(i) +
           (i % 5 == 0 ? " 7:0.5\n" : "\n");
  std::string csv = "label,a,b\n";
  for (int i = 0; i < 17; ++i)
    csv += std::to_string(i % 2) + "," + std::to_string(i) + "," + std::to_string(i * 0.5) + "\n";
  WriteText(dir.File("p.svm"), svm);
  WriteGzip(dir.File("g.svm.gz"), svm);
  WriteGzip(dir.File("no-suffix.svm"), svm);
  WriteText(dir.File("p.csv"), csv);
  WriteGzip(dir.File("g.csv.gz"), csv);
  for (const auto& [plain, gz, format] : std::vector<std::tuple<std::string, std::string, Format>>{
           {"p.svm", "g.svm.gz", Format::kLibsvm},
           {"p.svm", "no-suffix.svm", Format::kLibsvm},
           {"p.csv", "g.csv.gz", Format::kCsv}}) {
    SCOPED_TRACE(gz);
    for (int n : {1, 3, 7}) {
      for (int s = 0; s < n; ++s) {
        const Dataset a = Read(dir.File(plain), format, s, n);
        const Dataset b = Read(dir.File(gz), format, s, n);
        EXPECT_EQ(a.labels, b.labels);
        EXPECT_EQ(a.col, b.col);
        EXPECT_EQ(a.val, b.val);
        EXPECT_EQ(a.dense, b.dense);
        EXPECT_EQ(a.first_row, b.first_row);
        EXPECT_EQ(a.source_begin, b.source_begin);
        EXPECT_EQ(a.source_end, b.source_end);
      }
    }
    ExpectShardsConcatenate(dir.File(gz), format, "", 6);
  }
  EXPECT_EQ(GuessFormat("x.csv.gz"), Format::kCsv);
  WriteGzip(dir.File("bad.svm.gz"), "1 1:1\n1 2:abc\n");
  ExpectDataError(dir.File("bad.svm.gz"), Format::kLibsvm, {"bad.svm.gz:2", "abc"});
  std::string gz_bytes;
  {
    std::ifstream in(dir.File("g.svm.gz"), std::ios::binary);
    gz_bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  WriteText(dir.File("trunc.svm.gz"), gz_bytes.substr(0, gz_bytes.size() / 2));
  ExpectDataError(dir.File("trunc.svm.gz"), Format::kLibsvm, {"trunc.svm.gz", "gzip"});
  WriteText(dir.File("garbage.svm.gz"), std::string("\x1f\x8b") + "not deflate at all");
  ExpectDataError(dir.File("garbage.svm.gz"), Format::kLibsvm, {"garbage.svm.gz", "gzip"});
}

TEST(IdxReader, ReadsPlainAndGzipScaled) {
  TempDir dir;
  for (bool gz : {false, true}) {
    IdxPair p = MakeIdx(dir, gz ? "g" : "p", 5, gz);
    EXPECT_EQ(GuessFormat(p.images), Format::kIdx);
    Dataset d = Read(p.images, Format::kIdx, 0, 1, p.labels);
    ASSERT_EQ(d.rows(), 5);
    EXPECT_EQ(d.dense_cols, 6);
    EXPECT_EQ(d.labels, (std::vector<double>{0, 1, 2, 3, 0}));
    for (std::size_t i = 0; i < d.dense.size(); ++i) {
      EXPECT_EQ(d.dense[i], static_cast<float>(static_cast<unsigned char>(i * 37)) / 255.0f);
    }
    ExpectShardsConcatenate(p.images, Format::kIdx, p.labels, 5);
    ExpectShardsConcatenate(p.images, Format::kIdx, p.labels, 9);
  }
}

TEST(IdxReader, BadFilesNameOffset) {
  TempDir dir;
  IdxPair p = MakeIdx(dir, "p", 5, false);
  // Wrong magic: labels passed as images.
  ExpectDataError(p.labels, Format::kIdx, {p.labels + ":offset 0", "bad IDX magic 0x00000801"},
                  p.labels);
  // Truncated body.
  std::string img = IdxBytes({5, 2, 3}, std::vector<unsigned char>(20, 1));
  WriteText(dir.File("t-images"), img);
  ExpectDataError(dir.File("t-images"), Format::kIdx,
                  {dir.File("t-images") + ":offset 36", "truncated"}, p.labels);
  WriteGzip(dir.File("tg-images.gz"), img);
  ExpectDataError(dir.File("tg-images.gz"), Format::kIdx, {"tg-images.gz:offset 36", "truncated"},
                  p.labels);
  // Count mismatch.
  IdxPair q = MakeIdx(dir, "q", 4, false);
  ExpectDataError(p.images, Format::kIdx, {q.labels + ":offset 4", "5 images", "4 labels"},
                  q.labels);
  ExpectDataError(dir.File("missing-ubyte"), Format::kIdx, {"missing-ubyte", "cannot open"},
                  p.labels);
}

TEST(IdxReader, FashionMnistTestSet) {
  const std::string base = "/usr/share/datasets/fashion-mnist/";
  Dataset d = Read(base + "t10k-images-idx3-ubyte.gz", Format::kIdx, 1, 3,
                   base + "t10k-labels-idx1-ubyte.gz");
  EXPECT_EQ(d.first_row, 3333);
  EXPECT_EQ(d.rows(), 3333);
  EXPECT_EQ(d.dense_cols, 784);
  EXPECT_EQ(DistinctLabels(d).size(), 10u);
  float lo = 1, hi = 0;
  for (float v : d.dense) {
    lo = std::min(lo, v);
    hi = std::max(hi, v);
  }
  EXPECT_EQ(lo, 0.0f);
  EXPECT_EQ(hi, 1.0f);
}

TEST(Dataset, FormatsClassesAndWidening) {
  EXPECT_EQ(ParseFormat("csv"), Format::kCsv);
  EXPECT_THROW(ParseFormat("xml"), UsageError);
  EXPECT_EQ(GuessFormat("x/train.csv"), Format::kCsv);
  EXPECT_EQ(GuessFormat("train-images-idx3-ubyte"), Format::kIdx);
  EXPECT_EQ(GuessFormat("heart_scale"), Format::kLibsvm);
  Dataset d;
  d.labels = {3, -1, 3};
  d.dense = {1, 2, 3};
  d.dense_cols = 1;
  d.num_features = 1;
  SetNumFeatures(d, 3);
  EXPECT_EQ(d.dense, (std::vector<float>{1, 0, 0, 2, 0, 0, 3, 0, 0}));
  const std::vector<double> classes = {-1, 3};
  EXPECT_TRUE(AssignClasses(d, classes).empty());
  EXPECT_EQ(d.class_index, (std::vector<std::int32_t>{1, 0, 1}));
  // A class the model never saw: kUnseenClass, and the label is returned once.
  const std::vector<double> other = {-1, 2};
  EXPECT_EQ(AssignClasses(d, other), (std::vector<double>{3}));
  EXPECT_EQ(d.class_index, (std::vector<std::int32_t>{kUnseenClass, 0, kUnseenClass}));
}

// ReadOptions::class_labels (a classifier's data): a non-integer label means real-valued
// targets and is refused naming file:line; integer labels (also "+1", "-1.0") pass. The
// reader records the line of the shard's first row for later checks.
TEST(Readers, ClassLabelsRefuseContinuousTargetsNamingTheLine) {
  TempDir dir;
  const std::string svm = dir.File("reg.svm"), csv = dir.File("reg.csv");
  WriteText(svm, "# targets\n1 1:1\n\n-1.0 1:2\n+1 1:3\n2.5 1:4\n");
  WriteText(csv, "x,y\n1,3\n2,0.25\n");
  for (auto [path, format, line, column] :
       {std::tuple{svm, Format::kLibsvm, std::string("reg.svm:6"), 0},
        std::tuple{csv, Format::kCsv, std::string("reg.csv:3"), -1}}) {
    ReadOptions o;
    o.path = path;
    o.format = format;
    o.label_column = column;
    EXPECT_NO_THROW(ReadShard(o)) << "without class_labels any finite label is read";
    o.class_labels = true;
    try {
      ReadShard(o);
      ADD_FAILURE() << "no DataError for " << path;
    } catch (const DataError& e) {
      for (const std::string& needle :
           {line, std::string("continuous"), std::string("--model svr")})
        EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
      EXPECT_EQ(e.code(), ExitCode::kData);
    }
  }
  WriteText(svm, "# integers only\n1 1:1\n-1.0 1:2\n+1 1:3\n");
  ReadOptions o;
  o.path = svm;
  o.class_labels = true;
  Dataset d = ReadShard(o);
  EXPECT_EQ(d.labels, (std::vector<double>{1, -1, 1}));
  EXPECT_EQ(d.first_line, 2);
  o.shard = 1;
  o.num_shards = 2;
  EXPECT_EQ(ReadShard(o).first_line, 3) << "shard 1 starts at the first line after byte 19";
}

// Rows of a class the model never saw: counted in rows and unseen, never correct; the loss,
// log-loss, confusion matrix and AUC cover the other rows.
TEST(Evaluate, UnseenClassesCountAsErrorsAndStayOutOfTheLoss) {
  Dataset d;
  d.labels = {1, 2, 7, 1};
  d.dense = {1, -1, 5, 2};
  d.dense_cols = d.num_features = 1;
  LinearModel m;
  m.spec.loss = Loss::kLogistic;
  m.spec.classes = {1, 2};
  m.spec.num_features = 1;
  m.spec.bias = false;
  m.weights = {-1.0};  // score -x: x < 0 is class 2 (index 1)
  EXPECT_EQ(AssignClasses(d, m.spec.classes), (std::vector<double>{7}));
  const EvalSums e = Evaluate(m, d);
  EXPECT_EQ(e.rows, 4);
  EXPECT_EQ(e.unseen, 1);
  EXPECT_EQ(e.correct, 3);
  const std::vector<std::int64_t> seen = {0, 1, 3};
  EXPECT_EQ(e.loss_sum, LossGradientSum(m.spec, d, m.weights, {}, seen));
  double total = 0;
  for (double c : e.confusion) total += c;
  EXPECT_EQ(total, 3);
  EXPECT_EQ(EvalSums::Unpack(e.Pack(), 2).unseen, 1);
  EXPECT_DOUBLE_EQ(BinaryAuc(DecisionValues(m, d), d.class_index), 1.0);
  EXPECT_EQ(PredictLabels(m, d), (std::vector<double>{1, 2, 1, 1}));
}

}  // namespace
}  // namespace ringtrain::models

namespace ringtrain::models {
namespace {

using ringtrain::testing::TempDir;

Dataset ReadRange(const std::string& path, Format format, std::int64_t begin, std::int64_t end,
                  const std::string& labels = "") {
  ReadOptions o;
  o.path = path;
  o.labels_path = labels;
  o.format = format;
  o.range_begin = begin;
  o.range_end = end;
  return ReadShard(o);
}

// A partition can be cut at any row: each row's source position (row_offset) read back as a
// byte range gives exactly the rows between two cuts, and SliceRows + AppendRows rebuild the
// whole (what a rank keeps and what it gains when the load is balanced).
TEST(Ranges, RowCutsReadBackAndSlicesAppendToTheWhole) {
  TempDir dir;
  std::string text = "# header comment\n";
  for (int i = 0; i < 23; ++i) {
    text += std::to_string(i % 3) + " " + std::to_string(1 + i % 5) + ":" + std::to_string(i);
    text += i % 7 == 0 ? "\n\n# c\n" : "\n";
  }
  const std::string path = dir.File("r.svm");
  WriteText(path, text);
  ReadOptions all;
  all.path = path;
  const Dataset whole = ReadShard(all);
  ASSERT_EQ(whole.rows(), 23);
  ASSERT_EQ(whole.row_offset.size(), 23u);
  EXPECT_EQ(whole.source_begin, 0);
  EXPECT_EQ(whole.source_end, static_cast<std::int64_t>(text.size()));
  for (std::int64_t a = 0; a <= 23; a += 4) {
    for (std::int64_t b = a; b <= 23; b += 3) {
      const std::int64_t from = a == 0 ? 0 : whole.SourcePosition(a);
      const Dataset part = ReadRange(path, Format::kLibsvm, from, whole.SourcePosition(b));
      ASSERT_EQ(part.rows(), b - a) << a << "-" << b;
      EXPECT_EQ(part.first_row, a);
      const Dataset slice = SliceRows(whole, a, b);
      EXPECT_EQ(part.labels, slice.labels);
      EXPECT_EQ(part.col, slice.col);
      EXPECT_EQ(part.val, slice.val);
      EXPECT_EQ(part.row_offset, slice.row_offset);
      Dataset head = SliceRows(whole, 0, a);
      AppendRows(head, slice);
      AppendRows(head, SliceRows(whole, b, 23));
      EXPECT_EQ(head.labels, whole.labels);
      EXPECT_EQ(head.row_ptr, whole.row_ptr);
      EXPECT_EQ(head.col, whole.col);
      EXPECT_EQ(head.row_offset, whole.row_offset);
    }
  }
  // A range that does not start at a line is refused (the file changed under the map).
  EXPECT_THROW(ReadRange(path, Format::kLibsvm, 3, whole.source_end), DataError);
  EXPECT_THROW(ReadRange(path, Format::kLibsvm, 0, whole.source_end + 1), DataError);
}

TEST(Ranges, CsvWithHeaderAndDenseSlices) {
  TempDir dir;
  const std::string path = dir.File("r.csv");
  WriteText(path, "a,b,label\n1,2,0\n3,4,1\n\n5,6,0\n7,8,1\n");
  ReadOptions all;
  all.path = path;
  all.format = Format::kCsv;
  all.label_column = -1;
  const Dataset whole = ReadShard(all);
  ASSERT_EQ(whole.rows(), 4);
  ReadOptions tail = all;
  tail.range_begin = whole.SourcePosition(2);
  tail.range_end = whole.source_end;
  const Dataset part = ReadShard(tail);
  EXPECT_EQ(part.first_row, 2);
  EXPECT_EQ(part.dense, (std::vector<float>{5, 6, 7, 8}));
  Dataset head = SliceRows(whole, 0, 2);
  AppendRows(head, part);
  EXPECT_EQ(head.dense, whole.dense);
  EXPECT_EQ(head.labels, whole.labels);
  EXPECT_EQ(whole.nonzeros(), 8);
}

}  // namespace
}  // namespace ringtrain::models
