// The tutorial's Keras model: a user embedding and a movie embedding whose dot
// product predicts the rating, trained on mean squared error with Adam in
// mini-batches, shuffled each epoch. Replicates Keras's semantics (see
// dot_model.cpp for the details that matter) so the tutorial's numbers carry
// over.
#pragma once

#include <optional>
#include <string>

#include "config/params.h"
#include "models/model.h"

namespace recs {

// model.dot: the tutorial's values are the defaults. Keys, ranges and docs:
// dot_keys() in dot_model.cpp.
struct DotParams {
  static constexpr const char* kType = "dot";
  int factors = 5;
  int epochs = 3;
  double learning_rate = 0.001;
  int batch_size = 32;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double epsilon = 1e-7;     // Keras's default
  double init_scale = 0.05;  // embeddings start uniform in [-init_scale, init_scale]
  double l2 = 0.0;
  bool shuffle = true;  // reshuffle the training ratings every epoch
};

// The dot model's keys; deep's parameters extend them.
const ParamTable<DotParams>& dot_keys();

// How the Adam moments and parameters of rows outside the batch are handled.
enum class AdamMode {
  kAuto,      // kDense when cheap enough, else kDeferred
  kDense,     // Keras exactly: every row's m and v decay and every row moves, every step
  kDeferred,  // the same trajectory to float rounding, applied to a row when next used
};

std::string to_string(AdamMode mode);

struct DotModelOptions {
  AdamMode adam = AdamMode::kAuto;
  // kAuto picks kDense while (users + movies) * factors * total steps stays
  // within this many element updates.
  double dense_budget = 2e9;
  // Start from these factors instead of the seeded uniform initialisation;
  // shapes must match fit()'s num_users/num_movies and the factor count.
  std::optional<Factors> initial;
};

// Trains on one thread whatever train.threads says: batch-32 Adam is a chain
// of dependent steps, each too small to split.
class DotModel : public Model {
 public:
  DotModel(const DotParams& params, const ModelContext& context, DotModelOptions options = {});

  std::string type() const override { return "dot"; }
  // Starts from fresh factors on every call.
  TrainReport fit(const Triplets& train, const Triplets& validation, int num_users,
                  int num_movies) override;
  Factors factors() const override { return factors_; }

  // The mode the last fit() used (kAuto resolved).
  AdamMode adam_mode_used() const { return mode_used_; }

 private:
  DotParams config_;
  std::uint64_t seed_ = 42;
  DotModelOptions options_;
  Factors factors_;
  AdamMode mode_used_ = AdamMode::kAuto;
};

}  // namespace recs
