// k-means over the exported vectors (users x d or movies x d): greedy
// k-means++ seeding, then Lloyd iterations with a blocked, TBB-parallel
// assignment step. The result depends only on the points and the options,
// never on the thread count: every parallel step works on fixed blocks of
// points and its partial sums are reduced in block order.
#pragma once

#include <cstdint>
#include <vector>

#include "data/matrix.h"

namespace recs {

struct KMeansOptions {
  int k = 20;               // clusters, 1 <= k <= number of points
  int max_iterations = 25;  // Lloyd iterations (update + assignment), >= 0
  double tolerance = 1e-4;  // stop once inertia falls by <= tolerance * previous inertia
  std::uint64_t seed = 42;  // seeds the k-means++ sampling
  int threads = 0;          // 0 = all cores
  // k-means++ draws this many candidates per new centroid (D^2 sampling) and
  // keeps the one that lowers the inertia most ("greedy" k-means++, as in
  // scikit-learn); 1 is the classic algorithm, 0 = 2 + floor(ln k). At most 64.
  int seeding_trials = 0;
  // k x d starting centroids instead of k-means++ (e.g. yesterday's run);
  // empty = seed with k-means++.
  RowMatrix initial_centroids;
};

struct KMeansResult {
  RowMatrix centroids;                   // k x d
  std::vector<std::int32_t> assignment;  // per point: its nearest centroid (ties: smaller index)
  std::vector<float> distance;           // per point: Euclidean distance to its centroid
  std::vector<std::int64_t> sizes;       // per cluster: number of points
  int iterations = 0;                    // Lloyd iterations run
  bool converged = false;  // stopped by tolerance or a fixed point, not max_iterations
  double inertia = 0;      // sum of squared distances
  // Inertia after the initial assignment, then after each iteration
  // (iterations + 1 entries, the last one equal to `inertia`). Non-increasing
  // up to float rounding.
  std::vector<double> inertia_history;
};

// Clusters the rows of `points`. The output is consistent: `assignment` is
// the nearest centroid of each point under `centroids` (found through
// ||x||^2 - 2 x.c + ||c||^2, so exact up to float rounding), and `distance`
// and `inertia` are measured to it directly, not through that expansion.
//
// Within the iterations, a cluster left empty by an assignment is re-seeded
// with the point farthest from its own centroid (taken from a cluster that
// keeps at least one point; farthest first, ties by smaller index). A final
// size can still be 0 if the last assignment leaves a centroid nearest to no
// point, as happens when the data has fewer distinct points than k.
//
// Throws ConfigError for option values that are invalid on their own (k < 1,
// negative max_iterations or threads, seeding_trials outside [0, 64],
// tolerance negative or NaN) and InputError for a problem with the data: k
// larger than the number of points, a non-finite value or a squared norm
// beyond float range, or initial_centroids of the wrong shape.
KMeansResult kmeans(const RowMatrix& points, const KMeansOptions& options);

// Each row of `points` assigned to its nearest row of `centroids` (ties:
// smaller index) as kmeans() assigns, with the distance to it: `centroids`
// and `sizes` of the result are the given centroids and their counts here.
// Any number of points (also fewer than the centroids, or none). Throws
// InputError for a non-finite point or a column count that differs.
KMeansResult assign_to_centroids(const RowMatrix& points, const RowMatrix& centroids,
                                 int threads = 0);

}  // namespace recs
