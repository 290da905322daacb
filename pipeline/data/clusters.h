// What the score stage publishes about clusters: membership rows and
// "popular in your cluster".
#pragma once

#include <cstdint>
#include <vector>

namespace recs {

// Cluster membership rows: ids[i] belongs to cluster[i] at distance[i] from
// its centroid.
struct ClusterRows {
  std::vector<std::int64_t> ids;
  std::vector<std::int32_t> cluster;
  std::vector<float> distance;
};

// One row of "popular in your cluster".
struct ClusterPopularRow {
  std::int64_t cluster = 0;
  std::int64_t rank = 0;  // 1 = most rated in the cluster
  std::int64_t movie_id = 0;
  std::int64_t rating_count = 0;
  double mean_rating = 0;
};

// A part of "popular in your cluster" (one shard's users): how many of the
// cluster's members rated the movie, and the sum of their stored ratings.
// Parts add up exactly (counts, and sums of ratings in steps of 0.5).
struct ClusterMovieCount {
  std::int32_t cluster = 0;
  std::int64_t movie_id = 0;
  std::int64_t rating_count = 0;
  double rating_sum = 0;
};

}  // namespace recs
