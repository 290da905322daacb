#include "scoring/bench.h"

#include <sys/resource.h>
#include <tbb/info.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>

#include "scoring/topn.h"
#include "util/error.h"

namespace recs {
namespace {

RowMatrix random_matrix(int rows, int cols, std::mt19937_64& rng) {
  // Entries of variance 1 / cols, so scores stay O(1) whatever the rank.
  std::normal_distribution<float> normal(0.0f, 1.0f / std::sqrt(static_cast<float>(cols)));
  RowMatrix m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) m.data()[i] = normal(rng);
  return m;
}

// Each (user, movie) rated independently with probability `fraction`;
// geometric gaps make it O(rated) rather than O(users x movies).
UserItems random_rated(int users, int movies, double fraction, std::mt19937_64& rng) {
  UserItems out;
  out.indptr.reserve(static_cast<std::size_t>(users) + 1);
  out.indptr.push_back(0);
  if (fraction >= 1.0) {
    for (int u = 0; u < users; ++u) {
      for (int m = 0; m < movies; ++m) out.indices.push_back(m);
      out.indptr.push_back(static_cast<std::int64_t>(out.indices.size()));
    }
    return out;
  }
  std::geometric_distribution<long long> gap(fraction);
  out.indices.reserve(static_cast<std::size_t>(fraction * users * movies * 1.01) + 16);
  for (int u = 0; u < users; ++u) {
    for (long long m = gap(rng); m < movies; m += 1LL + gap(rng)) {
      out.indices.push_back(static_cast<std::int32_t>(m));
    }
    out.indptr.push_back(static_cast<std::int64_t>(out.indices.size()));
  }
  return out;
}

}  // namespace

std::string bench_score(const ScoreBenchOptions& options) {
  if (options.users < 0 || options.movies < 0 || options.factors <= 0 || options.top_n < 0 ||
      options.threads < 0 || !(options.rated_fraction >= 0.0 && options.rated_fraction <= 1.0)) {
    throw UsageError(
        "bench score: users, movies, top-n and threads must be >= 0, factors > 0 and "
        "rated-fraction in [0, 1]");
  }
  std::mt19937_64 rng(options.seed);
  const RowMatrix users = random_matrix(options.users, options.factors, rng);
  const RowMatrix movies = random_matrix(options.movies, options.factors, rng);
  UserItems rated;
  const bool masked = options.rated_fraction > 0.0;
  if (masked) rated = random_rated(options.users, options.movies, options.rated_fraction, rng);

  TopNOptions topn;
  topn.top_n = options.top_n;
  topn.threads = options.threads;
  if (options.user_block > 0) topn.user_block = options.user_block;
  if (options.movie_block > 0) topn.movie_block = options.movie_block;

  // The sink only consumes the blocks (sums their counts, also reported as a
  // check); a real sink would write them to the database.
  long long entries = 0;
  const auto start = std::chrono::steady_clock::now();
  score_top_n(users, movies, masked ? &rated : nullptr, topn, [&](const TopNBlock& block) {
    for (auto c : block.counts) entries += c;
  });
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const double peak_rss_mb = static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is KiB
  const double flops = 2.0 * options.users * options.movies * options.factors;
  const int threads = options.threads > 0 ? options.threads : tbb::info::default_concurrency();

  char line[512];
  std::snprintf(line, sizeof line,
                "{\"users\":%d,\"movies\":%d,\"factors\":%d,\"top_n\":%d,\"threads\":%d,"
                "\"seconds\":%.3f,\"gflops\":%.1f,\"peak_rss_mb\":%.1f,\"rated_fraction\":%g,"
                "\"user_block\":%d,\"movie_block\":%d,\"entries\":%lld}",
                options.users, options.movies, options.factors, options.top_n, threads, seconds,
                seconds > 0 ? flops / seconds / 1e9 : 0.0, peak_rss_mb, options.rated_fraction,
                topn.user_block, topn.movie_block, entries);
  return line;
}

}  // namespace recs
