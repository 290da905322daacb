#include "scoring/angular.h"

#include <tbb/blocked_range.h>
#include <tbb/info.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "cluster/kmeans.h"
#include "scoring/result_handler.h"
#include "scoring/select.h"
#include "scoring/tile_product.h"
#include "scoring/topn.h"

namespace recs {
namespace {

// Exactness of the bound. With a the cosine of q to the centre mu (in
// double from the float vectors: error ~1e-14) and beta the angles of the
// members (acos in double: error below 2e-7 rad even next to 0 or pi), the
// block's angle range is widened by kAngleMargin, so the bound in cosine,
// cos(max(alpha - beta_hi, beta_lo - alpha, 0)) formed from a and
// sqrt(1 - a^2), is above the true cosine up to ~2e-7. A computed score
// differs from |q| |c| cos(q, c) by at most d 2^-24 |q| |c| (one rounding
// per factor; 8e-6 |q| |c| for d = 128) and the norms in double are exact
// to 1e-15: kBoundMargin |q| max|c| covers all of it hundreds of times over
// for d <= 1024, so a skipped movie's computed score is certainly below the
// query's threshold. (The margin is topn.cpp's.)
constexpr double kBoundMargin = 1e-3;
constexpr double kAngleMargin = 1e-6;
// k-means runs on about this many movies per group, a few iterations: the
// groups only decide how much is skipped, never the result.
constexpr int kSamplePerGroup = 64;
constexpr int kGroupIterations = 5;
// A query's candidates are compacted back to top_n after a block once they
// exceed it by this many, so its threshold is (nearly) its exact top_n-th
// best: the handler's own compaction waits for two dense chunks (128 more),
// and a threshold that lags lets through blocks the bound rules out. On the
// ML-25M-size als model (top 20): 36 % of the pairs skipped without, 40 %
// with 8.
constexpr int kTightenSlack = 8;
// As topn.cpp's (its measured values for the candidate buffers).
constexpr long long kDenseRatio = 32;
constexpr int kCapacityRatio = 2;
// Rows per task of the setup's products (fixed, so the setup does not
// depend on the thread count).
constexpr int kSetupChunk = 1024;

using Handler = selection::ResultHandler<selection::TiesByItem>;
using DoubleMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// The members of one group within one movie block: their angles to the
// group's centre lie in [lo, hi], kept as cosines and sines.
struct Segment {
  int group;
  double cos_lo, sin_lo, cos_hi, sin_hi;
};

struct Block {
  std::size_t segment_begin = 0;  // its segments in Problem::segments
  std::size_t segment_end = 0;
  double norm_max = 0;  // largest and smallest |c| of its movies
  double norm_min = std::numeric_limits<double>::infinity();
  bool unbounded = false;  // holds a zero vector: no angle, never skipped
};

struct Problem {
  const RowMatrix& queries;
  const UserItems* exclude;
  PackedMovies movies;                    // in scan order: by group, then angle to its centre
  std::vector<std::int32_t> item_of;      // position -> movie index
  std::vector<std::int32_t> position_of;  // movie index -> position
  std::vector<std::int32_t> query_of;     // query order (by nearest group) -> query index
  DoubleMatrix centres;                   // groups x d, unit rows
  std::vector<Segment> segments;
  std::vector<Block> blocks;
  int query_block = 0;
  int movie_block = 0;  // a multiple of tile_panel_width()
  selection::BufferShape shape;
  std::atomic<std::int64_t>* skipped = nullptr;
};

struct Scratch {
  std::vector<float> tile;                // the block's queries x one movie block
  std::vector<const float*> rows;         // the block's query vectors
  std::vector<int> scored;                // the queries a movie block can still reach
  std::vector<const float*> scored_rows;  // and their vectors
  DoubleMatrix vectors;                   // the block's queries, in double
  DoubleMatrix cosines;                   // groups x queries: cos(q, mu)
  DoubleMatrix sines;                     // and sin(q, mu)
  std::vector<double> norm;               // per query: |q|
  std::vector<double> bound;              // blocks x queries: bound on q . c over the block
  std::vector<double> weight;             // per movie block: sum of its bounds, for the order
  std::vector<int> order;                 // movie blocks, most promising first
  std::vector<std::int64_t> rated_at;     // per query: its masked positions in rated
  std::vector<std::int32_t> rated;        // masked movies as positions, sorted per query
  Handler results;
};

// Per query of the block (n of them), the bound on q . c (with the margin)
// over every c of movie block `b`, from the queries' cosines and sines to
// the centres (groups x n) and their norms; +inf where no angle can be
// taken (a zero query or movie). Branch-free over the queries, so it
// vectorises.
void block_bounds(const Problem& p, const Block& b, const DoubleMatrix& cosines,
                  const DoubleMatrix& sines, const std::vector<double>& norm, double* best) {
  const auto n = norm.size();
  constexpr double kInf = std::numeric_limits<double>::infinity();
  if (b.unbounded) {
    std::fill(best, best + n, kInf);
    return;
  }
  std::fill(best, best + n, -1.0);
  for (std::size_t s = b.segment_begin; s < b.segment_end; ++s) {
    const Segment& seg = p.segments[s];
    const double* cosine = cosines.data() + static_cast<std::size_t>(seg.group) * n;
    const double* sine = sines.data() + static_cast<std::size_t>(seg.group) * n;
    for (std::size_t i = 0; i < n; ++i) {
      const double a = cosine[i];
      const double beyond = a * seg.cos_hi + sine[i] * seg.sin_hi;  // cos(alpha - hi)
      const double before = a * seg.cos_lo + sine[i] * seg.sin_lo;  // cos(lo - alpha)
      const double c = a < seg.cos_hi ? beyond : (a > seg.cos_lo ? before : 1.0);
      best[i] = std::max(best[i], c);
    }
  }
  for (std::size_t i = 0; i < n; ++i) {
    const double scale = norm[i] * (best[i] >= 0 ? b.norm_max : b.norm_min);
    const double bound = best[i] * scale + kBoundMargin * norm[i] * b.norm_max;
    // Not (norm > 0): a NaN norm (a non-finite query) is never skipped.
    best[i] = norm[i] > 0 ? bound : kInf;
  }
}

void score_block(const Problem& p, int begin, int end, Scratch& s, std::int32_t* items,
                 float* scores, std::int32_t* counts) {
  const int nu = end - begin;
  const auto n = static_cast<std::size_t>(nu);
  const int num_movies = p.movies.rows();
  const auto nb = p.blocks.size();
  const int d = static_cast<int>(p.queries.cols());
  const auto panel = static_cast<std::size_t>(tile_panel_width());
  const std::size_t stride =
      (static_cast<std::size_t>(std::min(p.movie_block, num_movies)) + panel - 1) / panel * panel;
  if (s.tile.size() < n * stride) s.tile.resize(n * stride);
  s.results.begin_block(p.shape, nu);

  // Each query's cosines and sines to the centres, and its bound on every
  // block.
  s.rows.resize(n);
  s.vectors.resize(nu, d);
  s.norm.resize(n);
  for (int i = 0; i < nu; ++i) {
    s.rows[static_cast<std::size_t>(i)] =
        p.queries.row(p.query_of[static_cast<std::size_t>(begin + i)]).data();
    s.vectors.row(i) =
        p.queries.row(p.query_of[static_cast<std::size_t>(begin + i)]).cast<double>();
    s.norm[static_cast<std::size_t>(i)] = s.vectors.row(i).norm();
  }
  s.cosines.noalias() = p.centres * s.vectors.transpose();
  for (int i = 0; i < nu; ++i) {
    const double q_norm = s.norm[static_cast<std::size_t>(i)];
    if (q_norm > 0) s.cosines.col(i) /= q_norm;
  }
  s.sines = (1.0 - s.cosines.array().square()).max(0.0).sqrt().matrix();
  s.bound.resize(nb * n);
  s.weight.assign(nb, 0);
  for (std::size_t b = 0; b < nb; ++b) {
    double* bound = s.bound.data() + b * n;
    block_bounds(p, p.blocks[b], s.cosines, s.sines, s.norm, bound);
    double weight = 0;
    // +inf (and NaN) weigh as the best bound there is. A comparison, not
    // std::fmin, which is a library call without -ffast-math.
    for (std::size_t i = 0; i < n; ++i) weight += bound[i] < 2.0 ? bound[i] : 2.0;
    s.weight[b] = weight;
  }
  // The blocks most of these queries are nearest first: their N-th best
  // scores rise early, so the later blocks are skipped.
  s.order.resize(nb);
  std::iota(s.order.begin(), s.order.end(), 0);
  std::stable_sort(s.order.begin(), s.order.end(),
                   [&](int a, int b) { return s.weight[a] > s.weight[b]; });

  if (p.exclude) {
    // Blocks are visited out of order, so each query's masked positions are
    // kept sorted and looked up per block.
    s.rated_at.assign(n + 1, 0);
    s.rated.clear();
    for (std::size_t i = 0; i < n; ++i) {
      const auto q = static_cast<std::size_t>(p.query_of[static_cast<std::size_t>(begin) + i]);
      const auto from = s.rated.size();
      for (auto j = p.exclude->indptr[q]; j < p.exclude->indptr[q + 1]; ++j) {
        s.rated.push_back(p.position_of[static_cast<std::size_t>(
            p.exclude->indices[static_cast<std::size_t>(j)])]);
      }
      std::sort(s.rated.begin() + static_cast<std::ptrdiff_t>(from), s.rated.end());
      s.rated_at[i + 1] = static_cast<std::int64_t>(s.rated.size());
    }
  }

  // Each movie block is multiplied with the queries it can still reach,
  // read in place (packing a different few queries per small block would
  // cost a large share of the product).
  constexpr float kMasked = std::numeric_limits<float>::quiet_NaN();
  std::int64_t skipped = 0;
  for (const int b : s.order) {
    const int movie_begin = b * p.movie_block;
    const int nm = std::min(p.movie_block, num_movies - movie_begin);
    const double* bound = s.bound.data() + static_cast<std::size_t>(b) * n;
    s.scored.resize(n);
    std::size_t kept = 0;
    for (int i = 0; i < nu; ++i) {
      s.scored[kept] = i;
      // Not (bound < threshold) rather than >=: a NaN bound is scored.
      kept += !(bound[i] < static_cast<double>(s.results.threshold(i)));
    }
    s.scored_rows.resize(kept);
    for (std::size_t a = 0; a < kept; ++a) {
      s.scored_rows[a] = s.rows[static_cast<std::size_t>(s.scored[a])];
    }
    skipped += static_cast<std::int64_t>(n - kept) * nm;
    if (kept == 0) continue;
    tile_product_rows(s.scored_rows.data(), static_cast<int>(kept), p.movies, movie_begin, nm,
                      s.tile.data(), stride);
    const std::int32_t* item_of = p.item_of.data() + movie_begin;
    for (std::size_t a = 0; a < kept; ++a) {
      const int i = s.scored[a];
      float* row = s.tile.data() + a * stride;
      if (p.exclude) {
        const auto first = s.rated.begin() + s.rated_at[static_cast<std::size_t>(i)];
        const auto last = s.rated.begin() + s.rated_at[static_cast<std::size_t>(i) + 1];
        for (auto at = std::lower_bound(first, last, movie_begin);
             at != last && *at < movie_begin + nm; ++at) {
          row[*at - movie_begin] = kMasked;
        }
      }
      s.results.add_row(i, row, nm, [item_of](int j) { return item_of[j]; });
      s.results.tighten(i, kTightenSlack);
    }
  }
  s.results.end_block(items, scores, counts);
  if (p.skipped && skipped > 0) p.skipped->fetch_add(skipped, std::memory_order_relaxed);
}

// Each row's direction (zero rows stay zero).
RowMatrix directions(const RowMatrix& m) {
  RowMatrix out = m;
  for (Eigen::Index i = 0; i < out.rows(); ++i) {
    const float norm = out.row(i).norm();
    if (norm > 0) out.row(i) /= norm;
  }
  return out;
}

// Per row of `points` (directions), the nearest of `centroids` (smaller
// index on ties), in fixed chunks on the arena's threads.
std::vector<int> nearest(const RowMatrix& points, const RowMatrix& centroids,
                         tbb::task_arena& arena) {
  std::vector<int> out(static_cast<std::size_t>(points.rows()));
  const Eigen::VectorXf half_norm = 0.5f * centroids.rowwise().squaredNorm();
  arena.execute([&] {
    tbb::parallel_for(
        tbb::blocked_range<Eigen::Index>(0, points.rows(), kSetupChunk),
        [&](const tbb::blocked_range<Eigen::Index>& r) {
          const Eigen::MatrixXf dots =
              points.middleRows(r.begin(), r.end() - r.begin()) * centroids.transpose();
          for (Eigen::Index i = 0; i < dots.rows(); ++i) {
            // Nearest in distance: largest x . c - |c|^2 / 2.
            Eigen::Index best = 0;
            (dots.row(i) - half_norm.transpose()).maxCoeff(&best);
            out[static_cast<std::size_t>(r.begin() + i)] = static_cast<int>(best);
          }
        },
        tbb::simple_partitioner());
  });
  return out;
}

// The angle of each row of `m` to the centre of its group, from the row
// itself in double (not its float direction, which is off by a rounding);
// 0 for a zero row.
std::vector<double> angles(const RowMatrix& m, const std::vector<int>& group,
                           const DoubleMatrix& centres) {
  std::vector<double> out(group.size(), 0.0);
  for (std::size_t i = 0; i < group.size(); ++i) {
    const Eigen::VectorXd v = m.row(static_cast<Eigen::Index>(i)).cast<double>().transpose();
    const double norm = v.norm();
    if (norm > 0) out[i] = std::acos(std::clamp(v.dot(centres.row(group[i])) / norm, -1.0, 1.0));
  }
  return out;
}

// Positions 0..n-1 ordered by group, then angle, then index.
std::vector<std::int32_t> by_group(const std::vector<int>& group,
                                   const std::vector<double>& angle) {
  std::vector<std::int32_t> order(group.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) {
    if (group[a] != group[b]) return group[a] < group[b];
    if (angle[a] != angle[b]) return angle[a] < angle[b];
    return a < b;
  });
  return order;
}

Problem make_problem(const RowMatrix& queries, const RowMatrix& movies, const UserItems* exclude,
                     const AngularOptions& options, int threads) {
  Problem p{queries, exclude, {}, {}, {}, {}, {}, {}, {}, 0, 0, {}, options.skipped};
  const int num_movies = static_cast<int>(movies.rows());
  const int w = tile_panel_width();
  p.query_block = options.query_block;
  p.movie_block = (options.movie_block + w - 1) / w * w;
  p.shape = selection::buffer_shape(options.top_n, kCapacityRatio, num_movies,
                                    kDenseRatio * options.top_n);
  tbb::task_arena arena(threads);

  // Groups by direction: k-means on an evenly spaced sample of the movies.
  const RowMatrix dirs = directions(movies);
  const int groups = std::min(options.groups, num_movies);
  const int step = std::max(1, num_movies / (groups * kSamplePerGroup));
  RowMatrix sample((num_movies + step - 1) / step, movies.cols());
  for (Eigen::Index i = 0; i < sample.rows(); ++i) sample.row(i) = dirs.row(i * step);
  KMeansOptions km;
  km.k = groups;
  km.max_iterations = kGroupIterations;
  km.threads = threads;
  const RowMatrix centroids = kmeans(sample, km).centroids;

  // Every movie to its nearest centroid; each group's centre is its
  // members' mean direction (a zero mean, as in no members, leaves no
  // direction: its blocks are never skipped).
  const std::vector<int> group = nearest(dirs, centroids, arena);
  p.centres = DoubleMatrix::Zero(groups, movies.cols());
  for (int m = 0; m < num_movies; ++m) {
    p.centres.row(group[static_cast<std::size_t>(m)]) += dirs.row(m).cast<double>();
  }
  std::vector<char> no_centre(static_cast<std::size_t>(groups), 0);
  for (int g = 0; g < groups; ++g) {
    const double norm = p.centres.row(g).norm();
    if (norm > 0) {
      p.centres.row(g) /= norm;
    } else {
      no_centre[static_cast<std::size_t>(g)] = 1;
    }
  }
  const std::vector<double> beta = angles(movies, group, p.centres);
  p.item_of = by_group(group, beta);
  p.position_of.assign(static_cast<std::size_t>(num_movies), 0);
  for (int at = 0; at < num_movies; ++at) {
    p.position_of[static_cast<std::size_t>(p.item_of[static_cast<std::size_t>(at)])] = at;
  }
  p.movies = PackedMovies(movies, p.item_of);

  // Each block's segments (runs of one group; their angles ascend) and norms.
  for (int begin = 0; begin < num_movies; begin += p.movie_block) {
    Block b;
    b.segment_begin = p.segments.size();
    const int end = std::min(num_movies, begin + p.movie_block);
    for (int at = begin; at < end;) {
      const auto first = static_cast<std::size_t>(p.item_of[static_cast<std::size_t>(at)]);
      const int g = group[first];
      int last = at;
      while (last + 1 < end &&
             group[static_cast<std::size_t>(p.item_of[static_cast<std::size_t>(last + 1)])] == g) {
        ++last;
      }
      const double lo = std::max(0.0, beta[first] - kAngleMargin);
      const double hi = std::min(
          std::numbers::pi,
          beta[static_cast<std::size_t>(p.item_of[static_cast<std::size_t>(last)])] + kAngleMargin);
      p.segments.push_back({g, std::cos(lo), std::sin(lo), std::cos(hi), std::sin(hi)});
      b.unbounded = b.unbounded || no_centre[static_cast<std::size_t>(g)];
      at = last + 1;
    }
    for (int at = begin; at < end; ++at) {
      const double norm = movies.row(p.item_of[static_cast<std::size_t>(at)]).cast<double>().norm();
      b.norm_max = std::max(b.norm_max, norm);
      b.norm_min = std::min(b.norm_min, norm);
    }
    b.unbounded = b.unbounded || !(b.norm_min > 0);
    b.segment_end = p.segments.size();
    p.blocks.push_back(b);
  }

  // Queries by their nearest group (then angle), so a block of queries
  // shares its nearest movie blocks.
  const RowMatrix query_dirs = directions(queries);
  const std::vector<int> query_group = nearest(query_dirs, centroids, arena);
  p.query_of = by_group(query_group, angles(queries, query_group, p.centres));
  return p;
}

}  // namespace

TopNBlock score_top_n_angular(const RowMatrix& queries, const RowMatrix& movies,
                              const UserItems* exclude, const AngularOptions& options) {
  TopNOptions plain;
  plain.top_n = options.top_n;
  plain.threads = options.threads;
  selection::check_inputs("score_top_n_angular", queries, movies, exclude, plain);
  if (options.query_block <= 0 || options.movie_block <= 0 || options.groups <= 0) {
    throw std::invalid_argument(
        "score_top_n_angular: query_block, movie_block and groups must be > 0");
  }
  // Nothing to bound (or no direction to cluster or order by): the plain
  // scan.
  if (options.top_n == 0 || movies.rows() == 0 || queries.rows() == 0 || movies.cols() == 0 ||
      !movies.allFinite() || !queries.allFinite()) {
    return score_top_n(queries, movies, exclude, plain);
  }
  const int threads = options.threads > 0 ? options.threads : tbb::info::default_concurrency();
  const Problem p = make_problem(queries, movies, exclude, options, threads);

  TopNBlock all;
  const auto num_queries = static_cast<std::size_t>(queries.rows());
  const auto top_n = static_cast<std::size_t>(options.top_n);
  all.user_begin = 0;
  all.user_end = static_cast<int>(num_queries);
  all.top_n = options.top_n;
  all.items.resize(num_queries * top_n);
  all.scores.resize(num_queries * top_n);
  all.counts.resize(num_queries);
  // Blocks come in query order; each row goes back to its query.
  selection::score_in_blocks(
      p, static_cast<int>(num_queries), p.query_block, options.top_n, threads, score_block, {},
      [&](const TopNBlock& block) {
        for (int r = 0; r < block.user_end - block.user_begin; ++r) {
          const auto q =
              static_cast<std::size_t>(p.query_of[static_cast<std::size_t>(block.user_begin + r)]);
          const auto from = static_cast<std::size_t>(r) * top_n;
          std::copy_n(block.items.begin() + static_cast<std::ptrdiff_t>(from), top_n,
                      all.items.begin() + static_cast<std::ptrdiff_t>(q * top_n));
          std::copy_n(block.scores.begin() + static_cast<std::ptrdiff_t>(from), top_n,
                      all.scores.begin() + static_cast<std::ptrdiff_t>(q * top_n));
          all.counts[q] = block.counts[static_cast<std::size_t>(r)];
        }
      });
  return all;
}

}  // namespace recs
