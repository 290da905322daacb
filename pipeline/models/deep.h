// The tutorial's second Keras model: a user tower and a movie tower, each an
// Embedding followed by two Dense layers, whose outputs' dot product predicts
// the rating; MSE loss, Adam, mini-batches reshuffled every epoch. The
// exported factors are the tower outputs of every user and every movie, so
// the scoring kernel serves it like any other model.
#pragma once

#include <Eigen/Core>
#include <string>

#include "models/dot_model.h"
#include "models/model.h"

namespace recs {

// model.deep: the dot model's parameters and defaults (the tutorial's) plus
// the towers'. Keys, ranges and docs: deep.cpp.
struct DeepParams : DotParams {
  static constexpr const char* kType = "deep";
  int hidden = 100;                   // width of each tower's two Dense layers
  std::string activation = "linear";  // linear (the tutorial's) or relu
  int patience = 0;                   // early stopping, 0 = never (the tutorial's way)
};

namespace deep {

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
  };
  void collapse(const Tower& t, Work& w) const;
  void forward(const Tower& t, const RowMatrix& e, int rows, Work& w) const;
  void backward(const Tower& t, const RowMatrix& e, int rows, Work& w, Tower& grad,
                RowMatrix& emb_grad) const;

  bool relu_;
  int max_batch_;
  Work uw_;
  Work mw_;
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

// Trains on one thread whatever train.threads says: like the dot model, it is
// a chain of small dependent Adam steps. With patience > 0 and a
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
  DeepParams config_;
  std::uint64_t seed_ = 42;
  DeepModelOptions options_;
  Factors factors_;
  AdamMode mode_used_ = AdamMode::kAuto;
};

}  // namespace recs
