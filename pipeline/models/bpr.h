// Bayesian Personalised Ranking (Rendle et al. 2009) on implicit feedback:
// each positive (u, i) is paired with movies j the user has not interacted
// with, sampled uniformly on the fly, and SGD minimises
//   -ln sigmoid(x_ui - x_uj) + l2 (|p_u|^2 + |q_i|^2 + |q_j|^2 + b_i^2 + b_j^2),
// x_ui = p_u . q_i + b_i. Exported as users [p_u, 1], movies [q_i, b_i].
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "models/model.h"
#include "util/random.h"

namespace recs {

// model.bpr: the measured-best defaults on MovieLens. Keys, ranges and docs:
// bpr.cpp.
struct BprParams {
  static constexpr const char* kType = "bpr";
  int factors = 64;
  int epochs = 50;
  double learning_rate = 0.05;
  double l2 = 0.01;
  double init_scale = 0.1;
  // A (mapped) rating >= this is a positive; 3.5 is on raw stars.
  double positive_threshold = 3.5;
  int negatives = 5;  // sampled negatives per positive
  // Stop once an epoch lowers the mean pair loss by less than this fraction.
  double tolerance = 0;
};

namespace bpr {

// Each user's distinct movies in the training set, sorted (CSR).
class Interactions {
 public:
  Interactions(const Triplets& data, int num_users);
  const std::int32_t* begin(std::int32_t user) const {
    return movies_.data() + offsets_[static_cast<std::size_t>(user)];
  }
  const std::int32_t* end(std::int32_t user) const {
    return movies_.data() + offsets_[static_cast<std::size_t>(user) + 1];
  }
  std::size_t count(std::int32_t user) const {
    return static_cast<std::size_t>(end(user) - begin(user));
  }

 private:
  std::vector<std::size_t> offsets_;
  std::vector<std::int32_t> movies_;
};

// A movie drawn uniformly from [0, num_movies) minus the sorted, distinct
// `[excluded, excluded_end)`; -1 when nothing is left. Rejection sampling
// with a binary search first, then an exact draw from the complement, so it
// terminates quickly however dense the user is.
std::int32_t sample_negative(const std::int32_t* excluded, const std::int32_t* excluded_end,
                             int num_movies, random::Rng& rng);

}  // namespace bpr

// Single-threaded on purpose: Hogwild across threads would race on the movie
// rows and break the determinism the pipeline promises for a fixed seed; one
// core gets through ml-latest-small's epochs in milliseconds anyway.
class BprModel : public Model {
 public:
  BprModel(const BprParams& params, const ModelContext& context);

  std::string type() const override { return "bpr"; }
  TrainReport fit(const Triplets& train, const Triplets& validation, int num_users,
                  int num_movies) override;
  Factors factors() const override { return factors_; }

 private:
  BprParams config_;
  std::uint64_t seed_ = 42;
  Factors factors_;
};

}  // namespace recs
