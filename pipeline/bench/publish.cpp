#include "bench/publish.h"

#include <sys/resource.h>

#include <algorithm>

#include "db/database.h"
#include "db/publish.h"
#include "db/runs.h"
#include "db/sqlite.h"
#include "util/error.h"
#include "util/json.h"
#include "util/log.h"
#include "util/random.h"

namespace recs {
namespace {

// Blocks shaped like the kernel's output: 512 users, scores descending.
void publish_all(SQLite::Database& db, std::int64_t run_id, const PublishBenchOptions& o,
                 std::uint64_t seed, const std::vector<std::int64_t>& user_ids,
                 const std::vector<std::int64_t>& movie_ids) {
  random::Rng rng(seed, random::Stream::kBenchData);
  const auto publisher = db::sqlite_publisher(db, o.keep_sets);
  TopNBlock b;
  b.top_n = o.top_n;
  constexpr int kBlock = 512;
  for (int begin = 0; begin < o.users; begin += kBlock) {
    b.user_begin = begin;
    b.user_end = std::min(o.users, begin + kBlock);
    int n = b.user_end - begin;
    b.items.resize(static_cast<std::size_t>(n) * o.top_n);
    b.scores.resize(b.items.size());
    b.counts.assign(static_cast<std::size_t>(n), o.top_n);
    for (auto& i : b.items) i = static_cast<int>(random::below(rng, o.movies));
    for (int u = 0; u < n; ++u) {
      auto first = b.scores.begin() + static_cast<std::ptrdiff_t>(u) * o.top_n;
      for (auto it = first; it != first + o.top_n; ++it) *it = random::unit_float(rng);
      std::sort(first, first + o.top_n, std::greater<>());
    }
    publisher->add(b, user_ids, movie_ids);
  }
  publisher->commit(run_id, std::nullopt, o.top_n, {});
}

}  // namespace

std::string bench_publish(const PublishBenchOptions& o) {
  if (o.users < 1 || o.movies < 1 || o.top_n < 1 || o.keep_sets < 1) {
    throw UsageError("bench publish: users, movies, top-n and keep-sets must be positive");
  }
  auto dir = o.dir.empty() ? std::filesystem::temp_directory_path() : o.dir;
  auto path = dir / ("recs-bench-publish-" + std::to_string(::getpid()) + ".db");
  auto cleanup = [&] {
    for (const char* suffix : {"", "-wal", "-shm"}) {
      std::error_code ec;
      std::filesystem::remove(path.string() + suffix, ec);
    }
  };
  cleanup();
  std::vector<std::int64_t> user_ids(static_cast<std::size_t>(o.users));
  std::vector<std::int64_t> movie_ids(static_cast<std::size_t>(o.movies));
  for (std::size_t i = 0; i < user_ids.size(); ++i) user_ids[i] = static_cast<std::int64_t>(i) + 1;
  for (std::size_t i = 0; i < movie_ids.size(); ++i) {
    movie_ids[i] = static_cast<std::int64_t>(i) * 3 + 1;
  }
  JsonObject out;
  try {
    auto db = db::open(path);
    db::RunRecord run(*db, "bench publish", "");
    for (int i = 0; i < o.keep_sets; ++i) {  // the previous nights' sets
      publish_all(*db, run.id(), o, o.seed + static_cast<std::uint64_t>(i), user_ids, movie_ids);
      db::checkpoint(*db);  // as every run ends
    }
    log::Stopwatch clock;
    publish_all(*db, run.id(), o, o.seed + static_cast<std::uint64_t>(o.keep_sets), user_ids,
                movie_ids);
    double seconds = clock.seconds();
    double rollback_seconds = 0;
    if (o.keep_sets >= 2) {
      log::Stopwatch rollback_clock;
      db::sqlite_kept_sets(*db)->rollback(std::nullopt);
      rollback_seconds = rollback_clock.seconds();
    }
    double rows = static_cast<double>(o.users) * o.top_n;
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    out.add("bench", "publish")
        .add("users", o.users)
        .add("top_n", o.top_n)
        .add("rows", static_cast<std::int64_t>(rows))
        .add("seconds", seconds)
        .add("rows_per_second", rows / seconds)
        .add("keep_sets", o.keep_sets)
        .add("rollback_seconds", rollback_seconds)
        .add("db_and_wal_mb",
             static_cast<double>(std::filesystem::file_size(path) +
                                 std::filesystem::file_size(path.string() + "-wal")) /
                 1e6)
        .add("peak_rss_mb", static_cast<double>(ru.ru_maxrss) / 1024.0);
  } catch (...) {
    cleanup();
    throw;
  }
  cleanup();
  return out.str();
}

}  // namespace recs
