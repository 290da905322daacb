// Implicit-feedback ALS (see als.cpp).
#pragma once

#include <memory>
#include <string>

#include "models/model.h"

namespace recs {

// model.als: the measured-best defaults on MovieLens. Keys, ranges and docs:
// als.cpp.
struct AlsParams {
  static constexpr const char* kType = "als";
  int factors = 128;
  int epochs = 25;  // alternating iterations
  double l2 = 17.5;
  double alpha = 1.0;  // confidence 1 + alpha * rating
  // A (mapped) rating >= this is a positive; 3.5 is on raw stars.
  double positive_threshold = 3.5;
  // binary: only positives are interactions, with preference 1; graded:
  // every rating > 0 is, with preference rating / the top training rating.
  std::string preference = "graded";
  double init_scale = 0.01;
  int cg_steps = 2;  // conjugate-gradient steps per least-squares solve
  // Each row's l2 is scaled by (its confidence sum / the mean)^this.
  double l2_frequency_exponent = 0.5;
  // Stop once an iteration lowers the loss by less than this fraction.
  double tolerance = 0.002;
};

std::unique_ptr<Model> make_als_model(const AlsParams& params, const ModelContext& context);

}  // namespace recs
