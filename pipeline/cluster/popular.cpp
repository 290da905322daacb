#include "cluster/popular.h"

#include <algorithm>
#include <tuple>

namespace recs {

std::vector<ClusterMovieCount> cluster_movie_counts(const std::vector<std::int32_t>& user_cluster,
                                                    int clusters, const UserItems& rated,
                                                    const std::vector<float>& rating,
                                                    const std::vector<std::int32_t>& candidates,
                                                    const std::vector<std::int64_t>& movie_ids) {
  std::vector<ClusterMovieCount> out;
  const std::size_t n = movie_ids.size();
  std::vector<char> is_candidate(n, 0);
  for (std::int32_t m : candidates) is_candidate[static_cast<std::size_t>(m)] = 1;
  std::vector<std::vector<std::size_t>> members(static_cast<std::size_t>(clusters));
  for (std::size_t u = 0; u < user_cluster.size(); ++u)
    members[static_cast<std::size_t>(user_cluster[u])].push_back(u);
  std::vector<std::int64_t> count(n, 0);
  std::vector<double> sum(n, 0.0);
  std::vector<std::int32_t> touched;
  for (int k = 0; k < clusters; ++k) {
    touched.clear();
    for (std::size_t u : members[static_cast<std::size_t>(k)]) {
      for (auto e = rated.indptr[u]; e < rated.indptr[u + 1]; ++e) {
        const std::int32_t m = rated.indices[static_cast<std::size_t>(e)];
        if (!is_candidate[static_cast<std::size_t>(m)]) continue;
        if (count[static_cast<std::size_t>(m)]++ == 0) touched.push_back(m);
        sum[static_cast<std::size_t>(m)] += rating[static_cast<std::size_t>(e)];
      }
    }
    std::sort(touched.begin(), touched.end());
    for (std::int32_t m : touched) {
      const auto i = static_cast<std::size_t>(m);
      out.push_back({k, movie_ids[i], count[i], sum[i]});
      count[i] = 0;
      sum[i] = 0;
    }
  }
  return out;
}

std::vector<ClusterMovieCount> merge_cluster_counts(std::vector<ClusterMovieCount> parts) {
  std::sort(parts.begin(), parts.end(), [](const ClusterMovieCount& x, const ClusterMovieCount& y) {
    return std::tie(x.cluster, x.movie_id) < std::tie(y.cluster, y.movie_id);
  });
  std::vector<ClusterMovieCount> out;
  for (const ClusterMovieCount& c : parts) {
    if (!out.empty() && out.back().cluster == c.cluster && out.back().movie_id == c.movie_id) {
      out.back().rating_count += c.rating_count;
      out.back().rating_sum += c.rating_sum;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

std::vector<ClusterPopularRow> rank_cluster_counts(const std::vector<ClusterMovieCount>& counts,
                                                   int top_n) {
  std::vector<ClusterPopularRow> out;
  std::vector<const ClusterMovieCount*> group;
  auto better = [](const ClusterMovieCount* x, const ClusterMovieCount* y) {
    if (x->rating_count != y->rating_count) return x->rating_count > y->rating_count;
    const double mx = x->rating_sum / static_cast<double>(x->rating_count),
                 my = y->rating_sum / static_cast<double>(y->rating_count);
    if (mx != my) return mx > my;
    return x->movie_id < y->movie_id;
  };
  for (std::size_t i = 0; i < counts.size();) {
    group.clear();
    std::size_t j = i;
    for (; j < counts.size() && counts[j].cluster == counts[i].cluster; ++j)
      group.push_back(&counts[j]);
    const std::size_t keep =
        std::min<std::size_t>(group.size(), static_cast<std::size_t>(std::max(top_n, 0)));
    std::partial_sort(group.begin(), group.begin() + static_cast<std::ptrdiff_t>(keep), group.end(),
                      better);
    for (std::size_t r = 0; r < keep; ++r) {
      out.push_back({group[r]->cluster, static_cast<std::int64_t>(r + 1), group[r]->movie_id,
                     group[r]->rating_count,
                     group[r]->rating_sum / static_cast<double>(group[r]->rating_count)});
    }
    i = j;
  }
  return out;
}

std::vector<ClusterPopularRow> popular_in_clusters(const std::vector<std::int32_t>& user_cluster,
                                                   int clusters, const UserItems& rated,
                                                   const std::vector<float>& rating,
                                                   const std::vector<std::int32_t>& candidates,
                                                   const std::vector<std::int64_t>& movie_ids,
                                                   int top_n) {
  // One process is one shard holding every user: its counts, ranked.
  return rank_cluster_counts(
      cluster_movie_counts(user_cluster, clusters, rated, rating, candidates, movie_ids), top_n);
}

}  // namespace recs
