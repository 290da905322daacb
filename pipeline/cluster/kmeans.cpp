#include "cluster/kmeans.h"

#include <tbb/blocked_range.h>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/info.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <string>

#include "util/error.h"
#include "util/random.h"

namespace recs {
namespace {

// Points per block of every parallel pass. Fixed, not derived from the
// thread count, so that each block's arithmetic and the order in which the
// blocks' partial sums are added are the same for any number of threads.
constexpr int kPointBlock = 512;
// Centroids per tile of the assignment product: bounds the tile at
// kPointBlock x kCentroidBlock floats however large k is.
constexpr int kCentroidBlock = 256;

constexpr float kInf = std::numeric_limits<float>::infinity();

struct Blocks {
  int n;
  int count() const { return (n + kPointBlock - 1) / kPointBlock; }
  int begin(int b) const { return b * kPointBlock; }
  int size(int b) const { return std::min(n - b * kPointBlock, kPointBlock); }
};

// Runs body(b) for every block b in [0, num_blocks), in parallel.
template <class Body>
void for_each_block(int num_blocks, const Body& body) {
  tbb::parallel_for(tbb::blocked_range<int>(0, num_blocks), [&](const tbb::blocked_range<int>& r) {
    for (int b = r.begin(); b < r.end(); ++b) body(b);
  });
}

// Per-thread working memory of the blocked passes.
struct Scratch {
  std::vector<float> tile;
  std::vector<float> best;
  std::vector<std::int32_t> arg;
};
using ScratchPool = tbb::enumerable_thread_specific<Scratch>;

// Squared norms of the rows, in parallel. Throws InputError naming the first
// row with a non-finite value or a squared norm that overflows float (the
// assignment's expanded form would then produce inf - inf).
std::vector<float> checked_norms(const RowMatrix& points) {
  const int n = static_cast<int>(points.rows());
  std::vector<float> norms(n);
  const Blocks blocks{n};
  for_each_block(blocks.count(), [&](int b) {
    for (int i = blocks.begin(b), end = i + blocks.size(b); i < end; ++i) {
      norms[i] = points.row(i).squaredNorm();
    }
  });
  for (int i = 0; i < n; ++i) {
    if (std::isfinite(norms[i])) continue;
    if (!points.row(i).allFinite()) {
      throw InputError("kmeans: point " + std::to_string(i) + " has a non-finite value");
    }
    throw InputError("kmeans: point " + std::to_string(i) +
                     " has a squared norm beyond float range");
  }
  return norms;
}

// Greedy k-means++ (Arthur and Vassilvitskii's D^2 sampling; the greedy
// variant is scikit-learn's): each new centroid is the best, by resulting
// inertia, of `trials` points drawn with probability proportional to their
// squared distance to the nearest centroid so far. The distance and
// potential passes are parallel over fixed blocks; the draws are sequential,
// from per-block sums added in block order, so they do not depend on the
// thread count.
class Seeder {
 public:
  static constexpr int kMaxTrials = 64;

  Seeder(const RowMatrix& points, const std::vector<float>& norms, int trials, ScratchPool& scratch)
      : points_(points),
        norms_(norms),
        trials_(trials),
        scratch_(scratch),
        n_(static_cast<int>(points.rows())),
        blocks_{n_},
        num_blocks_(blocks_.count()),
        min_d2_(n_, kInf),
        block_sum_(num_blocks_, 0.0),
        cand_d2_(static_cast<std::size_t>(n_) * trials),
        block_potential_(static_cast<std::size_t>(num_blocks_) * trials),
        chosen_(n_, 0),
        cand_(trials, points.cols()),
        cand_norms_(trials),
        cand_index_(trials) {}

  RowMatrix run(int k, std::uint64_t seed) {
    random::Rng rng(seed, random::Stream::kKMeans);
    RowMatrix centroids(k, points_.cols());
    const int first = std::min(n_ - 1, static_cast<int>(random::unit_double(rng) * n_));
    add_candidate(0, first);
    evaluate(1);
    commit(0, 1, centroids, 0);
    int next_unchosen = 0;
    for (int c = 1; c < k; ++c) {
      int count = 0;
      for (int t = 0; t < trials_; ++t) {
        const int i = draw(rng);
        if (i < 0) break;
        add_candidate(count++, i);
      }
      if (count == 0) {
        // Every point coincides with a centroid (fewer distinct points than
        // k): any unused point will do; take the first.
        while (chosen_[next_unchosen]) ++next_unchosen;
        add_candidate(count++, next_unchosen);
      }
      evaluate(count);
      int best = 0;
      if (count > 1) {
        double best_potential = std::numeric_limits<double>::infinity();
        for (int t = 0; t < count; ++t) {
          double potential = 0;
          for (int b = 0; b < num_blocks_; ++b) potential += block_potential_[b * count + t];
          if (potential < best_potential) {
            best_potential = potential;
            best = t;
          }
        }
      }
      commit(best, count, centroids, c);
    }
    return centroids;
  }

 private:
  void add_candidate(int slot, int point) {
    cand_index_[slot] = point;
    cand_.row(slot) = points_.row(point);
    cand_norms_[slot] = norms_[point];
  }

  // Squared distances from every point to candidates [0, count), and per
  // block and candidate the inertia the block would have with it added.
  void evaluate(int count) {
    for_each_block(num_blocks_, [&](int b) {
      const int begin = blocks_.begin(b);
      const int len = blocks_.size(b);
      std::vector<float>& tile = scratch_.local().tile;
      tile.resize(static_cast<std::size_t>(len) * count);
      Eigen::Map<RowMatrix> dot(tile.data(), len, count);
      // A few dot products per point: a general matrix product would spend
      // more time packing the block than multiplying it.
      dot.noalias() = points_.middleRows(begin, len).lazyProduct(cand_.topRows(count).transpose());
      double potential[kMaxTrials] = {};
      for (int i = 0; i < len; ++i) {
        const int p = begin + i;
        float* d2 = cand_d2_.data() + static_cast<std::size_t>(p) * count;
        for (int t = 0; t < count; ++t) {
          d2[t] = std::max(0.0f, norms_[p] + cand_norms_[t] - 2.0f * dot(i, t));
          potential[t] += std::min(min_d2_[p], d2[t]);
        }
      }
      std::copy(potential, potential + count, block_potential_.data() + b * count);
    });
  }

  // Makes candidate `slot` (of the last evaluate(count)) centroid c.
  void commit(int slot, int count, RowMatrix& centroids, int c) {
    const int point = cand_index_[slot];
    chosen_[point] = 1;
    centroids.row(c) = points_.row(point);
    for_each_block(num_blocks_, [&](int b) {
      double sum = 0;
      for (int p = blocks_.begin(b), end = p + blocks_.size(b); p < end; ++p) {
        // The chosen point is exactly 0 away, whatever the expanded form's
        // rounding says, so it is never drawn again.
        const float d2 =
            p == point ? 0.0f
                       : std::min(min_d2_[p], cand_d2_[static_cast<std::size_t>(p) * count + slot]);
        min_d2_[p] = d2;
        sum += d2;
      }
      block_sum_[b] = sum;
    });
  }

  // A point drawn with probability min_d2 / sum(min_d2), or -1 if the sum is
  // 0. Points at distance 0 (the centroids among them) are never drawn.
  int draw(random::Rng& rng) const {
    double total = 0;
    for (double s : block_sum_) total += s;
    if (!(total > 0)) return -1;
    const double r = random::unit_double(rng) * total;
    double acc = 0;
    for (int b = 0; b < num_blocks_; ++b) {
      if (r < acc + block_sum_[b]) {
        // The same additions in the same order as commit()'s block sum.
        int last = -1;
        for (int p = blocks_.begin(b), end = p + blocks_.size(b); p < end; ++p) {
          if (min_d2_[p] > 0) {
            acc += min_d2_[p];
            last = p;
            if (r < acc) return p;
          }
        }
        return last;
      }
      acc += block_sum_[b];
    }
    // Only if r rounded up to total.
    for (int p = n_ - 1;; --p) {
      if (min_d2_[p] > 0) return p;
    }
  }

 private:
  const RowMatrix& points_;
  const std::vector<float>& norms_;
  const int trials_;
  ScratchPool& scratch_;
  const int n_;
  const Blocks blocks_;
  const int num_blocks_;
  std::vector<float> min_d2_;            // per point: squared distance to nearest centroid
  std::vector<double> block_sum_;        // per block: sum of min_d2_
  std::vector<float> cand_d2_;           // per point x candidate: squared distance
  std::vector<double> block_potential_;  // per block x candidate
  std::vector<char> chosen_;             // per point: already a centroid
  RowMatrix cand_;                       // candidate points, trials x d
  std::vector<float> cand_norms_;
  std::vector<int> cand_index_;
};

struct AssignTotals {
  double inertia = 0;
  std::int64_t changed = 0;  // points whose cluster changed
};

// Assigns every point to its nearest centroid (ties: smaller index), found
// through ||x||^2 - 2 x.c + ||c||^2 with one matrix product per tile, and
// records the exact squared distance to it.
AssignTotals assign(const RowMatrix& points, const RowMatrix& centroids,
                    std::vector<std::int32_t>& assignment, std::vector<float>& d2,
                    ScratchPool& scratch) {
  const int n = static_cast<int>(points.rows());
  const int k = static_cast<int>(centroids.rows());
  const Eigen::VectorXf cnorms = centroids.rowwise().squaredNorm();
  const Blocks blocks{n};
  const int num_blocks = blocks.count();
  std::vector<double> block_inertia(num_blocks);
  std::vector<std::int64_t> block_changed(num_blocks);
  for_each_block(num_blocks, [&](int b) {
    const int begin = blocks.begin(b);
    const int len = blocks.size(b);
    Scratch& s = scratch.local();
    s.best.assign(len, kInf);
    s.arg.assign(len, 0);
    const auto rows = points.middleRows(begin, len);
    for (int cb = 0; cb < k; cb += kCentroidBlock) {
      const int kb = std::min(kCentroidBlock, k - cb);
      s.tile.resize(static_cast<std::size_t>(len) * kb);
      Eigen::Map<RowMatrix> tile(s.tile.data(), len, kb);
      tile.noalias() = rows * centroids.middleRows(cb, kb).transpose();
      const float* cn = cnorms.data() + cb;
      for (int i = 0; i < len; ++i) {
        // ||x||^2 is the same for every centroid, so it is left out here.
        const float* row = s.tile.data() + static_cast<std::size_t>(i) * kb;
        float best = s.best[i];
        std::int32_t arg = s.arg[i];
        for (int j = 0; j < kb; ++j) {
          const float v = cn[j] - 2.0f * row[j];
          if (v < best) {
            best = v;
            arg = cb + j;
          }
        }
        s.best[i] = best;
        s.arg[i] = arg;
      }
    }
    double inertia = 0;
    std::int64_t changed = 0;
    for (int i = 0; i < len; ++i) {
      const int p = begin + i;
      const std::int32_t a = s.arg[i];
      const float e = (points.row(p) - centroids.row(a)).squaredNorm();
      changed += assignment[p] != a;
      assignment[p] = a;
      d2[p] = e;
      inertia += e;
    }
    block_inertia[b] = inertia;
    block_changed[b] = changed;
  });
  AssignTotals totals;
  for (int b = 0; b < num_blocks; ++b) {
    totals.inertia += block_inertia[b];
    totals.changed += block_changed[b];
  }
  return totals;
}

std::vector<std::int64_t> cluster_sizes(const std::vector<std::int32_t>& assignment, int k) {
  std::vector<std::int64_t> sizes(k, 0);
  for (std::int32_t a : assignment) ++sizes[a];
  return sizes;
}

// Moves the points farthest from their centroids (ties: smaller index) into
// the empty clusters, one each, never emptying the cluster a point leaves.
// Such a point exists while a cluster is empty because k <= n.
void reseed_empty(const RowMatrix& points, RowMatrix& centroids,
                  std::vector<std::int32_t>& assignment, std::vector<float>& d2,
                  std::vector<std::int64_t>& sizes) {
  const int k = static_cast<int>(sizes.size());
  if (std::find(sizes.begin(), sizes.end(), 0) == sizes.end()) return;
  std::vector<std::int32_t> order(assignment.size());
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](std::int32_t a, std::int32_t b) {
    return d2[a] > d2[b] || (d2[a] == d2[b] && a < b);
  });
  std::size_t next = 0;
  for (int j = 0; j < k; ++j) {
    if (sizes[j] != 0) continue;
    // A skipped point's cluster can only shrink, so it stays skipped.
    while (sizes[assignment[order[next]]] < 2) ++next;
    const std::int32_t p = order[next++];
    --sizes[assignment[p]];
    sizes[j] = 1;
    assignment[p] = j;
    d2[p] = 0;
    centroids.row(j) = points.row(p);
  }
}

// Each non-empty centroid becomes the mean of its points, summed in double in
// ascending point order (clusters in parallel, each summed by one task).
void update_centroids(const RowMatrix& points, const std::vector<std::int32_t>& assignment,
                      const std::vector<std::int64_t>& sizes, RowMatrix& centroids) {
  const int k = static_cast<int>(sizes.size());
  std::vector<std::int64_t> offsets(k + 1, 0);
  for (int j = 0; j < k; ++j) offsets[j + 1] = offsets[j] + sizes[j];
  std::vector<std::int32_t> members(assignment.size());
  {
    std::vector<std::int64_t> fill(offsets.begin(), offsets.end() - 1);
    for (std::size_t p = 0; p < assignment.size(); ++p) {
      members[fill[assignment[p]]++] = static_cast<std::int32_t>(p);
    }
  }
  tbb::parallel_for(tbb::blocked_range<int>(0, k), [&](const tbb::blocked_range<int>& r) {
    Eigen::RowVectorXd sum(points.cols());
    for (int j = r.begin(); j < r.end(); ++j) {
      if (sizes[j] == 0) continue;
      sum.setZero();
      for (std::int64_t m = offsets[j]; m < offsets[j + 1]; ++m) {
        sum += points.row(members[m]).cast<double>();
      }
      centroids.row(j) = (sum / static_cast<double>(sizes[j])).cast<float>();
    }
  });
}

void validate(const RowMatrix& points, const KMeansOptions& options) {
  if (options.k < 1) {
    throw ConfigError("kmeans: k must be at least 1, got " + std::to_string(options.k));
  }
  if (options.max_iterations < 0) {
    throw ConfigError("kmeans: max_iterations must be >= 0, got " +
                      std::to_string(options.max_iterations));
  }
  if (!(options.tolerance >= 0)) {
    throw ConfigError("kmeans: tolerance must be >= 0, got " + std::to_string(options.tolerance));
  }
  if (options.threads < 0) {
    throw ConfigError("kmeans: threads must be >= 0, got " + std::to_string(options.threads));
  }
  if (options.seeding_trials < 0 || options.seeding_trials > Seeder::kMaxTrials) {
    throw ConfigError("kmeans: seeding_trials must be in [0, " +
                      std::to_string(Seeder::kMaxTrials) + "], got " +
                      std::to_string(options.seeding_trials));
  }
  if (points.rows() > std::numeric_limits<std::int32_t>::max()) {
    throw InputError("kmeans: more than 2^31 - 1 points");
  }
  if (options.k > points.rows()) {
    throw InputError("kmeans: k = " + std::to_string(options.k) +
                     " exceeds the number of points (" + std::to_string(points.rows()) + ")");
  }
  const RowMatrix& init = options.initial_centroids;
  if (init.rows() != 0) {
    if (init.rows() != options.k || init.cols() != points.cols()) {
      throw InputError("kmeans: initial_centroids is " + std::to_string(init.rows()) + " x " +
                       std::to_string(init.cols()) + ", expected k x d = " +
                       std::to_string(options.k) + " x " + std::to_string(points.cols()));
    }
    for (Eigen::Index j = 0; j < init.rows(); ++j) {
      if (!init.row(j).allFinite() || !std::isfinite(init.row(j).squaredNorm())) {
        throw InputError("kmeans: initial centroid " + std::to_string(j) +
                         " is non-finite or has a squared norm beyond float range");
      }
    }
  }
}

void run(const RowMatrix& points, const KMeansOptions& options, KMeansResult& result) {
  const int n = static_cast<int>(points.rows());
  const int k = options.k;
  const std::vector<float> norms = checked_norms(points);
  ScratchPool scratch;

  if (options.initial_centroids.rows() != 0) {
    result.centroids = options.initial_centroids;
  } else {
    const int trials =
        options.seeding_trials > 0
            ? options.seeding_trials
            : std::min(Seeder::kMaxTrials, 2 + static_cast<int>(std::log(static_cast<double>(k))));
    result.centroids = Seeder(points, norms, trials, scratch).run(k, options.seed);
  }

  std::vector<std::int32_t>& assignment = result.assignment;
  std::vector<float> d2(n);
  assignment.assign(n, -1);
  AssignTotals totals = assign(points, result.centroids, assignment, d2, scratch);
  result.inertia_history.push_back(totals.inertia);
  for (int it = 1; it <= options.max_iterations; ++it) {
    std::vector<std::int64_t> sizes = cluster_sizes(assignment, k);
    reseed_empty(points, result.centroids, assignment, d2, sizes);
    update_centroids(points, assignment, sizes, result.centroids);
    const double previous = totals.inertia;
    totals = assign(points, result.centroids, assignment, d2, scratch);
    result.inertia_history.push_back(totals.inertia);
    result.iterations = it;
    // No point moved: the next update would reproduce these centroids.
    if (totals.changed == 0 || previous - totals.inertia <= options.tolerance * previous) {
      result.converged = true;
      break;
    }
  }
  result.inertia = totals.inertia;
  result.sizes = cluster_sizes(assignment, k);
  result.distance.resize(n);
  std::transform(d2.begin(), d2.end(), result.distance.begin(),
                 [](float e) { return std::sqrt(e); });
}

}  // namespace

KMeansResult kmeans(const RowMatrix& points, const KMeansOptions& options) {
  validate(points, options);
  KMeansResult result;
  const int threads = options.threads > 0 ? options.threads : tbb::info::default_concurrency();
  tbb::task_arena arena(threads);
  arena.execute([&] { run(points, options, result); });
  return result;
}

KMeansResult assign_to_centroids(const RowMatrix& points, const RowMatrix& centroids, int threads) {
  if (points.rows() > 0 && points.cols() != centroids.cols()) {
    throw InputError("kmeans: points have " + std::to_string(points.cols()) +
                     " columns, the centroids " + std::to_string(centroids.cols()));
  }
  if (points.rows() > std::numeric_limits<std::int32_t>::max()) {
    throw InputError("kmeans: more than 2^31 - 1 points");
  }
  KMeansResult result;
  result.centroids = centroids;
  const int n = static_cast<int>(points.rows());
  checked_norms(points);
  std::vector<float> d2(static_cast<std::size_t>(n));
  result.assignment.assign(static_cast<std::size_t>(n), -1);
  const int k = static_cast<int>(centroids.rows());
  if (n > 0 && k == 0) throw InputError("kmeans: points to assign but no centroids");
  if (n > 0) {
    const int t = threads > 0 ? threads : tbb::info::default_concurrency();
    tbb::task_arena arena(t);
    arena.execute([&] {
      ScratchPool scratch;
      result.inertia = assign(points, centroids, result.assignment, d2, scratch).inertia;
    });
  }
  result.inertia_history.push_back(result.inertia);
  result.sizes = cluster_sizes(result.assignment, k);
  result.distance.resize(d2.size());
  std::transform(d2.begin(), d2.end(), result.distance.begin(),
                 [](float e) { return std::sqrt(e); });
  return result;
}

}  // namespace recs
