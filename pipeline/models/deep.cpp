// The tutorial's deep model, with the dot model's Keras semantics (see
// dot_model.cpp: uniform embedding init, per-batch mean loss, exact Adam on
// every embedding row every step, reshuffle per epoch, partial last batch,
// epoch loss = size-weighted mean of the batch losses before their steps)
// plus Keras Dense layers: glorot_uniform kernels, zero biases, activation
// linear (Keras's default, the tutorial's) or relu (on the first Dense layer
// only; see Network::forward for why the output layer stays linear).
//
// With linear activations the towers add nothing a plain dot model lacks:
// each tower is an affine map of the embedding, so tower_u . tower_m is a
// bilinear form of the 5-dim embeddings plus linear terms, i.e. still a rank
// <= 6 factorisation (with biases). Only relu makes the towers non-linear.
//
// Forward and backward passes run a whole batch at once as GEMMs into
// preallocated matrices (batch x factors -> batch x hidden -> batch x hidden);
// the only per-example work is gathering embedding rows and scattering their
// gradients. The embedding tables use the dot model's Adam policy: exact dense
// updates while cheap, else the deferred catch-up (same trajectory to float
// rounding), shared with dot_model.cpp (models/embedding_adam.h). The Dense
// weights are small and always updated densely.
//
// With model.patience > 0 and a validation set, training stops once the
// validation MSE has not improved for `patience` epochs and the best epoch's
// model is kept (Keras's EarlyStopping(patience, restore_best_weights=True));
// the tutorial itself trains a fixed number of epochs and keeps the last one,
// which is patience 0. Past its best epoch (about the second, at the
// tutorial's rate) the relu model overfits ml-latest-small quickly.
//
// The exported factors are the tower outputs for every user and movie, so
// users.row(u) . movies.row(m) is exactly the model's prediction (up to float
// rounding), and the validation MSE is computed from them.

// GCC 12 flags its own _mm512_undefined_ps() idiom inside Eigen's AVX-512
// sqrt as maybe-uninitialised once instantiated here (a known false positive).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "models/deep.h"

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

#include "models/embedding_adam.h"
#include "models/registry.h"
#include "models/train_loop.h"
#include "util/error.h"
#include "util/log.h"

namespace recs {
namespace {
using namespace embedding_adam;  // NOLINT: shared internals of models/

// Adam moments of one Dense tower, laid out like its parameters.
struct TowerAdam {
  deep::Tower m;
  deep::Tower v;
  TowerAdam(int factors, int hidden) : m(factors, hidden), v(factors, hidden) {}
};

void adam_array(float* w, float* m_ptr, float* v_ptr, const float* g_ptr, Eigen::Index n,
                const StepConstants& c) {
  Eigen::Map<Eigen::ArrayXf> p(w, n);
  Eigen::Map<Eigen::ArrayXf> m(m_ptr, n);
  Eigen::Map<Eigen::ArrayXf> v(v_ptr, n);
  Eigen::Map<const Eigen::ArrayXf> g(g_ptr, n);
  m += (g - m) * c.c1;
  v += (g.square() - v) * c.c2;
  p -= (m * c.alpha) / (v.sqrt() + c.eps);
}

void adam_tower(deep::Tower& t, TowerAdam& s, const deep::Tower& g, const StepConstants& c) {
  adam_array(t.w1.data(), s.m.w1.data(), s.v.w1.data(), g.w1.data(), t.w1.size(), c);
  adam_array(t.w2.data(), s.m.w2.data(), s.v.w2.data(), g.w2.data(), t.w2.size(), c);
  adam_array(t.b1.data(), s.m.b1.data(), s.v.b1.data(), g.b1.data(), t.b1.size(), c);
  adam_array(t.b2.data(), s.m.b2.data(), s.v.b2.data(), g.b2.data(), t.b2.size(), c);
}

// Keras's glorot_uniform: uniform in +-sqrt(6 / (fan_in + fan_out)).
void init_glorot(RowMatrix& w, random::Rng& rng) {
  init_uniform(w, rng, std::sqrt(6.0 / static_cast<double>(w.rows() + w.cols())));
}

}  // namespace

namespace deep {

Tower::Tower(int factors, int hidden)
    : w1(factors, hidden), w2(hidden, hidden), b1(hidden), b2(hidden) {
  set_zero();
}

void Tower::set_zero() {
  w1.setZero();
  w2.setZero();
  b1.setZero();
  b2.setZero();
}

Network::Network(int factors, int hidden, bool relu, int max_batch)
    : user(factors, hidden),
      movie(factors, hidden),
      user_grad(factors, hidden),
      movie_grad(factors, hidden),
      user_emb_grad(max_batch, factors),
      movie_emb_grad(max_batch, factors),
      predictions(max_batch),
      relu_(relu),
      max_batch_(max_batch) {
  for (Work* w : {&uw_, &mw_}) {
    for (RowMatrix* m : {&w->z1, &w->h1, &w->h2, &w->dz2, &w->dz1, &w->dh1}) {
      m->setZero(max_batch, hidden);
    }
    w->w.setZero(factors, hidden);
    w->g.setZero(factors, hidden);
    w->c.setZero(hidden);
  }
}

// A linear tower is the affine map e (W1 W2) + (b1 W2 + b2). Training goes
// through that rank-`factors` form: every product then has `factors` as one
// dimension instead of batch x hidden x hidden, about 5x fewer flops at the
// tutorial's sizes, with the same gradients up to float rounding.
void Network::collapse(const Tower& t, Work& w) const {
  w.w.noalias() = t.w1 * t.w2;
  w.c.noalias() = t.b1 * t.w2;
  w.c += t.b2;
}

void Network::forward(const Tower& t, const RowMatrix& e, int rows, Work& w) const {
  if (!relu_) {
    collapse(t, w);
    auto h2 = w.h2.topRows(rows);
    h2.noalias() = e.topRows(rows) * w.w;
    h2.rowwise() += w.c;
    return;
  }
  auto z1 = w.z1.topRows(rows);
  auto h1 = w.h1.topRows(rows);
  auto h2 = w.h2.topRows(rows);
  z1.noalias() = e.topRows(rows) * t.w1;
  z1.rowwise() += t.b1;
  if (relu_) {
    h1 = z1.cwiseMax(0.0f);
  } else {
    h1 = z1;
  }
  // The second layer stays linear even with relu: a relu there would make
  // every tower output non-negative, hence every prediction u . m >= 0, so
  // the tutorial's -1 ratings could not be fitted at all (on planted data the
  // network then dies at the zero prediction).
  h2.noalias() = h1 * t.w2;
  h2.rowwise() += t.b2;
}

// On entry w.dz2 holds d loss / d h2 (= d loss / d z2, the last layer being
// linear).
void Network::backward(const Tower& t, const RowMatrix& e, int rows, Work& w, Tower& grad,
                       RowMatrix& emb_grad) const {
  if (!relu_) {
    // h1 = e W1 + b1 and dh1 = dz2 W2^T never materialise:
    //   dW2 = h1^T dz2 = W1^T (e^T dz2) + b1^T colsum(dz2)
    //   dW1 = e^T dh1 = (e^T dz2) W2^T,  db1 = colsum(dz2) W2^T
    //   d e = dh1 W1^T = dz2 (W1 W2)^T
    auto dz2 = w.dz2.topRows(rows);
    w.g.noalias() = e.topRows(rows).transpose() * dz2;
    grad.b2 = dz2.colwise().sum();
    grad.w2.noalias() = t.w1.transpose() * w.g;
    grad.w2.noalias() += t.b1.transpose() * grad.b2;
    grad.w1.noalias() = w.g * t.w2.transpose();
    grad.b1.noalias() = grad.b2 * t.w2.transpose();
    emb_grad.topRows(rows).noalias() = dz2 * w.w.transpose();
    return;
  }
  auto dz2 = w.dz2.topRows(rows);
  auto dh1 = w.dh1.topRows(rows);
  auto dz1 = w.dz1.topRows(rows);
  grad.w2.noalias() = w.h1.topRows(rows).transpose() * dz2;
  grad.b2 = dz2.colwise().sum();
  dh1.noalias() = dz2 * t.w2.transpose();
  if (relu_) {
    dz1 = (w.z1.topRows(rows).array() > 0.0f).select(dh1, 0.0f);
  } else {
    dz1 = dh1;
  }
  grad.w1.noalias() = e.topRows(rows).transpose() * dz1;
  grad.b1 = dz1.colwise().sum();
  emb_grad.topRows(rows).noalias() = dz1 * t.w1.transpose();
}

double Network::batch_gradient(const RowMatrix& eu, const RowMatrix& em, const float* y, int rows) {
  if (rows < 1 || rows > max_batch_ || eu.rows() < rows || em.rows() < rows) {
    throw Error(ExitCode::kInternal, "deep: batch of " + std::to_string(rows) +
                                         " rows does not fit the network's work space");
  }
  forward(user, eu, rows, uw_);
  forward(movie, em, rows, mw_);
  auto hu = uw_.h2.topRows(rows);
  auto hm = mw_.h2.topRows(rows);
  auto pred = predictions.head(rows);
  pred = hu.cwiseProduct(hm).rowwise().sum();
  Eigen::Map<const Eigen::VectorXf> target(y, rows);
  // d loss / d h2_u = 2 (pred - y) / rows * h2_m, and symmetrically; written
  // straight into dz2, which backward() masks by the activation's slope.
  double loss = 0;
  const float scale = 2.0f / static_cast<float>(rows);
  for (int i = 0; i < rows; ++i) {
    const float err = pred[i] - target[i];
    loss += static_cast<double>(err) * err;
    const float coef = scale * err;
    uw_.dz2.row(i) = coef * hm.row(i);
    mw_.dz2.row(i) = coef * hu.row(i);
  }
  backward(user, eu, rows, uw_, user_grad, user_emb_grad);
  backward(movie, em, rows, mw_, movie_grad, movie_emb_grad);
  return loss / rows;
}

RowMatrix Network::tower_output(const Tower& t, const RowMatrix& emb) const {
  RowMatrix out(emb.rows(), t.w2.cols());
  Work w;
  for (RowMatrix* m : {&w.z1, &w.h1, &w.h2}) m->resize(max_batch_, t.w2.cols());
  w.w.resize(t.w1.rows(), t.w1.cols());
  w.c.resize(t.w2.cols());
  RowMatrix chunk(max_batch_, emb.cols());
  for (Eigen::Index begin = 0; begin < emb.rows(); begin += max_batch_) {
    const auto rows = static_cast<int>(std::min<Eigen::Index>(max_batch_, emb.rows() - begin));
    chunk.topRows(rows) = emb.middleRows(begin, rows);
    forward(t, chunk, rows, w);
    out.middleRows(begin, rows) = w.h2.topRows(rows);
  }
  return out;
}

}  // namespace deep

DeepModel::DeepModel(const DeepParams& params, const ModelContext& context,
                     DeepModelOptions options)
    : config_(params), seed_(context.seed), options_(options) {
  if (config_.factors < 1) throw ConfigError("model.factors must be at least 1");
  if (config_.hidden < 1) throw ConfigError("model.hidden must be at least 1");
  if (config_.epochs < 1) throw ConfigError("model.epochs must be at least 1");
  if (config_.batch_size < 1) throw ConfigError("model.batch_size must be at least 1");
  if (!(config_.learning_rate > 0)) throw ConfigError("model.learning_rate must be positive");
  if (!(config_.beta1 >= 0 && config_.beta1 < 1) || !(config_.beta2 >= 0 && config_.beta2 < 1)) {
    throw ConfigError("model.beta1 and model.beta2 must lie in [0, 1)");
  }
  if (!(config_.epsilon > 0)) throw ConfigError("model.epsilon must be positive");
  if (!(config_.init_scale > 0)) throw ConfigError("model.init_scale must be positive");
  if (!(config_.l2 >= 0)) throw ConfigError("model.l2 must be >= 0");
  if (config_.patience < 0) throw ConfigError("model.patience must not be negative");
  if (config_.activation != "linear" && config_.activation != "relu") {
    throw ConfigError("model.activation: unknown activation '" + config_.activation +
                      "' (known: linear, relu)");
  }
}

TrainReport DeepModel::fit(const Triplets& train, const Triplets& validation, int num_users,
                           int num_movies) {
  check_fit_inputs(train, validation, num_users, num_movies);

  const int f = config_.factors;
  const int hidden = config_.hidden;
  const bool relu = config_.activation == "relu";
  const auto n = train.size();
  const auto batch = static_cast<std::size_t>(config_.batch_size);
  const int max_batch = static_cast<int>(std::min(batch, n));
  const auto steps_per_epoch = static_cast<std::int64_t>((n + batch - 1) / batch);
  const std::int64_t total_steps = steps_per_epoch * config_.epochs;

  // Initialisation order: user table, movie table, user tower, movie tower.
  random::Rng init_rng(seed_, random::Stream::kInit);
  RowMatrix user_emb(num_users, f);
  RowMatrix movie_emb(num_movies, f);
  init_uniform(user_emb, init_rng, config_.init_scale);
  init_uniform(movie_emb, init_rng, config_.init_scale);
  deep::Network net(f, hidden, relu, max_batch);
  init_glorot(net.user.w1, init_rng);
  init_glorot(net.user.w2, init_rng);
  init_glorot(net.movie.w1, init_rng);
  init_glorot(net.movie.w2, init_rng);
  TowerAdam user_adam(f, hidden);
  TowerAdam movie_adam(f, hidden);

  const double dense_cost =
      static_cast<double>(num_users + num_movies) * f * static_cast<double>(total_steps);
  const AdamMode mode =
      resolve_adam_mode(options_.adam, dense_cost, options_.dense_budget, config_);
  mode_used_ = mode;
  {
    std::ostringstream msg;
    msg << "training deep model: " << n << " ratings, " << validation.size() << " validation, "
        << num_users << " users, " << num_movies << " movies, " << f << " factors, towers "
        << hidden << "-" << hidden << " " << config_.activation << ", batch " << batch << ", "
        << steps_per_epoch << " steps/epoch, " << describe(mode);
    log::info(msg.str());
  }

  Table users(user_emb.data(), num_users, f);
  Table movies(movie_emb.data(), num_movies, f);
  TableAdam adam(users, movies, config_, mode);
  const bool use_l2 = config_.l2 > 0;
  const auto l2 = static_cast<float>(config_.l2);

  random::Rng shuffle_rng(seed_, random::Stream::kShuffle);
  std::vector<Example> examples(n);
  for (std::size_t i = 0; i < n; ++i) examples[i] = {train.user[i], train.movie[i], train.value[i]};

  // Batch inputs, gathered from the tables.
  RowMatrix eu(max_batch, f);
  RowMatrix em(max_batch, f);
  std::vector<float> y(static_cast<std::size_t>(max_batch));

  auto export_factors = [&] {
    factors_.users = net.tower_output(net.user, user_emb);
    factors_.movies = net.tower_output(net.movie, movie_emb);
  };

  std::int64_t step = 0;
  EpochCallbacks cb;
  cb.run_epoch = [&](int) {
    if (config_.shuffle) shuffle_examples(examples, shuffle_rng);
    adam.start_epoch(step, steps_per_epoch);
    double loss_sum = 0;
    for (std::size_t begin = 0; begin < n; begin += batch) {
      ++step;
      const std::size_t end = std::min(n, begin + batch);
      const int rows = static_cast<int>(end - begin);
      adam.prepare(examples.data() + begin, examples.data() + end, step);
      for (int i = 0; i < rows; ++i) {
        const Example& ex = examples[begin + static_cast<std::size_t>(i)];
        eu.row(i) = user_emb.row(ex.user);
        em.row(i) = movie_emb.row(ex.movie);
        y[static_cast<std::size_t>(i)] = ex.value;
      }
      loss_sum += net.batch_gradient(eu, em, y.data(), rows) * rows;
      // Scatter the per-example embedding gradients; a row used twice in a
      // batch gets the sum, as TF's dense gradient from IndexedSlices.
      const float scale = 1.0f / static_cast<float>(rows);
      for (int i = 0; i < rows; ++i) {
        const Example& ex = examples[begin + static_cast<std::size_t>(i)];
        float* gu = users.row(users.grad.data(), ex.user);
        float* gm = movies.row(movies.grad.data(), ex.movie);
        const float* du = net.user_emb_grad.row(i).data();
        const float* dm = net.movie_emb_grad.row(i).data();
        for (int d = 0; d < f; ++d) {
          gu[d] += du[d];
          gm[d] += dm[d];
        }
        if (use_l2) {
          // Penalty l2 (|e_u|^2 + |e_m|^2) per example, averaged with the
          // loss, on the embeddings only (as the dot model).
          const float* wu = user_emb.row(ex.user).data();
          const float* wm = movie_emb.row(ex.movie).data();
          float norm = 0;
          for (int d = 0; d < f; ++d) {
            gu[d] += 2.0f * scale * l2 * wu[d];
            gm[d] += 2.0f * scale * l2 * wm[d];
            norm += wu[d] * wu[d] + wm[d] * wm[d];
          }
          loss_sum += static_cast<double>(l2) * norm;
        }
        users.touch(ex.user, step);
        movies.touch(ex.movie, step);
      }
      const StepConstants& c = adam.constants(step);
      adam_tower(net.user, user_adam, net.user_grad, c);
      adam_tower(net.movie, movie_adam, net.movie_grad, c);
      adam.apply(step);
    }
    adam.end_epoch(step);
    return loss_sum / static_cast<double>(n);
  };
  // The validation error is the exported factors' (tower outputs).
  Factors best;
  if (validation.size() > 0) {
    cb.validation_mse = [&] {
      export_factors();
      return mse(factors_, validation);
    };
  }
  cb.snapshot = [&] { best = factors_; };
  cb.restore = [&] { factors_ = std::move(best); };

  // Early stopping on the validation error, keeping the best epoch's model
  // (Keras's EarlyStopping with restore_best_weights); off with patience 0.
  EpochLoop loop;
  loop.epochs = config_.epochs;
  loop.keep_best = config_.patience > 0;
  loop.patience = config_.patience;
  TrainReport report = train_epochs(loop, cb);
  if (validation.size() == 0) export_factors();
  return report;
}

namespace {

std::unique_ptr<Model> make(const DeepParams& params, const ModelContext& context) {
  return std::make_unique<DeepModel>(params, context);
}

}  // namespace

const ModelType& deep_model_type() {
  using P = DeepParams;
  static const ModelType kType = declare_model<P>({
      .kind = ModelKind::kRating,
      .keys = ParamTable<P>()
                  .extend(dot_keys())
                  .add("hidden", &P::hidden, 1, 4096, "units in each tower's two Dense layers")
                  .add("activation", &P::activation, {"linear", "relu"},
                       "activation of each tower's first Dense layer (the second stays linear "
                       "so predictions can be negative)")
                  .add("patience", &P::patience, 0, 1000,
                       "epochs without validation gain before stopping (the best epoch is "
                       "kept), 0 = never"),
      .make = make,
      .fold_in = [](const P&, const FoldInInputs& in) { return rating_fold_in(in); },
  });
  return kType;
}

}  // namespace recs
