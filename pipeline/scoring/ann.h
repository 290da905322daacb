// Approximate top-N: an inverted-file (IVF) index over the movie vectors picks
// each user's candidate movies, which are then scored exactly. Movies are
// clustered by k-means and stored contiguous per cluster; each user scans only
// the `nprobe` clusters whose centroids score best for it. Scanning is done as
// small products of (users of a block probing a cluster) x (that cluster's
// movies), so it runs at matrix-product speed like the exact kernel.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "data/ratings.h"
#include "scoring/topn.h"

namespace recs {

struct AnnOptions {
  // Clusters scanned per user: the recall/time knob. On ML-25M-sized ALS
  // vectors (64 factors, 243 automatic clusters, data whose rated movies
  // follow taste) the default measured recall@100 0.964 against exact
  // scoring in 0.215 of its time; 14 gave 0.909, 22 gave 0.985 (0.974,
  // 0.933 and 0.990 with the k-means sample util/random.h now draws).
  int nprobe = 18;
  // Number of clusters; 0 = auto (about sqrt(movies)), at most movies.
  int clusters = 0;
  // Seed of the k-means initialisation; the index and so the result depend
  // only on the vectors, the options and this seed, not on the thread count.
  std::uint64_t seed = 42;
  // Lloyd iterations of the k-means.
  int kmeans_iterations = 8;
  // Movies k-means trains on (a seeded sample, then every movie is assigned
  // to its nearest centroid); 0 = auto (64 per cluster).
  int train_sample = 0;
  // Users scored together: each block groups its users by probed cluster, so
  // larger blocks make larger (faster) products. Also the sink's block size.
  int user_block = 2048;
};

// The number of clusters the index over `num_movies` movies uses.
int ann_cluster_count(int num_movies, const AnnOptions& ann);

// The index over one movie matrix: its coarse assignment (movie -> cluster,
// what a k-means over the lifted movies decides) and the movies reordered by
// it. Built once and shared: by every nprobe the calibration tries, and
// (stored with the generation, see app/ann_plan.h) by every shard.
struct AnnIndexData;
class AnnIndex {
 public:
  AnnIndex() = default;
  // k-means on a seeded sample of the movies (AnnOptions::clusters, seed,
  // kmeans_iterations, train_sample), then every movie to its nearest
  // centroid; the same for any thread count.
  static AnnIndex build(const RowMatrix& movies, const AnnOptions& ann, int threads);
  // From a stored assignment (one cluster in 0..clusters-1 per movie row):
  // the same index build() gave, without the k-means.
  static AnnIndex from_assignment(const RowMatrix& movies, std::vector<std::int32_t> cluster_of,
                                  int clusters);

  int clusters() const;
  const std::vector<std::int32_t>& assignment() const;
  const AnnIndexData& data() const { return *data_; }

 private:
  std::shared_ptr<const AnnIndexData> data_;
};

// score_top_n_ann with a built index over `movies` and `nprobe`.
void score_top_n_ann(const RowMatrix& users, const AnnIndex& index, const UserItems* exclude,
                     const TopNOptions& options, int nprobe, int user_block,
                     const std::function<void(const TopNBlock&)>& sink);

// How well an nprobe keeps the exact kernel's promise on a sample of users.
struct AnnCalibration {
  int nprobe = 0;
  // Recall@top_n against the exact kernel (rated movies masked as given):
  // found / exact list entries over the sample.
  double recall = 0;
  // Its lower bound, recall - 2 standard errors of the per-user mean (with
  // the finite-population correction: 0 when the sample is everyone).
  double recall_low = 0;
  std::int64_t users = 0;  // sampled users with a non-empty exact list
};

// The smallest nprobe whose recall on `sample` (users x factors, with their
// rated movies in `exclude`, may be null) has its lower bound at least
// `target` (recall is monotone in nprobe: probing more clusters only adds
// candidates; nprobe = clusters is exact). `population`: how many users the
// sample stands for (>= its rows). Bisection over 1..clusters, each step
// one ann pass over the sample; the exact lists once.
AnnCalibration calibrate_nprobe(const AnnIndex& index, const RowMatrix& movies,
                                const RowMatrix& sample, const UserItems* exclude,
                                const TopNOptions& options, double target, std::int64_t population,
                                int user_block = 2048);

// Like score_top_n (same masking, tie order, sink contract and thread-count
// independence), but each user is scored only against the movies of its
// probed clusters, so a movie outside them can be missed. A user whose
// nprobe best clusters hold fewer than min(top_n, movies - rated) unrated
// movies probes further clusters, best first, until they do, so everyone
// still gets N when N remain.
// options.user_block and options.movie_block are not used (see AnnOptions).
void score_top_n_ann(const RowMatrix& users, const RowMatrix& movies, const UserItems* exclude,
                     const TopNOptions& options, const AnnOptions& ann,
                     const std::function<void(const TopNBlock&)>& sink);

}  // namespace recs
