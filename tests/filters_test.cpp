// The business filters as pure logic: allow, exclude and genre rules over
// the model's movie ids, and the rated sets seen through the candidates.
#include "scoring/filters.h"

#include <gtest/gtest.h>

namespace recs {
namespace {

const std::vector<std::int64_t> kMovies = {3, 10, 42, 99, 1000};

TEST(Filters, NoFiltersKeepEveryMovie) {
  const CandidateMovies c = candidate_movies(kMovies, {}, {});
  EXPECT_EQ(c.movies, (std::vector<std::int32_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(c.unknown_allowed + c.unknown_excluded, 0);
}

TEST(Filters, AllowListThenExclusionsWhichWin) {
  MovieFilters f;
  f.allow_movies = {10, 42, 99, 7};
  f.exclude_movies = {42, 8, 9};
  const CandidateMovies c = candidate_movies(kMovies, f, {});
  EXPECT_EQ(c.movies, (std::vector<std::int32_t>{1, 3}));
  EXPECT_EQ(c.unknown_allowed, 1);
  EXPECT_EQ(c.unknown_excluded, 2);
}

TEST(Filters, GenresMatchWholeNamesAndOnlyWhenAsked) {
  const std::vector<MovieGenres> catalog = {
      {3, "Comedy|Horror"}, {10, "Horror Comedy"}, {42, "Drama"}, {5, "Horror"}, {1000, "Horror"}};
  EXPECT_EQ(candidate_movies(kMovies, {}, catalog).movies.size(), kMovies.size());
  MovieFilters f;
  f.exclude_genres = {"Horror"};
  // 99 is not in the catalog and stays; 5 is not in the model.
  EXPECT_EQ(candidate_movies(kMovies, f, catalog).movies, (std::vector<std::int32_t>{1, 2, 3}));
}

TEST(Filters, MoviesTheDatabaseNoLongerKnowsAreNeverCandidates) {
  const std::vector<std::int64_t> known = {3, 42, 99, 5000};
  MovieFilters f;
  f.known = &known;
  CandidateMovies c = candidate_movies(kMovies, f, {});
  EXPECT_EQ(c.movies, (std::vector<std::int32_t>{0, 2, 3}));
  EXPECT_EQ(c.removed, (std::vector<std::int32_t>{1, 4}));
  // With the business filters: an excluded movie that is also gone counts
  // as removed; allow_movies cannot bring one back.
  f.exclude_movies = {10};
  f.allow_movies = {1000, 42};
  c = candidate_movies(kMovies, f, {});
  EXPECT_EQ(c.movies, (std::vector<std::int32_t>{2}));
  EXPECT_EQ(c.removed, (std::vector<std::int32_t>{1, 4}));
}

TEST(Filters, RatedSetsRestrictedToTheCandidatesIndexSpace) {
  UserItems rated;
  rated.indptr = {0, 3, 3, 5};
  rated.indices = {0, 2, 4, 1, 3};
  const std::vector<std::int32_t> candidates = {1, 2, 4};
  const std::vector<std::int32_t> position = candidate_positions(candidates, 5);
  EXPECT_EQ(position, (std::vector<std::int32_t>{-1, 0, 1, -1, 2}));
  const UserItems r = restrict_items(rated, position);
  EXPECT_EQ(r.indptr, (std::vector<std::int64_t>{0, 2, 2, 3}));
  EXPECT_EQ(r.indices, (std::vector<std::int32_t>{1, 2, 0}));
}

}  // namespace
}  // namespace recs
