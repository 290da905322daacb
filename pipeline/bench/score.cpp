#include "bench/score.h"

#include <sys/resource.h>
#include <tbb/info.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "db/database.h"
#include "db/model_store.h"
#include "db/sqlite.h"
#include "scoring/ann.h"
#include "scoring/explain.h"
#include "scoring/similar.h"
#include "scoring/topn.h"
#include "util/error.h"
#include "util/random.h"

namespace recs {
namespace {

RowMatrix random_matrix(int rows, int cols, random::Rng& rng) {
  // Entries of variance 1 / cols, so scores stay O(1) whatever the rank.
  const double sd = 1.0 / std::sqrt(static_cast<double>(cols));
  RowMatrix m(rows, cols);
  for (Eigen::Index i = 0; i < m.size(); ++i) {
    m.data()[i] = static_cast<float>(sd * random::normal(rng));
  }
  return m;
}

// Each (user, movie) rated independently with probability `fraction`;
// geometric gaps make it O(rated) rather than O(users x movies).
UserItems random_rated(int users, int movies, double fraction, random::Rng& rng) {
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
  // Failures before the next success: geometric, by inversion.
  const double log_miss = std::log1p(-fraction);
  auto gap = [&](random::Rng& r) {
    return static_cast<long long>(std::min(std::floor(std::log(random::unit_open(r)) / log_miss),
                                           static_cast<double>(movies)));
  };
  out.indices.reserve(static_cast<std::size_t>(fraction * users * movies * 1.01) + 16);
  for (int u = 0; u < users; ++u) {
    for (long long m = gap(rng); m < movies; m += 1LL + gap(rng)) {
      out.indices.push_back(static_cast<std::int32_t>(m));
    }
    out.indptr.push_back(static_cast<std::int64_t>(out.indices.size()));
  }
  return out;
}

// The movies each model user rated in the database, as model indices, and
// (if `ratings`) the stored rating of each.
UserItems stored_rated(SQLite::Database& db, const db::StoredModel& m,
                       std::vector<float>* ratings) {
  db::RatingsRequest request;
  request.rating = ratings != nullptr;
  const db::StoredRatings stored = db::sqlite_ratings(db)->read(request);
  UserItems items;
  items.indptr.assign(m.user_ids.size() + 1, 0);
  std::size_t u = 0;
  for (std::size_t i = 0; i < stored.size(); ++i) {
    const std::int64_t user = stored.user_id(i);
    while (u < m.user_ids.size() && m.user_ids[u] < user) items.indptr[++u] = items.indices.size();
    if (u == m.user_ids.size() || m.user_ids[u] != user) continue;
    const int movie = m.movie_index(stored.movie[i]);
    if (movie < 0) continue;
    items.indices.push_back(movie);
    if (ratings) ratings->push_back(static_cast<float>(stored.rating[i]));
  }
  while (u < m.user_ids.size()) items.indptr[++u] = items.indices.size();
  return items;
}

// The rows of `users` listed in `rows`, and their rated movies.
void take_users(const RowMatrix& users, const UserItems* rated, const std::vector<int>& rows,
                RowMatrix& users_out, UserItems& rated_out) {
  users_out.resize(static_cast<Eigen::Index>(rows.size()), users.cols());
  rated_out.indptr.assign(1, 0);
  rated_out.indices.clear();
  for (std::size_t i = 0; i < rows.size(); ++i) {
    users_out.row(static_cast<Eigen::Index>(i)) = users.row(rows[i]);
    if (rated) {
      rated_out.indices.insert(rated_out.indices.end(),
                               rated->indices.begin() + rated->indptr[rows[i]],
                               rated->indices.begin() + rated->indptr[rows[i] + 1]);
    }
    rated_out.indptr.push_back(static_cast<std::int64_t>(rated_out.indices.size()));
  }
}

int threads_of(int threads) { return threads > 0 ? threads : tbb::info::default_concurrency(); }

// Each user's top-N items, top_n slots per user (count in counts).
struct AllTopN {
  std::vector<std::int32_t> items;
  std::vector<std::int32_t> counts;
};

// Lists that differ between a and b in an item, and in an item or a
// score's bits.
std::pair<long long, long long> mismatches(const TopNBlock& a, const TopNBlock& b) {
  long long items = 0, bits = 0;
  const auto n = static_cast<std::size_t>(a.top_n);
  for (std::size_t q = 0; q < a.counts.size(); ++q) {
    bool same_items = a.counts[q] == b.counts[q];
    bool same_bits = same_items;
    for (std::size_t k = 0; same_items && k < static_cast<std::size_t>(a.counts[q]); ++k) {
      same_items = a.items[q * n + k] == b.items[q * n + k];
      same_bits = same_bits && same_items &&
                  std::bit_cast<std::uint32_t>(a.scores[q * n + k]) ==
                      std::bit_cast<std::uint32_t>(b.scores[q * n + k]);
    }
    items += !same_items;
    bits += !same_bits;
  }
  return {items, bits};
}

std::string seconds_list(const std::vector<double>& seconds) {
  std::string out = "[";
  char one[32];
  for (std::size_t i = 0; i < seconds.size(); ++i) {
    std::snprintf(one, sizeof one, "%s%.3f", i ? "," : "", seconds[i]);
    out += one;
  }
  return out + "]";
}

// Similar movies on these vectors, as the score stage computes them (taste
// columns, every movie a candidate), timed per round.
std::string bench_similar(const RowMatrix& users, const RowMatrix& movies,
                          const ScoreBenchOptions& options) {
  const std::vector<int> taste = taste_columns(users, movies);
  std::vector<std::int32_t> candidates(static_cast<std::size_t>(movies.rows()));
  for (std::size_t i = 0; i < candidates.size(); ++i) candidates[i] = static_cast<std::int32_t>(i);
  const bool prune = !options.plain;
  const bool compare = prune && options.compare_plain;
  std::vector<double> seconds, plain_seconds;
  std::atomic<std::int64_t> skipped{0};
  long long item_mismatched = 0, bit_mismatched = 0;
  auto timed = [&](const SimilarOptions& o, std::vector<double>& out) {
    const auto start = std::chrono::steady_clock::now();
    TopNBlock got = similar_movies(movies, taste, candidates, options.similar, options.threads, o);
    out.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    return got;
  };
  for (int round = 0; round < options.rounds; ++round) {
    SimilarOptions o;
    o.prune = prune;
    skipped = 0;
    o.skipped = &skipped;
    const TopNBlock got = timed(o, seconds);
    if (compare) {
      SimilarOptions plain;
      plain.prune = false;
      const auto [items, bits] = mismatches(timed(plain, plain_seconds), got);
      item_mismatched += items;
      bit_mismatched += bits;
    }
  }
  const double pairs = static_cast<double>(movies.rows()) * static_cast<double>(movies.rows());
  char line[4096];
  std::snprintf(line, sizeof line,
                "{\"movies\":%d,\"factors\":%d,\"taste_columns\":%zu,\"similar_k\":%d,"
                "\"threads\":%d,\"pruned\":%s,\"seconds\":%s,\"skipped_share\":%.4f",
                static_cast<int>(movies.rows()), static_cast<int>(movies.cols()), taste.size(),
                options.similar, threads_of(options.threads), prune ? "true" : "false",
                seconds_list(seconds).c_str(),
                pairs > 0 ? static_cast<double>(skipped) / pairs : 0.0);
  std::string out = line;
  if (compare) {
    std::snprintf(line, sizeof line,
                  ",\"plain_seconds\":%s,\"plain_item_mismatched_movies\":%lld,"
                  "\"plain_bit_mismatched_movies\":%lld",
                  seconds_list(plain_seconds).c_str(), item_mismatched, bit_mismatched);
    out += line;
  }
  return out + "}";
}

}  // namespace

std::string bench_score(const ScoreBenchOptions& options) {
  if (options.users < 0 || options.movies < 0 || options.factors <= 0 || options.top_n < 0 ||
      options.threads < 0 || !(options.rated_fraction >= 0.0 && options.rated_fraction <= 1.0)) {
    throw UsageError(
        "bench score: users, movies, top-n and threads must be >= 0, factors > 0 and "
        "rated-fraction in [0, 1]");
  }
  if (options.method != "exact" && options.method != "ann") {
    throw UsageError("bench score: method must be exact or ann, not '" + options.method + "'");
  }
  if (options.nprobe < 0 || options.clusters < 0 || options.recall_sample < 0) {
    throw UsageError("bench score: nprobe, clusters and recall-sample must be >= 0");
  }
  if (options.similar < 0 || options.rounds < 1) {
    throw UsageError("bench score: similar must be >= 0 and rounds >= 1");
  }
  if (options.mask_rated && options.vectors_from.empty()) {
    throw UsageError("bench score: --mask-rated needs --vectors-from");
  }
  random::Rng rng(options.seed, random::Stream::kBenchData);
  RowMatrix users, movies;
  UserItems rated;
  std::vector<float> rated_values;  // with explain: the stored rating of each rated entry
  bool masked = false;
  if (!options.vectors_from.empty()) {
    // Only the models and ratings tables are read, so a database of another
    // schema version serves as well.
    const auto database = db::open_read_only(options.vectors_from, db::SchemaCheck::kAnyVersion);
    db::StoredModel model = db::sqlite_models(*database)->latest();
    if (options.mask_rated) {
      rated = stored_rated(*database, model, options.explain ? &rated_values : nullptr);
      masked = true;
    }
    users = std::move(model.users);
    movies = std::move(model.movies);
  } else {
    users = random_matrix(options.users, options.factors, rng);
    movies = random_matrix(options.movies, options.factors, rng);
  }
  if (options.similar > 0) return bench_similar(users, movies, options);
  const int num_users = static_cast<int>(users.rows());
  const int num_movies = static_cast<int>(movies.rows());
  const int factors = static_cast<int>(movies.cols());
  if (!masked && options.rated_fraction > 0.0) {
    rated = random_rated(num_users, num_movies, options.rated_fraction, rng);
    masked = true;
  }
  const UserItems* exclude = masked ? &rated : nullptr;

  TopNOptions topn;
  topn.top_n = options.top_n;
  topn.threads = options.threads;
  if (options.user_block > 0) topn.user_block = options.user_block;
  if (options.movie_block > 0) topn.movie_block = options.movie_block;
  AnnOptions ann;
  if (options.nprobe > 0) ann.nprobe = options.nprobe;
  ann.clusters = options.clusters;
  const bool use_ann = options.method == "ann";
  topn.prune = !options.plain;
  std::atomic<std::int64_t> skipped{0};
  topn.skipped = &skipped;
  const bool compare = !use_ann && options.compare_plain && !options.plain;
  if (options.explain && (use_ann || !options.mask_rated)) {
    throw UsageError("bench score: --explain needs the exact kernel and --mask-rated");
  }
  const bool keep = use_ann || compare || options.explain;

  // The sink only consumes the blocks (sums their counts, also reported as a
  // check); a real sink would write them to the database. For ann it also
  // keeps the items, to measure the recall.
  const std::size_t top_n = static_cast<std::size_t>(options.top_n);
  long long entries = 0;
  AllTopN approx;
  std::vector<float> kept_scores;
  if (keep) {
    approx.items.resize(static_cast<std::size_t>(num_users) * top_n);
    approx.counts.resize(num_users);
  }
  if (compare) kept_scores.resize(static_cast<std::size_t>(num_users) * top_n);
  auto sink = [&](const TopNBlock& block) {
    for (auto c : block.counts) entries += c;
    if (compare) {
      std::copy(block.scores.begin(), block.scores.end(),
                kept_scores.begin() + static_cast<std::size_t>(block.user_begin) * top_n);
    }
    if (keep) {
      std::copy(block.items.begin(), block.items.end(),
                approx.items.begin() + static_cast<std::size_t>(block.user_begin) * top_n);
      std::copy(block.counts.begin(), block.counts.end(), approx.counts.begin() + block.user_begin);
    }
  };
  const auto start = std::chrono::steady_clock::now();
  if (use_ann) {
    score_top_n_ann(users, movies, exclude, topn, ann, sink);
  } else {
    score_top_n(users, movies, exclude, topn, sink);
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

  char ann_fields[1024] = "";
  if (!use_ann) {
    const double pairs = static_cast<double>(num_users) * static_cast<double>(num_movies);
    std::snprintf(ann_fields, sizeof ann_fields, ",\"pruned\":%s,\"skipped_share\":%.4f",
                  topn.prune ? "true" : "false",
                  pairs > 0 ? static_cast<double>(skipped.load()) / pairs : 0.0);
  }
  if (compare) {
    TopNOptions plain = topn;
    plain.prune = false;
    plain.skipped = nullptr;
    long long item_mismatched = 0;  // users whose lists differ in an item
    long long bit_mismatched = 0;   // users whose lists differ in an item or a score bit
    double max_diff = 0;            // largest |score difference| over same-item entries
    const auto plain_start = std::chrono::steady_clock::now();
    score_top_n(users, movies, exclude, plain, [&](const TopNBlock& block) {
      for (int u = block.user_begin; u < block.user_end; ++u) {
        const std::size_t at = static_cast<std::size_t>(u - block.user_begin) * top_n;
        const std::size_t kept = static_cast<std::size_t>(u) * top_n;
        const int n = block.counts[u - block.user_begin];
        bool items = n == approx.counts[u];
        bool bits = items;
        for (int k = 0; items && k < n; ++k) {
          items = block.items[at + k] == approx.items[kept + k];
          const float a = block.scores[at + k], b = kept_scores[kept + k];
          bits =
              bits && items && std::bit_cast<std::uint32_t>(a) == std::bit_cast<std::uint32_t>(b);
          if (items) max_diff = std::max(max_diff, static_cast<double>(std::abs(a - b)));
        }
        item_mismatched += !items;
        bit_mismatched += !bits;
      }
    });
    const double plain_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - plain_start).count();
    const std::string head = ann_fields;
    std::snprintf(ann_fields, sizeof ann_fields,
                  "%s,\"plain_seconds\":%.3f,\"plain_item_mismatched_users\":%lld,"
                  "\"plain_bit_mismatched_users\":%lld,\"plain_max_score_diff\":%.3g",
                  head.c_str(), plain_seconds, item_mismatched, bit_mismatched, max_diff);
  }
  if (options.explain) {
    // Every list explained in blocks of the scoring's size, as the score
    // stage's prepare hook does, on an arena of the bench's threads.
    const std::vector<int> taste = taste_columns(users, movies);
    auto explain_all = [&](int max_liked, double& cpu, double& wall) {
      const Explainer explainer(movies, taste, rated, rated_values, max_liked);
      std::vector<std::int32_t> out(approx.items.size());
      tbb::task_arena arena(threads_of(options.threads));
      const auto start = std::chrono::steady_clock::now();
      arena.execute([&] {
        TopNBlock b;
        b.top_n = options.top_n;
        for (int begin = 0; begin < num_users; begin += topn.user_block) {
          b.user_begin = begin;
          b.user_end = std::min(num_users, begin + topn.user_block);
          const std::size_t from = static_cast<std::size_t>(begin) * top_n;
          const std::size_t to = static_cast<std::size_t>(b.user_end) * top_n;
          b.items.assign(approx.items.begin() + from, approx.items.begin() + to);
          b.scores.assign(to - from, 0.0f);
          b.counts.assign(approx.counts.begin() + begin, approx.counts.begin() + b.user_end);
          double block_cpu = 0;
          const std::vector<std::int32_t> why = explainer.explain(b, {}, &block_cpu);
          cpu += block_cpu;
          std::copy(why.begin(), why.end(), out.begin() + from);
        }
      });
      wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      return out;
    };
    double cpu = 0, wall = 0, all_cpu = 0, all_wall = 0;
    const std::vector<std::int32_t> bounded = explain_all(kExplainLiked, cpu, wall);
    const std::vector<std::int32_t> every = explain_all(0, all_cpu, all_wall);
    long long changed = 0;
    for (int u = 0; u < num_users; ++u) {
      const std::size_t at = static_cast<std::size_t>(u) * top_n;
      for (int k = 0; k < approx.counts[u]; ++k) changed += bounded[at + k] != every[at + k];
    }
    const std::string head = ann_fields;
    std::snprintf(ann_fields, sizeof ann_fields,
                  "%s,\"explain_liked\":%d,\"explain_cpu_seconds\":%.3f,\"explain_seconds\":%.3f,"
                  "\"explain_all_cpu_seconds\":%.3f,\"explain_all_seconds\":%.3f,"
                  "\"explain_changed_share\":%.4f",
                  head.c_str(), kExplainLiked, cpu, wall, all_cpu, all_wall,
                  entries > 0 ? static_cast<double>(changed) / static_cast<double>(entries) : 0.0);
  }
  if (use_ann) {
    // Exact top-N of the recall users: all of them (timing a full exact run
    // on the same vectors) or a seeded sample.
    std::vector<int> sample;
    if (options.recall_sample > 0 && options.recall_sample < num_users) {
      std::vector<int> all(num_users);
      for (int u = 0; u < num_users; ++u) all[u] = u;
      random::Rng pick(options.seed, random::Stream::kBenchSample);
      for (int i = 0; i < options.recall_sample; ++i) {
        std::swap(all[i], all[i + static_cast<int>(random::below(pick, num_users - i))]);
      }
      sample.assign(all.begin(), all.begin() + options.recall_sample);
      std::sort(sample.begin(), sample.end());
    }
    RowMatrix sample_users;
    UserItems sample_rated;
    if (!sample.empty()) take_users(users, exclude, sample, sample_users, sample_rated);
    const bool full = sample.empty();
    double hits = 0.0;
    long long recall_users = 0;
    std::vector<char> in_exact(static_cast<std::size_t>(num_movies), 0);
    const auto exact_start = std::chrono::steady_clock::now();
    double exact_seconds = 0.0;
    auto compare = [&](const TopNBlock& block) {
      for (int u = block.user_begin; u < block.user_end; ++u) {
        const std::size_t at = static_cast<std::size_t>(u - block.user_begin) * top_n;
        const int n = block.counts[u - block.user_begin];
        if (n == 0) continue;
        const int user = full ? u : sample[u];
        for (int k = 0; k < n; ++k) in_exact[block.items[at + k]] = 1;
        int common = 0;
        const std::size_t approx_at = static_cast<std::size_t>(user) * top_n;
        for (int k = 0; k < approx.counts[user]; ++k)
          common += in_exact[approx.items[approx_at + k]];
        for (int k = 0; k < n; ++k) in_exact[block.items[at + k]] = 0;
        hits += static_cast<double>(common) / n;
        ++recall_users;
      }
    };
    if (full) {
      score_top_n(users, movies, exclude, topn, compare);
    } else {
      score_top_n(sample_users, movies, exclude ? &sample_rated : nullptr, topn, compare);
    }
    exact_seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - exact_start).count();
    std::snprintf(ann_fields, sizeof ann_fields,
                  ",\"method\":\"ann\",\"nprobe\":%d,\"clusters\":%d,\"recall_at_n\":%.4f,"
                  "\"recall_users\":%lld,\"exact_seconds\":%.3f",
                  ann.nprobe, ann_cluster_count(num_movies, ann),
                  recall_users > 0 ? hits / recall_users : 1.0, recall_users, exact_seconds);
  }

  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  const double peak_rss_mb = static_cast<double>(usage.ru_maxrss) / 1024.0;  // ru_maxrss is KiB
  const double flops = 2.0 * num_users * num_movies * factors;
  const int threads = options.threads > 0 ? options.threads : tbb::info::default_concurrency();

  char line[2048];
  std::snprintf(line, sizeof line,
                "{\"users\":%d,\"movies\":%d,\"factors\":%d,\"top_n\":%d,\"threads\":%d,"
                "\"seconds\":%.3f,\"gflops\":%.1f,\"peak_rss_mb\":%.1f,\"rated_fraction\":%g,"
                "\"user_block\":%d,\"movie_block\":%d,\"entries\":%lld,\"masked_ratings\":%lld%s}",
                num_users, num_movies, factors, options.top_n, threads, seconds,
                seconds > 0 ? flops / seconds / 1e9 : 0.0, peak_rss_mb, options.rated_fraction,
                topn.user_block, topn.movie_block, entries,
                masked ? static_cast<long long>(rated.indices.size()) : 0LL, ann_fields);
  return line;
}

}  // namespace recs
