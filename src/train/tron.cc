// train/tron.cc — full-batch trust-region Newton (liblinear 2.3's tron.cpp shape).
//
// One RunEpoch = one outer iteration: preconditioned conjugate gradient on H(w) s = -g
// inside the trust region |s|_M <= delta (Steihaug: stop at the boundary or when
// sqrt(z.r) <= eps_cg sqrt(z0.r0), z = M^-1 r), each CG step one Function::HessianVector (one
// allreduce), then one ValueGradient at w + s. The step is taken when actred > eta0 * prered;
// delta follows liblinear's update rules (sigma1 0.25, sigma2 0.5, sigma3 4; eta 1e-4 / 0.25 /
// 0.75), measured in the M-norm; the first delta is |g0|_M.
// Preconditioner (liblinear 2.3, Hsia, Chiang & Lin, ACML 2018): M = (1 - a) I + a diag(H(w)),
// a = 0.01, recomputed (one Function::HessianDiagonal, one allreduce) at every accepted w.
// liblinear 2.3's CG stop is the residual rule above (the Q-based rule came with 2.4x's
// newton.cpp); the Debian liblinear-train 2.3 on the bench machine is the reference.
// TronOptions::precondition = false gives M = I, the identity-preconditioned algorithm.
// Stop: |g| <= tol * |g0| (the trainer scales tol like liblinear's -e, as for lbfgs), or no
// further progress is possible (prered <= 0, or actred and prered below 1e-12 |f|).
// All arithmetic is sequential on allreduced values: every rank takes bit-identical steps.
#include <algorithm>
#include <cmath>
#include <cstring>

#include "common/error.h"
#include "common/huge_pages.h"
#include "train/optimizer.h"
#include "train/vector_math.h"

namespace ringtrain::train {
namespace {

using internal::Axpy;
using internal::Dot;

constexpr double kEta0 = 1e-4, kEta1 = 0.25, kEta2 = 0.75;
constexpr double kSigma1 = 0.25, kSigma2 = 0.5, kSigma3 = 4.0;
constexpr std::size_t kStateHeader = 7;
constexpr double kAlphaPcg = 0.01;  // liblinear's alpha_pcg

class Tron final : public Optimizer {
 public:
  Tron(Function& f, const TronOptions& options)
      : f_(f),
        o_(options),
        n_(static_cast<std::size_t>(f.dim())),
        g_(n_),
        s_(n_),
        r_(n_),
        d_(n_),
        hd_(n_),
        z_(n_),
        m_(options.precondition ? n_ : 0),
        w_new_(n_),
        g_new_(n_) {
    if (!f.has_hessian()) {
      throw UsageError("tron needs a Hessian-vector product, which this objective lacks",
                       "--optimizer tron", "use --optimizer lbfgs or sgd (hinge loss)");
    }
  }

  EpochReport RunEpoch(std::span<double> w, std::int64_t) override {
    EpochReport r;
    if (!initialised_) {
      f_val_ = f_.ValueGradient(w, g_);
      g0_norm_ = o_.g0_norm > 0 ? o_.g0_norm : std::sqrt(Dot(g_, g_));
      ++r.evaluations;
      r.evaluations += UpdatePreconditioner(w);
      delta_ = std::sqrt(MDot(g_, g_));
      initialised_ = true;
    }
    // M at the current w (after an accepted step or a restore): a function of w alone.
    if (!m_valid_) r.evaluations += UpdatePreconditioner(w);
    double gnorm = std::sqrt(Dot(g_, g_));
    if (gnorm <= o_.tol * g0_norm_ || stalled_) return Report(r, gnorm, true);

    bool reach_boundary = false;
    const int cg_iter = Cg(w, &reach_boundary);
    r.evaluations += cg_iter;  // a Hessian-vector product costs about one pass
    r.hessian_products = cg_iter;
    for (std::size_t i = 0; i < n_; ++i) w_new_[i] = w[i] + s_[i];
    const double gs = Dot(g_, s_);
    const double prered = -0.5 * (gs - Dot(s_, r_));
    const double fnew = f_.ValueGradient(w_new_, g_new_);
    ++r.evaluations;
    const double actred = f_val_ - fnew;
    const double snorm = std::sqrt(MDot(s_, s_));
    if (first_step_) {
      delta_ = std::min(delta_, snorm);
      first_step_ = false;
    }
    double alpha = 0;
    if (fnew - f_val_ - gs <= 0) {
      alpha = kSigma3;
    } else {
      alpha = std::max(kSigma1, -0.5 * (gs / (fnew - f_val_ - gs)));
    }
    if (actred < kEta0 * prered) {
      delta_ = std::min(alpha * snorm, kSigma2 * delta_);
    } else if (actred < kEta1 * prered) {
      delta_ = std::max(kSigma1 * delta_, std::min(alpha * snorm, kSigma2 * delta_));
    } else if (actred < kEta2 * prered) {
      delta_ = std::max(kSigma1 * delta_, std::min(alpha * snorm, kSigma3 * delta_));
    } else if (reach_boundary) {
      delta_ = kSigma3 * delta_;
    } else {
      delta_ = std::max(delta_, std::min(alpha * snorm, kSigma3 * delta_));
    }
    if (actred > kEta0 * prered && std::isfinite(fnew)) {
      std::copy(w_new_.begin(), w_new_.end(), w.begin());
      g_.swap(g_new_);
      f_val_ = fnew;
      gnorm = std::sqrt(Dot(g_, g_));
      if (gnorm <= o_.tol * g0_norm_) return Report(r, gnorm, true);
      m_valid_ = false;  // M belongs to the old w; recomputed before the next CG
    }
    // liblinear's safeguards: no model reduction left, or both reductions at round-off.
    if (prered <= 0 || (std::fabs(actred) <= 1e-12 * std::fabs(f_val_) &&
                        std::fabs(prered) <= 1e-12 * std::fabs(f_val_))) {
      stalled_ = true;
      return Report(r, gnorm, true);
    }
    return Report(r, gnorm, false);
  }

  std::size_t HeldDoubles() const override {
    std::size_t n = 0;
    for (const auto* v : {&g_, &s_, &r_, &d_, &hd_, &z_, &m_, &w_new_, &g_new_}) n += v->capacity();
    return n;
  }

  std::vector<double> SaveState() const override {
    std::vector<double> st = {initialised_ ? 1.0 : 0.0,
                              f_val_,
                              g0_norm_,
                              delta_,
                              first_step_ ? 1.0 : 0.0,
                              stalled_ ? 1.0 : 0.0,
                              static_cast<double>(n_)};
    st.insert(st.end(), g_.begin(), g_.end());
    return st;
  }

  void RestoreState(std::span<const double> st) override {
    if (st.size() != kStateHeader + n_ || st[6] != static_cast<double>(n_)) {
      throw CheckpointError("the tron optimizer state has " + std::to_string(st.size()) +
                                " values, expected " + std::to_string(kStateHeader + n_),
                            "Tron::RestoreState", "resume with the same optimizer and model shape");
    }
    initialised_ = st[0] != 0;
    f_val_ = st[1];
    g0_norm_ = st[2];
    delta_ = st[3];
    first_step_ = st[4] != 0;
    stalled_ = st[5] != 0;
    std::copy(st.begin() + kStateHeader, st.end(), g_.begin());
    m_valid_ = false;
  }

 private:
  EpochReport Report(EpochReport r, double gnorm, bool converged) const {
    return internal::FullBatchReport(r, f_val_, gnorm, converged);
  }

  // M = (1 - a) I + a diag(H(w)); returns the passes it cost (0 without preconditioning).
  int UpdatePreconditioner(std::span<const double> w) {
    m_valid_ = true;
    if (!o_.precondition) return 0;
    f_.HessianDiagonal(w, m_);
    for (double& m : m_) m = (1 - kAlphaPcg) + kAlphaPcg * m;
    return 1;
  }

  // u.M.v (u.v without preconditioning).
  double MDot(std::span<const double> u, std::span<const double> v) const {
    if (!o_.precondition) return Dot(u, v);
    double a = 0;
    for (std::size_t i = 0; i < n_; ++i) a += u[i] * m_[i] * v[i];
    return a;
  }

  // z = M^-1 r.
  void Precondition() {
    if (!o_.precondition) {
      z_ = r_;
      return;
    }
    for (std::size_t i = 0; i < n_; ++i) z_[i] = r_[i] / m_[i];
  }

  // Steihaug PCG for min g.s + 0.5 s.H s, |s|_M <= delta_ (liblinear 2.3's trpcg). Leaves s_
  // and r_ = -g - H s.
  int Cg(std::span<const double> w, bool* reach_boundary) {
    std::fill(s_.begin(), s_.end(), 0.0);
    for (std::size_t i = 0; i < n_; ++i) r_[i] = -g_[i];
    Precondition();
    d_ = z_;
    double ztr = Dot(z_, r_);
    const double cgtol = o_.eps_cg * std::sqrt(ztr);
    const int max_iter = o_.max_cg > 0 ? o_.max_cg : std::max(static_cast<int>(n_), 5);
    int it = 0;
    while (it < max_iter) {
      if (std::sqrt(ztr) <= cgtol) break;
      ++it;
      f_.HessianVector(w, d_, hd_);
      const double dhd = Dot(d_, hd_);
      double alpha = ztr / dhd;
      Axpy(alpha, d_, s_);
      if (!(dhd > 0) || std::sqrt(MDot(s_, s_)) > delta_) {
        // Back up and go to the boundary along d: |s + t d|_M = delta, t >= 0.
        *reach_boundary = true;
        Axpy(-alpha, d_, s_);
        const double std_ = MDot(s_, d_), sts = MDot(s_, s_), dtd = MDot(d_, d_);
        const double dsq = delta_ * delta_;
        const double rad = std::sqrt(std::max(0.0, std_ * std_ + dtd * (dsq - sts)));
        alpha = std_ >= 0 ? (dsq - sts) / (std_ + rad) : (rad - std_) / dtd;
        Axpy(alpha, d_, s_);
        Axpy(-alpha, hd_, r_);
        break;
      }
      Axpy(-alpha, hd_, r_);
      Precondition();
      const double ztr_new = Dot(z_, r_);
      const double beta = ztr_new / ztr;
      for (std::size_t i = 0; i < n_; ++i) d_[i] = z_[i] + beta * d_[i];
      ztr = ztr_new;
    }
    return it;
  }

  Function& f_;
  TronOptions o_;
  std::size_t n_;
  // Feature-sized: in huge pages, where the kernels gather (d_) and the objective scatters.
  common::HugeVector<double> g_, s_, r_, d_, hd_, z_, m_, w_new_, g_new_;
  double f_val_ = 0;
  double g0_norm_ = 0;
  double delta_ = 0;
  bool first_step_ = true;
  bool stalled_ = false;
  bool initialised_ = false;
  bool m_valid_ = false;  // m_ is M at the current w
};

}  // namespace

std::unique_ptr<Optimizer> MakeTron(Function& f, const TronOptions& options) {
  return std::make_unique<Tron>(f, options);
}

}  // namespace ringtrain::train
