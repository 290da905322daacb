// SVD++ (Koren 2008, "Factorization meets the neighborhood"):
//   prediction = mu + b_u + b_i + q_i . (p_u + |N(u)|^-1/2 sum_{j in N(u)} y_j)
// where N(u) is every movie user u rated in training (the implicit signal of
// which movies a user chose to rate) and y_j are implicit movie factors;
// squared error plus l2 on p, q and both biases, implicit_l2 on y.
//
// Parallel and lock-free like biased_mf: users and movies are split into B
// random bands, the ratings bucketed into the B x B grid of blocks, and an
// epoch walks the B diagonals in a seeded random order, the blocks of one
// diagonal sharing no user and no movie, so they run in parallel without
// locks and each block's updates are the same whichever thread runs it.
//
// The implicit part is what breaks that partition: a rating's gradient
// reaches y_j for every movie j the user rated, in every band. So within an
// epoch the implicit sum z_u = |N(u)|^-1/2 sum_j y_j is held fixed and each
// user's gradient on it, g_u = sum_i e_ui q_i, is accumulated (g_u belongs to
// the user's band, so no two blocks write it at once); after the epoch one
// parallel pass over the movies takes the full-gradient step
//   y_j += implicit_learning_rate (sum_{u rated j} |N(u)|^-1/2 g_u - implicit_l2 y_j)
// and z is recomputed. p, q and the biases take Koren's per-rating SGD
// steps against the effective user vector p_u + z_u. The result depends on
// the seed only, not on the thread count (B does not depend on it up to 24).
//
// Exported factors fold the implicit sum and the biases in:
//   user row  [p_u + z_u, mu + b_u, 1]
//   movie row [q_i,       1,        b_i]
// so users.row(u) . movies.row(i) is the prediction, and the one scoring
// kernel serves it like biased_mf.

#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "models/svdpp.h"

#include <tbb/blocked_range.h>
#include <tbb/info.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <numeric>
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

using Rating = GridRating;

// The trainable parameters (row-major, `factors` floats per row); copied
// wholesale to keep the best epoch.
struct Params {
  RowMatrix p, q, y, z;
  Eigen::VectorXf bu, bi;
};

class SvdppModel final : public GridModel<SvdppParams> {
 public:
  SvdppModel(const SvdppParams& params, const ModelContext& context) : GridModel(params, context) {
    if (!(config_.implicit_learning_rate >= 0) || !(config_.implicit_l2 >= 0)) {
      throw ConfigError("model.implicit_learning_rate and model.implicit_l2 must not be negative");
    }
  }

  TrainReport fit(const Triplets& train, const Triplets& validation, int num_users,
                  int num_movies) override;
};

// Rows of a CSR: for each row, its column indices.
struct Csr {
  std::vector<std::int64_t> start;
  std::vector<std::int32_t> index;
};

Csr make_csr(const std::vector<std::int32_t>& rows, const std::vector<std::int32_t>& cols,
             int num_rows) {
  Csr c;
  c.start.assign(static_cast<std::size_t>(num_rows) + 1, 0);
  for (auto r : rows) ++c.start[static_cast<std::size_t>(r) + 1];
  std::partial_sum(c.start.begin(), c.start.end(), c.start.begin());
  c.index.resize(rows.size());
  std::vector<std::int64_t> fill(c.start.begin(), c.start.end() - 1);
  for (std::size_t k = 0; k < rows.size(); ++k) {
    c.index[static_cast<std::size_t>(fill[static_cast<std::size_t>(rows[k])]++)] = cols[k];
  }
  return c;
}

TrainReport SvdppModel::fit(const Triplets& train, const Triplets& validation, int num_users,
                            int num_movies) {
  check_fit_inputs(train, validation, num_users, num_movies);
  const int threads = threads_ > 0 ? threads_ : tbb::info::default_concurrency();
  tbb::task_arena arena(threads);
  const std::size_t n = train.size();
  const int f = config_.factors;

  double sum = 0;
  for (float v : train.value) sum += v;
  const auto mu = static_cast<float>(sum / static_cast<double>(n));

  random::Rng rng(seed_, random::Stream::kInit);
  Params w;
  w.p.resize(num_users, f);
  w.q.resize(num_movies, f);
  w.y.resize(num_movies, f);
  w.z.setZero(num_users, f);
  w.bu.setZero(num_users);
  w.bi.setZero(num_movies);
  const auto scale = static_cast<float>(config_.init_scale);
  for (RowMatrix* m : {&w.p, &w.q, &w.y}) {
    float* d = m->data();
    for (Eigen::Index k = 0; k < m->size(); ++k) d[k] = random::symmetric(rng, scale);
  }

  // N(u) and its transpose, and |N(u)|^-1/2.
  const Csr by_user = make_csr(train.user, train.movie, num_users);
  const Csr by_movie = make_csr(train.movie, train.user, num_movies);
  Eigen::VectorXf norm(num_users);
  for (int u = 0; u < num_users; ++u) {
    const auto count =
        by_user.start[static_cast<std::size_t>(u) + 1] - by_user.start[static_cast<std::size_t>(u)];
    norm[u] = count > 0 ? 1.0f / std::sqrt(static_cast<float>(count)) : 0.0f;
  }

  // Random bands per side; the ratings bucketed into blocks, each block in a
  // seeded random order.
  const int bands = grid_bands(threads, num_users, num_movies);
  auto assign = [&](int rows) {
    std::vector<std::int32_t> perm(static_cast<std::size_t>(rows));
    std::iota(perm.begin(), perm.end(), 0);
    random::shuffle(perm, rng);
    std::vector<std::int32_t> band(static_cast<std::size_t>(rows));
    for (int k = 0; k < rows; ++k) {
      band[static_cast<std::size_t>(perm[static_cast<std::size_t>(k)])] =
          static_cast<std::int32_t>(static_cast<std::int64_t>(k) * bands / rows);
    }
    return band;
  };
  const std::vector<std::int32_t> user_band = assign(num_users);
  const std::vector<std::int32_t> movie_band = assign(num_movies);
  const auto blocks = static_cast<std::size_t>(bands) * static_cast<std::size_t>(bands);
  std::vector<std::size_t> block_start(blocks + 1, 0);
  auto block_of = [&](std::size_t k) {
    return static_cast<std::size_t>(user_band[static_cast<std::size_t>(train.user[k])]) *
               static_cast<std::size_t>(bands) +
           static_cast<std::size_t>(movie_band[static_cast<std::size_t>(train.movie[k])]);
  };
  for (std::size_t k = 0; k < n; ++k) ++block_start[block_of(k) + 1];
  std::partial_sum(block_start.begin(), block_start.end(), block_start.begin());
  std::vector<Rating> ratings(n);
  {
    std::vector<std::size_t> fill(block_start.begin(), block_start.end() - 1);
    for (std::size_t k = 0; k < n; ++k) {
      ratings[fill[block_of(k)]++] = {train.user[k], train.movie[k], train.value[k]};
    }
  }
  for (std::size_t b = 0; b < blocks; ++b) {
    random::shuffle(ratings.data() + block_start[b], block_start[b + 1] - block_start[b], rng);
  }

  {
    std::ostringstream msg;
    msg << "training svdpp: " << n << " ratings, " << validation.size() << " validation, "
        << num_users << " users, " << num_movies << " movies, " << f << " factors, " << bands << "x"
        << bands << " blocks, " << threads << " threads";
    log::info(msg.str());
  }

  // z_u = |N(u)|^-1/2 sum_{j in N(u)} y_j, in parallel over users.
  auto update_z = [&] {
    arena.execute([&] {
      tbb::parallel_for(0, num_users, [&](int u) {
        auto z = w.z.row(u);
        z.setZero();
        const auto b = by_user.start[static_cast<std::size_t>(u)];
        const auto e = by_user.start[static_cast<std::size_t>(u) + 1];
        for (auto k = b; k < e; ++k) z += w.y.row(by_user.index[static_cast<std::size_t>(k)]);
        z *= norm[u];
      });
    });
  };
  update_z();

  RowMatrix g(num_users, f);  // per user, sum of e_ui q_i over the epoch
  DiagonalSchedule schedule(bands);
  std::vector<double> block_loss(blocks, 0.0);
  const auto lr = static_cast<float>(config_.learning_rate);
  const auto reg = static_cast<float>(config_.l2);
  const auto ylr = static_cast<float>(config_.implicit_learning_rate);
  const auto yreg = static_cast<float>(config_.implicit_l2);

  auto run_block = [&](std::size_t id) {
    double loss = 0;
    Eigen::RowVectorXf eff(f);
    for (std::size_t k = block_start[id]; k < block_start[id + 1]; ++k) {
      const Rating& r = ratings[k];
      auto p = w.p.row(r.user);
      auto q = w.q.row(r.movie);
      float& bu = w.bu[r.user];
      float& bi = w.bi[r.movie];
      eff = p + w.z.row(r.user);
      const float e = r.value - (mu + bu + bi + q.dot(eff));
      loss += static_cast<double>(e) * e;
      g.row(r.user) += e * q;
      const float decay = 1.0f - lr * reg;
      p = decay * p + (lr * e) * q;
      q = decay * q + (lr * e) * eff;
      bu = decay * bu + lr * e;
      bi = decay * bi + lr * e;
    }
    block_loss[id] = loss;
  };

  auto validation_mse = [&] {
    double s = 0;
    for (std::size_t k = 0; k < validation.size(); ++k) {
      const auto u = validation.user[k];
      const auto i = validation.movie[k];
      const float pred = mu + w.bu[u] + w.bi[i] + w.q.row(i).dot(w.p.row(u) + w.z.row(u));
      const double e = static_cast<double>(pred) - validation.value[k];
      s += e * e;
    }
    return s / static_cast<double>(validation.size());
  };

  Params best;
  EpochCallbacks cb;
  cb.run_epoch = [&](int) {
    g.setZero();
    schedule.run_epoch(arena, rng, run_block);
    // The implicit factors' full-gradient step, then the sums they feed.
    if (ylr > 0) {
      arena.execute([&] {
        tbb::parallel_for(0, num_movies, [&](int j) {
          Eigen::RowVectorXf grad = Eigen::RowVectorXf::Zero(f);
          const auto b = by_movie.start[static_cast<std::size_t>(j)];
          const auto e = by_movie.start[static_cast<std::size_t>(j) + 1];
          for (auto k = b; k < e; ++k) {
            const auto u = by_movie.index[static_cast<std::size_t>(k)];
            grad += norm[u] * g.row(u);
          }
          w.y.row(j) += ylr * (grad - yreg * w.y.row(j));
        });
      });
      update_z();
    }
    return std::accumulate(block_loss.begin(), block_loss.end(), 0.0) / static_cast<double>(n);
  };
  if (validation.size() > 0) cb.validation_mse = validation_mse;
  cb.snapshot = [&] { best = w; };
  cb.restore = [&] { w = std::move(best); };
  EpochLoop loop;
  loop.epochs = config_.epochs;
  loop.keep_best = true;
  loop.patience = config_.patience;
  TrainReport report = train_epochs(loop, cb);

  factors_.users.resize(num_users, f + 2);
  factors_.movies.resize(num_movies, f + 2);
  factors_.users.leftCols(f) = w.p + w.z;
  factors_.users.col(f).setConstant(mu);
  factors_.users.col(f) += w.bu;
  factors_.users.col(f + 1).setOnes();
  factors_.movies.leftCols(f) = w.q;
  factors_.movies.col(f).setOnes();
  factors_.movies.col(f + 1) = w.bi;
  return report;
}

}  // namespace

std::unique_ptr<Model> make_svdpp_model(const SvdppParams& params, const ModelContext& context) {
  return std::make_unique<SvdppModel>(params, context);
}

const ModelType& svdpp_model_type() {
  using P = SvdppParams;
  static const ModelType kType = declare_model<P>({
      .kind = ModelKind::kRating,
      .keys = ParamTable<P>()
                  .add("factors", &P::factors, 1, 1024, "latent factors")
                  .add("epochs", &P::epochs, 1, 10000, "largest number of passes over the ratings")
                  .add("learning_rate", &P::learning_rate, 1e-9, 10.0,
                       "SGD step size of the user and movie factors and biases")
                  .add("implicit_learning_rate", &P::implicit_learning_rate, 0.0, 10.0,
                       "step size of the implicit movie factors, taken once per epoch on the "
                       "epoch's summed gradient; 0 keeps them at their initial values")
                  .add("l2", &P::l2, 0.0, 100.0,
                       "L2 penalty on the factors and both biases of each rating")
                  .add("implicit_l2", &P::implicit_l2, 0.0, 1e6,
                       "L2 penalty on the implicit movie factors (per epoch)")
                  .add("init_scale", &P::init_scale, 0.0, 10.0,
                       "factors start uniform in [-init_scale, init_scale]")
                  .add("patience", &P::patience, 0, 1000,
                       "epochs without validation gain before stopping (the best epoch is "
                       "kept), 0 = never"),
      .make = make_svdpp_model,
      .fold_in = [](const P&, const FoldInInputs& in) { return rating_fold_in(in); },
  });
  return kType;
}

}  // namespace recs
