// SVD++ for explicit ratings (Koren 2008; see svdpp.cpp).
#pragma once

#include <memory>

#include "models/model.h"

namespace recs {

// model.svdpp: the measured-best defaults. Keys, ranges and docs: svdpp.cpp.
struct SvdppParams {
  static constexpr const char* kType = "svdpp";
  int factors = 64;
  int epochs = 100;
  double learning_rate = 0.005;
  double implicit_learning_rate = 0.002;  // the implicit factors' step (once per epoch)
  double l2 = 0.03;
  double implicit_l2 = 1.0;  // penalty on the implicit factors, once per epoch
  double init_scale = 0.01;
  int patience = 3;  // early stopping, 0 = never
};

std::unique_ptr<Model> make_svdpp_model(const SvdppParams& params, const ModelContext& context);

}  // namespace recs
