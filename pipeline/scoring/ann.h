// Approximate top-N: an inverted-file (IVF) index over the movie vectors picks
// each user's candidate movies, which are then scored exactly. Movies are
// clustered by k-means and stored contiguous per cluster; each user scans only
// the `nprobe` clusters whose centroids score best for it. Scanning is done as
// small products of (users of a block probing a cluster) x (that cluster's
// movies), so it runs at matrix-product speed like the exact kernel.
#pragma once

#include <cstdint>
#include <functional>

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
