// bench/gen_ctr.cc — seeded CTR-like sparse data for the scale benchmark (scripts/bench_scale.sh):
// a hashed feature space, a fixed number of nonzeros per row, a planted sparse truth and label
// noise, written as LIBSVM text with a train/test split.
//
//   gen_ctr --rows N [--test-rows M] [--hash-bits 20] [--nnz 40] [--values binary|real] [--skew 2]
//           [--truth-density 0.2] [--margin 3] [--flip 0.05] [--task classification|regression]
//           [--noise 0.5] [--seed 1] --out PREFIX
//
// Writes PREFIX.train.svm (rows 0..N-1) and PREFIX.test.svm (rows N..N+M-1) and prints one JSON
// line: rows, test_rows, features, nonzeros, bytes and the CRC-32 of each file. Same flags give
// the same bytes: row r is a pure function of (seed, r) (splitmix64, no std:: distributions,
// whose output differs between standard libraries), so the split does not change the rows.
//
// A row: `nnz` feature draws with a skewed popularity (feature rank k ~ F * u^skew, as hashed
// categorical fields are: a few very frequent, a long tail), scattered over [0, F) by an odd
// multiplier mod F = 2^bits; duplicates merged. Values 1 (binary) or uniform in (0, 1] rounded
// to 3 digits (real). The truth: each feature is in the support with probability
// truth-density, weight ~ N(0, 1), scaled so that the margin s = w*.x has standard deviation
// about `margin`. Classification: y = +1 with probability sigmoid(s) (the logistic model's own
// noise), then flipped with probability `flip`; labels +1/-1. Regression: y = s + N(0, noise).
#include <CLI/CLI.hpp>
#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "common/checksum.h"

namespace {

std::uint64_t SplitMix(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Uniform in (0, 1].
double Uniform(std::uint64_t& state) {
  return (static_cast<double>(SplitMix(state) >> 11) + 1.0) / 9007199254740992.0;
}

// Standard normal (Box-Muller, one of the pair).
double Normal(std::uint64_t& state) {
  const double u1 = Uniform(state), u2 = Uniform(state);
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

struct Params {
  long long rows = 1000, test_rows = 0;
  int hash_bits = 20;
  int nnz = 40;
  std::string values = "binary", task = "classification", out;
  double truth_density = 0.2, margin = 3.0, flip = 0.05, noise = 0.5, skew = 2.0;
  std::uint64_t seed = 1;
};

class Generator {
 public:
  explicit Generator(const Params& p)
      : p_(p), features_(std::uint64_t{1} << p.hash_bits), truth_(features_, 0.0) {
    std::uint64_t st = p.seed * 0x2545f4914f6cdd1dull + 17;
    double sq = 0;
    for (double& t : truth_) {
      if (Uniform(st) <= p.truth_density) {
        t = Normal(st);
        sq += t * t;
      }
    }
    // E[x^2] per drawn feature: 1 (binary) or 1/3 (uniform); the draws are skewed, so this
    // scale is only approximate, which is all the benchmark needs.
    const double ex2 = p.values == "binary" ? 1.0 : 1.0 / 3.0;
    const double mean_sq = sq / static_cast<double>(features_);
    const double var = static_cast<double>(p.nnz) * ex2 * mean_sq;
    scale_ = var > 0 ? p.margin / std::sqrt(var) : 0.0;
  }

  // Appends row r (label and features) as one LIBSVM line; returns its nonzeros.
  int Row(long long r, std::string& line) {
    std::uint64_t st = p_.seed ^ (static_cast<std::uint64_t>(r) * 0xd1342543de82ef95ull);
    SplitMix(st);
    cols_.clear();
    for (int q = 0; q < p_.nnz; ++q) {
      const double u = Uniform(st);
      const auto rank =
          static_cast<std::uint64_t>(static_cast<double>(features_) * std::pow(u, p_.skew));
      cols_.push_back(((std::min(rank, features_ - 1) * 0x9e3779b97f4a7c15ull) + 12345) &
                      (features_ - 1));
    }
    std::sort(cols_.begin(), cols_.end());
    cols_.erase(std::unique(cols_.begin(), cols_.end()), cols_.end());
    vals_.clear();
    double s = 0;
    for (std::uint64_t j : cols_) {
      const double v = p_.values == "binary" ? 1.0 : std::ceil(Uniform(st) * 1000.0) / 1000.0;
      vals_.push_back(v);
      s += truth_[j] * scale_ * v;
    }
    if (p_.task == "regression") {
      Put(line, s + p_.noise * Normal(st), 6);
    } else {
      bool positive = Uniform(st) <= 1.0 / (1.0 + std::exp(-s));
      if (Uniform(st) <= p_.flip) positive = !positive;
      line += positive ? "+1" : "-1";
    }
    for (std::size_t k = 0; k < cols_.size(); ++k) {
      line += ' ';
      Put(line, static_cast<double>(cols_[k] + 1), 10);
      line += ':';
      Put(line, vals_[k], 3);
    }
    line += '\n';
    return static_cast<int>(cols_.size());
  }

  std::uint64_t features() const { return features_; }

 private:
  static void Put(std::string& line, double v, int digits) {
    char buf[48];
    auto r = std::to_chars(buf, buf + sizeof buf, v, std::chars_format::general, digits);
    line.append(buf, r.ptr);
  }

  Params p_;
  std::uint64_t features_;
  std::vector<double> truth_;
  double scale_ = 0;
  std::vector<std::uint64_t> cols_;
  std::vector<double> vals_;
};

struct FileStats {
  long long rows = 0, nonzeros = 0, bytes = 0;
  std::uint32_t crc = 0;
};

// Rows [first, first + count) into path; false on an I/O error.
bool WriteRows(Generator& gen, const std::string& path, long long first, long long count,
               FileStats* st) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  std::string chunk;
  chunk.reserve(1 << 22);
  for (long long r = first; r < first + count; ++r) {
    st->nonzeros += gen.Row(r, chunk);
    ++st->rows;
    if (chunk.size() >= (1 << 22) - 4096 || r + 1 == first + count) {
      st->crc = ringtrain::Crc32(chunk, st->crc);
      st->bytes += static_cast<long long>(chunk.size());
      if (std::fwrite(chunk.data(), 1, chunk.size(), f) != chunk.size()) {
        std::fclose(f);
        return false;
      }
      chunk.clear();
    }
  }
  return std::fclose(f) == 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"seeded CTR-like sparse LIBSVM data with a train/test split"};
  Params p;
  app.add_option("--rows", p.rows, "training rows")->check(CLI::PositiveNumber);
  app.add_option("--test-rows", p.test_rows, "test rows (0: no test file)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--hash-bits", p.hash_bits, "feature space 2^bits")->check(CLI::Range(4, 30));
  app.add_option("--nnz", p.nnz, "feature draws per row")->check(CLI::Range(1, 100000));
  app.add_option("--values", p.values)->check(CLI::IsMember({"binary", "real"}));
  app.add_option("--truth-density", p.truth_density, "share of features in the true model")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--margin", p.margin, "standard deviation of the true margin")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--flip", p.flip, "label flip probability (classification)")
      ->check(CLI::Range(0.0, 1.0));
  app.add_option("--task", p.task)->check(CLI::IsMember({"classification", "regression"}));
  app.add_option("--noise", p.noise, "target noise standard deviation (regression)")
      ->check(CLI::NonNegativeNumber);
  app.add_option("--skew", p.skew, "popularity: feature rank ~ F * u^skew (1 = uniform)")
      ->check(CLI::Range(1.0, 10.0));
  app.add_option("--seed", p.seed);
  app.add_option("--out", p.out, "output prefix: PREFIX.train.svm, PREFIX.test.svm")->required();
  CLI11_PARSE(app, argc, argv);

  Generator gen(p);
  FileStats train, test;
  const std::string train_path = p.out + ".train.svm", test_path = p.out + ".test.svm";
  if (!WriteRows(gen, train_path, 0, p.rows, &train) ||
      (p.test_rows > 0 && !WriteRows(gen, test_path, p.rows, p.test_rows, &test))) {
    std::fprintf(stderr, "gen_ctr: cannot write %s.*.svm; check the directory and free space\n",
                 p.out.c_str());
    return 2;
  }
  std::printf(
      "{\"tool\":\"gen_ctr\",\"rows\":%lld,\"test_rows\":%lld,\"features\":%llu,\"nonzeros\":%lld,"
      "\"bytes\":%lld,\"test_bytes\":%lld,\"crc32\":\"%s\",\"test_crc32\":\"%s\",\"seed\":%llu}\n",
      train.rows, test.rows, static_cast<unsigned long long>(gen.features()), train.nonzeros,
      train.bytes, test.bytes, ringtrain::Hex32(train.crc).c_str(),
      ringtrain::Hex32(test.crc).c_str(), static_cast<unsigned long long>(p.seed));
  return 0;
}
