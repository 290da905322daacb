// The embedding machinery shared by the models trained with Keras-style Adam
// (dot, deep): one table's parameters and moments, the exact dense update,
// the per-row update with deferred catch-up for large tables, the choice
// between them and their per-step driver (TableAdam), and helpers for
// initialisation and shuffling. Internal to models/; see dot_model.cpp for
// why the updates are exactly Keras's.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "models/dot_model.h"
#include "models/model.h"
#include "util/error.h"
#include "util/log.h"
#include "util/random.h"

namespace recs::embedding_adam {

// Constants of one Adam step, in the variables' precision as Keras computes them.
struct StepConstants {
  float alpha = 0;
  float c1 = 0;  // 1 - beta1
  float c2 = 0;  // 1 - beta2
  float eps = 0;
};

// One embedding table's parameters and Adam state.
struct Table {
  float* w = nullptr;  // rows x factors, row-major, owned by the Factors matrix
  int rows = 0;
  int factors = 0;
  std::vector<float> m;
  std::vector<float> v;
  std::vector<float> grad;            // dense gradient, zero outside `touched`
  std::vector<std::int32_t> touched;  // distinct rows with a gradient this step
  std::vector<std::int64_t> stamp;    // last step a row was added to `touched`
  std::vector<std::int64_t> current;  // kDeferred: step each row is up to date with

  Table(float* weights, int num_rows, int num_factors)
      : w(weights), rows(num_rows), factors(num_factors) {
    const auto n = static_cast<std::size_t>(rows) * static_cast<std::size_t>(factors);
    m.assign(n, 0.0f);
    v.assign(n, 0.0f);
    grad.assign(n, 0.0f);
    stamp.assign(static_cast<std::size_t>(rows), 0);
    current.assign(static_cast<std::size_t>(rows), 0);
  }
  std::size_t size() const { return m.size(); }
  float* row(float* base, std::int32_t r) const {
    return base + static_cast<std::size_t>(r) * static_cast<std::size_t>(factors);
  }
  void touch(std::int32_t r, std::int64_t step) {
    if (stamp[static_cast<std::size_t>(r)] == step) return;
    stamp[static_cast<std::size_t>(r)] = step;
    touched.push_back(r);
  }
};

// Keras's update on a whole table, in blocks so the four arrays stay in cache
// between the three passes.
inline void dense_adam(Table& t, const StepConstants& c) {
  constexpr std::size_t kBlock = 2048;
  const std::size_t n = t.size();
  for (std::size_t off = 0; off < n; off += kBlock) {
    const auto len = static_cast<Eigen::Index>(std::min(kBlock, n - off));
    Eigen::Map<Eigen::ArrayXf> w(t.w + off, len);
    Eigen::Map<Eigen::ArrayXf> m(t.m.data() + off, len);
    Eigen::Map<Eigen::ArrayXf> v(t.v.data() + off, len);
    Eigen::Map<const Eigen::ArrayXf> g(t.grad.data() + off, len);
    m += (g - m) * c.c1;
    v += (g.square() - v) * c.c2;
    w -= (m * c.alpha) / (v.sqrt() + c.eps);
  }
}

// The same update on one row.
inline void row_adam(Table& t, std::int32_t r, const StepConstants& c) {
  float* w = t.row(t.w, r);
  float* m = t.row(t.m.data(), r);
  float* v = t.row(t.v.data(), r);
  const float* g = t.row(t.grad.data(), r);
  for (int d = 0; d < t.factors; ++d) {
    m[d] += (g[d] - m[d]) * c.c1;
    v[d] += (g[d] * g[d] - v[d]) * c.c2;
    w[d] -= (m[d] * c.alpha) / (std::sqrt(v[d]) + c.eps);
  }
}

inline void clear_gradient(Table& t) {
  for (auto r : t.touched) {
    float* g = t.row(t.grad.data(), r);
    std::fill(g, g + t.factors, 0.0f);
  }
  t.touched.clear();
}

// kDeferred's view of the idle steps inside one epoch: suffix sums of the
// step sizes weighted by powers of the three ratios, and powers of the decays.
// Values needed together sit together: a catch-up reads two suffix entries
// and one power entry at random steps, and those cache misses dominate.
class IdleSteps {
 public:
  explicit IdleSteps(const DotParams& config) : config_(config) {
    const double r = config.beta1 / std::sqrt(config.beta2);
    const double q = 1.0 / std::sqrt(config.beta2);
    bases_ = {r, r * q, r * q * q, config.beta1, config.beta2};
    for (std::size_t i = 0; i < kBases; ++i) log_bases_[i] = std::log(bases_[i]);
  }

  // Whether the sums stay bounded (see the top of the file).
  static bool usable(const DotParams& c) {
    return c.beta2 > 0 && c.beta1 <= std::pow(c.beta2, 1.5);
  }

  static double alpha(const DotParams& c, std::int64_t step) {
    const auto t = static_cast<double>(step);
    return c.learning_rate * std::sqrt(1.0 - std::pow(c.beta2, t)) / (1.0 - std::pow(c.beta1, t));
  }

  // Prepares for steps first .. last.
  void start_epoch(std::int64_t first, std::int64_t last) {
    first_ = first;
    const auto n = static_cast<std::size_t>(last - first + 1);
    suffix_.assign(n + 1, Suffix{});
    for (std::size_t i = n; i-- > 0;) {
      const double a = alpha(config_, first + static_cast<std::int64_t>(i));
      for (std::size_t j = 0; j < 3; ++j) suffix_[i][j] = a + bases_[j] * suffix_[i + 1][j];
    }
    const std::size_t table = std::min<std::size_t>(n, kMaxTable) + 1;
    if (powers_.size() < table) {
      powers_.resize(table);
      for (std::size_t k = 0; k < table; ++k) {
        for (std::size_t i = 0; i < kBases; ++i) {
          powers_[k][i] = std::pow(bases_[i], static_cast<double>(k));
        }
      }
    }
  }

  // Brings row r from its current step up to step `target` with zero gradients.
  void catch_up(Table& t, std::int32_t r, std::int64_t target) const {
    auto& current = t.current[static_cast<std::size_t>(r)];
    const std::int64_t k = target - current;
    if (k <= 0) return;
    const std::int64_t s = current;
    current = target;
    const Powers p = powers(k);
    // sum_{j=1..k} alpha_{s+j} rho^j = rho (E_{s+1} - rho^k E_{s+k+1})
    const Suffix& from = suffix_[static_cast<std::size_t>(s + 1 - first_)];
    const Suffix& to = suffix_[static_cast<std::size_t>(s + k + 1 - first_)];
    double t_rho[3];
    for (std::size_t j = 0; j < 3; ++j) t_rho[j] = bases_[j] * (from[j] - p[j] * to[j]);
    // sum_j alpha r^j (q^j - 1)^n for n = 0, 1, 2.
    const double s0 = t_rho[0];
    const double s1 = t_rho[1] - t_rho[0];
    const double s2 = t_rho[2] - 2.0 * t_rho[1] + t_rho[0];
    const auto b1k = static_cast<float>(p[3]);
    const auto b2k = static_cast<float>(p[4]);
    const double eps = static_cast<float>(config_.epsilon);
    float* m = t.row(t.m.data(), r);
    float* v = t.row(t.v.data(), r);
    float* w = t.row(t.w, r);
    for (int d = 0; d < t.factors; ++d) {
      const double denom = std::sqrt(static_cast<double>(v[d])) + eps;
      const double x = eps / denom;
      w[d] -= static_cast<float>(m[d] / denom * (s0 - x * s1 + x * x * s2));
      m[d] *= b1k;
      v[d] *= b2k;
    }
  }

 private:
  static constexpr std::size_t kBases = 5;  // r, r q, r q^2, beta1, beta2
  static constexpr std::size_t kMaxTable = 8192;
  using Suffix = std::array<double, 3>;  // E_t for the three ratios
  using Powers = std::array<double, kBases>;

  Powers powers(std::int64_t k) const {
    if (static_cast<std::size_t>(k) < powers_.size()) return powers_[static_cast<std::size_t>(k)];
    Powers p;
    for (std::size_t i = 0; i < kBases; ++i) {
      p[i] = std::exp(static_cast<double>(k) * log_bases_[i]);
    }
    return p;
  }

  DotParams config_;  // the Adam settings: learning_rate, beta1, beta2, epsilon
  Powers bases_{};
  Powers log_bases_{};
  std::int64_t first_ = 1;
  std::vector<Suffix> suffix_;  // for steps first_ .. last + 1
  std::vector<Powers> powers_;  // base^k for small k
};

// Keras's RandomUniform(-scale, scale) in spirit, drawn independently of the
// standard library (util/random.h).
inline void init_uniform(RowMatrix& m, random::Rng& rng, double scale) {
  const auto s = static_cast<float>(scale);
  float* p = m.data();
  for (Eigen::Index i = 0; i < m.size(); ++i) p[i] = random::symmetric(rng, s);
}

struct Example {
  std::int32_t user;
  std::int32_t movie;
  float value;
};

// The examples themselves are shuffled, not indices, so training reads them
// in order instead of missing the cache on every one.
inline void shuffle_examples(std::vector<Example>& examples, random::Rng& rng) {
  random::shuffle(examples, rng);
}

// The Adam mode a fit uses: kAuto takes kDense while the run's element
// updates (dense_cost) stay within the budget, else kDeferred; kDeferred
// falls back to kDense when its sums would not stay bounded. Warns about
// that fallback and about a dense run beyond the budget.
inline AdamMode resolve_adam_mode(AdamMode asked, double dense_cost, double dense_budget,
                                  const DotParams& params) {
  const bool deferred_ok = IdleSteps::usable(params);
  AdamMode mode = asked;
  if (mode == AdamMode::kAuto) {
    mode = dense_cost <= dense_budget || !deferred_ok ? AdamMode::kDense : AdamMode::kDeferred;
  }
  if (mode == AdamMode::kDeferred && !deferred_ok) {
    log::warn("deferred Adam needs beta1 <= beta2^1.5; using dense Adam");
    mode = AdamMode::kDense;
  }
  if (mode == AdamMode::kDense && dense_cost > dense_budget) {
    char msg[96];
    std::snprintf(msg, sizeof msg, "dense Adam over %.3g element updates will be slow", dense_cost);
    log::warn(msg);
  }
  return mode;
}

inline const char* describe(AdamMode mode) {
  return mode == AdamMode::kDense ? "dense Adam (exact Keras updates)"
                                  : "deferred Adam (Keras updates applied lazily)";
}

// Keras's Adam on the user and movie tables of one fit, in a resolved mode
// (kDense or kDeferred). Per step: prepare() the batch's rows, add their
// gradients to the tables' grad, then apply().
class TableAdam {
 public:
  TableAdam(Table& users, Table& movies, const DotParams& params, AdamMode mode)
      : users_(users), movies_(movies), params_(params), mode_(mode), idle_(params) {
    c_.c1 = static_cast<float>(1.0 - params.beta1);
    c_.c2 = static_cast<float>(1.0 - params.beta2);
    c_.eps = static_cast<float>(params.epsilon);
  }

  // Before an epoch of `steps` steps that follows step `done`.
  void start_epoch(std::int64_t done, std::int64_t steps) {
    if (mode_ == AdamMode::kDeferred) idle_.start_epoch(done + 1, done + steps);
  }

  // Before the gradients of step `step`: kDeferred brings the batch's rows up
  // to the previous step.
  void prepare(const Example* begin, const Example* end, std::int64_t step) {
    if (mode_ != AdamMode::kDeferred) return;
    for (const Example* e = begin; e != end; ++e) {
      idle_.catch_up(users_, e->user, step - 1);
      idle_.catch_up(movies_, e->movie, step - 1);
    }
  }

  // The constants of step `step`, for parameters updated beside the tables.
  const StepConstants& constants(std::int64_t step) {
    c_.alpha = static_cast<float>(IdleSteps::alpha(params_, step));
    return c_;
  }

  // Step `step` on both tables, then clears their gradients.
  void apply(std::int64_t step) {
    constants(step);
    if (mode_ == AdamMode::kDense) {
      dense_adam(users_, c_);
      dense_adam(movies_, c_);
    } else {
      for (auto r : users_.touched) {
        row_adam(users_, r, c_);
        users_.current[static_cast<std::size_t>(r)] = step;
      }
      for (auto r : movies_.touched) {
        row_adam(movies_, r, c_);
        movies_.current[static_cast<std::size_t>(r)] = step;
      }
    }
    clear_gradient(users_);
    clear_gradient(movies_);
  }

  // After an epoch's last step `step`: kDeferred brings every row up to it.
  void end_epoch(std::int64_t step) {
    if (mode_ != AdamMode::kDeferred) return;
    for (int r = 0; r < users_.rows; ++r) idle_.catch_up(users_, r, step);
    for (int r = 0; r < movies_.rows; ++r) idle_.catch_up(movies_, r, step);
  }

 private:
  Table& users_;
  Table& movies_;
  DotParams params_;
  AdamMode mode_;
  IdleSteps idle_;
  StepConstants c_;
};

}  // namespace recs::embedding_adam
