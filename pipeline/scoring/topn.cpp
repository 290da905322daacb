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

// The pruned scan (TopNOptions::prune). Movies are re-ordered so that the
// blocks likely to hold a user's best come first, and each block carries
// upper bounds on u . v over its movies and over them and every later
// block's, so within a user's scan the second bound only falls while its
// N-th best score only rises: once no later block can reach it, the user
// leaves; a block the first bound rules out is skipped. The bound is LEMP's
// (Teflioudi et al. 2015) per-movie Cauchy-Schwarz bound with the folded
// biases taken out exactly, as FEXIPRO (Li et al. 2017) bounds a few
// coordinates exactly: a column constant over all movies (c_j: the user's
// bias) adds u_j c_j to every score, a column constant over all users (c_j:
// the movie's bias) adds c_j v_j, and the other columns give at most
// |u_rest| |v_rest|. So movie m's score is at most the line
// |u_rest| slope_m + offset_m plus the user's constant, and a block's bound
// is the largest of its lines at |u_rest|, kept as the few that are not
// dominated (larger slope and offset). Without constant columns this is the
// norm bound, |u| max |v|, the movies in descending norm. Items then reach a
// user out of index order, so ties at the threshold are settled by item
// (TiesByItem), as the plain scan's arrival order settles them: the same
// entries, the same order. Each score is computed by tile_product exactly
// as the plain scan computes it, so a block is either scored exactly as
// there or skipped: the lists are the plain scan's bit for bit, ties
// included.
using PrunedHandler = selection::ResultHandler<selection::TiesByItem>;

// A score the kernel computes differs from the exact u . v by at most
// about d 2^-24 sum |u_j v_j| <= d 2^-24 |u| |v| (d factors; norms in float
// carry as much again): the bound adds kBoundMargin |u| max|v|, far more
// than that for d <= 1024, so a skipped movie's computed score is certainly
// below the threshold.
constexpr double kBoundMargin = 1e-3;

// A movie's bound as a function of the user's |u_rest|.
struct Line {
  double slope;   // |v_rest|, rounded up to a float above
  double offset;  // sum over user-constant columns of c_j v_j
};

// The lines of `lines` that some |u_rest| >= 0 needs: none has both a
// smaller slope and a smaller offset than another. Sorted by slope, largest
// first.
std::vector<Line> undominated(std::vector<Line> lines) {
  std::sort(lines.begin(), lines.end(), [](const Line& a, const Line& b) {
    return a.slope != b.slope ? a.slope > b.slope : a.offset > b.offset;
  });
  std::vector<Line> out;
  for (const Line& l : lines) {
    if (out.empty() || l.offset > out.back().offset) out.push_back(l);
  }
  return out;
}

// Per movie block, the undominated lines of a set of movies and their
// largest |v| (rounded up).
struct BlockBounds {
  std::vector<std::size_t> begin;  // per block + 1: its lines in `lines`
  std::vector<Line> lines;
  std::vector<float> norm;

  void add(const std::vector<Line>& block_lines, float block_norm) {
    if (begin.empty()) begin.push_back(0);
    lines.insert(lines.end(), block_lines.begin(), block_lines.end());
    begin.push_back(lines.size());
    norm.push_back(block_norm);
  }

  // The bound on u . v (plus the rounding margin) over block b, for a user
  // with |u|, |u_rest| and the constant its movie-constant columns add.
  double bound(std::size_t b, double u_norm, double u_rest, double u_constant) const {
    double best = -std::numeric_limits<double>::infinity();
    for (std::size_t l = begin[b]; l < begin[b + 1]; ++l) {
      best = std::max(best, lines[l].slope * u_rest + lines[l].offset);
    }
    return best + u_constant + u_norm * static_cast<double>(norm[b]) * kBoundMargin;
  }
};

struct PrunedProblem {
  const RowMatrix& users;
  PackedMovies movies;                    // in scan order (ties: smaller index first)
  std::vector<std::int32_t> item_of;      // position -> movie index
  std::vector<std::int32_t> position_of;  // movie index -> position
  std::vector<char> movie_constant;       // per column: one value over every movie
  std::vector<char> user_constant;  // per column: one value over every user (and not the above)
  std::vector<float> constant;      // per column: that value (movie- or user-constant)
  BlockBounds own;                  // per movie block: over its movies
  BlockBounds ahead;                // over its movies and every later block's
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
  std::vector<int> active;              // users whose scan goes on
  std::vector<int> scored;              // of those, the users this block can reach
  std::vector<double> norm;             // per user of the block: |u|
  std::vector<double> rest;             // |u_rest|
  std::vector<double> constant;         // what the movie-constant columns add
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
  s.rest.resize(static_cast<std::size_t>(nu));
  s.constant.resize(static_cast<std::size_t>(nu));
  s.active.resize(static_cast<std::size_t>(nu));
  for (int i = 0; i < nu; ++i) {
    const auto u = p.users.row(user_begin + i);
    double all = 0, rest = 0, constant = 0;
    for (Eigen::Index j = 0; j < u.size(); ++j) {
      const auto c = static_cast<std::size_t>(j);
      const double x = u[j];
      all += x * x;
      if (p.movie_constant[c]) {
        constant += x * p.constant[c];
      } else if (!p.user_constant[c]) {
        rest += x * x;
      }
    }
    s.norm[static_cast<std::size_t>(i)] = std::sqrt(all);
    s.rest[static_cast<std::size_t>(i)] = std::sqrt(rest);
    s.constant[static_cast<std::size_t>(i)] = constant;
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
    const auto b = static_cast<std::size_t>(block);
    // Users whose N-th best no later block can reach have seen their last
    // block; of the others, those this block cannot reach skip it.
    std::size_t alive = 0;
    s.scored.clear();
    for (const int i : s.active) {
      const auto ui = static_cast<std::size_t>(i);
      const auto threshold = static_cast<double>(s.results.threshold(i));
      if (p.ahead.bound(b, s.norm[ui], s.rest[ui], s.constant[ui]) < threshold) {
        skipped += num_movies - movie_begin;
        continue;
      }
      s.active[alive++] = i;
      if (p.own.bound(b, s.norm[ui], s.rest[ui], s.constant[ui]) < threshold) {
        skipped += nm;
        continue;
      }
      s.scored.push_back(i);
    }
    s.active.resize(alive);
    if (alive == 0) break;
    const std::size_t kept = s.scored.size();
    if (kept == 0) continue;
    s.rows.resize(kept);
    for (std::size_t a = 0; a < kept; ++a) s.rows[a] = p.users.row(user_begin + s.scored[a]).data();
    tile_product(s.rows.data(), static_cast<int>(kept), p.movies, movie_begin, nm, s.tile.data(),
                 stride, s.product);
    for (std::size_t a = 0; a < kept; ++a) {
      const int i = s.scored[a];
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

// Whether column j of `m` holds one value in every row.
bool constant_column(const RowMatrix& m, Eigen::Index j) {
  for (Eigen::Index r = 1; r < m.rows(); ++r) {
    if (m(r, j) != m(0, j)) return false;
  }
  return true;
}

PrunedProblem make_pruned(const Problem& plain, std::atomic<std::int64_t>* skipped) {
  const auto num_movies = static_cast<std::size_t>(plain.movies.rows());
  const Eigen::Index d = plain.movies.cols();
  const auto cols = static_cast<std::size_t>(d);
  PrunedProblem p{plain.users,
                  PackedMovies(),
                  std::vector<std::int32_t>(num_movies),
                  std::vector<std::int32_t>(num_movies),
                  std::vector<char>(cols, 0),
                  std::vector<char>(cols, 0),
                  std::vector<float>(cols, 0),
                  {},
                  {},
                  plain.exclude,
                  plain.user_block,
                  plain.movie_block,
                  plain.shape,
                  skipped};
  for (Eigen::Index j = 0; j < d; ++j) {
    const auto c = static_cast<std::size_t>(j);
    if (num_movies > 0 && constant_column(plain.movies, j)) {
      p.movie_constant[c] = 1;
      p.constant[c] = plain.movies(0, j);
    } else if (plain.users.rows() > 0 && constant_column(plain.users, j)) {
      p.user_constant[c] = 1;
      p.constant[c] = plain.users(0, j);
    }
  }
  // Each movie's line, and the scan order: by the bound for the mean
  // |u_rest| (without constant columns, by norm, as LEMP's).
  const bool any_constant = std::count(p.movie_constant.begin(), p.movie_constant.end(), 1) +
                                std::count(p.user_constant.begin(), p.user_constant.end(), 1) >
                            0;
  double mean_rest = 0;
  for (Eigen::Index r = 0; r < plain.users.rows(); ++r) {
    double rest = 0;
    for (Eigen::Index j = 0; j < d; ++j) {
      const auto c = static_cast<std::size_t>(j);
      if (!p.movie_constant[c] && !p.user_constant[c]) {
        rest += static_cast<double>(plain.users(r, j)) * plain.users(r, j);
      }
    }
    mean_rest += std::sqrt(rest);
  }
  if (plain.users.rows() > 0) mean_rest /= static_cast<double>(plain.users.rows());
  const auto up = [](double x) {
    return std::nextafter(static_cast<float>(x), std::numeric_limits<float>::infinity());
  };
  std::vector<Line> line(num_movies);
  std::vector<float> norm(num_movies);
  std::vector<double> key(num_movies);
  for (std::size_t m = 0; m < num_movies; ++m) {
    const auto v = plain.movies.row(static_cast<Eigen::Index>(m));
    double all = 0, rest = 0, offset = 0;
    for (Eigen::Index j = 0; j < d; ++j) {
      const auto c = static_cast<std::size_t>(j);
      const double x = v[j];
      all += x * x;
      if (p.user_constant[c]) {
        offset += p.constant[c] * x;
      } else if (!p.movie_constant[c]) {
        rest += x * x;
      }
    }
    norm[m] = up(std::sqrt(all));
    line[m] = {static_cast<double>(up(std::sqrt(rest))), offset};
    key[m] = any_constant ? mean_rest * std::sqrt(rest) + offset : std::sqrt(all);
  }
  std::iota(p.item_of.begin(), p.item_of.end(), 0);
  std::stable_sort(p.item_of.begin(), p.item_of.end(),
                   [&](std::int32_t a, std::int32_t b) { return key[a] > key[b]; });
  for (std::size_t at = 0; at < num_movies; ++at) {
    const auto m = static_cast<std::size_t>(p.item_of[at]);
    p.position_of[m] = static_cast<std::int32_t>(at);
  }
  p.movies = PackedMovies(plain.movies, p.item_of);
  // Each block's lines, and the suffixes' from the last block back.
  const auto block = static_cast<std::size_t>(plain.movie_block);
  const std::size_t blocks = (num_movies + block - 1) / block;
  std::vector<std::vector<Line>> own(blocks), ahead(blocks);
  std::vector<float> own_norm(blocks, 0), ahead_norm(blocks, 0);
  for (std::size_t b = 0; b < blocks; ++b) {
    std::vector<Line> lines;
    for (std::size_t at = b * block; at < std::min(num_movies, (b + 1) * block); ++at) {
      const auto m = static_cast<std::size_t>(p.item_of[at]);
      lines.push_back(line[m]);
      own_norm[b] = std::max(own_norm[b], norm[m]);
    }
    own[b] = undominated(std::move(lines));
  }
  for (std::size_t b = blocks; b-- > 0;) {
    ahead[b] = own[b];
    ahead_norm[b] = own_norm[b];
    if (b + 1 < blocks) {
      ahead[b].insert(ahead[b].end(), ahead[b + 1].begin(), ahead[b + 1].end());
      ahead[b] = undominated(std::move(ahead[b]));
      ahead_norm[b] = std::max(ahead_norm[b], ahead_norm[b + 1]);
    }
  }
  for (std::size_t b = 0; b < blocks; ++b) {
    p.own.add(own[b], own_norm[b]);
    p.ahead.add(ahead[b], ahead_norm[b]);
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
