#include "scoring/explain.h"

#include <tbb/blocked_range.h>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>
#include <time.h>

#include <algorithm>
#include <atomic>
#include <limits>

#include "scoring/similar.h"

namespace recs {
namespace {

using ColMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic>;

// Per-thread buffers, grown as needed and reused across users.
struct Scratch {
  std::vector<std::int64_t> entries;  // the user's liked entries of rated
  std::vector<std::int32_t> liked;
  std::vector<float> liked_rows;  // liked x d
  std::vector<float> rec_rows;    // recommended x d
  std::vector<float> cosines;     // liked x recommended, column-major
};

// CPU time of the calling thread.
std::int64_t thread_cpu_ns() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

template <typename T>
T* grow(std::vector<T>& v, std::size_t n) {
  if (v.size() < n) v.resize(n);
  return v.data();
}

}  // namespace

Explainer::Explainer(const RowMatrix& movies, const std::vector<int>& columns,
                     const UserItems& rated, const std::vector<float>& ratings, int max_liked)
    : unit_(select_columns(movies, columns)),
      norm_(static_cast<std::size_t>(movies.rows())),
      rated_(rated),
      ratings_(ratings),
      max_liked_(max_liked) {
  for (Eigen::Index i = 0; i < unit_.rows(); ++i) {
    const float norm = unit_.row(i).norm();
    norm_[static_cast<std::size_t>(i)] = norm;
    if (norm > 0) unit_.row(i) /= norm;
  }
}

std::vector<std::int32_t> Explainer::explain(const TopNBlock& block,
                                             const std::vector<std::int32_t>& candidates,
                                             double* cpu_seconds) const {
  const std::size_t top_n = static_cast<std::size_t>(block.top_n);
  std::vector<std::int32_t> out(block.items.size(), kNoReason);
  const Eigen::Index d = unit_.cols();
  auto movie_of = [&](std::int32_t item) {
    return candidates.empty() ? item : candidates[static_cast<std::size_t>(item)];
  };
  tbb::enumerable_thread_specific<Scratch> scratch;

  auto explain_user = [&](int i, Scratch& s) {
    const std::size_t u = static_cast<std::size_t>(block.user_begin + i);
    const int n = block.counts[static_cast<std::size_t>(i)];
    const std::int64_t begin = rated_.indptr[u], end = rated_.indptr[u + 1];
    if (n == 0 || begin == end) return;
    double sum = 0;
    for (auto k = begin; k < end; ++k) sum += ratings_[static_cast<std::size_t>(k)];
    const double mean = sum / static_cast<double>(end - begin);
    s.entries.clear();
    for (auto k = begin; k < end; ++k) {
      if (ratings_[static_cast<std::size_t>(k)] >= mean) s.entries.push_back(k);
    }
    if (max_liked_ > 0 && s.entries.size() > static_cast<std::size_t>(max_liked_)) {
      // The max_liked best rated; entries ascend by movie, so comparing
      // entries last settles the rest by the smaller movie index.
      auto better = [&](std::int64_t x, std::int64_t y) {
        const float rx = ratings_[static_cast<std::size_t>(x)];
        const float ry = ratings_[static_cast<std::size_t>(y)];
        if (rx != ry) return rx > ry;
        const float nx = norm_[static_cast<std::size_t>(rated_.indices[x])];
        const float ny = norm_[static_cast<std::size_t>(rated_.indices[y])];
        if (nx != ny) return nx > ny;
        return x < y;
      };
      const auto cut = s.entries.begin() + max_liked_;
      std::nth_element(s.entries.begin(), cut, s.entries.end(), better);
      s.entries.resize(static_cast<std::size_t>(max_liked_));
      std::sort(s.entries.begin(), s.entries.end());
    }
    s.liked.clear();
    for (const std::int64_t k : s.entries)
      s.liked.push_back(rated_.indices[static_cast<std::size_t>(k)]);
    const Eigen::Index liked = static_cast<Eigen::Index>(s.liked.size());
    // One small GEMM per user: cosines of every liked movie (rows) with every
    // recommended one (columns), all unit vectors.
    Eigen::Map<RowMatrix> a(grow(s.liked_rows, static_cast<std::size_t>(liked * d)), liked, d);
    for (Eigen::Index j = 0; j < liked; ++j) a.row(j) = unit_.row(s.liked[j]);
    Eigen::Map<RowMatrix> b(grow(s.rec_rows, static_cast<std::size_t>(n) * d), n, d);
    const std::size_t base = static_cast<std::size_t>(i) * top_n;
    for (int k = 0; k < n; ++k) b.row(k) = unit_.row(movie_of(block.items[base + k]));
    Eigen::Map<ColMatrix> cos(grow(s.cosines, static_cast<std::size_t>(liked) * n), liked, n);
    cos.noalias() = a * b.transpose();

    for (int k = 0; k < n; ++k) {
      const std::int32_t m = movie_of(block.items[base + k]);
      // Liked movies ascend, so strict > keeps the smaller index on a tie.
      float best = -std::numeric_limits<float>::infinity();
      std::int32_t why = kNoReason;
      for (Eigen::Index j = 0; j < liked; ++j) {
        const float c = cos(j, k);
        if (s.liked[j] != m && c > best) {
          best = c;
          why = s.liked[j];
        }
      }
      if (why == kNoReason) {
        // The movie itself was the only liked one (possible when rated
        // movies are not excluded): the other rated movies explain it.
        for (auto e = begin; e < end; ++e) {
          const std::int32_t r = rated_.indices[static_cast<std::size_t>(e)];
          if (r == m) continue;
          const float c = unit_.row(r).dot(unit_.row(m));
          if (c > best || why == kNoReason) {
            best = c;
            why = r;
          }
        }
      }
      out[base + k] = why;
    }
  };

  const int users = block.user_end - block.user_begin;
  std::atomic<std::int64_t> cpu_ns{0};
  tbb::this_task_arena::isolate([&] {
    tbb::parallel_for(tbb::blocked_range<int>(0, users, 8), [&](const tbb::blocked_range<int>& r) {
      const std::int64_t start = cpu_seconds ? thread_cpu_ns() : 0;
      Scratch& s = scratch.local();
      for (int i = r.begin(); i < r.end(); ++i) explain_user(i, s);
      if (cpu_seconds) cpu_ns.fetch_add(thread_cpu_ns() - start, std::memory_order_relaxed);
    });
  });
  if (cpu_seconds) *cpu_seconds = static_cast<double>(cpu_ns.load()) * 1e-9;
  return out;
}

}  // namespace recs
