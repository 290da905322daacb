// The lock-free SGD schedule of biased_mf and svdpp (libmf's idea): users
// and movies are cut into `bands` bands each, the ratings bucketed into the
// bands x bands grid of blocks, and an epoch runs the grid's diagonals in a
// shuffled order. The blocks of one diagonal share no user band and no movie
// band, so they run in parallel without locks, and the result depends only
// on the seed, not on the thread count.
#pragma once

#include <tbb/blocked_range.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <numeric>
#include <string>
#include <vector>

#include "models/model.h"
#include "util/error.h"
#include "util/random.h"

namespace recs {

// Bands per side: enough blocks per diagonal to balance the threads, and 48
// at least, so a block's rows stay cache-sized on large data and the
// schedule is the same for 1..24 threads.
inline int grid_bands(int threads, int num_users, int num_movies) {
  constexpr int kMinBands = 48;
  return std::max(1, std::min({std::max(kMinBands, 2 * threads), num_users, num_movies}));
}

// The diagonals' order, reshuffled each epoch from one seeded generator.
class DiagonalSchedule {
 public:
  explicit DiagonalSchedule(int bands) : bands_(bands), shifts_(static_cast<std::size_t>(bands)) {
    std::iota(shifts_.begin(), shifts_.end(), 0);
  }

  // One epoch: run_block(id) for every block id (user band * bands + movie
  // band), one diagonal after another, each diagonal's blocks in parallel.
  template <typename RunBlock>
  void run_epoch(tbb::task_arena& arena, random::Rng& rng, RunBlock&& run_block) {
    random::shuffle(shifts_, rng);
    const int bands = bands_;
    for (int s : shifts_) {
      arena.execute([&] {
        tbb::parallel_for(
            tbb::blocked_range<int>(0, bands, 1),
            [&](const tbb::blocked_range<int>& range) {
              for (int b = range.begin(); b != range.end(); ++b) {
                run_block(static_cast<std::size_t>(b) * static_cast<std::size_t>(bands) +
                          static_cast<std::size_t>((b + s) % bands));
              }
            },
            tbb::simple_partitioner());
      });
    }
  }

 private:
  int bands_;
  std::vector<int> shifts_;
};

// One training rating as the grid's blocks hold it.
struct GridRating {
  std::int32_t user;
  std::int32_t movie;
  float value;
};

// What biased_mf and svdpp share as Model classes: the type name, the
// config, seed and thread count, the exported factors, and the checks of
// their common keys (P has factors, epochs, learning_rate, l2, init_scale,
// patience). Each type's own keys are checked by its constructor.
template <typename P>
class GridModel : public Model {
 public:
  GridModel(const P& params, const ModelContext& context)
      : config_(params), seed_(context.seed), threads_(context.threads) {
    if (config_.factors < 1) throw ConfigError("model.factors must be at least 1");
    if (config_.epochs < 1) throw ConfigError("model.epochs must be at least 1");
    if (!(config_.learning_rate > 0) || !(config_.init_scale >= 0) || !(config_.l2 >= 0)) {
      throw ConfigError(
          "model.learning_rate must be positive, model.init_scale and model.l2 non-negative");
    }
    if (config_.patience < 0) throw ConfigError("model.patience must not be negative");
    if (threads_ < 0) throw ConfigError("train.threads must not be negative");
  }

  std::string type() const override { return P::kType; }
  Factors factors() const override { return factors_; }

 protected:
  P config_;
  std::uint64_t seed_ = 42;
  int threads_ = 0;
  Factors factors_;
};

}  // namespace recs
