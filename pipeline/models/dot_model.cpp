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
//  - The order is reshuffled every epoch (model.shuffle, Keras's shuffle=True;
//    without it the ratings keep the stored order, as the file's rows do in
//    Keras) and the last, partial batch is used.
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

#include "models/embedding_adam.h"
#include "models/registry.h"
#include "models/train_loop.h"
#include "util/error.h"
#include "util/log.h"

namespace recs {
namespace {
using namespace embedding_adam;  // NOLINT: shared internals of models/

std::unique_ptr<Model> make(const DotParams& params, const ModelContext& context) {
  return std::make_unique<DotModel>(params, context);
}

}  // namespace

const ParamTable<DotParams>& dot_keys() {
  using P = DotParams;
  static const ParamTable<P> kKeys =
      ParamTable<P>()
          .add("factors", &P::factors, 1, 1024, "embedding dimensions")
          .add("epochs", &P::epochs, 1, 10000, "passes over the training ratings")
          .add("learning_rate", &P::learning_rate, 1e-9, 10.0, "Adam step size")
          .add("batch_size", &P::batch_size, 1, 1 << 20, "ratings per Adam step")
          .add("beta1", &P::beta1, 0.0, 0.999999, "Adam first-moment decay")
          .add("beta2", &P::beta2, 0.0, 0.99999999, "Adam second-moment decay")
          .add("epsilon", &P::epsilon, 1e-12, 1.0, "Adam epsilon (Keras's default 1e-7)")
          .add("init_scale", &P::init_scale, 1e-6, 10.0,
               "embeddings start uniform in [-init_scale, init_scale]")
          .add("l2", &P::l2, 0.0, 100.0, "L2 penalty on the embeddings of each batch")
          .add("shuffle", &P::shuffle,
               "reshuffle the training ratings every epoch (Keras's shuffle=True); false "
               "trains in stored (user, movie) order");
  return kKeys;
}

const ModelType& dot_model_type() {
  static const ModelType kType = declare_model<DotParams>({
      .kind = ModelKind::kRating,
      .keys = dot_keys(),
      .make = make,
      .fold_in = [](const DotParams&, const FoldInInputs& in) { return rating_fold_in(in); },
  });
  return kType;
}

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

DotModel::DotModel(const DotParams& params, const ModelContext& context, DotModelOptions options)
    : config_(params), seed_(context.seed), options_(std::move(options)) {
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
  check_fit_inputs(train, validation, num_users, num_movies);

  const int f = config_.factors;
  const auto n = train.size();
  const auto batch = static_cast<std::size_t>(config_.batch_size);
  const auto steps_per_epoch = static_cast<std::int64_t>((n + batch - 1) / batch);
  const std::int64_t total_steps = steps_per_epoch * config_.epochs;

  random::Rng init_rng(seed_, random::Stream::kInit);
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
  const AdamMode mode =
      resolve_adam_mode(options_.adam, dense_cost, options_.dense_budget, config_);
  mode_used_ = mode;
  {
    std::ostringstream msg;
    msg << "training dot model: " << n << " ratings, " << validation.size() << " validation, "
        << num_users << " users, " << num_movies << " movies, " << f << " factors, batch " << batch
        << ", " << steps_per_epoch << " steps/epoch, " << describe(mode);
    log::info(msg.str());
  }

  Table users(factors_.users.data(), num_users, f);
  Table movies(factors_.movies.data(), num_movies, f);
  TableAdam adam(users, movies, config_, mode);
  const bool use_l2 = config_.l2 > 0;
  const auto l2 = static_cast<float>(config_.l2);

  random::Rng shuffle_rng(seed_, random::Stream::kShuffle);
  std::vector<Example> examples(n);
  for (std::size_t i = 0; i < n; ++i) examples[i] = {train.user[i], train.movie[i], train.value[i]};

  std::int64_t step = 0;
  EpochCallbacks cb;
  cb.run_epoch = [&](int) {
    if (config_.shuffle) shuffle_examples(examples, shuffle_rng);
    adam.start_epoch(step, steps_per_epoch);
    double loss_sum = 0;  // sum over examples of their loss, before their step
    for (std::size_t begin = 0; begin < n; begin += batch) {
      ++step;
      const std::size_t end = std::min(n, begin + batch);
      const float scale = 2.0f / static_cast<float>(end - begin);
      adam.prepare(examples.data() + begin, examples.data() + end, step);
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
      adam.apply(step);
    }
    adam.end_epoch(step);
    return loss_sum / static_cast<double>(n);
  };
  if (validation.size() > 0) cb.validation_mse = [&] { return mse(factors_, validation); };
  EpochLoop loop;
  loop.epochs = config_.epochs;
  return train_epochs(loop, cb);
}

}  // namespace recs
