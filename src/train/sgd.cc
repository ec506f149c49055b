// train/sgd.cc — mini-batch SGD with momentum over a StochasticFunction.
//
// Why the shape: every rank must call BatchGradient (one allreduce) the same number of
// times per epoch, so steps_per_epoch is agreed by the caller from the largest shard; a
// rank whose shard is used up passes an empty batch and still takes part. The shuffle is
// a pure function of (seed, epoch, stream), so no RNG state needs saving for resume.
#include <cmath>
#include <limits>

#include "train/optimizer.h"

namespace ringtrain::train {
namespace {

std::uint64_t SplitMix64(std::uint64_t& state) {
  std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

class Sgd final : public Optimizer {
 public:
  Sgd(StochasticFunction& f, const SgdOptions& options)
      : f_(f),
        options_(options),
        velocity_(static_cast<std::size_t>(f.dim()), 0.0),
        grad_(static_cast<std::size_t>(f.dim()), 0.0) {}

  EpochReport RunEpoch(std::span<double> w, std::int64_t epoch) override {
    const std::int64_t n = f_.local_rows();
    auto perm = EpochPermutation(n, options_.seed, epoch, options_.stream);
    const std::int64_t b = options_.batch_size;
    for (std::int64_t s = 0; s < options_.steps_per_epoch; ++s) {
      std::int64_t begin = std::min(n, s * b);
      std::int64_t end = std::min(n, begin + b);
      std::span<const std::int64_t> rows(perm.data() + begin,
                                         static_cast<std::size_t>(end - begin));
      f_.BatchGradient(w, rows, grad_);
      const double lr = options_.lr / (1.0 + options_.lr_decay * static_cast<double>(step_));
      for (std::size_t j = 0; j < w.size(); ++j) {
        velocity_[j] = options_.momentum * velocity_[j] - lr * grad_[j];
        w[j] += velocity_[j];
      }
      ++step_;
    }
    EpochReport r;
    r.objective = std::numeric_limits<double>::quiet_NaN();
    r.grad_norm = std::numeric_limits<double>::quiet_NaN();
    r.evaluations = options_.steps_per_epoch;
    return r;
  }

  std::size_t HeldDoubles() const override { return velocity_.capacity() + grad_.capacity(); }

  std::vector<double> SaveState() const override {
    std::vector<double> s;
    s.push_back(static_cast<double>(step_));
    s.insert(s.end(), velocity_.begin(), velocity_.end());
    return s;
  }

  void RestoreState(std::span<const double> s) override {
    step_ = static_cast<std::int64_t>(s[0]);
    velocity_.assign(s.begin() + 1, s.end());
  }

 private:
  StochasticFunction& f_;
  SgdOptions options_;
  std::vector<double> velocity_;
  std::vector<double> grad_;
  std::int64_t step_ = 0;
};

}  // namespace

std::vector<std::int64_t> EpochPermutation(std::int64_t n, std::uint64_t seed, std::int64_t epoch,
                                           std::uint64_t stream) {
  std::vector<std::int64_t> perm(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) perm[static_cast<std::size_t>(i)] = i;
  std::uint64_t state = seed;
  state = SplitMix64(state) ^ static_cast<std::uint64_t>(epoch);
  state = SplitMix64(state) ^ stream;
  SplitMix64(state);
  for (std::int64_t i = n - 1; i > 0; --i) {
    // Modulo bias is below 2^-40 for any realistic n.
    auto j = static_cast<std::int64_t>(SplitMix64(state) % (static_cast<std::uint64_t>(i) + 1));
    std::swap(perm[static_cast<std::size_t>(i)], perm[static_cast<std::size_t>(j)]);
  }
  return perm;
}

std::unique_ptr<Optimizer> MakeSgd(StochasticFunction& f, const SgdOptions& options) {
  return std::make_unique<Sgd>(f, options);
}

}  // namespace ringtrain::train
