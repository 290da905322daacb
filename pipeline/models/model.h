// One small runtime interface for every model: fit on ratings, export user
// and movie vectors (biases folded in as extra columns), so the one scoring
// kernel serves them all. models/registry.h picks one by model.type.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "data/matrix.h"
#include "data/ratings.h"

namespace recs {

// Ratings with dense indices as triplets; the train stage splits a
// RatingMatrix into a training and a validation set of this form.
struct Triplets {
  std::vector<std::int32_t> user;
  std::vector<std::int32_t> movie;
  std::vector<float> value;
  std::size_t size() const { return value.size(); }
};

struct EpochReport {
  int epoch = 0;       // 1-based
  double loss = 0;     // mean training loss over the epoch (MSE for rating models)
  double val_mse = 0;  // NaN when there is no validation set
  double val_rmse = 0;
  double seconds = 0;
};

struct TrainReport {
  std::vector<EpochReport> epochs;
  // The epoch (1-based) whose parameters the model kept: the best on
  // validation when early stopping restored it; 0 = the last one.
  int kept_epoch = 0;
};

class Model {
 public:
  virtual ~Model() = default;
  virtual std::string type() const = 0;
  // Fits on `train` (num_users x num_movies index space); reports per-epoch
  // loss and, when `validation` is non-empty, validation MSE/RMSE. Logs each
  // epoch. Deterministic for a given config (seed) and thread count.
  virtual TrainReport fit(const Triplets& train, const Triplets& validation, int num_users,
                          int num_movies) = 0;
  virtual Factors factors() const = 0;
  // Starts the next fit() from `init` (vectors of the same users and movies,
  // e.g. a model of the same type fitted on part of these ratings) instead
  // of its seeded random start. Returns false when the type cannot, and then
  // fits from its usual start.
  virtual bool warm_start(const Factors& init) {
    (void)init;
    return false;
  }
};

// What every model takes besides its own type's parameters: the common key
// model.seed and the thread count train.threads (0 = all cores; models that
// train on one thread ignore it).
struct ModelContext {
  std::uint64_t seed = 42;
  int threads = 0;
};

// Checks that `t`'s columns line up, its indices lie in the index space and
// its values are finite; an Error(kInternal) naming `what` otherwise.
void check_triplets(const Triplets& t, const char* what, int num_users, int num_movies);

// What every fit() checks first: something to train on (else an
// Error(kInput)), and both triplet sets valid for the index space.
void check_fit_inputs(const Triplets& train, const Triplets& validation, int num_users,
                      int num_movies);

// Mean squared error of the factors' predictions on `data`.
double mse(const Factors& f, const Triplets& data);

}  // namespace recs
