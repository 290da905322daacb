// SVD++ for explicit ratings (Koren 2008; see svdpp.cpp).
#pragma once

#include <memory>

#include "models/model.h"

namespace recs {

// model.svdpp: the measured-best defaults. Keys, ranges and docs: svdpp.cpp.
struct SvdppParams {
  static constexpr const char* kType = "svdpp";
  int factors = 128;
  int epochs = 100;
  double learning_rate = 0.01;
  double implicit_learning_rate = 0.001;  // the implicit factors' step (once per epoch)
  double l2 = 0.02;
  double implicit_l2 = 20.0;  // penalty on the implicit factors, once per epoch
  double init_scale = 0.01;
  int patience = 3;  // early stopping, 0 = never
};

std::unique_ptr<Model> make_svdpp_model(const SvdppParams& params, const ModelContext& context);

}  // namespace recs
