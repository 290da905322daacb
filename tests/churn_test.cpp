// The churn and coverage of a publication (eval/churn.h) on hand-built lists.
#include "eval/churn.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>

namespace recs::eval {
namespace {

// A block of users' lists as the kernel hands it to the publisher: row i
// holds lists[i] as candidate indices.
TopNBlock block(int user_begin, const std::vector<std::vector<std::int32_t>>& lists, int top_n) {
  TopNBlock b;
  b.user_begin = user_begin;
  b.user_end = user_begin + static_cast<int>(lists.size());
  b.top_n = top_n;
  b.items.assign(lists.size() * static_cast<std::size_t>(top_n), -1);
  b.scores.assign(b.items.size(), 0.0f);
  for (std::size_t i = 0; i < lists.size(); ++i) {
    b.counts.push_back(static_cast<std::int32_t>(lists[i].size()));
    for (std::size_t k = 0; k < lists[i].size(); ++k)
      b.items[i * static_cast<std::size_t>(top_n) + k] = lists[i][k];
  }
  return b;
}

// The previous set as a map, checking that users are asked for in order.
struct Previous {
  std::map<std::int64_t, std::vector<std::int64_t>> lists;
  std::int64_t last = 0;
  PublicationChanges::PreviousLists source() {
    return [this](std::int64_t user, std::vector<std::int64_t>& out) {
      EXPECT_GT(user, last) << "users must come in ascending order";
      last = user;
      auto it = lists.find(user);
      out = it == lists.end() ? std::vector<std::int64_t>{} : it->second;
    };
  }
};

TEST(ListOverlap, CountsCommonMoviesOverTheLongerList) {
  EXPECT_DOUBLE_EQ(list_overlap({1, 2, 3}, {1, 2, 3}), 1.0);
  EXPECT_DOUBLE_EQ(list_overlap({1, 2, 3}, {3, 1, 2}), 1.0);  // rank moves are not churn
  EXPECT_DOUBLE_EQ(list_overlap({1, 2, 3}, {4, 5, 6}), 0.0);
  EXPECT_DOUBLE_EQ(list_overlap({1, 2, 3}, {3, 4, 5}), 1.0 / 3);
  EXPECT_DOUBLE_EQ(list_overlap({1, 2}, {1, 2, 3, 4}), 0.5);  // N changed from 2 to 4
  EXPECT_DOUBLE_EQ(list_overlap({1, 2, 3, 4}, {2}), 0.25);
  EXPECT_DOUBLE_EQ(list_overlap({}, {}), 1.0);
  EXPECT_DOUBLE_EQ(list_overlap({7}, {}), 0.0);
}

TEST(PublicationChanges, ChurnIsOneMinusTheMeanOverlapOfUsersInBothSets) {
  // Candidates: index -> external movie id.
  const std::vector<std::int64_t> movies = {10, 20, 30, 40, 50, 60, 70};
  const std::vector<std::int64_t> users = {101, 102, 103, 104, 105};
  Previous old;
  old.lists[101] = {10, 20, 30};  // same movies, other order: overlap 1
  old.lists[102] = {40, 50, 60};  // one replaced: overlap 2/3
  old.lists[103] = {10, 20, 30};  // all replaced: overlap 0
  old.lists[99] = {10};           // gone from the new set: not compared
  // 104 is new (no old list); 105 has no new list (rated everything).
  PublicationChanges c(movies.size(), old.source());
  c.add(block(0, {{2, 0, 1}, {3, 4, 6}}, 3), users, movies);
  c.add(block(2, {{3, 4, 5}, {0, 1, 2}, {}}, 3), users, movies);
  ASSERT_TRUE(c.churn().has_value());
  EXPECT_NEAR(*c.churn(), 1.0 - (1.0 + 2.0 / 3 + 0.0) / 3, 1e-12);
  EXPECT_EQ(c.users_compared(), 3);
  EXPECT_EQ(c.users_new(), 1);
  // 10..70 all appear in some new list.
  EXPECT_EQ(c.movies_covered(), 7);
  EXPECT_DOUBLE_EQ(c.coverage(), 1.0);
}

TEST(PublicationChanges, TheSameListsAgainHaveNoChurn) {
  const std::vector<std::int64_t> movies = {5, 6, 7, 8};
  const std::vector<std::int64_t> users = {1, 2};
  Previous old;
  old.lists[1] = {5, 6};
  old.lists[2] = {6, 8};
  PublicationChanges c(movies.size(), old.source());
  c.add(block(0, {{0, 1}, {1, 3}}, 2), users, movies);
  EXPECT_DOUBLE_EQ(*c.churn(), 0.0);
  // Movie 7 is in nobody's list.
  EXPECT_EQ(c.movies_covered(), 3);
  EXPECT_DOUBLE_EQ(c.coverage(), 0.75);
}

TEST(PublicationChanges, WithoutAPreviousSetThereIsNoChurn) {
  const std::vector<std::int64_t> movies = {5, 6, 7, 8};
  const std::vector<std::int64_t> users = {1};
  PublicationChanges c(movies.size(), nullptr);
  c.add(block(0, {{2}}, 1), users, movies);
  EXPECT_FALSE(c.churn().has_value());
  EXPECT_EQ(c.users_compared(), 0);
  EXPECT_DOUBLE_EQ(c.coverage(), 0.25);

  // A previous set that shares no user with the new one: nothing to compare.
  Previous old;
  old.lists[9] = {5};
  PublicationChanges d(movies.size(), old.source());
  d.add(block(0, {{2}}, 1), users, movies);
  EXPECT_FALSE(d.churn().has_value());
  EXPECT_EQ(d.users_new(), 1);
}

TEST(PublicationChanges, NoCandidatesHaveNoCoverage) {
  PublicationChanges c(0, nullptr);
  EXPECT_TRUE(std::isnan(c.coverage()));
}

}  // namespace
}  // namespace recs::eval
