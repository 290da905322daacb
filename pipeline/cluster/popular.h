// "Popular in your cluster": the most-rated candidate movies among the
// members of each user cluster.
#pragma once

#include <cstdint>
#include <vector>

#include "data/clusters.h"
#include "data/ratings.h"

namespace recs {

// Users are numbered as `rated`'s rows: user u is in cluster user_cluster[u]
// (0..clusters-1) and rated the movies rated.indices[rated.indptr[u]..]
// (movie indices, external id movie_ids[m]) with the stored ratings at the
// same positions of `rating`. Returns up to `top_n` rows per cluster,
// clusters in order, of the `candidates` (movie indices) only, ranked by how
// many members rated the movie, then by their mean rating, then by the
// smaller movie index. A cluster whose members rated no candidate has none.
std::vector<ClusterPopularRow> popular_in_clusters(const std::vector<std::int32_t>& user_cluster,
                                                   int clusters, const UserItems& rated,
                                                   const std::vector<float>& rating,
                                                   const std::vector<std::int32_t>& candidates,
                                                   const std::vector<std::int64_t>& movie_ids,
                                                   int top_n);

// The counts popular_in_clusters() ranks, per cluster (ascending) and movie
// (ascending id), for the candidates only: a shard's part, to be added to
// the other shards' parts (merge_cluster_counts) and ranked
// (rank_cluster_counts).
std::vector<ClusterMovieCount> cluster_movie_counts(const std::vector<std::int32_t>& user_cluster,
                                                    int clusters, const UserItems& rated,
                                                    const std::vector<float>& rating,
                                                    const std::vector<std::int32_t>& candidates,
                                                    const std::vector<std::int64_t>& movie_ids);

// Parts summed per (cluster, movie): the result is sorted by cluster, then
// movie id, whatever the order of the parts and of their rows.
std::vector<ClusterMovieCount> merge_cluster_counts(std::vector<ClusterMovieCount> parts);

// popular_in_clusters()'s rows from counts sorted by cluster (as merged):
// up to `top_n` per cluster by count, then mean rating, then smaller movie
// id. Equal to popular_in_clusters() on all the users at once.
std::vector<ClusterPopularRow> rank_cluster_counts(const std::vector<ClusterMovieCount>& counts,
                                                   int top_n);

}  // namespace recs
