// k-means: recovery of planted clusters, the algorithm's invariants
// (non-increasing inertia, nearest-centroid assignment, exact distances),
// determinism across thread counts and runs, empty clusters, degenerate data
// and the errors.
#include "cluster/kmeans.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <ctime>
#include <iostream>
#include <limits>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "topn_fixtures.h"
#include "util/error.h"

namespace {

using recs::ExitCode;
using recs::KMeansOptions;
using recs::KMeansResult;
using recs::RowMatrix;
using recs::test::normal_matrix;

struct Blobs {
  RowMatrix points;
  std::vector<int> labels;
};

// `per_blob` points around each of `blobs` centres drawn N(0, spread^2) per
// coordinate; the points are shuffled so that blobs are not contiguous.
Blobs gaussian_blobs(int blobs, int per_blob, int dims, float spread, float noise,
                     std::mt19937_64& rng) {
  std::normal_distribution<float> normal(0.0f, 1.0f);
  RowMatrix centres(blobs, dims);
  for (Eigen::Index i = 0; i < centres.size(); ++i) centres.data()[i] = spread * normal(rng);
  std::vector<int> labels;
  for (int b = 0; b < blobs; ++b) labels.insert(labels.end(), per_blob, b);
  std::shuffle(labels.begin(), labels.end(), rng);
  Blobs out{RowMatrix(labels.size(), dims), labels};
  for (std::size_t i = 0; i < labels.size(); ++i) {
    for (int c = 0; c < dims; ++c) out.points(i, c) = centres(labels[i], c) + noise * normal(rng);
  }
  return out;
}

KMeansOptions options(int k, int threads = 1) {
  KMeansOptions o;
  o.k = k;
  o.threads = threads;
  return o;
}

double exact_distance(const RowMatrix& points, int i, const RowMatrix& centroids, int j) {
  double sum = 0;
  for (Eigen::Index c = 0; c < points.cols(); ++c) {
    const double diff = static_cast<double>(points(i, c)) - centroids(j, c);
    sum += diff * diff;
  }
  return std::sqrt(sum);
}

void expect_identical(const KMeansResult& a, const KMeansResult& b) {
  ASSERT_EQ(a.centroids.rows(), b.centroids.rows());
  ASSERT_EQ(a.centroids.cols(), b.centroids.cols());
  for (Eigen::Index i = 0; i < a.centroids.size(); ++i) {
    ASSERT_EQ(a.centroids.data()[i], b.centroids.data()[i]) << "centroid entry " << i;
  }
  EXPECT_EQ(a.assignment, b.assignment);
  EXPECT_EQ(a.distance, b.distance);
  EXPECT_EQ(a.sizes, b.sizes);
  EXPECT_EQ(a.iterations, b.iterations);
  EXPECT_EQ(a.converged, b.converged);
  EXPECT_EQ(a.inertia, b.inertia);
  EXPECT_EQ(a.inertia_history, b.inertia_history);
}

// The contract every result must meet, whatever the data.
void expect_consistent(const RowMatrix& points, const KMeansResult& r, int k) {
  const int n = static_cast<int>(points.rows());
  ASSERT_EQ(r.centroids.rows(), k);
  ASSERT_EQ(r.centroids.cols(), points.cols());
  ASSERT_EQ(r.assignment.size(), static_cast<std::size_t>(n));
  ASSERT_EQ(r.distance.size(), static_cast<std::size_t>(n));
  ASSERT_EQ(r.sizes.size(), static_cast<std::size_t>(k));
  ASSERT_EQ(r.inertia_history.size(), static_cast<std::size_t>(r.iterations) + 1);
  EXPECT_EQ(r.inertia_history.back(), r.inertia);
  EXPECT_TRUE(r.centroids.allFinite());

  std::vector<std::int64_t> counted(k, 0);
  double inertia = 0;
  for (int i = 0; i < n; ++i) {
    const int a = r.assignment[i];
    ASSERT_GE(a, 0);
    ASSERT_LT(a, k);
    ++counted[a];
    const double to_assigned = exact_distance(points, i, r.centroids, a);
    EXPECT_NEAR(r.distance[i], to_assigned, 1e-5 * (1.0 + to_assigned)) << "point " << i;
    inertia += to_assigned * to_assigned;
    // Nearest, up to the rounding of the expanded form used to choose it.
    for (int j = 0; j < k; ++j) {
      const double other = exact_distance(points, i, r.centroids, j);
      ASSERT_LE(to_assigned * to_assigned,
                other * other + 1e-4 * (1.0 + points.row(i).squaredNorm()))
          << "point " << i << " is nearer to centroid " << j << " than to " << a;
    }
  }
  EXPECT_EQ(r.sizes, counted);
  EXPECT_NEAR(r.inertia, inertia, 1e-5 * (1.0 + inertia));
}

ExitCode error_code(const RowMatrix& points, const KMeansOptions& o) {
  try {
    recs::kmeans(points, o);
  } catch (const recs::Error& e) {
    EXPECT_EQ(std::string(e.what()).find('\n'), std::string::npos);
    EXPECT_EQ(std::string(e.what()).rfind("kmeans: ", 0), 0u) << e.what();
    return e.code();
  }
  ADD_FAILURE() << "no error thrown";
  return ExitCode::kOk;
}

TEST(KMeans, RecoversPlantedBlobs) {
  std::mt19937_64 rng(7);
  const int blobs = 12;
  const Blobs data = gaussian_blobs(blobs, 150, 16, 4.0f, 0.3f, rng);
  const KMeansResult r = recs::kmeans(data.points, options(blobs, 2));
  expect_consistent(data.points, r, blobs);
  EXPECT_TRUE(r.converged);
  // Equal up to relabelling: each planted blob maps to one cluster, and no
  // two blobs to the same one.
  std::map<int, int> cluster_of;
  std::set<int> used;
  for (std::size_t i = 0; i < data.labels.size(); ++i) {
    const auto [it, inserted] = cluster_of.emplace(data.labels[i], r.assignment[i]);
    if (inserted) {
      EXPECT_TRUE(used.insert(r.assignment[i]).second) << "two blobs share a cluster";
    } else {
      ASSERT_EQ(it->second, r.assignment[i]) << "blob " << data.labels[i] << " is split";
    }
  }
  for (std::int64_t size : r.sizes) EXPECT_EQ(size, 150);
}

TEST(KMeans, ClassicSeedingAlsoRecoversWellSeparatedBlobs) {
  std::mt19937_64 rng(11);
  const Blobs data = gaussian_blobs(5, 100, 8, 20.0f, 0.2f, rng);
  KMeansOptions o = options(5, 2);
  o.seeding_trials = 1;
  const KMeansResult r = recs::kmeans(data.points, o);
  expect_consistent(data.points, r, 5);
  std::set<std::pair<int, int>> pairs;
  for (std::size_t i = 0; i < data.labels.size(); ++i) {
    pairs.emplace(data.labels[i], r.assignment[i]);
  }
  EXPECT_EQ(pairs.size(), 5u);
}

TEST(KMeans, InertiaNeverIncreases) {
  // Unstructured data takes many iterations to settle.
  std::mt19937_64 rng(3);
  const RowMatrix points = normal_matrix(3000, 10, rng);
  for (int trials : {0, 1}) {
    KMeansOptions o = options(17, 2);
    o.tolerance = 0;
    o.max_iterations = 200;
    o.seeding_trials = trials;
    const KMeansResult r = recs::kmeans(points, o);
    expect_consistent(points, r, 17);
    EXPECT_GT(r.iterations, 5);
    for (std::size_t t = 1; t < r.inertia_history.size(); ++t) {
      // Float rounding (centroids stored as float, near-ties in the
      // assignment) may add a few ulps, never more.
      EXPECT_LE(r.inertia_history[t], r.inertia_history[t - 1] * (1 + 1e-6)) << "iteration " << t;
    }
    EXPECT_LT(r.inertia_history.back(), 0.9 * r.inertia_history.front());
  }
}

TEST(KMeans, StopsOnTolerance) {
  std::mt19937_64 rng(5);
  const RowMatrix points = normal_matrix(2000, 6, rng);
  KMeansOptions o = options(9);
  o.tolerance = 0.05;
  o.max_iterations = 100;
  const KMeansResult loose = recs::kmeans(points, o);
  EXPECT_TRUE(loose.converged);
  const auto& h = loose.inertia_history;
  ASSERT_GE(h.size(), 2u);
  EXPECT_LE(h[h.size() - 2] - h.back(), 0.05 * h[h.size() - 2]);
  for (std::size_t t = 1; t + 1 < h.size(); ++t) EXPECT_GT(h[t - 1] - h[t], 0.05 * h[t - 1]);

  o.tolerance = 0;
  o.max_iterations = 2;
  const KMeansResult capped = recs::kmeans(points, o);
  EXPECT_EQ(capped.iterations, 2);
  EXPECT_FALSE(capped.converged);

  o.max_iterations = 0;
  const KMeansResult seeded_only = recs::kmeans(points, o);
  EXPECT_EQ(seeded_only.iterations, 0);
  expect_consistent(points, seeded_only, 9);
}

TEST(KMeans, SameResultForAnyThreadCount) {
  // Several blocks of points, a ragged last one, and more centroids than one
  // centroid tile.
  std::mt19937_64 rng(21);
  const RowMatrix points = normal_matrix(2 * 512 * 3 + 77, 24, rng);
  for (int k : {13, 300}) {
    KMeansOptions o = options(k, 1);
    o.max_iterations = 8;
    const KMeansResult one = recs::kmeans(points, o);
    expect_consistent(points, one, k);
    for (int threads : {2, 0}) {
      o.threads = threads;
      expect_identical(one, recs::kmeans(points, o));
    }
  }
}

TEST(KMeans, SameSeedSameResult) {
  std::mt19937_64 rng(8);
  const RowMatrix points = normal_matrix(1500, 12, rng);
  KMeansOptions o = options(10, 2);
  expect_identical(recs::kmeans(points, o), recs::kmeans(points, o));
  // Another seed picks other initial centroids.
  o.max_iterations = 0;
  const KMeansResult a = recs::kmeans(points, o);
  o.seed = 43;
  const KMeansResult b = recs::kmeans(points, o);
  EXPECT_NE(a.centroids, b.centroids);
}

TEST(KMeans, EmptyClusterIsReseededWithTheFarthestPoint) {
  // Two tight groups and one outlier; the third starting centroid is far from
  // everything, so the first assignment leaves it empty.
  RowMatrix points(9, 2);
  points << 0, 0, 0, 1, 1, 0, 1, 1, 10, 0, 10, 1, 11, 0, 11, 1, 5, 30;
  KMeansOptions o = options(3);
  o.initial_centroids = RowMatrix(3, 2);
  o.initial_centroids << 0.5f, 0.5f, 10.5f, 0.5f, 1000, 1000;
  const KMeansResult r = recs::kmeans(points, o);
  expect_consistent(points, r, 3);
  EXPECT_EQ(r.sizes, (std::vector<std::int64_t>{4, 4, 1}));
  EXPECT_EQ(r.assignment[8], 2);
  EXPECT_EQ(r.centroids(2, 0), 5.0f);
  EXPECT_EQ(r.centroids(2, 1), 30.0f);
  EXPECT_EQ(r.inertia, 8 * 0.5);
}

TEST(KMeans, EmptyClusterNeverTakesASingletonsOnlyPoint) {
  // The farthest point from its centroid is alone in its cluster; the empty
  // cluster must take the next farthest from a cluster that keeps a point.
  RowMatrix points(5, 1);
  points << 0, 1, 2, 100, 3;
  KMeansOptions o = options(3);
  o.initial_centroids = RowMatrix(3, 1);
  o.initial_centroids << 0, 90, -1000;
  o.max_iterations = 1;
  const KMeansResult r = recs::kmeans(points, o);
  expect_consistent(points, r, 3);
  for (std::int64_t size : r.sizes) EXPECT_GT(size, 0);
  EXPECT_EQ(r.assignment[3], 1);  // 100 keeps its own cluster
}

TEST(KMeans, FewerDistinctPointsThanK) {
  RowMatrix points(40, 3);
  for (int i = 0; i < 40; ++i) points.row(i) << (i % 2 ? 1.0f : -1.0f), 2.0f, 3.0f;
  const KMeansResult r = recs::kmeans(points, options(5, 2));
  expect_consistent(points, r, 5);
  EXPECT_EQ(r.inertia, 0.0);
  std::int64_t total = 0;
  for (std::int64_t size : r.sizes) total += size;
  EXPECT_EQ(total, 40);
  expect_identical(r, recs::kmeans(points, options(5, 1)));
}

TEST(KMeans, KEqualsNumberOfPoints) {
  std::mt19937_64 rng(4);
  const RowMatrix points = normal_matrix(37, 5, rng);
  const KMeansResult r = recs::kmeans(points, options(37, 2));
  expect_consistent(points, r, 37);
  EXPECT_EQ(r.inertia, 0.0);
  EXPECT_EQ(std::set<int>(r.assignment.begin(), r.assignment.end()).size(), 37u);
  for (std::int64_t size : r.sizes) EXPECT_EQ(size, 1);
}

TEST(KMeans, KEqualsOneGivesTheMean) {
  std::mt19937_64 rng(6);
  const RowMatrix points = normal_matrix(1234, 7, rng);
  const KMeansResult r = recs::kmeans(points, options(1, 2));
  expect_consistent(points, r, 1);
  EXPECT_EQ(r.sizes[0], 1234);
  const Eigen::RowVectorXd mean = points.cast<double>().colwise().mean();
  for (int c = 0; c < 7; ++c) EXPECT_NEAR(r.centroids(0, c), mean(c), 1e-6);
  EXPECT_TRUE(r.converged);
}

TEST(KMeans, RejectsBadOptionsAndData) {
  std::mt19937_64 rng(1);
  const RowMatrix points = normal_matrix(10, 3, rng);
  EXPECT_EQ(error_code(points, options(0)), ExitCode::kConfig);
  EXPECT_EQ(error_code(points, options(-3)), ExitCode::kConfig);
  EXPECT_EQ(error_code(points, options(11)), ExitCode::kInput);
  EXPECT_EQ(error_code(RowMatrix(0, 3), options(1)), ExitCode::kInput);
  EXPECT_NO_THROW(recs::kmeans(points, options(10)));

  KMeansOptions o = options(2);
  o.max_iterations = -1;
  EXPECT_EQ(error_code(points, o), ExitCode::kConfig);
  o = options(2);
  o.tolerance = std::nan("");
  EXPECT_EQ(error_code(points, o), ExitCode::kConfig);
  o.tolerance = -0.1;
  EXPECT_EQ(error_code(points, o), ExitCode::kConfig);
  o = options(2);
  o.threads = -1;
  EXPECT_EQ(error_code(points, o), ExitCode::kConfig);
  o = options(2);
  o.seeding_trials = -1;
  EXPECT_EQ(error_code(points, o), ExitCode::kConfig);

  o = options(2);
  o.initial_centroids = RowMatrix::Zero(3, 3);
  EXPECT_EQ(error_code(points, o), ExitCode::kInput);
  o.initial_centroids = RowMatrix::Zero(2, 4);
  EXPECT_EQ(error_code(points, o), ExitCode::kInput);
  o.initial_centroids = RowMatrix::Zero(2, 3);
  o.initial_centroids(1, 2) = std::numeric_limits<float>::infinity();
  EXPECT_EQ(error_code(points, o), ExitCode::kInput);

  for (float bad :
       {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(), 1e30f}) {
    RowMatrix with_bad = points;
    with_bad(6, 1) = bad;
    try {
      recs::kmeans(with_bad, options(2));
      ADD_FAILURE() << "accepted " << bad;
    } catch (const recs::InputError& e) {
      EXPECT_NE(std::string(e.what()).find("point 6"), std::string::npos) << e.what();
    }
  }
}

// The nightly job's largest input: 162,541 user vectors of 64 dims, k = 64;
// wall and process CPU seconds, with the default tolerance and with all 25
// iterations. Run with
//   recs_tests --gtest_also_run_disabled_tests --gtest_filter='KMeans.DISABLED_Timing*'
TEST(KMeans, DISABLED_Timing162kx64) {
  std::mt19937_64 rng(99);
  const Blobs data = gaussian_blobs(64, 162541 / 64 + 1, 64, 1.0f, 1.0f, rng);
  const RowMatrix points = data.points.topRows(162541);
  for (int threads : {1, 2}) {
    for (double tolerance : {1e-4, 0.0}) {
      KMeansOptions o = options(64, threads);
      o.tolerance = tolerance;
      const auto wall = std::chrono::steady_clock::now();
      const std::clock_t cpu = std::clock();
      const KMeansResult r = recs::kmeans(points, o);
      std::cout << "threads " << threads << ", tolerance " << tolerance << ": "
                << std::chrono::duration<double>(std::chrono::steady_clock::now() - wall).count()
                << " s wall, " << static_cast<double>(std::clock() - cpu) / CLOCKS_PER_SEC
                << " s cpu, " << r.iterations << " iterations, inertia " << r.inertia << "\n";
    }
  }
}

}  // namespace
