// Biased matrix factorisation for explicit ratings (see biased_mf.cpp).
#pragma once

#include <memory>
#include <string>

#include "models/model.h"

namespace recs {

// model.biased_mf: the measured-best defaults. Keys, ranges and docs:
// biased_mf.cpp.
struct BiasedMfParams {
  static constexpr const char* kType = "biased_mf";
  int factors = 128;
  int epochs = 100;
  double learning_rate = 0.01;
  double l2 = 0.02;
  double init_scale = 0.01;
  std::string optimizer = "sgd";  // sgd or adam
  double beta1 = 0.9;             // adam only
  double beta2 = 0.999;
  double epsilon = 1e-7;
  int patience = 3;  // early stopping, 0 = never
};

std::unique_ptr<Model> make_biased_mf_model(const BiasedMfParams& params,
                                            const ModelContext& context);

}  // namespace recs
