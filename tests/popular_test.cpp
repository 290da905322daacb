// "Popular in your cluster" against a hand-computed case: counts, then mean
// rating, then the smaller index; candidates only; at most top_n per cluster.
#include "cluster/popular.h"

#include <gtest/gtest.h>

namespace recs {
namespace {

TEST(PopularInClusters, RanksByCountThenMeanThenIndexAmongCandidates) {
  // Users 0, 1, 3 in cluster 0; user 2 in cluster 1; cluster 2 empty.
  const std::vector<std::int32_t> cluster = {0, 0, 1, 0};
  UserItems rated;
  rated.indptr = {0, 3, 5, 6, 8};
  rated.indices = {0, 1, 2, /**/ 1, 2, /**/ 3, /**/ 0, 4};
  const std::vector<float> rating = {4, 2, 5, /**/ 3, 4, /**/ 1, /**/ 2, 5};
  const std::vector<std::int64_t> ids = {10, 20, 30, 40, 50};
  const std::vector<std::int32_t> candidates = {0, 1, 2, 3};  // 50 is filtered out

  const auto rows = popular_in_clusters(cluster, 3, rated, rating, candidates, ids, 2);
  ASSERT_EQ(rows.size(), 3u);
  // Cluster 0: 10 (2 ratings, mean 3), 20 (2, mean 2.5), 30 (2, mean 4.5):
  // 30 first on its mean, then 10; 20 cut by top_n.
  EXPECT_EQ(rows[0].cluster, 0);
  EXPECT_EQ(rows[0].rank, 1);
  EXPECT_EQ(rows[0].movie_id, 30);
  EXPECT_EQ(rows[0].rating_count, 2);
  EXPECT_DOUBLE_EQ(rows[0].mean_rating, 4.5);
  EXPECT_EQ(rows[1].movie_id, 10);
  EXPECT_EQ(rows[1].rank, 2);
  EXPECT_DOUBLE_EQ(rows[1].mean_rating, 3.0);
  EXPECT_EQ(rows[2].cluster, 1);
  EXPECT_EQ(rows[2].rank, 1);
  EXPECT_EQ(rows[2].movie_id, 40);
  EXPECT_EQ(rows[2].rating_count, 1);
}

TEST(PopularInClusters, TiesGoToTheSmallerIndex) {
  const std::vector<std::int32_t> cluster = {0, 0};
  UserItems rated;
  rated.indptr = {0, 1, 2};
  rated.indices = {2, 1};
  const std::vector<float> rating = {3, 3};
  const auto rows = popular_in_clusters(cluster, 1, rated, rating, {0, 1, 2}, {5, 6, 7}, 10);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(rows[0].movie_id, 6);
  EXPECT_EQ(rows[1].movie_id, 7);
}

}  // namespace
}  // namespace recs
