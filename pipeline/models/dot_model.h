// The tutorial's Keras model: a user embedding and a movie embedding whose dot
// product predicts the rating, trained on mean squared error with Adam in
// mini-batches, shuffled each epoch. Replicates Keras's semantics (see
// dot_model.cpp for the details that matter) so the tutorial's numbers carry
// over.
#pragma once

#include <optional>
#include <string>

#include "models/model.h"

namespace recs {

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
  DotModel(const ModelConfig& model, const TrainConfig& train, DotModelOptions options = {});

  std::string type() const override { return "dot"; }
  // Starts from fresh factors on every call.
  TrainReport fit(const Triplets& train, const Triplets& validation, int num_users,
                  int num_movies) override;
  Factors factors() const override { return factors_; }

  // The mode the last fit() used (kAuto resolved).
  AdamMode adam_mode_used() const { return mode_used_; }

 private:
  ModelConfig config_;
  DotModelOptions options_;
  Factors factors_;
  AdamMode mode_used_ = AdamMode::kAuto;
};

}  // namespace recs
