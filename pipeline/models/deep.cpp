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
//
// The ranking losses (fit_ranking) train on the positives only, in batches
// of batch_size of them, without a validation set:
//   softmax: every movie row of the batch (its own positives, plus
//     `negatives` drawn uniformly) is a candidate for every user row; logits
//     are the cosines of the tower outputs over the temperature, plus a
//     learned movie bias, minus log Q (the candidate's expected count in a
//     batch), and the loss is the cross-entropy of each row's own positive
//     (Yi et al. 2019). The correction makes in-batch negatives, which are
//     drawn by popularity, estimate the full softmax over every movie.
//   bpr: one movie the user has not rated per positive,
//     -log sigmoid(s(u, pos) - s(u, neg)), scores the cosines of the tower
//     outputs over the temperature plus the movie bias, as softmax's logits
//     (on the raw dot of the outputs it ranked below popularity on
//     ml-latest-small: NDCG@10 0.148 against 0.164; on cosines 0.201).
// The embedding tables take lazy Adam steps (only a batch's rows and their
// moments move: a dense step per batch over 59k x 64 floats would cost more
// than the batch), the towers dense ones. The two towers' forward and
// backward passes, and the softmax's blocks of logit rows, run as parallel
// TBB tasks on train.threads; each task's result is the same whatever runs
// it, so the model is deterministic per seed and thread count. Exported:
// users [output normalised, over the temperature, 1], movies [output
// normalised, bias].

// GCC 12 flags its own _mm512_undefined_ps() idiom inside Eigen's AVX-512
// sqrt as maybe-uninitialised once instantiated here (a known false positive).
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif

#include "models/deep.h"

#include <tbb/parallel_for.h>
#include <tbb/parallel_invoke.h>
#include <tbb/task_arena.h>

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

#include "models/bpr.h"
#include "models/embedding_adam.h"
#include "models/registry.h"
#include "models/train_loop.h"
#include "util/error.h"
#include "util/log.h"

namespace recs {
namespace {
using namespace embedding_adam;  // NOLINT: shared internals of models/

// The ranking losses' defaults (resolve_defaults), measured on
// ml-latest-small (README "Which model is best").
constexpr int kRankFactors = 128;
constexpr int kRankHidden = 256;
constexpr double kRankL2 = 3e-4;
// Epochs by data size: about kRankExamples positives in all, shared by the
// members of the ensemble, at most kRankEpochs passes in all (15 per member
// of 2 on ml-latest-small's 48k positives; at least 1 per member, as at
// ML-25M size, whose one pass is already 28k Adam steps).
constexpr int kRankEpochs = 30;
// Members of softmax's ensemble (model.deep.members): two members of 15
// passes rank better than one of 30 at the same cost; bpr's rank worse
// (README).
constexpr int kSoftmaxMembers = 2;
constexpr double kRankExamples = 1.5e6;
constexpr double kRankLearningRate = 0.002;
constexpr int kRankBatch = 512;
// The fold-in of a ranking model: implicit least squares against the unit
// movie vectors, positives weighted 1 + this, penalty kRankFoldInL2.
constexpr double kRankFoldInConfidence = 50.0;
constexpr double kRankFoldInL2 = 1.0;

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

// The trained parameters of both fits and the towers' Adam moments, seeded
// in one order: user table, movie table, user tower, movie tower.
struct TwoTowers {
  RowMatrix user_emb;
  RowMatrix movie_emb;
  deep::Network net;
  TowerAdam user_adam;
  TowerAdam movie_adam;

  TwoTowers(int num_users, int num_movies, int factors, int hidden, bool relu, int max_rows,
            std::uint64_t seed, double init_scale)
      : user_emb(num_users, factors),
        movie_emb(num_movies, factors),
        net(factors, hidden, relu, max_rows),
        user_adam(factors, hidden),
        movie_adam(factors, hidden) {
    random::Rng rng(seed, random::Stream::kInit);
    init_uniform(user_emb, rng, init_scale);
    init_uniform(movie_emb, rng, init_scale);
    init_glorot(net.user.w1, rng);
    init_glorot(net.user.w2, rng);
    init_glorot(net.movie.w1, rng);
    init_glorot(net.movie.w2, rng);
  }
};

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
      column_grad(max_batch),
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

void Network::reserve_ranking() {
  if (logits_.rows() == max_batch_) return;
  const auto hidden = user.w2.cols();
  for (Work* w : {&uw_, &mw_}) {
    w->n.setZero(max_batch_, hidden);
    w->norm.setZero(max_batch_);
  }
  logits_.setZero(max_batch_, max_batch_);
  row_loss_.setZero(max_batch_);
}

namespace {

// n = h / |h| per row, keeping |h| for the backward pass.
void normalise_rows(const RowMatrix& h, int rows, RowMatrix& n, Eigen::VectorXf& norm) {
  for (int i = 0; i < rows; ++i) {
    const float len = std::max(h.row(i).norm(), 1e-12f);
    norm[i] = len;
    n.row(i) = h.row(i) / len;
  }
}

// d loss / d h from d loss / d n (held in dn, replaced in place):
// (dn - n (n . dn)) / |h|.
void normalise_backward(const RowMatrix& n, const Eigen::VectorXf& norm, int rows, RowMatrix& dn) {
  for (int i = 0; i < rows; ++i) {
    const float proj = n.row(i).dot(dn.row(i));
    dn.row(i) = (dn.row(i) - proj * n.row(i)) / norm[i];
  }
}

}  // namespace

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

double Network::softmax_gradient(const RowMatrix& eu, int users, const RowMatrix& em, int movies,
                                 const float* log_q, const std::int32_t* column_id,
                                 float temperature) {
  if (users < 1 || movies < users || movies > max_batch_ || eu.rows() < users ||
      em.rows() < movies) {
    throw Error(ExitCode::kInternal, "deep: softmax batch of " + std::to_string(users) + " x " +
                                         std::to_string(movies) +
                                         " does not fit the network's work space");
  }
  reserve_ranking();
  // The two towers are independent, and the rows of the logits too: they run
  // as parallel tasks (deterministic: no task's result depends on another's
  // timing, and the loss is summed in row order).
  tbb::parallel_invoke(
      [&] {
        forward(user, eu, users, uw_);
        normalise_rows(uw_.h2, users, uw_.n, uw_.norm);
      },
      [&] {
        forward(movie, em, movies, mw_);
        normalise_rows(mw_.h2, movies, mw_.n, mw_.norm);
      });
  auto un = uw_.n.topRows(users);
  auto mn = mw_.n.topRows(movies);
  const float inv_t = 1.0f / temperature;
  const float scale = 1.0f / static_cast<float>(users);
  constexpr int kChunk = 64;
  tbb::parallel_for(0, (users + kChunk - 1) / kChunk, [&](int c) {
    const int first = c * kChunk;
    const int rows = std::min(kChunk, users - first);
    logits_.block(first, 0, rows, movies).noalias() = un.middleRows(first, rows) * mn.transpose();
    for (int k = first; k < first + rows; ++k) {
      float* l = logits_.row(k).data();
      const std::int32_t own = column_id[k];
      float top = -std::numeric_limits<float>::infinity();
      for (int j = 0; j < movies; ++j) {
        // An accidental hit (the row's own positive again) is no negative.
        l[j] = j != k && column_id[j] == own ? -std::numeric_limits<float>::infinity()
                                             : l[j] * inv_t - log_q[j];
        top = std::max(top, l[j]);
      }
      double sum = 0;
      for (int j = 0; j < movies; ++j) sum += std::exp(static_cast<double>(l[j] - top));
      row_loss_[k] = std::log(sum) + top - l[k];
      const auto inv_sum = static_cast<float>(1.0 / sum);
      for (int j = 0; j < movies; ++j) l[j] = std::exp(l[j] - top) * inv_sum * scale;
      l[k] -= scale;
    }
  });
  double loss = 0;
  for (int k = 0; k < users; ++k) loss += row_loss_[k];
  column_grad.head(movies) = logits_.topLeftCorner(users, movies).colwise().sum().transpose();
  // d loss / d un = G mn / T, d loss / d mn = G^T un / T.
  auto logits = logits_.topLeftCorner(users, movies);
  tbb::parallel_invoke(
      [&] {
        uw_.dz2.topRows(users).noalias() = logits * mn;
        uw_.dz2.topRows(users) *= inv_t;
        normalise_backward(uw_.n, uw_.norm, users, uw_.dz2);
        backward(user, eu, users, uw_, user_grad, user_emb_grad);
      },
      [&] {
        mw_.dz2.topRows(movies).noalias() = logits.transpose() * un;
        mw_.dz2.topRows(movies) *= inv_t;
        normalise_backward(mw_.n, mw_.norm, movies, mw_.dz2);
        backward(movie, em, movies, mw_, movie_grad, movie_emb_grad);
      });
  return loss / users;
}

double Network::bpr_gradient(const RowMatrix& eu, const RowMatrix& em, int rows, const float* bias,
                             float temperature) {
  if (rows < 1 || 2 * rows > max_batch_ || eu.rows() < rows || em.rows() < 2 * rows) {
    throw Error(ExitCode::kInternal, "deep: bpr batch of " + std::to_string(rows) +
                                         " rows does not fit the network's work space");
  }
  const bool cosine = temperature > 0;
  if (cosine) reserve_ranking();
  tbb::parallel_invoke(
      [&] {
        forward(user, eu, rows, uw_);
        if (cosine) normalise_rows(uw_.h2, rows, uw_.n, uw_.norm);
      },
      [&] {
        forward(movie, em, 2 * rows, mw_);
        if (cosine) normalise_rows(mw_.h2, 2 * rows, mw_.n, mw_.norm);
      });
  const RowMatrix& hu_all = cosine ? uw_.n : uw_.h2;
  const RowMatrix& hm_all = cosine ? mw_.n : mw_.h2;
  const float inv_t = cosine ? 1.0f / temperature : 1.0f;
  const float scale = 1.0f / static_cast<float>(rows);
  double loss = 0;
  for (int k = 0; k < rows; ++k) {
    const auto hu = hu_all.row(k);
    const auto diff = (hm_all.row(k) - hm_all.row(rows + k)).eval();
    const float x = inv_t * hu.dot(diff) + (bias ? bias[k] - bias[rows + k] : 0.0f);
    // -log sigmoid(x) = log(1 + e^-x), computed stably.
    loss += x > 0 ? std::log1p(std::exp(-static_cast<double>(x)))
                  : -static_cast<double>(x) + std::log1p(std::exp(static_cast<double>(x)));
    const float g = -scale / (1.0f + std::exp(x));  // d loss / d x, averaged
    uw_.dz2.row(k) = (g * inv_t) * diff;
    mw_.dz2.row(k) = (g * inv_t) * hu;
    mw_.dz2.row(rows + k) = (-g * inv_t) * hu;
    column_grad[k] = g;
    column_grad[rows + k] = -g;
  }
  tbb::parallel_invoke(
      [&] {
        if (cosine) normalise_backward(uw_.n, uw_.norm, rows, uw_.dz2);
        backward(user, eu, rows, uw_, user_grad, user_emb_grad);
      },
      [&] {
        if (cosine) normalise_backward(mw_.n, mw_.norm, 2 * rows, mw_.dz2);
        backward(movie, em, 2 * rows, mw_, movie_grad, movie_emb_grad);
      });
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

namespace deep {

bool ranking_loss(const DeepParams& params) { return params.loss != "mse"; }

DeepParams resolve_defaults(DeepParams p) {
  const bool rank = ranking_loss(p);
  if (p.factors == 0) p.factors = rank ? kRankFactors : 5;
  if (p.epochs == 0 && !rank) p.epochs = 3;  // a ranking loss's: by data size (fit_ranking)
  if (p.learning_rate == 0) p.learning_rate = rank ? kRankLearningRate : 0.001;
  if (p.batch_size == 0) p.batch_size = rank ? kRankBatch : 32;
  if (p.hidden == 0) p.hidden = rank ? kRankHidden : 100;
  if (p.activation == "auto") p.activation = rank ? "relu" : "linear";
  if (p.l2 < 0) p.l2 = rank ? kRankL2 : 0.0;
  if (p.members == 0) p.members = p.loss == "softmax" ? kSoftmaxMembers : 1;
  return p;
}

}  // namespace deep

DeepModel::DeepModel(const DeepParams& params, const ModelContext& context,
                     DeepModelOptions options)
    : config_(deep::resolve_defaults(params)),
      seed_(context.seed),
      threads_(context.threads),
      options_(options) {
  if (config_.factors < 1) throw ConfigError("model.factors must be at least 1");
  if (config_.hidden < 1) throw ConfigError("model.hidden must be at least 1");
  if (config_.epochs < (deep::ranking_loss(config_) ? 0 : 1)) {
    throw ConfigError("model.epochs must be at least 1");
  }
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
                      "' (known: linear, relu, auto)");
  }
  if (config_.loss != "mse" && config_.loss != "softmax" && config_.loss != "bpr") {
    throw ConfigError("model.loss: unknown loss '" + config_.loss + "' (known: mse, softmax, bpr)");
  }
  if (config_.negatives < 0) throw ConfigError("model.negatives must not be negative");
  if (config_.members < 1) throw ConfigError("model.members must be at least 1");
  if (config_.members > 1 && !deep::ranking_loss(config_)) {
    throw ConfigError("model.members applies to the ranking losses (softmax, bpr), not mse");
  }
  if (!(config_.temperature > 0)) throw ConfigError("model.temperature must be positive");
}

TrainReport DeepModel::fit(const Triplets& train, const Triplets& validation, int num_users,
                           int num_movies) {
  check_fit_inputs(train, validation, num_users, num_movies);
  if (deep::ranking_loss(config_)) return fit_ranking(train, num_users, num_movies);

  const int f = config_.factors;
  const int hidden = config_.hidden;
  const bool relu = config_.activation == "relu";
  const auto n = train.size();
  const auto batch = static_cast<std::size_t>(config_.batch_size);
  const int max_batch = static_cast<int>(std::min(batch, n));
  const auto steps_per_epoch = static_cast<std::int64_t>((n + batch - 1) / batch);
  const std::int64_t total_steps = steps_per_epoch * config_.epochs;

  TwoTowers t(num_users, num_movies, f, hidden, relu, max_batch, seed_, config_.init_scale);

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

  Table users(t.user_emb.data(), num_users, f);
  Table movies(t.movie_emb.data(), num_movies, f);
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
    factors_.users = t.net.tower_output(t.net.user, t.user_emb);
    factors_.movies = t.net.tower_output(t.net.movie, t.movie_emb);
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
        eu.row(i) = t.user_emb.row(ex.user);
        em.row(i) = t.movie_emb.row(ex.movie);
        y[static_cast<std::size_t>(i)] = ex.value;
      }
      loss_sum += t.net.batch_gradient(eu, em, y.data(), rows) * rows;
      // Scatter the per-example embedding gradients; a row used twice in a
      // batch gets the sum, as TF's dense gradient from IndexedSlices.
      const float scale = 1.0f / static_cast<float>(rows);
      for (int i = 0; i < rows; ++i) {
        const Example& ex = examples[begin + static_cast<std::size_t>(i)];
        float* gu = users.row(users.grad.data(), ex.user);
        float* gm = movies.row(movies.grad.data(), ex.movie);
        const float* du = t.net.user_emb_grad.row(i).data();
        const float* dm = t.net.movie_emb_grad.row(i).data();
        for (int d = 0; d < f; ++d) {
          gu[d] += du[d];
          gm[d] += dm[d];
        }
        if (use_l2) {
          // Penalty l2 (|e_u|^2 + |e_m|^2) per example, averaged with the
          // loss, on the embeddings only (as the dot model).
          const float* wu = t.user_emb.row(ex.user).data();
          const float* wm = t.movie_emb.row(ex.movie).data();
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
      adam_tower(t.net.user, t.user_adam, t.net.user_grad, c);
      adam_tower(t.net.movie, t.movie_adam, t.net.movie_grad, c);
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

TrainReport DeepModel::fit_ranking(const Triplets& train, int num_users, int num_movies) {
  const int members = config_.members;
  std::size_t positives = 0;
  for (const float v : train.value) positives += v >= config_.positive_threshold ? 1 : 0;
  // Passes per member by data size: the members share kRankExamples.
  const int epochs =
      config_.epochs > 0
          ? config_.epochs
          : static_cast<int>(
                std::clamp(std::round(kRankExamples /
                                      (static_cast<double>(members) *
                                       static_cast<double>(std::max<std::size_t>(1, positives)))),
                           1.0, static_cast<double>(std::max(1, kRankEpochs / members))));
  if (members == 1) return fit_ranking_member(train, num_users, num_movies, seed_, epochs);
  // Each member's vectors side by side, the users' divided by the count: a
  // score is the members' mean logit, for the one kernel as for one member.
  Factors all;
  TrainReport report;
  for (int e = 0; e < members; ++e) {
    log::info("deep: ensemble member " + std::to_string(e + 1) + " of " + std::to_string(members));
    report = fit_ranking_member(train, num_users, num_movies, seed_ + static_cast<std::uint64_t>(e),
                                epochs);
    const auto d = factors_.users.cols();
    if (e == 0) {
      all.users.resize(num_users, d * members);
      all.movies.resize(num_movies, d * members);
    }
    all.users.middleCols(d * e, d) = factors_.users / static_cast<float>(members);
    all.movies.middleCols(d * e, d) = factors_.movies;
  }
  factors_ = std::move(all);
  return report;
}

TrainReport DeepModel::fit_ranking_member(const Triplets& train, int num_users, int num_movies,
                                          std::uint64_t seed, int epochs) {
  const bool softmax = config_.loss == "softmax";
  std::vector<Example> positives;
  for (std::size_t i = 0; i < train.size(); ++i) {
    if (train.value[i] >= config_.positive_threshold) {
      positives.push_back({train.user[i], train.movie[i], 1.0f});
    }
  }
  if (positives.empty()) {
    throw Error(ExitCode::kInput, "deep: no training rating is >= model.positive_threshold (" +
                                      std::to_string(config_.positive_threshold) + "), so the " +
                                      config_.loss + " loss has nothing to rank");
  }
  const int f = config_.factors;
  const int hidden = config_.hidden;
  const bool relu = config_.activation == "relu";
  const std::size_t n = positives.size();
  const auto batch = std::min(static_cast<std::size_t>(config_.batch_size), n);
  const int sampled = softmax ? config_.negatives : 0;
  const int b = static_cast<int>(batch);
  const int max_rows = softmax ? b + sampled : 2 * b;
  const auto steps_per_epoch = static_cast<std::int64_t>((n + batch - 1) / batch);

  TwoTowers t(num_users, num_movies, f, hidden, relu, max_rows, seed, config_.init_scale);
  // Lazy Adam on the embedding tables: only the rows of a batch move (their
  // moments too); the towers are updated densely.
  Table users(t.user_emb.data(), num_users, f);
  Table movies(t.movie_emb.data(), num_movies, f);
  // A movie bias beside the towers (exported as an extra column): the
  // popularity the logits need is more than cosines over the temperature
  // can spread.
  RowMatrix movie_bias = RowMatrix::Zero(num_movies, 1);
  Table biases(movie_bias.data(), num_movies, 1);

  // log Q: the expected number of times a movie is among a batch's
  // candidates, b in-batch positives drawn by frequency plus `sampled`
  // uniform ones (Yi et al. 2019's correction, for the mixture).
  std::vector<float> log_q_movie(static_cast<std::size_t>(num_movies), 0.0f);
  if (softmax) {
    std::vector<double> count(static_cast<std::size_t>(num_movies), 0.0);
    for (const Example& e : positives) count[static_cast<std::size_t>(e.movie)] += 1;
    for (int m = 0; m < num_movies; ++m) {
      const double q = b * count[static_cast<std::size_t>(m)] / static_cast<double>(n) +
                       static_cast<double>(sampled) / num_movies;
      log_q_movie[static_cast<std::size_t>(m)] = static_cast<float>(std::log(std::max(q, 1e-12)));
    }
  }
  const bpr::Interactions rated(train, num_users);
  {
    std::ostringstream msg;
    msg << "training deep model (" << config_.loss << "): " << n
        << " positives (rating >= " << config_.positive_threshold << ") of " << train.size()
        << " ratings, " << num_users << " users, " << num_movies << " movies, " << f
        << " factors, towers " << hidden << "-" << hidden << " " << config_.activation << ", batch "
        << b;
    if (softmax)
      msg << " + " << sampled << " sampled negatives, temperature " << config_.temperature;
    msg << ", " << steps_per_epoch << " steps/epoch";
    log::info(msg.str());
  }

  random::Rng shuffle_rng(seed, random::Stream::kShuffle);
  RowMatrix eu(max_rows, f);
  RowMatrix em(max_rows, f);
  std::vector<float> log_q(static_cast<std::size_t>(max_rows));
  std::vector<std::int32_t> column(static_cast<std::size_t>(max_rows));
  const auto l2 = static_cast<float>(config_.l2);
  const auto temperature = static_cast<float>(config_.temperature);

  std::int64_t step = 0;
  EpochCallbacks cb;
  cb.run_epoch = [&](int) {
    if (config_.shuffle) shuffle_examples(positives, shuffle_rng);
    double loss_sum = 0;
    for (std::size_t begin = 0; begin < n; begin += batch) {
      ++step;
      const int rows = static_cast<int>(std::min(n, begin + batch) - begin);
      const Example* ex = positives.data() + begin;
      int cols = rows;
      for (int i = 0; i < rows; ++i) {
        eu.row(i) = t.user_emb.row(ex[i].user);
        em.row(i) = t.movie_emb.row(ex[i].movie);
        column[static_cast<std::size_t>(i)] = ex[i].movie;
      }
      double loss = 0;
      if (softmax) {
        for (int s = 0; s < sampled; ++s, ++cols) {
          const auto m = static_cast<std::int32_t>(
              random::below(shuffle_rng, static_cast<std::uint64_t>(num_movies)));
          em.row(cols) = t.movie_emb.row(m);
          column[static_cast<std::size_t>(cols)] = m;
        }
        for (int j = 0; j < cols; ++j) {
          const std::int32_t m = column[static_cast<std::size_t>(j)];
          log_q[static_cast<std::size_t>(j)] =
              log_q_movie[static_cast<std::size_t>(m)] - movie_bias(m, 0);
        }
        loss = t.net.softmax_gradient(eu, rows, em, cols, log_q.data(), column.data(), temperature);
      } else {
        for (int i = 0; i < rows; ++i, ++cols) {
          std::int32_t m = bpr::sample_negative(rated.begin(ex[i].user), rated.end(ex[i].user),
                                                num_movies, shuffle_rng);
          if (m < 0) m = ex[i].movie;  // the user rated every movie: a zero-gradient pair
          em.row(rows + i) = t.movie_emb.row(m);
          column[static_cast<std::size_t>(rows + i)] = m;
        }
        // Movie rows 0..rows are the positives, rows..2 rows their negatives.
        for (int j = 0; j < 2 * rows; ++j) {
          log_q[static_cast<std::size_t>(j)] = movie_bias(column[static_cast<std::size_t>(j)], 0);
        }
        loss = t.net.bpr_gradient(eu, em, rows, log_q.data(), temperature);
      }
      loss_sum += loss * rows;
      const float scale = 1.0f / static_cast<float>(rows);
      for (int i = 0; i < rows; ++i) {
        float* g = users.row(users.grad.data(), ex[i].user);
        const float* d = t.net.user_emb_grad.row(i).data();
        const float* w = t.user_emb.row(ex[i].user).data();
        for (int k = 0; k < f; ++k) g[k] += d[k] + 2.0f * scale * l2 * w[k];
        users.touch(ex[i].user, step);
      }
      for (int j = 0; j < cols; ++j) {
        const std::int32_t m = column[static_cast<std::size_t>(j)];
        float* g = movies.row(movies.grad.data(), m);
        const float* d = t.net.movie_emb_grad.row(j).data();
        const float* w = t.movie_emb.row(m).data();
        for (int k = 0; k < f; ++k) g[k] += d[k] + 2.0f * scale * l2 * w[k];
        movies.touch(m, step);
        biases.grad[static_cast<std::size_t>(m)] += t.net.column_grad[j];
        biases.touch(m, step);
      }
      StepConstants c;
      c.alpha = static_cast<float>(IdleSteps::alpha(config_, step));
      c.c1 = static_cast<float>(1.0 - config_.beta1);
      c.c2 = static_cast<float>(1.0 - config_.beta2);
      c.eps = static_cast<float>(config_.epsilon);
      adam_tower(t.net.user, t.user_adam, t.net.user_grad, c);
      adam_tower(t.net.movie, t.movie_adam, t.net.movie_grad, c);
      for (auto r : users.touched) row_adam(users, r, c);
      for (auto r : movies.touched) row_adam(movies, r, c);
      for (auto r : biases.touched) row_adam(biases, r, c);
      clear_gradient(biases);
      clear_gradient(users);
      clear_gradient(movies);
    }
    return loss_sum / static_cast<double>(n);
  };
  EpochLoop loop;
  loop.epochs = epochs;
  TrainReport report;
  tbb::task_arena arena(threads_ > 0 ? threads_ : tbb::task_arena::automatic);
  arena.execute([&] { report = train_epochs(loop, cb); });

  // Exported: [tower output, 1] per user and [tower output, bias] per
  // movie, the outputs normalised and the user's over the temperature, so
  // scores are the trained logits (softmax's without the log-Q correction,
  // which only undoes the sampling).
  const RowMatrix hu = t.net.tower_output(t.net.user, t.user_emb);
  const RowMatrix hm = t.net.tower_output(t.net.movie, t.movie_emb);
  factors_.users.resize(num_users, hidden + 1);
  factors_.movies.resize(num_movies, hidden + 1);
  for (Eigen::Index u = 0; u < hu.rows(); ++u) {
    const float len = std::max(hu.row(u).norm(), 1e-12f) * temperature;
    factors_.users.row(u).head(hidden) = hu.row(u) / len;
    factors_.users(u, hidden) = 1.0f;
  }
  for (Eigen::Index m = 0; m < hm.rows(); ++m) {
    const float len = std::max(hm.row(m).norm(), 1e-12f);
    factors_.movies.row(m).head(hidden) = hm.row(m) / len;
    factors_.movies(m, hidden) = movie_bias(m, 0);
  }
  return report;
}

namespace {

std::unique_ptr<Model> make(const DeepParams& params, const ModelContext& context) {
  return std::make_unique<DeepModel>(params, context);
}

ModelKind kind_of(const DeepParams& p) {
  return deep::ranking_loss(p) ? ModelKind::kImplicit : ModelKind::kRating;
}

FoldInOptions fold_in(const DeepParams& p, const FoldInInputs& in) {
  if (!deep::ranking_loss(p)) return rating_fold_in(in);
  FoldInOptions o;
  o.implicit = true;
  o.l2 = kRankFoldInL2;
  o.positive_threshold = p.positive_threshold;
  o.alpha = kRankFoldInConfidence;
  o.confidence_by_rating = false;
  o.fit_fixed_part = false;
  o.threads = in.threads;
  return o;
}

// The ranking losses train on positives only: a user without one has a
// vector nothing trained, as for bpr.
SignalRule signal(const DeepParams& p) {
  SignalRule r;
  if (!deep::ranking_loss(p)) return r;
  r.needs_positive = true;
  r.positive_threshold = p.positive_threshold;
  return r;
}

}  // namespace

// members applies to the ranking losses only, and their positive_threshold
// must be reachable; the other keys' ranges are the table's.
std::optional<ParamConflict> check(const DeepParams& p, const ImportConfig& import) {
  if (p.members > 1 && !deep::ranking_loss(p)) {
    return ParamConflict{{"model.deep.members", "model.deep.loss"},
                         "members " + std::to_string(p.members) +
                             " applies to the ranking losses (softmax, bpr), not loss mse"};
  }
  if (deep::ranking_loss(p))
    return unreachable_threshold("model.deep.positive_threshold", p.positive_threshold, import);
  return std::nullopt;
}

const ModelType& deep_model_type() {
  using P = DeepParams;
  static const ModelType kType = declare_model<P>({
      .kind = ModelKind::kRating,
      .keys =
          ParamTable<P>()
              .add("factors", &P::factors, 0, 1024,
                   "embedding dimensions; 0 = the loss's default (mse 5, softmax and bpr 128)")
              .add("epochs", &P::epochs, 0, 10000,
                   "passes over the training ratings (positives for softmax and bpr); 0 = the "
                   "loss's default (mse 3; softmax and bpr about 1.5e6 positives in all, shared by "
                   "the members: 1 to 30 / members passes each)")
              .add("learning_rate", &P::learning_rate, 0.0, 10.0,
                   "Adam step size; 0 = the loss's default (mse 0.001, softmax and bpr 0.002)")
              .add("batch_size", &P::batch_size, 0, 1 << 20,
                   "ratings (positives) per Adam step; 0 = the loss's default (mse 32, softmax "
                   "and bpr 512)")
              .add("beta1", &P::beta1, 0.0, 0.999999, "Adam first-moment decay")
              .add("beta2", &P::beta2, 0.0, 0.99999999, "Adam second-moment decay")
              .add("epsilon", &P::epsilon, 1e-12, 1.0, "Adam epsilon (Keras's default 1e-7)")
              .add("init_scale", &P::init_scale, 1e-6, 10.0,
                   "embeddings start uniform in [-init_scale, init_scale]")
              .add("l2", &P::l2, -1.0, 100.0,
                   "L2 penalty on the embeddings of each batch; -1 = the loss's default (mse 0, "
                   "softmax and bpr 0.0003)")
              .add("shuffle", &P::shuffle,
                   "reshuffle the training ratings every epoch (Keras's shuffle=True); false "
                   "trains in stored (user, movie) order")
              .add("hidden", &P::hidden, 0, 4096,
                   "units in each tower's two Dense layers; 0 = the loss's default (mse 100, "
                   "softmax and bpr 256)")
              .add("activation", &P::activation, {"auto", "linear", "relu"},
                   "activation of each tower's first Dense layer (the second stays linear so "
                   "predictions can be negative); auto = linear for mse (the tutorial's), relu "
                   "for softmax and bpr")
              .add("patience", &P::patience, 0, 1000,
                   "mse: epochs without validation gain before stopping (the best epoch is "
                   "kept), 0 = never")
              .add("loss", &P::loss, {"mse", "softmax", "bpr"},
                   "objective: mse fits ratings (the tutorial's); softmax (sampled softmax with "
                   "log-Q correction) and bpr rank from the positives")
              .add("negatives", &P::negatives, 0, 1 << 16,
                   "softmax: movies sampled uniformly per batch as extra negatives beside the "
                   "batch's own positives")
              .add("temperature", &P::temperature, 1e-4, 100.0,
                   "softmax, bpr: scores are cosines of the tower outputs over this (plus the "
                   "movie bias)")
              .add("positive_threshold", &P::positive_threshold, -1e9, 1e9,
                   "softmax, bpr: a (mapped) rating >= this is a positive interaction")
              .add("members", &P::members, 0, 64,
                   "softmax, bpr: towers trained from consecutive seeds, exported side by side "
                   "so a score is their mean logit; 0 = the loss's default (softmax 2, mse and "
                   "bpr 1)"),
      .make = make,
      .fold_in = fold_in,
      .signal = signal,
      .kind_of = kind_of,
      .check = check,
  });
  return kType;
}

}  // namespace recs
