// The tutorial's second Keras model: a user tower and a movie tower, each an
// Embedding followed by two Dense layers, whose outputs' dot product predicts
// the rating; MSE loss, Adam, mini-batches reshuffled every epoch. The
// exported factors are the tower outputs of every user and every movie, so
// the scoring kernel serves it like any other model.
//
// model.deep.loss picks the objective: mse (the tutorial's, the default) fits
// ratings; softmax (sampled softmax over in-batch and uniformly sampled
// negatives with the log-Q correction, Yi et al. 2019) and bpr (a sampled
// unrated negative per positive) rank from the positives, with relu towers.
#pragma once

#include <Eigen/Core>
#include <cstdint>
#include <string>

#include "models/dot_model.h"
#include "models/model.h"

namespace recs {

// model.deep: the dot model's parameters plus the towers' and the loss's.
// Keys, ranges and docs: deep.cpp. The keys whose default depends on the loss
// hold 0 (-1 for l2, "auto" for activation) until DeepModel resolves them
// (deep::resolve_defaults); with loss mse that gives the tutorial's values.
struct DeepParams : DotParams {
  static constexpr const char* kType = "deep";
  DeepParams() {
    factors = 0;
    epochs = 0;
    learning_rate = 0;
    batch_size = 0;
    l2 = -1;
  }
  int hidden = 0;                   // width of each tower's two Dense layers
  std::string activation = "auto";  // linear (the tutorial's), relu, or auto (by loss)
  int patience = 0;                 // early stopping, 0 = never (the tutorial's way)
  std::string loss = "mse";         // mse (the tutorial's), softmax or bpr
  int negatives = 0;                // softmax: uniform negatives per batch beside the in-batch ones
  double temperature = 0.2;         // softmax: logits are cosines / temperature
  double positive_threshold = 3.5;  // softmax, bpr: a (mapped) rating >= this is a positive
  // softmax, bpr: towers trained from consecutive seeds, exported side by side
  // so a score is their mean logit; 0 = the loss's default (softmax 2, else 1).
  int members = 0;
};

namespace deep {

// The parameters with every loss-dependent key that holds its "auto" value
// (0; -1 for l2, "auto" for activation) replaced by the loss's default: mse the
// tutorial's (factors 5, epochs 3, learning_rate 0.001, batch_size 32,
// hidden 100, linear, l2 0, members 1), softmax and bpr their measured ones
// (deep.cpp; their epochs stay 0, resolved by data size when training).
DeepParams resolve_defaults(DeepParams params);

bool ranking_loss(const DeepParams& params);

// One tower's Dense layers: out = act(e W1 + b1) W2 + b2, act = identity
// (linear) or relu.
struct Tower {
  RowMatrix w1;  // factors x hidden
  RowMatrix w2;  // hidden x hidden
  Eigen::RowVectorXf b1;
  Eigen::RowVectorXf b2;

  Tower() = default;
  Tower(int factors, int hidden);  // all zeros
  void set_zero();
};

// The Dense part of the network plus preallocated work space for batches of
// up to `max_batch` rows, so training allocates nothing per batch. Exposed so
// the tests can check the backward pass against finite differences.
class Network {
 public:
  Network(int factors, int hidden, bool relu, int max_batch);

  Tower user;  // parameters
  Tower movie;
  Tower user_grad;  // gradients of the last batch_gradient() call
  Tower movie_grad;
  RowMatrix user_emb_grad;  // max_batch x factors: gradient per example's user row
  RowMatrix movie_emb_grad;

  // Mean over the batch of (tower_u . tower_m - y)^2 for the first `rows`
  // rows of the embedding rows eu, em (each >= rows x factors); fills the
  // gradients above (the embedding ones per example, to be scattered by the
  // caller) and `predictions` (first `rows` entries).
  double batch_gradient(const RowMatrix& eu, const RowMatrix& em, const float* y, int rows);
  Eigen::VectorXf predictions;

  // Sampled softmax on the L2-normalised tower outputs: user row k of eu (k <
  // users) is paired with movie row k of em; every one of the `movies` rows
  // (>= users) is a candidate for every user. logits(k, j) = cos(k, j) /
  // temperature - log_q[j]; a candidate whose id (column_id[j]) equals row
  // k's own positive (column_id[k]) at j != k is masked out. Returns the mean
  // cross-entropy and fills the gradients as batch_gradient() does (the
  // movie embedding gradients for all `movies` rows).
  double softmax_gradient(const RowMatrix& eu, int users, const RowMatrix& em, int movies,
                          const float* log_q, const std::int32_t* column_id, float temperature);
  // BPR: user row k of eu is paired with movie rows k (the positive) and
  // rows + k (its negative) of em; the mean of -log sigmoid(s_pos - s_neg).
  // `bias` (2 rows entries, or nullptr for none) is added to each movie
  // row's score. temperature > 0: the scores are the cosines of the tower
  // outputs over it (plus the bias), as softmax's; 0: their dot products.
  double bpr_gradient(const RowMatrix& eu, const RowMatrix& em, int rows,
                      const float* bias = nullptr, float temperature = 0);
  // d loss / d (score offset of movie row j) of the last softmax or bpr
  // gradient: softmax's per candidate column (logit + offset), bpr's per
  // movie row (bias).
  Eigen::VectorXf column_grad;

  // Tower outputs of every row of `emb`, in chunks of max_batch rows.
  RowMatrix tower_output(const Tower& t, const RowMatrix& emb) const;

  bool relu() const { return relu_; }
  int max_batch() const { return max_batch_; }

 private:
  // Forward activations kept for the backward pass: z1 = pre-activation.
  struct Work {
    RowMatrix z1, h1, h2, dz2, dz1, dh1;
    RowMatrix w;           // linear towers: W1 W2
    Eigen::RowVectorXf c;  // linear towers: b1 W2 + b2
    RowMatrix g;           // linear towers: e^T dz2
    RowMatrix n;           // the ranking losses: normalised outputs
    Eigen::VectorXf norm;  // the ranking losses: output norms
  };
  void collapse(const Tower& t, Work& w) const;
  void reserve_ranking();  // the softmax work space, on first use
  void forward(const Tower& t, const RowMatrix& e, int rows, Work& w) const;
  void backward(const Tower& t, const RowMatrix& e, int rows, Work& w, Tower& grad,
                RowMatrix& emb_grad) const;

  bool relu_;
  int max_batch_;
  Work uw_;
  Work mw_;
  RowMatrix logits_;          // softmax: users x movies
  Eigen::VectorXd row_loss_;  // softmax: per user row
};

}  // namespace deep

struct DeepModelOptions {
  // The embedding tables' Adam policy, as for the dot model: kAuto picks the
  // exact dense update while (users + movies) * factors * steps stays within
  // dense_budget, else the deferred catch-up. The Dense layers are small and
  // always updated densely.
  AdamMode adam = AdamMode::kAuto;
  double dense_budget = 2e9;
};

// With loss mse it trains on one thread whatever train.threads says: like the
// dot model, it is a chain of small dependent Adam steps. The ranking losses'
// batches are large GEMMs, split over train.threads. With patience > 0 and a
// validation set it stops early and keeps the best epoch's model; with
// patience 0 (the tutorial's way) it runs every epoch and keeps the last.
class DeepModel : public Model {
 public:
  DeepModel(const DeepParams& params, const ModelContext& context, DeepModelOptions options = {});

  std::string type() const override { return "deep"; }
  TrainReport fit(const Triplets& train, const Triplets& validation, int num_users,
                  int num_movies) override;
  Factors factors() const override { return factors_; }

  AdamMode adam_mode_used() const { return mode_used_; }

 private:
  // softmax and bpr: trains on the positives of `train`.
  TrainReport fit_ranking(const Triplets& train, int num_users, int num_movies);
  // One member of the ranking ensemble: its towers from `seed`, trained for
  // `epochs` passes; leaves its vectors in factors_.
  TrainReport fit_ranking_member(const Triplets& train, int num_users, int num_movies,
                                 std::uint64_t seed, int epochs);

  DeepParams config_;  // resolved (deep::resolve_defaults)
  std::uint64_t seed_ = 42;
  int threads_ = 0;
  DeepModelOptions options_;
  Factors factors_;
  AdamMode mode_used_ = AdamMode::kAuto;
};

}  // namespace recs
