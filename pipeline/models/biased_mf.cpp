// Biased matrix factorisation for explicit ratings:
//   prediction = mu + b_u + b_i + p_u . q_i,
// squared error plus l2 (|p|^2 + |q|^2 + b_u^2 + b_i^2), trained by SGD or Adam.
//
// Parallel SGD follows libmf's FPSGD: users and movies are each split into B
// bands (randomly, so bands carry similar numbers of ratings), the ratings are
// bucketed into the B x B grid of blocks, and two blocks that
// share neither a user band nor a movie band can be updated at the same time
// without locks. Instead of libmf's dynamic scheduler (whose block order
// depends on thread timing) an epoch walks the B "diagonals" s = 0..B-1 in a
// seeded random order; diagonal s holds the blocks (b, (b + s) mod B), which
// are pairwise disjoint, so all of them run in parallel and each block's
// updates are the same whichever thread runs it. B does not depend on the
// thread count up to 24 threads, so the factors are bit-identical for a given
// seed on 1..8 threads.
//
// Memory layout (libmf's "partial random" order): rows are renumbered so each
// band is one contiguous range of rows, and a block's ratings are sorted by
// the row of the side with more rows per band (a row's ratings in a seeded
// random order). A
// block then streams through that side's rows in address order, one row
// serving several consecutive ratings, while the other side's band (the
// smaller one) stays in cache. Blocks are still visited in random order.
//
// Exported factors fold the biases into two extra columns:
//   user row  [p_u, mu + b_u, 1]
//   movie row [q_i, 1,        b_i]
// so users.row(u) . movies.row(i) = mu + b_u + b_i + p_u . q_i.

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "models/biased_mf.h"

#include <tbb/blocked_range.h>
#include <tbb/info.h>
#include <tbb/parallel_for.h>
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
#include <vector>

#include "models/block_grid.h"
#include "models/registry.h"
#include "models/train_loop.h"
#include "util/error.h"
#include "util/log.h"
#include "util/random.h"

namespace recs {
namespace {

// Rows are padded to a multiple of this many floats (one 64-byte line), so
// the inner loops have no remainder and every row starts cache-aligned. The
// padding stays zero: its gradient is zero.
constexpr int kLanes = 16;
// Ratings ahead whose rows are prefetched (measured: 8-16 equally good).
constexpr int kAhead = 8;

using FloatVec = std::vector<float, Eigen::aligned_allocator<float>>;

using Rating = GridRating;

// p . q over `n` (a multiple of kLanes) floats. Separate lane accumulators let
// the compiler vectorise without reassociating, so the sum is the same on
// every run.
inline float dot(const float* __restrict p, const float* __restrict q, int n) {
  float acc[kLanes] = {};
  for (int d = 0; d < n; d += kLanes) {
    for (int j = 0; j < kLanes; ++j) acc[j] += p[d + j] * q[d + j];
  }
  float s = 0;
  for (int j = 0; j < kLanes; ++j) s += acc[j];
  return s;
}

// Adam's bias correction sqrt(1 - beta2^t) / (1 - beta1^t) by a row's own
// step count t (rows are updated sparsely); tabulated, as pow() per rating
// would cost more than the update. Past the table the correction is 1 to
// within float rounding for any usual beta.
class AdamCorrection {
 public:
  AdamCorrection(double beta1, double beta2) {
    table_.resize(kSize);
    for (std::size_t t = 1; t < kSize; ++t) {
      const auto td = static_cast<double>(t);
      table_[t] =
          static_cast<float>(std::sqrt(1.0 - std::pow(beta2, td)) / (1.0 - std::pow(beta1, td)));
    }
    table_[0] = table_[1];
    tail_ = static_cast<float>(std::sqrt(1.0 - std::pow(beta2, static_cast<double>(kSize))) /
                               (1.0 - std::pow(beta1, static_cast<double>(kSize))));
  }
  float operator()(std::uint32_t t) const { return t < kSize ? table_[t] : tail_; }

 private:
  static constexpr std::size_t kSize = 1 << 20;
  std::vector<float> table_;
  float tail_ = 1;
};

// The trainable parameters; copied wholesale to keep the best epoch.
struct Params {
  int stride = 0;  // floats per row, factors rounded up to kLanes
  FloatVec p;      // num_users x stride
  FloatVec q;      // num_movies x stride
  FloatVec bu;
  FloatVec bi;
  float* user(std::int32_t u) { return p.data() + static_cast<std::size_t>(u) * stride; }
  float* movie(std::int32_t i) { return q.data() + static_cast<std::size_t>(i) * stride; }
  const float* user(std::int32_t u) const {
    return p.data() + static_cast<std::size_t>(u) * stride;
  }
  const float* movie(std::int32_t i) const {
    return q.data() + static_cast<std::size_t>(i) * stride;
  }
};

// Adam's moments for every parameter, and each row's step count.
struct AdamState {
  FloatVec mp, vp, mq, vq;
  std::vector<float> mbu, vbu, mbi, vbi;
  std::vector<std::uint32_t> tu, ti;
};

class BiasedMfModel final : public GridModel<BiasedMfParams> {
 public:
  BiasedMfModel(const BiasedMfParams& params, const ModelContext& context)
      : GridModel(params, context) {
    if (config_.optimizer != "sgd" && config_.optimizer != "adam") {
      throw ConfigError("model.optimizer: unknown optimizer '" + config_.optimizer +
                        "' (known: sgd, adam)");
    }
    if (config_.optimizer == "adam" &&
        (!(config_.beta1 >= 0 && config_.beta1 < 1) || !(config_.beta2 >= 0 && config_.beta2 < 1) ||
         !(config_.epsilon > 0))) {
      throw ConfigError("model.beta1 and model.beta2 must lie in [0, 1), model.epsilon > 0");
    }
  }

  TrainReport fit(const Triplets& train, const Triplets& validation, int num_users,
                  int num_movies) override;

 private:
  // SGD or Adam over one block's ratings; returns the block's summed squared
  // error, each taken before its update. The rating array is padded with
  // kAhead readable entries past the last block, so look-ahead needs no check.
  double sgd_block(const Rating* begin, const Rating* end, float lr);
  double adam_block(const Rating* begin, const Rating* end, float lr);
  void prefetch(const Rating* r) const;
  // Validation ratings in internal row numbers.
  double validation_mse(const std::vector<Rating>& validation, tbb::task_arena& arena) const;
  void export_factors(int num_users, int num_movies);

  float mu_ = 0;
  Params params_;
  AdamState adam_;
  std::unique_ptr<AdamCorrection> correction_;
  // Internal row of each user and movie (bands are contiguous row ranges).
  std::vector<std::int32_t> user_row_;
  std::vector<std::int32_t> movie_row_;
};

void BiasedMfModel::prefetch(const Rating* r) const {
  // The updates are bound by the latency of fetching rows; asking for a
  // later rating's rows now overlaps those misses with this update.
  const float* p = params_.user(r->user);
  const float* q = params_.movie(r->movie);
  for (int d = 0; d < params_.stride; d += kLanes) {
    __builtin_prefetch(p + d, 1);
    __builtin_prefetch(q + d, 1);
  }
  __builtin_prefetch(&params_.bu[static_cast<std::size_t>(r->user)], 1);
  __builtin_prefetch(&params_.bi[static_cast<std::size_t>(r->movie)], 1);
}

double BiasedMfModel::sgd_block(const Rating* begin, const Rating* end, float lr) {
  const int n = params_.stride;
  const auto reg = static_cast<float>(config_.l2);
  const float mu = mu_;
  double loss = 0;
  for (const Rating* r = begin; r != end; ++r) {
    prefetch(r + kAhead);
    float* __restrict p = params_.user(r->user);
    float* __restrict q = params_.movie(r->movie);
    float& bu = params_.bu[static_cast<std::size_t>(r->user)];
    float& bi = params_.bi[static_cast<std::size_t>(r->movie)];
    const float e = r->value - (mu + bu + bi + dot(p, q, n));
    loss += static_cast<double>(e) * e;
    const float le = lr * e;
    const float decay = 1.0f - lr * reg;
    for (int d = 0; d < n; ++d) {
      const float pd = p[d];
      const float qd = q[d];
      p[d] = decay * pd + le * qd;
      q[d] = decay * qd + le * pd;
    }
    bu = decay * bu + le;
    bi = decay * bi + le;
  }
  return loss;
}

double BiasedMfModel::adam_block(const Rating* begin, const Rating* end, float lr) {
  const int n = params_.stride;
  const auto reg = static_cast<float>(config_.l2);
  const auto b1 = static_cast<float>(config_.beta1);
  const auto b2 = static_cast<float>(config_.beta2);
  const auto eps = static_cast<float>(config_.epsilon);
  static thread_local std::vector<float> gp, gq;
  gp.resize(static_cast<std::size_t>(n));
  gq.resize(static_cast<std::size_t>(n));
  const AdamCorrection& corr = *correction_;
  double loss = 0;
  auto step = [&](float* w, float* m, float* v, const float* g, int len, float alpha) {
    for (int d = 0; d < len; ++d) {
      m[d] = b1 * m[d] + (1 - b1) * g[d];
      v[d] = b2 * v[d] + (1 - b2) * g[d] * g[d];
      w[d] -= alpha * m[d] / (std::sqrt(v[d]) + eps);
    }
  };
  for (const Rating* r = begin; r != end; ++r) {
    const auto u = static_cast<std::size_t>(r->user);
    const auto i = static_cast<std::size_t>(r->movie);
    float* p = params_.user(r->user);
    float* q = params_.movie(r->movie);
    float& bu = params_.bu[u];
    float& bi = params_.bi[i];
    const float e = (mu_ + bu + bi + dot(p, q, n)) - r->value;  // d loss / d pred / 2
    loss += static_cast<double>(e) * e;
    for (int d = 0; d < n; ++d) {
      gp[static_cast<std::size_t>(d)] = e * q[d] + reg * p[d];
      gq[static_cast<std::size_t>(d)] = e * p[d] + reg * q[d];
    }
    const float gbu = e + reg * bu;
    const float gbi = e + reg * bi;
    const float au = lr * corr(++adam_.tu[u]);
    const float ai = lr * corr(++adam_.ti[i]);
    const std::size_t ou = u * static_cast<std::size_t>(n);
    const std::size_t oi = i * static_cast<std::size_t>(n);
    step(p, adam_.mp.data() + ou, adam_.vp.data() + ou, gp.data(), n, au);
    step(q, adam_.mq.data() + oi, adam_.vq.data() + oi, gq.data(), n, ai);
    step(&bu, &adam_.mbu[u], &adam_.vbu[u], &gbu, 1, au);
    step(&bi, &adam_.mbi[i], &adam_.vbi[i], &gbi, 1, ai);
  }
  return loss;
}

double BiasedMfModel::validation_mse(const std::vector<Rating>& validation,
                                     tbb::task_arena& arena) const {
  // Fixed chunks in the stored order, summed in order: the figure (and early
  // stopping) does not depend on the thread count.
  constexpr std::size_t kChunk = 1 << 14;
  const std::size_t n = validation.size();
  const std::size_t chunks = (n + kChunk - 1) / kChunk;
  std::vector<double> part(chunks, 0.0);
  arena.execute([&] {
    tbb::parallel_for(std::size_t{0}, chunks, [&](std::size_t c) {
      double sum = 0;
      const std::size_t end = std::min(n, (c + 1) * kChunk);
      for (std::size_t k = c * kChunk; k < end; ++k) {
        const Rating& r = validation[k];
        const float pred = mu_ + params_.bu[static_cast<std::size_t>(r.user)] +
                           params_.bi[static_cast<std::size_t>(r.movie)] +
                           dot(params_.user(r.user), params_.movie(r.movie), params_.stride);
        const double e = static_cast<double>(pred) - r.value;
        sum += e * e;
      }
      part[c] = sum;
    });
  });
  double sum = 0;
  for (double p : part) sum += p;
  return sum / static_cast<double>(n);
}

void BiasedMfModel::export_factors(int num_users, int num_movies) {
  const int f = config_.factors;
  factors_.users.resize(num_users, f + 2);
  factors_.movies.resize(num_movies, f + 2);
  for (int u = 0; u < num_users; ++u) {
    const std::int32_t row = user_row_[static_cast<std::size_t>(u)];
    const float* p = params_.user(row);
    for (int d = 0; d < f; ++d) factors_.users(u, d) = p[d];
    factors_.users(u, f) = mu_ + params_.bu[static_cast<std::size_t>(row)];
    factors_.users(u, f + 1) = 1.0f;
  }
  for (int i = 0; i < num_movies; ++i) {
    const std::int32_t row = movie_row_[static_cast<std::size_t>(i)];
    const float* q = params_.movie(row);
    for (int d = 0; d < f; ++d) factors_.movies(i, d) = q[d];
    factors_.movies(i, f) = 1.0f;
    factors_.movies(i, f + 1) = params_.bi[static_cast<std::size_t>(row)];
  }
}

TrainReport BiasedMfModel::fit(const Triplets& train, const Triplets& validation, int num_users,
                               int num_movies) {
  check_fit_inputs(train, validation, num_users, num_movies);

  const int threads = threads_ > 0 ? threads_ : tbb::info::default_concurrency();
  tbb::task_arena arena(threads);
  const std::size_t n = train.size();
  const int f = config_.factors;
  const int stride = (f + kLanes - 1) / kLanes * kLanes;

  // Global mean, in double and in the stored order.
  double sum = 0;
  for (float v : train.value) sum += v;
  mu_ = static_cast<float>(sum / static_cast<double>(n));

  random::Rng rng(seed_, random::Stream::kInit);
  params_.stride = stride;
  params_.p.assign(static_cast<std::size_t>(num_users) * stride, 0.0f);
  params_.q.assign(static_cast<std::size_t>(num_movies) * stride, 0.0f);
  params_.bu.assign(static_cast<std::size_t>(num_users), 0.0f);
  params_.bi.assign(static_cast<std::size_t>(num_movies), 0.0f);
  const auto scale = static_cast<float>(config_.init_scale);
  for (int u = 0; u < num_users; ++u) {
    for (int d = 0; d < f; ++d) params_.user(u)[d] = random::symmetric(rng, scale);
  }
  for (int i = 0; i < num_movies; ++i) {
    for (int d = 0; d < f; ++d) params_.movie(i)[d] = random::symmetric(rng, scale);
  }
  const bool use_adam = config_.optimizer == "adam";
  if (use_adam) {
    adam_.mp.assign(params_.p.size(), 0.0f);
    adam_.vp.assign(params_.p.size(), 0.0f);
    adam_.mq.assign(params_.q.size(), 0.0f);
    adam_.vq.assign(params_.q.size(), 0.0f);
    adam_.mbu.assign(params_.bu.size(), 0.0f);
    adam_.vbu.assign(params_.bu.size(), 0.0f);
    adam_.mbi.assign(params_.bi.size(), 0.0f);
    adam_.vbi.assign(params_.bi.size(), 0.0f);
    adam_.tu.assign(params_.bu.size(), 0);
    adam_.ti.assign(params_.bi.size(), 0);
    correction_ = std::make_unique<AdamCorrection>(config_.beta1, config_.beta2);
  }

  // Bands and the diagonal schedule: models/block_grid.h.
  const int bands = grid_bands(threads, num_users, num_movies);
  // Each side's rows in a random order; band b is the b-th of `bands` equal
  // slices of it, and a row's position in that order is its internal row.
  auto assign_rows = [&](std::vector<std::int32_t>& row_of, int rows) {
    std::vector<std::int32_t> perm(static_cast<std::size_t>(rows));
    std::iota(perm.begin(), perm.end(), 0);
    random::shuffle(perm, rng);
    row_of.resize(static_cast<std::size_t>(rows));
    for (int k = 0; k < rows; ++k)
      row_of[static_cast<std::size_t>(perm[static_cast<std::size_t>(k)])] = k;
  };
  assign_rows(user_row_, num_users);
  assign_rows(movie_row_, num_movies);
  auto band_of = [bands](std::int32_t row, int rows) {
    return static_cast<std::size_t>(static_cast<std::int64_t>(row) * bands / rows);
  };
  // Move the initial rows (drawn in id order) to their internal rows.
  auto renumber = [stride](FloatVec& m, const std::vector<std::int32_t>& row_of) {
    FloatVec out(m.size());
    for (std::size_t id = 0; id < row_of.size(); ++id) {
      std::copy_n(
          m.data() + id * static_cast<std::size_t>(stride), stride,
          out.data() + static_cast<std::size_t>(row_of[id]) * static_cast<std::size_t>(stride));
    }
    m.swap(out);
  };
  renumber(params_.p, user_row_);
  renumber(params_.q, movie_row_);

  // The side with more rows per band is streamed: a block's ratings are sorted
  // by its row. A counting sort by the streamed row, straight from the
  // triplets; each row's ratings shuffled in place (small and contiguous, so
  // in cache, unlike one shuffle of all of them); then a stable bucketing
  // into the grid.
  const bool stream_users = num_users >= num_movies;
  std::vector<Rating> ratings;
  std::vector<std::size_t> block_start;
  const auto blocks = static_cast<std::size_t>(bands) * static_cast<std::size_t>(bands);
  {
    const int streamed_rows = stream_users ? num_users : num_movies;
    auto streamed = [&](const Rating& r) {
      return static_cast<std::size_t>(stream_users ? r.user : r.movie);
    };
    auto internal = [&](std::size_t k) {
      return Rating{user_row_[static_cast<std::size_t>(train.user[k])],
                    movie_row_[static_cast<std::size_t>(train.movie[k])], train.value[k]};
    };
    std::vector<std::size_t> start(static_cast<std::size_t>(streamed_rows) + 1, 0);
    for (std::size_t k = 0; k < n; ++k) ++start[streamed(internal(k)) + 1];
    std::partial_sum(start.begin(), start.end(), start.begin());
    std::vector<Rating> by_row(n);
    {
      std::vector<std::size_t> fill(start.begin(), start.end() - 1);
      for (std::size_t k = 0; k < n; ++k) {
        const Rating r = internal(k);
        by_row[fill[streamed(r)]++] = r;
      }
    }
    for (std::size_t row = 0; row + 1 < start.size(); ++row) {
      random::shuffle(by_row.data() + start[row], start[row + 1] - start[row], rng);
    }

    block_start.assign(blocks + 1, 0);
    auto block_of = [&](const Rating& r) {
      return band_of(r.user, num_users) * static_cast<std::size_t>(bands) +
             band_of(r.movie, num_movies);
    };
    for (const Rating& r : by_row) ++block_start[block_of(r) + 1];
    std::partial_sum(block_start.begin(), block_start.end(), block_start.begin());
    // kAhead padding entries (row 0 of each side) for the look-ahead.
    ratings.assign(n + kAhead, Rating{0, 0, 0.0f});
    std::vector<std::size_t> fill(block_start.begin(), block_start.end() - 1);
    for (const Rating& r : by_row) ratings[fill[block_of(r)]++] = r;
  }
  std::vector<Rating> validation_rows(validation.size());
  for (std::size_t k = 0; k < validation.size(); ++k) {
    validation_rows[k] = {user_row_[static_cast<std::size_t>(validation.user[k])],
                          movie_row_[static_cast<std::size_t>(validation.movie[k])],
                          validation.value[k]};
  }

  {
    std::ostringstream msg;
    msg << "training biased_mf: " << n << " ratings, " << validation.size() << " validation, "
        << num_users << " users, " << num_movies << " movies, " << f << " factors, "
        << config_.optimizer << ", " << bands << "x" << bands << " blocks, " << threads
        << " threads";
    log::info(msg.str());
  }

  DiagonalSchedule schedule(bands);
  std::vector<double> block_loss(blocks, 0.0);
  // A decaying rate (lr / (1 + d epoch)) measured no better with early stopping.
  const auto lr = static_cast<float>(config_.learning_rate);
  Params best;
  EpochCallbacks cb;
  cb.run_epoch = [&](int) {
    schedule.run_epoch(arena, rng, [&](std::size_t id) {
      const Rating* begin = ratings.data() + block_start[id];
      const Rating* end = ratings.data() + block_start[id + 1];
      block_loss[id] = use_adam ? adam_block(begin, end, lr) : sgd_block(begin, end, lr);
    });
    return std::accumulate(block_loss.begin(), block_loss.end(), 0.0) / static_cast<double>(n);
  };
  if (validation.size() > 0) {
    cb.validation_mse = [&] { return validation_mse(validation_rows, arena); };
  }
  cb.snapshot = [&] { best = params_; };
  cb.restore = [&] { params_ = std::move(best); };
  char note[32];
  std::snprintf(note, sizeof note, "lr %.4g", static_cast<double>(lr));
  cb.note = [&] { return std::string(note); };
  // The best epoch on validation is kept whatever the patience.
  EpochLoop loop;
  loop.epochs = config_.epochs;
  loop.keep_best = true;
  loop.patience = config_.patience;
  TrainReport report = train_epochs(loop, cb);
  adam_ = AdamState{};
  export_factors(num_users, num_movies);
  return report;
}

}  // namespace

std::unique_ptr<Model> make_biased_mf_model(const BiasedMfParams& params,
                                            const ModelContext& context) {
  return std::make_unique<BiasedMfModel>(params, context);
}

const ModelType& biased_mf_model_type() {
  using P = BiasedMfParams;
  static const ModelType kType = declare_model<P>({
      .kind = ModelKind::kRating,
      .keys = ParamTable<P>()
                  .add("factors", &P::factors, 1, 1024, "latent factors")
                  .add("epochs", &P::epochs, 1, 10000, "largest number of passes over the ratings")
                  .add("learning_rate", &P::learning_rate, 1e-9, 10.0, "SGD or Adam step size")
                  .add("l2", &P::l2, 0.0, 100.0,
                       "L2 penalty on the factors and both biases of each rating")
                  .add("init_scale", &P::init_scale, 1e-6, 10.0,
                       "factors start uniform in [-init_scale, init_scale]")
                  .add("optimizer", &P::optimizer, {"sgd", "adam"}, "optimiser")
                  .add("beta1", &P::beta1, 0.0, 0.999999, "adam: first-moment decay")
                  .add("beta2", &P::beta2, 0.0, 0.99999999, "adam: second-moment decay")
                  .add("epsilon", &P::epsilon, 1e-12, 1.0, "adam: epsilon")
                  .add("patience", &P::patience, 0, 1000,
                       "epochs without validation gain before stopping (the best epoch is "
                       "kept), 0 = never"),
      .make = make_biased_mf_model,
      .fold_in = [](const P&, const FoldInInputs& in) { return rating_fold_in(in); },
  });
  return kType;
}

}  // namespace recs
