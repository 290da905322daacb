#include "scoring/topn.h"

#include <tbb/info.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <limits>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "scoring/result_handler.h"
#include "scoring/select.h"
#include "scoring/tile_product.h"

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
  int movie_block;  // a multiple of tile_panel_width()
  selection::BufferShape shape;
  PackedMovies packed;  // the movies, in index order
};

// Columns of a tile row: the movie block rounded up to whole panels.
std::size_t tile_stride(int movie_block, int num_movies) {
  const int w = tile_panel_width();
  return static_cast<std::size_t>((std::min(movie_block, num_movies) + w - 1) / w * w);
}

// The first row of each of users [user_begin, user_begin + n).
void user_rows(const RowMatrix& users, int user_begin, int n, std::vector<const float*>& out) {
  out.resize(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) out[static_cast<std::size_t>(i)] = users.row(user_begin + i).data();
}

// Per-thread working memory, reused across user blocks so the steady state
// allocates nothing.
struct Scratch {
  std::vector<float> tile;         // user_block x tile_stride, row-major
  std::vector<const float*> rows;  // the block's user vectors
  TileScratch product;
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
  const std::size_t stride = tile_stride(p.movie_block, num_movies);
  const std::size_t tile_size = static_cast<std::size_t>(nu) * stride;
  if (s.tile.size() < tile_size) s.tile.resize(tile_size);
  user_rows(p.users, user_begin, nu, s.rows);
  s.results.begin_block(p.shape, nu);
  if (p.exclude) {
    s.mask_next.assign(p.exclude->indptr.begin() + user_begin,
                       p.exclude->indptr.begin() + user_end);
  }
  // Masked entries become NaN, which no comparison admits: a masked movie is
  // never selected even if every real score is -inf.
  constexpr float kMasked = std::numeric_limits<float>::quiet_NaN();

  for (int movie_begin = 0; movie_begin < num_movies; movie_begin += p.movie_block) {
    const int nm = std::min(p.movie_block, num_movies - movie_begin);
    tile_product(s.rows.data(), nu, p.packed, movie_begin, nm, s.tile.data(), stride, s.product);
    for (int i = 0; i < nu; ++i) {
      float* row = s.tile.data() + static_cast<std::size_t>(i) * stride;
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

// The pruned scan (TopNOptions::prune). Movies are re-ordered by
// descending norm, so within a user's scan the bound |u| max|v| of the
// blocks still ahead only falls while its N-th best score only rises: once
// a block cannot reach it, no later block can, and the user leaves. Items
// then reach a user out of index order, so ties at the threshold are
// settled by item (TiesByItem), as the plain scan's arrival order settles
// them: the same entries, the same order. Each score is computed by
// tile_product exactly as the plain scan computes it, so a block is either
// scored exactly as there or skipped: the lists are the plain scan's bit for
// bit, ties included.
using PrunedHandler = selection::ResultHandler<selection::TiesByItem>;

// A score the kernel computes differs from the exact u . v by at most
// about d 2^-24 |u| |v| (d factors; norms in float carry as much again):
// the bound is inflated by kBoundMargin, far more than that for d <= 1024,
// so a skipped movie's computed score is certainly below the threshold.
constexpr double kBoundMargin = 1e-3;

struct PrunedProblem {
  const RowMatrix& users;
  PackedMovies movies;                    // by descending norm (ties: smaller index first)
  std::vector<std::int32_t> item_of;      // position -> movie index
  std::vector<std::int32_t> position_of;  // movie index -> position
  std::vector<float> block_norm;          // per movie block: its largest norm
  const UserItems* exclude;
  int user_block;
  int movie_block;
  selection::BufferShape shape;
  std::atomic<std::int64_t>* skipped;
};

struct PrunedScratch {
  std::vector<float> tile;
  std::vector<const float*> rows;  // the active users' vectors
  TileScratch product;
  std::vector<int> active;
  std::vector<double> norm;             // per user of the block
  std::vector<std::int64_t> rated_at;   // per user: start of its positions in rated
  std::vector<std::int32_t> rated;      // rated movies as positions, sorted per user
  std::vector<std::int64_t> mask_next;  // per user: next position to mask
  PrunedHandler results;
};

void score_block_pruned(const PrunedProblem& p, int user_begin, int user_end, PrunedScratch& s,
                        std::int32_t* items, float* scores, std::int32_t* counts) {
  const int nu = user_end - user_begin;
  const int num_movies = p.movies.rows();
  if (p.shape.top_n == 0 || num_movies == 0) {
    std::fill(counts, counts + nu, 0);
    return;
  }
  const std::size_t stride = tile_stride(p.movie_block, num_movies);
  const std::size_t tile_size = static_cast<std::size_t>(nu) * stride;
  if (s.tile.size() < tile_size) s.tile.resize(tile_size);
  s.results.begin_block(p.shape, nu);
  s.norm.resize(static_cast<std::size_t>(nu));
  s.active.resize(static_cast<std::size_t>(nu));
  for (int i = 0; i < nu; ++i) {
    s.norm[static_cast<std::size_t>(i)] = p.users.row(user_begin + i).cast<double>().norm();
    s.active[static_cast<std::size_t>(i)] = i;
  }
  if (p.exclude) {
    // Each user's rated movies as positions in the scan order, sorted, so
    // one cursor per user walks them once across the blocks.
    s.rated_at.assign(static_cast<std::size_t>(nu) + 1, 0);
    s.rated.clear();
    for (int i = 0; i < nu; ++i) {
      const auto b = p.exclude->indptr[user_begin + i];
      const auto e = p.exclude->indptr[user_begin + i + 1];
      const auto from = s.rated.size();
      for (auto j = b; j < e; ++j) {
        s.rated.push_back(p.position_of[static_cast<std::size_t>(
            p.exclude->indices[static_cast<std::size_t>(j)])]);
      }
      std::sort(s.rated.begin() + static_cast<std::ptrdiff_t>(from), s.rated.end());
      s.rated_at[static_cast<std::size_t>(i) + 1] = static_cast<std::int64_t>(s.rated.size());
    }
    s.mask_next.assign(s.rated_at.begin(), s.rated_at.end() - 1);
  }
  constexpr float kMasked = std::numeric_limits<float>::quiet_NaN();
  std::int64_t skipped = 0;
  int block = 0;
  for (int movie_begin = 0; movie_begin < num_movies; movie_begin += p.movie_block, ++block) {
    const int nm = std::min(p.movie_block, num_movies - movie_begin);
    const double bound =
        static_cast<double>(p.block_norm[static_cast<std::size_t>(block)]) * (1.0 + kBoundMargin);
    // Users whose N-th best this block can still reach stay; the others
    // have seen their last block.
    std::size_t kept = 0;
    for (const int i : s.active) {
      if (s.norm[static_cast<std::size_t>(i)] * bound <
          static_cast<double>(s.results.threshold(i))) {
        skipped += num_movies - movie_begin;
        continue;
      }
      s.active[kept++] = i;
    }
    s.active.resize(kept);
    if (kept == 0) break;
    s.rows.resize(kept);
    for (std::size_t a = 0; a < kept; ++a) s.rows[a] = p.users.row(user_begin + s.active[a]).data();
    tile_product(s.rows.data(), static_cast<int>(kept), p.movies, movie_begin, nm, s.tile.data(),
                 stride, s.product);
    for (std::size_t a = 0; a < kept; ++a) {
      const int i = s.active[a];
      float* row = s.tile.data() + a * stride;
      if (p.exclude) {
        const std::int64_t end = s.rated_at[static_cast<std::size_t>(i) + 1];
        std::int64_t& next = s.mask_next[static_cast<std::size_t>(i)];
        for (; next < end && s.rated[static_cast<std::size_t>(next)] < movie_begin + nm; ++next) {
          const std::int32_t at = s.rated[static_cast<std::size_t>(next)];
          if (at >= movie_begin) row[at - movie_begin] = kMasked;
        }
      }
      const std::int32_t* item_of = p.item_of.data() + movie_begin;
      s.results.add_row(i, row, nm, [item_of](int j) { return item_of[j]; });
    }
  }
  s.results.end_block(items, scores, counts);
  if (p.skipped && skipped > 0) p.skipped->fetch_add(skipped, std::memory_order_relaxed);
}

PrunedProblem make_pruned(const Problem& plain, std::atomic<std::int64_t>* skipped) {
  const auto num_movies = static_cast<std::size_t>(plain.movies.rows());
  std::vector<double> norm(num_movies);
  for (std::size_t m = 0; m < num_movies; ++m) {
    norm[m] = plain.movies.row(static_cast<Eigen::Index>(m)).cast<double>().norm();
  }
  PrunedProblem p{plain.users,
                  PackedMovies(),
                  std::vector<std::int32_t>(num_movies),
                  std::vector<std::int32_t>(num_movies),
                  {},
                  plain.exclude,
                  plain.user_block,
                  plain.movie_block,
                  plain.shape,
                  skipped};
  std::iota(p.item_of.begin(), p.item_of.end(), 0);
  std::stable_sort(p.item_of.begin(), p.item_of.end(),
                   [&](std::int32_t a, std::int32_t b) { return norm[a] > norm[b]; });
  for (std::size_t at = 0; at < num_movies; ++at) {
    const auto m = static_cast<std::size_t>(p.item_of[at]);
    p.position_of[m] = static_cast<std::int32_t>(at);
  }
  p.movies = PackedMovies(plain.movies, p.item_of);
  for (std::size_t b = 0; b < num_movies; b += static_cast<std::size_t>(plain.movie_block)) {
    // The first of a block is its largest; rounded up to a float above it.
    p.block_norm.push_back(std::nextafter(static_cast<float>(norm[p.item_of[b]]),
                                          std::numeric_limits<float>::infinity()));
  }
  return p;
}

Problem make_problem(const RowMatrix& users, const RowMatrix& movies, const UserItems* exclude,
                     const TopNOptions& options) {
  selection::check_inputs("score_top_n", users, movies, exclude, options);
  if (options.user_block <= 0 || options.movie_block <= 0) {
    throw std::invalid_argument("score_top_n: user_block and movie_block must be > 0");
  }
  const int num_movies = static_cast<int>(movies.rows());
  const int w = tile_panel_width();
  return Problem{users,
                 movies,
                 exclude,
                 options.user_block,
                 (options.movie_block + w - 1) / w * w,
                 selection::buffer_shape(options.top_n, kCapacityRatio, num_movies,
                                         kDenseRatio * options.top_n),
                 PackedMovies()};
}

}  // namespace

void score_top_n(const RowMatrix& users, const RowMatrix& movies, const UserItems* exclude,
                 const TopNOptions& options, const std::function<void(const TopNBlock&)>& sink) {
  Problem problem = make_problem(users, movies, exclude, options);
  const int num_users = static_cast<int>(users.rows());
  const int threads = options.threads > 0 ? options.threads : tbb::info::default_concurrency();
  if (options.prune) {
    const PrunedProblem pruned = make_pruned(problem, options.skipped);
    selection::score_in_blocks(pruned, num_users, pruned.user_block, pruned.shape.top_n, threads,
                               score_block_pruned, options.prepare, sink);
    return;
  }
  problem.packed = PackedMovies(movies);
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
