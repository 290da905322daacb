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
#include <numeric>
#include <vector>

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

}  // namespace recs
