#include "bench/publish.h"

#include <SQLiteCpp/SQLiteCpp.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <functional>
#include <thread>

#include "db/bulk.h"
#include "db/database.h"
#include "db/postgres.h"
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
void publish_all(db::Publisher& publisher, std::int64_t run_id, const PublishBenchOptions& o,
                 std::uint64_t seed, const std::vector<std::int64_t>& user_ids,
                 const std::vector<std::int64_t>& movie_ids) {
  random::Rng rng(seed, random::Stream::kBenchData);
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
    publisher.add(b, user_ids, movie_ids);
  }
  publisher.commit(run_id, std::nullopt, o.top_n, {});
}

void publish_all(SQLite::Database& db, std::int64_t run_id, const PublishBenchOptions& o,
                 std::uint64_t seed, const std::vector<std::int64_t>& user_ids,
                 const std::vector<std::int64_t>& movie_ids) {
  const auto publisher = db::sqlite_publisher(db, o.keep_sets);
  publish_all(*publisher, run_id, o, seed, user_ids, movie_ids);
}

// A reader looping `lookup` over random users while alive: how many reads,
// and the slowest.
class LoopingReader {
 public:
  LoopingReader(std::function<int(std::int64_t)> lookup, int users)
      : thread_([this, lookup = std::move(lookup), users] {
          random::Rng rng(7, random::Stream::kBenchData);
          while (!stop_) {
            const auto user = static_cast<std::int64_t>(random::below(rng, users)) + 1;
            log::Stopwatch clock;
            lookup(user);
            slowest_ = std::max(slowest_, clock.seconds());
            ++reads_;
          }
        }) {}
  ~LoopingReader() { finish(); }
  void finish() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  std::int64_t reads() const { return reads_; }
  double slowest_ms() const { return slowest_ * 1000; }

 private:
  std::atomic<bool> stop_{false};
  std::int64_t reads_ = 0;
  double slowest_ = 0;
  std::thread thread_;
};

// What the PostgreSQL publish copies besides the lists: a catalog of
// `movies` and `ratings` ratings spread over the users (untimed).
void fill_catalog(SQLite::Database& db, const PublishBenchOptions& o,
                  const std::vector<std::int64_t>& user_ids,
                  const std::vector<std::int64_t>& movie_ids) {
  SQLite::Transaction tx(db);
  {
    db::BulkInserter<std::int64_t, std::string, std::string> movies(
        db, "movies(movie_id, title, genres)");
    db::BulkInserter<std::int64_t, std::int64_t, double, std::int64_t> stats(
        db, "movie_stats(movie_id, rating_count, mean_rating, popularity_rank)");
    for (std::size_t i = 0; i < movie_ids.size(); ++i) {
      movies.row(movie_ids[i], "Movie " + std::to_string(movie_ids[i]) + " (2000)", "Drama");
      stats.row(movie_ids[i], std::int64_t{1000} - static_cast<std::int64_t>(i % 1000), 3.5,
                static_cast<std::int64_t>(i) + 1);
    }
    movies.flush();
    stats.flush();
    db::BulkInserter<std::int64_t, std::int64_t, double, std::int64_t> ratings(
        db, "ratings(user_id, movie_id, rating, rated_at)");
    const std::int64_t per_user = o.ratings / static_cast<std::int64_t>(user_ids.size());
    std::int64_t left = o.ratings;
    for (std::size_t u = 0; u < user_ids.size() && left > 0; ++u) {
      const std::int64_t n =
          std::min<std::int64_t>(left, u + 1 == user_ids.size() ? left : per_user);
      const std::int64_t step = std::max<std::int64_t>(
          1, static_cast<std::int64_t>(movie_ids.size()) / std::max<std::int64_t>(n, 1));
      for (std::int64_t k = 0; k < n && k * step < static_cast<std::int64_t>(movie_ids.size());
           ++k) {
        ratings.row(user_ids[u], movie_ids[static_cast<std::size_t>(k * step)], 4.0,
                    std::int64_t{1500000000});
        --left;
      }
    }
    ratings.flush();
  }
  tx.commit();
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
    if (!o.postgres.empty()) {
      // Side by side: SQLite's publish again, now with a reader looping,
      // then the same into PostgreSQL (as many previous generations there).
      double sqlite_seconds = 0;
      {
        auto reader_db = db::open_read_only(path);
        SQLite::Statement lookup(
            *reader_db,
            "SELECT movie_id, score FROM recommendations WHERE user_id = ? ORDER BY rank");
        LoopingReader reader(
            [&lookup](std::int64_t user) {
              lookup.bind(1, user);
              int n = 0;
              while (lookup.executeStep()) ++n;
              lookup.reset();
              return n;
            },
            o.users);
        log::Stopwatch sqlite_clock;
        publish_all(*db, run.id(), o, o.seed + 100, user_ids, movie_ids);
        sqlite_seconds = sqlite_clock.seconds();
        reader.finish();
        out.add("sqlite_seconds", sqlite_seconds)
            .add("sqlite_reads", reader.reads())
            .add("sqlite_max_read_ms", reader.slowest_ms());
      }
      fill_catalog(*db, o, user_ids, movie_ids);
      const db::PostgresOptions pg{o.postgres, "", 30};
      for (int i = 0; i < o.keep_sets; ++i) {
        auto publisher = db::postgres_publisher(pg, *db, std::nullopt);
        publish_all(*publisher, run.id(), o, o.seed + static_cast<std::uint64_t>(i), user_ids,
                    movie_ids);
      }
      auto lookup = db::postgres_list_lookup(o.postgres);
      LoopingReader reader([&lookup](std::int64_t user) { return lookup->rows_of(user); }, o.users);
      log::Stopwatch pg_clock;
      {
        auto publisher = db::postgres_publisher(pg, *db, std::nullopt);
        publish_all(*publisher, run.id(), o, o.seed + 200, user_ids, movie_ids);
      }
      const double pg_seconds = pg_clock.seconds();
      reader.finish();
      out.add("postgres_seconds", pg_seconds)
          .add("postgres_rows_per_second", rows / pg_seconds)
          .add("postgres_ratings", o.ratings)
          .add("postgres_reads", reader.reads())
          .add("postgres_max_read_ms", reader.slowest_ms());
    }
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
