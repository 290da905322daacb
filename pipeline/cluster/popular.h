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

}  // namespace recs
