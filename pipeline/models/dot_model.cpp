// Keras semantics replicated here, because each one moves the tutorial's
// validation error:
//  - Embedding weights start uniform in [-init_scale, init_scale).
//  - Batch loss is the mean over the batch of (u.m - y)^2, so each example's
//    gradient is 2 (pred - y) / batch_len times the other vector; a row used
//    twice in a batch gets the sum (the dense gradient TF forms from the
//    embedding's IndexedSlices), and Adam squares that sum.
//  - Adam as Keras (2.11+ and 3) applies it to an embedding: the sparse
//    gradient is scattered into a dense one, so every row's m and v decay and
//    every row with non-zero m moves, every step, even rows not in the batch:
//      m += (g - m)(1 - beta1);  v += (g^2 - v)(1 - beta2)
//      alpha = lr sqrt(1 - beta2^t) / (1 - beta1^t)
//      w -= alpha m / (sqrt(v) + epsilon)
//    with t counting steps across epochs.
//  - The order is reshuffled every epoch and the last, partial batch is used.
//  - The reported epoch loss is the batch losses' mean weighted by batch size,
//    each taken before its step.
//
// Dense Adam costs (users + movies) * factors per step whatever the batch, so
// it is only used when the whole run stays within a budget (ml-latest-small:
// ~4.4e8 element updates). Beyond that, kDeferred follows the same trajectory
// lazily. A row outside the batch has g = 0, so after k idle steps from step s
// its moments are exactly m beta1^k and v beta2^k, and it moved by
//   sum_{j=1..k} alpha_{s+j} beta1^j m / (beta2^{j/2} sqrt(v) + eps)
//   = m/D sum_j alpha_{s+j} r^j / (1 + x (q^j - 1)),
// with D = sqrt(v) + eps, x = eps / D, r = beta1 / sqrt(beta2),
// q = 1 / sqrt(beta2). Expanding 1 / (1 + x (q^j - 1)) to second order in x
// leaves three sums T(rho) = sum_j alpha_{s+j} rho^j over rho = r, r q, r q^2,
// each a difference of per-epoch suffix sums E_t = alpha_t + rho E_{t+1}. So a
// row catches up in O(factors) when next used (and every row at the end of
// each epoch), with a relative error of 1e-7 when sqrt(v) is down at epsilon
// and 1e-12 at ten times that: float rounding. (Keeping only the x^0 term
// costs 5e-7 at sqrt(v) = 1e-3, which Adam's sign-like steps amplify to ~100x
// the rounding-level gap over an epoch.) The sums need
// r q^2 = beta1 / beta2^1.5 <= 1, true for any usual setting; otherwise kDense
// is used whatever the cost. TF's LazyAdam, which simply skips idle rows, is
// not an option: on ml-latest-small it ends at validation MSE 0.54, not 0.49.
//
// Training is single-threaded: batch-32 Adam is a sequence of dependent steps
// and each step is far too small to split. That also makes the result
// independent of the thread count.

// GCC 12 flags its own _mm512_undefined_ps() idiom inside Eigen's AVX-512
// sqrt as maybe-uninitialised once instantiated here (a known false positive);
// it must be silenced before Eigen is included to reach the instantiations.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "models/dot_model.h"

#include <Eigen/Core>
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <sstream>
#include <utility>
#include <vector>

#include "util/error.h"
#include "util/log.h"

namespace recs {
namespace {

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
void dense_adam(Table& t, const StepConstants& c) {
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
void row_adam(Table& t, std::int32_t r, const StepConstants& c) {
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

void clear_gradient(Table& t) {
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
  explicit IdleSteps(const ModelConfig& config) : config_(config) {
    const double r = config.beta1 / std::sqrt(config.beta2);
    const double q = 1.0 / std::sqrt(config.beta2);
    bases_ = {r, r * q, r * q * q, config.beta1, config.beta2};
    for (std::size_t i = 0; i < kBases; ++i) log_bases_[i] = std::log(bases_[i]);
  }

  // Whether the sums stay bounded (see the top of the file).
  static bool usable(const ModelConfig& c) {
    return c.beta2 > 0 && c.beta1 <= std::pow(c.beta2, 1.5);
  }

  static double alpha(const ModelConfig& c, std::int64_t step) {
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

  const ModelConfig& config_;
  Powers bases_{};
  Powers log_bases_{};
  std::int64_t first_ = 1;
  std::vector<Suffix> suffix_;  // for steps first_ .. last + 1
  std::vector<Powers> powers_;  // base^k for small k
};

// Keras's RandomUniform(-scale, scale) in spirit; the bits come straight from
// mt19937_64 so the factors do not depend on the standard library.
void init_uniform(RowMatrix& m, std::mt19937_64& rng, double scale) {
  const auto s = static_cast<float>(scale);
  float* p = m.data();
  for (Eigen::Index i = 0; i < m.size(); ++i) {
    const float u = static_cast<float>(rng() >> 40) * 0x1p-24f;  // [0, 1)
    p[i] = (2.0f * u - 1.0f) * s;
  }
}

__extension__ typedef unsigned __int128 Uint128;

struct Example {
  std::int32_t user;
  std::int32_t movie;
  float value;
};

// Fisher-Yates with a multiply-shift draw (bias below 2^-32 for any realistic
// size), for the same reason. The examples themselves are shuffled, not
// indices, so training reads them in order instead of missing the cache on
// every one.
void shuffle_examples(std::vector<Example>& examples, std::mt19937_64& rng) {
  for (std::size_t i = examples.size(); i > 1; --i) {
    const auto j =
        static_cast<std::size_t>((static_cast<Uint128>(rng()) * static_cast<Uint128>(i)) >> 64);
    std::swap(examples[i - 1], examples[j]);
  }
}

void check_triplets(const Triplets& t, const char* what, int num_users, int num_movies) {
  if (t.user.size() != t.size() || t.movie.size() != t.size()) {
    throw Error(ExitCode::kInternal, std::string(what) + " ratings: column lengths differ");
  }
  for (std::size_t i = 0; i < t.size(); ++i) {
    if (t.user[i] < 0 || t.user[i] >= num_users || t.movie[i] < 0 || t.movie[i] >= num_movies) {
      throw Error(ExitCode::kInternal, std::string(what) + " rating " + std::to_string(i) +
                                           ": user " + std::to_string(t.user[i]) + " or movie " +
                                           std::to_string(t.movie[i]) + " out of range");
    }
    if (!std::isfinite(t.value[i])) {
      throw Error(ExitCode::kInternal,
                  std::string(what) + " rating " + std::to_string(i) + " is not finite");
    }
  }
}

std::string format_epoch(const EpochReport& e, int epochs) {
  char buf[160];
  if (std::isnan(e.val_mse)) {
    std::snprintf(buf, sizeof buf, "epoch %d/%d: loss %.4f (%.2f s)", e.epoch, epochs, e.loss,
                  e.seconds);
  } else {
    std::snprintf(buf, sizeof buf, "epoch %d/%d: loss %.4f, val_mse %.4f, val_rmse %.4f (%.2f s)",
                  e.epoch, epochs, e.loss, e.val_mse, e.val_rmse, e.seconds);
  }
  return buf;
}

}  // namespace

std::string to_string(AdamMode mode) {
  switch (mode) {
    case AdamMode::kAuto:
      return "auto";
    case AdamMode::kDense:
      return "dense";
    case AdamMode::kDeferred:
      return "deferred";
  }
  return "?";
}

DotModel::DotModel(const ModelConfig& model, const TrainConfig& /*train*/, DotModelOptions options)
    : config_(model), options_(std::move(options)) {
  if (config_.factors < 1) throw ConfigError("model.factors must be at least 1");
  if (config_.epochs < 1) throw ConfigError("model.epochs must be at least 1");
  if (config_.batch_size < 1) throw ConfigError("model.batch_size must be at least 1");
  if (!(config_.beta1 >= 0 && config_.beta1 < 1) || !(config_.beta2 >= 0 && config_.beta2 < 1)) {
    throw ConfigError("model.beta1 and model.beta2 must lie in [0, 1)");
  }
  if (!(config_.learning_rate > 0) || !(config_.epsilon > 0) || !(config_.init_scale > 0) ||
      !(config_.l2 >= 0)) {
    throw ConfigError("model.learning_rate, epsilon and init_scale must be positive, l2 >= 0");
  }
}

TrainReport DotModel::fit(const Triplets& train, const Triplets& validation, int num_users,
                          int num_movies) {
  if (num_users < 1 || num_movies < 1 || train.size() == 0) {
    throw Error(ExitCode::kInput, "nothing to train on: " + std::to_string(train.size()) +
                                      " ratings, " + std::to_string(num_users) + " users, " +
                                      std::to_string(num_movies) + " movies");
  }
  if (train.size() > std::numeric_limits<std::uint32_t>::max()) {
    throw Error(ExitCode::kInput, "too many training ratings");
  }
  check_triplets(train, "training", num_users, num_movies);
  check_triplets(validation, "validation", num_users, num_movies);

  const int f = config_.factors;
  const auto n = train.size();
  const auto batch = static_cast<std::size_t>(config_.batch_size);
  const auto steps_per_epoch = static_cast<std::int64_t>((n + batch - 1) / batch);
  const std::int64_t total_steps = steps_per_epoch * config_.epochs;

  std::mt19937_64 init_rng(config_.seed);
  if (options_.initial) {
    const auto& init = *options_.initial;
    if (init.users.rows() != num_users || init.movies.rows() != num_movies ||
        init.users.cols() != f || init.movies.cols() != f) {
      throw Error(ExitCode::kInternal, "initial factors do not match the model's shape");
    }
    factors_ = init;
  } else {
    factors_.users.resize(num_users, f);
    factors_.movies.resize(num_movies, f);
    init_uniform(factors_.users, init_rng, config_.init_scale);
    init_uniform(factors_.movies, init_rng, config_.init_scale);
  }

  // Pick the Adam mode; see the top of the file.
  const double dense_cost =
      static_cast<double>(num_users + num_movies) * f * static_cast<double>(total_steps);
  const bool deferred_ok = IdleSteps::usable(config_);
  AdamMode mode = options_.adam;
  if (mode == AdamMode::kAuto) {
    mode = dense_cost <= options_.dense_budget || !deferred_ok ? AdamMode::kDense
                                                               : AdamMode::kDeferred;
  }
  if (mode == AdamMode::kDeferred && !deferred_ok) {
    log::warn("deferred Adam needs beta1 <= beta2^1.5; using dense Adam");
    mode = AdamMode::kDense;
  }
  if (mode == AdamMode::kDense && dense_cost > options_.dense_budget) {
    char msg[96];
    std::snprintf(msg, sizeof msg, "dense Adam over %.3g element updates will be slow", dense_cost);
    log::warn(msg);
  }
  mode_used_ = mode;
  {
    std::ostringstream msg;
    msg << "training dot model: " << n << " ratings, " << validation.size() << " validation, "
        << num_users << " users, " << num_movies << " movies, " << f << " factors, batch " << batch
        << ", " << steps_per_epoch << " steps/epoch, "
        << (mode == AdamMode::kDense ? "dense Adam (exact Keras updates)"
                                     : "deferred Adam (Keras updates applied lazily)");
    log::info(msg.str());
  }

  Table users(factors_.users.data(), num_users, f);
  Table movies(factors_.movies.data(), num_movies, f);
  IdleSteps idle(config_);

  StepConstants c;
  c.c1 = static_cast<float>(1.0 - config_.beta1);
  c.c2 = static_cast<float>(1.0 - config_.beta2);
  c.eps = static_cast<float>(config_.epsilon);
  const bool use_l2 = config_.l2 > 0;
  const auto l2 = static_cast<float>(config_.l2);

  std::mt19937_64 shuffle_rng(config_.seed ^ 0x9e3779b97f4a7c15ULL);
  std::vector<Example> examples(n);
  for (std::size_t i = 0; i < n; ++i) examples[i] = {train.user[i], train.movie[i], train.value[i]};

  TrainReport report;
  std::int64_t step = 0;
  for (int epoch = 1; epoch <= config_.epochs; ++epoch) {
    log::Stopwatch watch;
    shuffle_examples(examples, shuffle_rng);
    if (mode == AdamMode::kDeferred) idle.start_epoch(step + 1, step + steps_per_epoch);
    double loss_sum = 0;  // sum over examples of their loss, before their step
    for (std::size_t begin = 0; begin < n; begin += batch) {
      ++step;
      const std::size_t end = std::min(n, begin + batch);
      const float scale = 2.0f / static_cast<float>(end - begin);
      if (mode == AdamMode::kDeferred) {
        for (std::size_t i = begin; i < end; ++i) {
          idle.catch_up(users, examples[i].user, step - 1);
          idle.catch_up(movies, examples[i].movie, step - 1);
        }
      }
      for (std::size_t i = begin; i < end; ++i) {
        const std::int32_t u = examples[i].user;
        const std::int32_t mv = examples[i].movie;
        const float* wu = users.row(users.w, u);
        const float* wm = movies.row(movies.w, mv);
        float pred = 0;
        for (int d = 0; d < f; ++d) pred += wu[d] * wm[d];
        const float err = pred - examples[i].value;
        loss_sum += static_cast<double>(err) * err;
        float* gu = users.row(users.grad.data(), u);
        float* gm = movies.row(movies.grad.data(), mv);
        const float coef = scale * err;
        for (int d = 0; d < f; ++d) {
          gu[d] += coef * wm[d];
          gm[d] += coef * wu[d];
        }
        if (use_l2) {
          // Penalty l2 (|u|^2 + |m|^2) per example, averaged with the loss.
          float norm = 0;
          for (int d = 0; d < f; ++d) {
            gu[d] += scale * l2 * wu[d];
            gm[d] += scale * l2 * wm[d];
            norm += wu[d] * wu[d] + wm[d] * wm[d];
          }
          loss_sum += static_cast<double>(l2) * norm;
        }
        users.touch(u, step);
        movies.touch(mv, step);
      }
      c.alpha = static_cast<float>(IdleSteps::alpha(config_, step));
      if (mode == AdamMode::kDense) {
        dense_adam(users, c);
        dense_adam(movies, c);
      } else {
        for (auto r : users.touched) {
          row_adam(users, r, c);
          users.current[static_cast<std::size_t>(r)] = step;
        }
        for (auto r : movies.touched) {
          row_adam(movies, r, c);
          movies.current[static_cast<std::size_t>(r)] = step;
        }
      }
      clear_gradient(users);
      clear_gradient(movies);
    }
    if (mode == AdamMode::kDeferred) {
      for (int r = 0; r < num_users; ++r) idle.catch_up(users, r, step);
      for (int r = 0; r < num_movies; ++r) idle.catch_up(movies, r, step);
    }

    EpochReport e;
    e.epoch = epoch;
    e.loss = loss_sum / static_cast<double>(n);
    if (validation.size() > 0) {
      e.val_mse = mse(factors_, validation);
      e.val_rmse = std::sqrt(e.val_mse);
    } else {
      e.val_mse = e.val_rmse = std::numeric_limits<double>::quiet_NaN();
    }
    e.seconds = watch.seconds();
    log::info(format_epoch(e, config_.epochs));
    report.epochs.push_back(e);
    if (!std::isfinite(e.loss)) {
      throw Error(ExitCode::kConfig, "training diverged at epoch " + std::to_string(epoch) +
                                         " (loss is not finite); lower model.learning_rate");
    }
  }
  return report;
}

}  // namespace recs
