// Implicit-feedback ALS (Hu, Koren, Volinsky 2008) with graded or binary
// preferences. A rated (user, movie) pair is an interaction with confidence
// c = 1 + alpha r and preference p; every other pair has confidence 1 and
// preference 0. model.preference picks which and p: `graded` (the default)
// makes every rating r > 0 an interaction with p = r / the top training
// rating, so a movie the user saw and rated low counts as a weak preference,
// not as one never seen (better ranking, more interactions to fit: see
// README); `binary` keeps only positives (r > 0 and r >= the positive
// threshold) with p = 1 and leaves the lower ratings unobserved. The objective
//   sum_{u,i} c_ui (p_ui - x_u . y_i)^2 + sum_u l2_u |x_u|^2 + sum_i l2_i |y_i|^2
// (l2_r: model.l2 scaled by the row's share of the confidence, see
// row_penalties) is minimised by alternating users and movies. Each row's
// normal equations
//   (Y^T Y + l2_u I + sum_i (c_ui - 1) y_i y_i^T) x_u = sum_i c_ui p_ui y_i
// are solved approximately by a few conjugate-gradient steps warm-started at
// the current x_u (Takacs et al. 2011; implicit's least_squares_cg): the
// shared Gram matrix Y^T Y is formed once per half-iteration, so a step costs
// O(k^2 + nnz(u) k) instead of building and factoring a k x k matrix per row.
//
// Rows are independent within a half-iteration, so the TBB loop over them
// gives bit-identical factors whatever the thread count or scheduling.
//
// Exported factors are X (users) and Y (movies), no bias columns.

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "models/als.h"

#include <fmt/format.h>
#include <tbb/blocked_range.h>
#include <tbb/info.h>
#include <tbb/parallel_for.h>
#include <tbb/parallel_reduce.h>
#include <tbb/task_arena.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <numeric>
#include <random>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "models/registry.h"
#include "models/train_loop.h"
#include "util/error.h"
#include "util/log.h"
#include "util/random.h"
#include "util/simd.h"

namespace recs {
namespace {

// Interactions of one side in compressed-row form: row r's entries are
// [start[r], start[r + 1]), each an index on the other side and its rating
// (a repeated pair's ratings summed), from which Preference derives the
// confidence and the preference.
struct Csr {
  std::vector<std::size_t> start;
  std::vector<std::int32_t> index;
  std::vector<float> value;
};

// An interaction's confidence minus 1 (alpha r) and its confidence times its
// preference, from its rating r.
struct Preference {
  float alpha = 1;
  bool graded = true;
  float inv_top = 1;  // graded: 1 / the top rating, p = min(1, r / top)

  float weight(float r) const { return alpha * r; }
  float pref(float r) const { return graded ? std::min(1.0f, r * inv_top) : 1.0f; }
  float target(float r) const { return (1.0f + weight(r)) * pref(r); }
};

// One side's interactions from the training triplets: the ratings `kept`
// accepts, grouped by `row` (user or movie), each row's entries sorted by the
// other side's index, a repeated pair summed into one interaction whose
// rating is the sum (the combined confidence, not two copies of the
// unit-confidence part). A counting sort scatters the entries straight into
// place; ratings arrive in (user, movie) order, which leaves every row
// already sorted on both sides, so the per-row sort is only a fallback.
template <typename Kept>
Csr build_csr(const std::vector<std::int32_t>& row, const std::vector<std::int32_t>& col,
              const std::vector<float>& value, int rows, Kept kept) {
  const std::size_t n = value.size();
  Csr csr;
  csr.start.assign(static_cast<std::size_t>(rows) + 1, 0);
  for (std::size_t i = 0; i < n; ++i) {
    if (kept(value[i])) ++csr.start[static_cast<std::size_t>(row[i]) + 1];
  }
  std::partial_sum(csr.start.begin(), csr.start.end(), csr.start.begin());
  csr.index.resize(csr.start.back());
  csr.value.resize(csr.start.back());
  {
    std::vector<std::size_t> fill(csr.start.begin(), csr.start.end() - 1);
    for (std::size_t i = 0; i < n; ++i) {
      if (!kept(value[i])) continue;
      const std::size_t at = fill[static_cast<std::size_t>(row[i])]++;
      csr.index[at] = col[i];
      csr.value[at] = value[i];
    }
  }
  std::vector<std::pair<std::int32_t, float>> pairs;
  std::size_t out = 0;
  for (std::size_t r = 0; r + 1 < csr.start.size(); ++r) {
    const std::size_t b = csr.start[r], e = csr.start[r + 1];
    csr.start[r] = out;
    if (!std::is_sorted(csr.index.begin() + static_cast<std::ptrdiff_t>(b),
                        csr.index.begin() + static_cast<std::ptrdiff_t>(e))) {
      pairs.clear();
      for (std::size_t j = b; j < e; ++j) pairs.emplace_back(csr.index[j], csr.value[j]);
      std::stable_sort(pairs.begin(), pairs.end(),
                       [](const auto& x, const auto& y) { return x.first < y.first; });
      for (std::size_t j = b; j < e; ++j) {
        csr.index[j] = pairs[j - b].first;
        csr.value[j] = pairs[j - b].second;
      }
    }
    for (std::size_t j = b; j < e; ++j) {
      if (out > csr.start[r] && csr.index[out - 1] == csr.index[j]) {
        csr.value[out - 1] += csr.value[j];
      } else {
        csr.index[out] = csr.index[j];
        csr.value[out] = csr.value[j];
        ++out;
      }
    }
  }
  csr.start.back() = out;
  csr.index.resize(out);
  csr.value.resize(out);
  return csr;
}

// Frequency-scaled regularisation (Rendle et al. 2022, "Revisiting the
// performance of iALS"): row r's penalty is l2 (m_r / mean m)^exponent,
// m_r = sum of its confidences c_ri, so rows with much evidence are held
// tighter and sparse rows looser than a flat l2 would; l2 stays the penalty
// of an average row (model.l2_frequency_exponent; 0.5 measured best on
// ml-latest-small, 0 = flat l2).
std::vector<float> row_penalties(const Csr& csr, const Preference& pref, double l2,
                                 double exponent) {
  const std::size_t rows = csr.start.size() - 1;
  std::vector<double> mass(rows, 0.0);
  double total = 0;
  for (std::size_t r = 0; r < rows; ++r) {
    for (std::size_t j = csr.start[r]; j < csr.start[r + 1]; ++j)
      mass[r] += 1.0 + pref.weight(csr.value[j]);
    total += mass[r];
  }
  const double mean = total / static_cast<double>(std::max<std::size_t>(1, rows));
  std::vector<float> reg(rows);
  for (std::size_t r = 0; r < rows; ++r) {
    // An empty row keeps the penalty of a one-interaction row (its solution is 0).
    const double m = std::max(mass[r], 1.0);
    reg[r] = static_cast<float>(l2 * std::pow(m / mean, exponent));
  }
  return reg;
}

using Vec = Eigen::VectorXf;
using ConstRow = Eigen::Map<const Eigen::VectorXf>;
using Row = Eigen::Map<Eigen::VectorXf>;

// Per-task scratch, allocated once per TBB chunk rather than per row: the
// CG vectors, and the row's interactions gathered into contiguous rows of
// `ys` with their weights, so each CG step is one streaming pass over them
// (project_rows) instead of a gather per interaction.
struct Scratch {
  explicit Scratch(int k) : r(k), p(k), ap(k) {}
  Vec r, p, ap;
  RowMatrix ys;
  Vec w, t;
};

// out += sum_j (base_j + sign w_j (y_j . v)) y_j over the n gathered rows y_j
// (k floats each, contiguous), base null meaning 0: a CG step's product
// (base 0, sign +1) and the starting residual (base the targets, sign -1).
// One pass over the rows, each read once for its dot product and its update,
// where two matrix-vector products read them twice. Where k is a multiple of
// the vector width, at most kMaxChunks vectors, v and out stay in registers
// across the rows (project_rows_fixed: about a fifth off an ML-25M-size
// iteration at 128 factors, README "Speed"; the width is util/simd.h's);
// any other k takes the Eigen form. Either is a fixed order of operations
// per row, so the factors stay bit-identical whatever the thread count.
//
// Vectors of project_rows_fixed's k: 8 holds v, out and a row in 24 of
// AVX-512's 32 registers (128 factors); with AVX2 (16 registers) 64 factors,
// some of v read back from L1. None for a scalar build.
constexpr int kMaxChunks = simd::kLanes > 1 ? 8 : 0;

template <int C>
void project_rows_fixed(const float* ys, Eigen::Index n, const float* base, const float* w,
                        float sign, const float* v_data, float* out_data) {
  constexpr int L = simd::kLanes;
  simd::Vec v[C], out[C];
  for (int c = 0; c < C; ++c) {
    v[c] = simd::load(v_data + c * L);
    out[c] = simd::load(out_data + c * L);
  }
  for (Eigen::Index j = 0; j < n; ++j) {
    const float* y = ys + j * C * L;
    // Two accumulators: half the dependency chain of one.
    simd::Vec a0 = simd::mul(simd::load(y), v[0]);
    simd::Vec a1 = simd::zero();
    if constexpr (C > 1) a1 = simd::mul(simd::load(y + L), v[1]);
    for (int c = 2; c < C; c += 2) {
      a0 = simd::fma(simd::load(y + c * L), v[c], a0);
      if (c + 1 < C) a1 = simd::fma(simd::load(y + (c + 1) * L), v[c + 1], a1);
    }
    const float coef = (base ? base[j] : 0.0f) + sign * w[j] * simd::sum(simd::add(a0, a1));
    const simd::Vec cv = simd::set(coef);
    for (int c = 0; c < C; ++c) out[c] = simd::fma(cv, simd::load(y + c * L), out[c]);
  }
  for (int c = 0; c < C; ++c) simd::store(out_data + c * L, out[c]);
}

template <int... C>
bool project_rows_dispatch(std::integer_sequence<int, C...>, int chunks, const float* ys,
                           Eigen::Index n, const float* base, const float* w, float sign,
                           const float* v, float* out) {
  return (
      (chunks == C + 1 ? (project_rows_fixed<C + 1>(ys, n, base, w, sign, v, out), true) : false) ||
      ...);
}

void project_rows(const float* ys, Eigen::Index n, int k, const float* base, const float* w,
                  float sign, const float* v, float* out) {
  if constexpr (kMaxChunks > 0) {
    if (k % simd::kLanes == 0 && k / simd::kLanes <= kMaxChunks &&
        project_rows_dispatch(std::make_integer_sequence<int, kMaxChunks>{}, k / simd::kLanes, ys,
                              n, base, w, sign, v, out)) {
      return;
    }
  }
  const Eigen::Map<const RowMatrix> rows(ys, n, k);
  const ConstRow vv(v, k);
  Row o(out, k);
  for (Eigen::Index j = 0; j < n; ++j) {
    const float coef = (base ? base[j] : 0.0f) + sign * w[j] * rows.row(j).dot(vv.transpose());
    o.noalias() += coef * rows.row(j).transpose();
  }
}

// A few CG steps on one row: x (in/out) against `other` (the fixed side),
// `gram` = other^T other, `reg` the row's penalty. Returns the row's share of
// the objective at the new x when `loss` is set (see AlsModel::objective):
// its penalty and, per interaction, c (p - s)^2 - s^2 with s = y_i . x.
double solve_row(float* x_data, const RowMatrix& other, const Eigen::MatrixXf& gram, const Csr& csr,
                 const Preference& pref, std::size_t row, int steps, float reg, bool loss,
                 Scratch& s) {
  const auto k = static_cast<Eigen::Index>(gram.rows());
  Row x(x_data, k);
  const std::size_t b = csr.start[row];
  const auto n = static_cast<Eigen::Index>(csr.start[row + 1] - b);
  if (s.ys.rows() < n) s.ys.resize(n, k);
  if (s.w.size() < n) {
    s.w.resize(n);
    s.t.resize(n);
  }
  auto ys = s.ys.topRows(n);
  auto w = s.w.head(n);
  auto t = s.t.head(n);
  // r = b - A x = -G x + sum_i (c_i p_i - (c_i - 1) y_i . x) y_i
  for (Eigen::Index j = 0; j < n; ++j) {
    const float v = csr.value[b + static_cast<std::size_t>(j)];
    ys.row(j) = other.row(csr.index[b + static_cast<std::size_t>(j)]);
    w[j] = pref.weight(v);
    t[j] = pref.target(v);
  }
  s.r.noalias() = -(gram * x);
  s.r -= reg * x;
  project_rows(ys.data(), n, static_cast<int>(k), t.data(), w.data(), -1.0f, x.data(), s.r.data());
  s.p = s.r;
  float rs_old = s.r.squaredNorm();
  for (int it = 0; it < steps; ++it) {
    if (!(rs_old > 1e-20f)) break;  // converged (or empty row at x = 0)
    s.ap.noalias() = gram * s.p;
    s.ap += reg * s.p;
    project_rows(ys.data(), n, static_cast<int>(k), nullptr, w.data(), 1.0f, s.p.data(),
                 s.ap.data());
    const float alpha = rs_old / s.p.dot(s.ap);
    x += alpha * s.p;
    s.r -= alpha * s.ap;
    const float rs_new = s.r.squaredNorm();
    s.p = s.r + (rs_new / rs_old) * s.p;
    rs_old = rs_new;
  }
  if (!loss) return 0.0;
  t.noalias() = ys * x;
  double sum = static_cast<double>(reg) * static_cast<double>(x.squaredNorm());
  for (Eigen::Index j = 0; j < n; ++j) {
    const double sj = t[j];
    const double p = pref.pref(csr.value[b + static_cast<std::size_t>(j)]);
    sum += (1.0 + static_cast<double>(w[j])) * (p - sj) * (p - sj) - sj * sj;
  }
  return sum;
}

class AlsModel final : public Model {
 public:
  AlsModel(const AlsParams& params, const ModelContext& context)
      : config_(params), seed_(context.seed), threads_(context.threads) {
    if (config_.factors < 1) throw ConfigError("model.factors must be at least 1");
    if (config_.epochs < 1) throw ConfigError("model.epochs must be at least 1");
    if (config_.cg_steps < 1) throw ConfigError("model.cg_steps must be at least 1");
    if (!(config_.alpha >= 0)) throw ConfigError("model.alpha must not be negative");
    if (config_.preference != "graded" && config_.preference != "binary") {
      throw ConfigError("model.preference must be graded or binary, not '" + config_.preference +
                        "'");
    }
    if (!(config_.l2 >= 0) || !(config_.init_scale > 0)) {
      throw ConfigError("model.l2 must not be negative and model.init_scale must be positive");
    }
    if (!std::isfinite(config_.positive_threshold)) {
      throw ConfigError("model.positive_threshold must be finite");
    }
    if (threads_ < 0) throw ConfigError("train.threads must not be negative");
  }

  std::string type() const override { return "als"; }
  TrainReport fit(const Triplets& train, const Triplets& validation, int num_users,
                  int num_movies) override;
  Factors factors() const override { return factors_; }
  bool warm_start(const Factors& init) override {
    if (init.users.cols() != config_.factors || init.movies.cols() != config_.factors) return false;
    init_ = init;
    return true;
  }

 private:
  // One half-iteration: re-solves every row of `solve` against `fixed`; with
  // `row_loss`, each row's share of the objective at its new vector.
  void half_step(RowMatrix& solve, const RowMatrix& fixed, const Csr& csr,
                 const std::vector<float>& reg, tbb::task_arena& arena,
                 std::vector<double>* row_loss) const;
  // The objective divided by the number of interactions, from the movie
  // rows' shares the last half-iteration left in `movie_loss`.
  double objective(const std::vector<double>& movie_loss, std::size_t interactions) const;

  std::vector<float> user_reg_;
  std::vector<float> movie_reg_;
  Preference pref_;

  AlsParams config_;
  std::uint64_t seed_ = 42;
  int threads_ = 0;
  Factors factors_;
  Factors init_;  // warm_start()'s vectors; empty: the seeded random start
};

void AlsModel::half_step(RowMatrix& solve, const RowMatrix& fixed, const Csr& csr,
                         const std::vector<float>& reg, tbb::task_arena& arena,
                         std::vector<double>* row_loss) const {
  const int k = config_.factors;
  // Single-threaded Eigen product: a fixed summation order.
  Eigen::MatrixXf gram = fixed.transpose() * fixed;
  const auto rows = static_cast<std::size_t>(solve.rows());
  if (row_loss) row_loss->assign(rows, 0.0);
  arena.execute([&] {
    tbb::parallel_for(tbb::blocked_range<std::size_t>(0, rows, 256),
                      [&](const tbb::blocked_range<std::size_t>& range) {
                        Scratch s(k);
                        for (std::size_t r = range.begin(); r != range.end(); ++r) {
                          const double l = solve_row(solve.data() + r * static_cast<std::size_t>(k),
                                                     fixed, gram, csr, pref_, r, config_.cg_steps,
                                                     reg[r], row_loss != nullptr, s);
                          if (row_loss) (*row_loss)[r] = l;
                        }
                      });
  });
}

double AlsModel::objective(const std::vector<double>& movie_loss, std::size_t interactions) const {
  // sum over all pairs of (x.y)^2 = trace((X^T X)(Y^T Y)); the observed pairs
  // then swap their unit-confidence, zero-preference term for their own, which
  // the movie half-step summed per movie with the movie penalties (each
  // interaction is in exactly one movie's row). Summed in row order: the same
  // figure for any thread count.
  const RowMatrix& x = factors_.users;
  const RowMatrix& y = factors_.movies;
  const Eigen::MatrixXd gx = (x.transpose() * x).cast<double>();
  const Eigen::MatrixXd gy = (y.transpose() * y).cast<double>();
  double total = (gx.array() * gy.array()).sum();
  for (Eigen::Index u = 0; u < x.rows(); ++u) {
    total += user_reg_[static_cast<std::size_t>(u)] * static_cast<double>(x.row(u).squaredNorm());
  }
  for (const double l : movie_loss) total += l;
  return total / static_cast<double>(std::max<std::size_t>(1, interactions));
}

TrainReport AlsModel::fit(const Triplets& train, const Triplets& validation, int num_users,
                          int num_movies) {
  check_fit_inputs(train, validation, num_users, num_movies);

  const int threads = threads_ > 0 ? threads_ : tbb::info::default_concurrency();
  tbb::task_arena arena(threads);
  const int k = config_.factors;

  const double threshold = config_.positive_threshold;
  auto positive = [threshold](float v) { return v > 0.0f && v >= threshold; };
  if (std::none_of(train.value.begin(), train.value.end(), positive)) {
    throw Error(ExitCode::kInput, fmt::format("als: no training rating is positive and at or above "
                                              "model.als.positive_threshold ({:g})",
                                              config_.positive_threshold));
  }
  const bool graded = config_.preference == "graded";
  auto kept = [&](float v) { return graded ? v > 0.0f : positive(v); };
  const Csr user_csr = build_csr(train.user, train.movie, train.value, num_users, kept);
  const Csr movie_csr = build_csr(train.movie, train.user, train.value, num_movies, kept);
  pref_.alpha = static_cast<float>(config_.alpha);
  pref_.graded = graded;
  // The top interaction (repeated pairs summed, as in the lists), > 0.
  const float top = *std::max_element(user_csr.value.begin(), user_csr.value.end());
  pref_.inv_top = 1.0f / top;
  user_reg_ = row_penalties(user_csr, pref_, config_.l2, config_.l2_frequency_exponent);
  movie_reg_ = row_penalties(movie_csr, pref_, config_.l2, config_.l2_frequency_exponent);
  {
    std::ostringstream msg;
    msg << "training als: " << user_csr.index.size() << " interactions of " << train.size()
        << " ratings, " << num_users << " users, " << num_movies << " movies, " << k << " factors, "
        << config_.preference << " preference, alpha " << config_.alpha << ", l2 " << config_.l2
        << ", " << config_.cg_steps << " CG steps, " << threads << " threads";
    log::info(msg.str());
  }

  const bool warm = init_.users.rows() == num_users && init_.movies.rows() == num_movies &&
                    init_.users.cols() == k && init_.movies.cols() == k;
  if (warm) {
    // Both sides start from the given vectors; the first half-iteration
    // re-solves the users against the given movies.
    log::info("als: warm start from the given vectors");
    factors_ = std::move(init_);
  } else {
    if (init_.users.size() > 0) {
      log::info("als: the warm-start vectors do not match these users and movies; random start");
    }
    random::Rng rng(seed_, random::Stream::kInit);
    const auto scale = static_cast<float>(config_.init_scale);
    factors_.users.resize(num_users, k);
    factors_.movies.resize(num_movies, k);
    for (Eigen::Index i = 0; i < factors_.users.size(); ++i) {
      factors_.users.data()[i] = random::symmetric(rng, scale);
    }
    for (Eigen::Index i = 0; i < factors_.movies.size(); ++i) {
      factors_.movies.data()[i] = random::symmetric(rng, scale);
    }
  }
  init_ = Factors{};

  std::vector<double> movie_loss;
  EpochCallbacks cb;
  cb.run_epoch = [&](int) {
    half_step(factors_.users, factors_.movies, user_csr, user_reg_, arena, nullptr);
    half_step(factors_.movies, factors_.users, movie_csr, movie_reg_, arena, &movie_loss);
    return objective(movie_loss, movie_csr.index.size());
  };
  // A ranking model: no rating error to validate on.
  EpochLoop loop;
  loop.epochs = config_.epochs;
  loop.unit = "iteration";
  loop.tolerance = config_.tolerance;
  loop.divergence_hint = "raise model.l2";
  return train_epochs(loop, cb);
}

}  // namespace

std::unique_ptr<Model> make_als_model(const AlsParams& params, const ModelContext& context) {
  return std::make_unique<AlsModel>(params, context);
}

namespace {

// A new user is solved as training solves a user row: the same weighted
// least squares against the fixed movie vectors, with the same interactions,
// confidence, preference and frequency-scaled penalty, the mean confidence
// sum taken over every stored user and the top rating over every stored
// rating.
FoldInOptions fold_in(const AlsParams& p, const FoldInInputs& in) {
  FoldInOptions o;
  o.implicit = true;
  o.l2 = p.l2;
  o.alpha = p.alpha;
  o.positive_threshold = p.positive_threshold;
  o.frequency_exponent = p.l2_frequency_exponent;
  const bool graded = p.preference == "graded";
  auto kept = [&](double v) { return v > 0 && (graded || v >= o.positive_threshold); };
  double total = 0;
  double top = 0;
  if (in.ratings) {
    for (const float r : *in.ratings) {
      const double v = r;
      if (!kept(v)) continue;
      total += 1.0 + o.alpha * v;
      top = std::max(top, v);
    }
  }
  if (in.rating_counts) {
    for (const auto& [r, n] : *in.rating_counts) {
      const double v = r;
      if (!kept(v) || n <= 0) continue;
      total += static_cast<double>(n) * (1.0 + o.alpha * v);
      top = std::max(top, v);
    }
  }
  o.mean_mass = total / static_cast<double>(std::max<std::size_t>(1, in.users));
  if (graded) o.preference_top = top > 0 ? top : 1.0;
  o.threads = in.threads;
  return o;
}

// als fits preferences of at most 1 on rated movies and 0 elsewhere, so an
// ordinary user's best scores are of order 0.1-1 (README "Users without
// signal" gives the figures on ml-latest-small). A user without a positive
// has nothing they liked to rank by (with binary preferences they fit the
// zero vector: user 442 of ml-latest-small, all ratings <= 2.5, scored about
// 1e-12), and one whose best score is below kScoreFloor only noise.
constexpr double kScoreFloor = 1e-6;

SignalRule signal(const AlsParams& p) {
  SignalRule r;
  r.needs_positive = true;
  r.positive_threshold = p.positive_threshold;
  r.positive_above_zero = true;  // as build_csr and the fold-in count positives
  r.score_floor = kScoreFloor;
  return r;
}

}  // namespace

const ModelType& als_model_type() {
  using P = AlsParams;
  static const ModelType kType = declare_model<P>({
      .kind = ModelKind::kImplicit,
      .keys = ParamTable<P>()
                  .add("factors", &P::factors, 1, 1024, "latent factors")
                  .add("epochs", &P::epochs, 1, 10000, "alternating least-squares iterations")
                  .add("l2", &P::l2, 0.0, 100.0,
                       "ridge penalty of an average user or movie row (see "
                       "l2_frequency_exponent); also the fold-in's")
                  .add("alpha", &P::alpha, 0.0, 1e6, "confidence 1 + alpha * rating")
                  .add("positive_threshold", &P::positive_threshold, -1e9, 1e9,
                       "a (mapped) rating >= this is a positive: with binary preference the "
                       "only interactions; a user without one gets no recommendations")
                  .add("preference", &P::preference, {"binary", "graded"},
                       "binary: only positives are interactions, with preference 1; graded: "
                       "every rating r > 0 is, with preference r / the top training rating")
                  .add("init_scale", &P::init_scale, 1e-6, 10.0,
                       "factors start uniform in [-init_scale, init_scale]")
                  .add("cg_steps", &P::cg_steps, 1, 100, "conjugate-gradient steps per solve")
                  .add("l2_frequency_exponent", &P::l2_frequency_exponent, 0.0, 2.0,
                       "each user's and movie's l2 is scaled by (its confidence sum / the "
                       "mean)^this; 0 = the same l2 for every row")
                  .add("tolerance", &P::tolerance, 0.0, 1.0,
                       "stop once an iteration lowers the loss by less than this fraction of "
                       "it; 0 = run every iteration"),
      .make = make_als_model,
      .fold_in = fold_in,
      .signal = signal,
      .check =
          [](const P& p, const ImportConfig& import) {
            return unreachable_threshold("model.als.positive_threshold", p.positive_threshold,
                                         import);
          },
  });
  return kType;
}

}  // namespace recs
