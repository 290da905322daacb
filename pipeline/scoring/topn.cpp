#include "scoring/topn.h"

#include <tbb/info.h>

#include <algorithm>
#include <functional>
#include <limits>
#include <stdexcept>
#include <vector>

#include "scoring/result_handler.h"
#include "scoring/select.h"

namespace recs {
namespace {

// Per user, movies [0, kDenseRatio * top_n) go through the handler's dense
// loop: early in a row most scores beat the (still low) threshold and a test
// per chunk would not skip anything.
constexpr long long kDenseRatio = 32;
// Candidate buffer capacity per user, in multiples of top_n. Smaller keeps
// the threshold closer to the exact top_n-th score (fewer admissions), larger
// prunes less often; 2 measured best of 2-4.
constexpr int kCapacityRatio = 2;

// Movies reach each user in ascending index order (movie blocks in order,
// each row in order), so ties at the threshold are settled by arrival.
using Handler = selection::ResultHandler<selection::TiesByArrival>;

struct Problem {
  const RowMatrix& users;
  const RowMatrix& movies;
  const UserItems* exclude;
  int user_block;
  int movie_block;
  selection::BufferShape shape;
};

// Per-thread working memory, reused across user blocks so the steady state
// allocates nothing.
struct Scratch {
  std::vector<float> tile;              // user_block x movie_block, row-major
  std::vector<std::int64_t> mask_next;  // per user: next rated movie to mask
  Handler results;
};

// Scores users [user_begin, user_end) against every movie and writes their
// top-N, best first, to items/scores (top_n per user) and counts.
void score_block(const Problem& p, int user_begin, int user_end, Scratch& s, std::int32_t* items,
                 float* scores, std::int32_t* counts) {
  const int nu = user_end - user_begin;
  const int num_movies = static_cast<int>(p.movies.rows());
  if (p.shape.top_n == 0 || num_movies == 0) {
    std::fill(counts, counts + nu, 0);
    return;
  }
  const std::size_t tile_size = static_cast<std::size_t>(nu) * std::min(p.movie_block, num_movies);
  if (s.tile.size() < tile_size) s.tile.resize(tile_size);
  s.results.begin_block(p.shape, nu);
  if (p.exclude) {
    s.mask_next.assign(p.exclude->indptr.begin() + user_begin,
                       p.exclude->indptr.begin() + user_end);
  }
  // Masked entries become NaN, which no comparison admits: a masked movie is
  // never selected even if every real score is -inf.
  constexpr float kMasked = std::numeric_limits<float>::quiet_NaN();

  const auto user_rows = p.users.middleRows(user_begin, nu);
  for (int movie_begin = 0; movie_begin < num_movies; movie_begin += p.movie_block) {
    const int nm = std::min(p.movie_block, num_movies - movie_begin);
    Eigen::Map<RowMatrix> tile(s.tile.data(), nu, nm);
    tile.noalias() = user_rows * p.movies.middleRows(movie_begin, nm).transpose();
    for (int i = 0; i < nu; ++i) {
      float* row = tile.data() + static_cast<std::size_t>(i) * nm;
      if (p.exclude) {
        // Rated movies are sorted, so one cursor per user walks them once
        // across all movie blocks.
        const std::int64_t end = p.exclude->indptr[user_begin + i + 1];
        std::int64_t& next = s.mask_next[i];
        const std::int32_t* rated = p.exclude->indices.data();
        for (; next < end && rated[next] < movie_begin + nm; ++next) {
          if (rated[next] >= movie_begin) row[rated[next] - movie_begin] = kMasked;
        }
      }
      s.results.add_row(i, row, nm, [movie_begin](int k) { return movie_begin + k; });
    }
  }
  s.results.end_block(items, scores, counts);
}

Problem make_problem(const RowMatrix& users, const RowMatrix& movies, const UserItems* exclude,
                     const TopNOptions& options) {
  selection::check_inputs("score_top_n", users, movies, exclude, options);
  if (options.user_block <= 0 || options.movie_block <= 0) {
    throw std::invalid_argument("score_top_n: user_block and movie_block must be > 0");
  }
  const int num_movies = static_cast<int>(movies.rows());
  return Problem{users,
                 movies,
                 exclude,
                 options.user_block,
                 options.movie_block,
                 selection::buffer_shape(options.top_n, kCapacityRatio, num_movies,
                                         kDenseRatio * options.top_n)};
}

}  // namespace

void score_top_n(const RowMatrix& users, const RowMatrix& movies, const UserItems* exclude,
                 const TopNOptions& options, const std::function<void(const TopNBlock&)>& sink) {
  const Problem problem = make_problem(users, movies, exclude, options);
  const int num_users = static_cast<int>(users.rows());
  const int threads = options.threads > 0 ? options.threads : tbb::info::default_concurrency();
  selection::score_in_blocks(problem, num_users, problem.user_block, problem.shape.top_n, threads,
                             score_block, options.prepare, sink);
}

TopNBlock score_top_n(const RowMatrix& users, const RowMatrix& movies, const UserItems* exclude,
                      const TopNOptions& options) {
  TopNBlock all;
  all.user_begin = 0;
  all.user_end = static_cast<int>(users.rows());
  all.top_n = options.top_n;
  const std::size_t num_users = static_cast<std::size_t>(users.rows());
  const std::size_t top_n = static_cast<std::size_t>(std::max(options.top_n, 0));
  all.items.resize(num_users * top_n);
  all.scores.resize(num_users * top_n);
  all.counts.resize(num_users);
  score_top_n(users, movies, exclude, options, [&](const TopNBlock& block) {
    const std::size_t offset = static_cast<std::size_t>(block.user_begin) * top_n;
    std::copy(block.items.begin(), block.items.end(), all.items.begin() + offset);
    std::copy(block.scores.begin(), block.scores.end(), all.scores.begin() + offset);
    std::copy(block.counts.begin(), block.counts.end(), all.counts.begin() + block.user_begin);
  });
  return all;
}

}  // namespace recs
