#include "bench/readers.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include "app/score.h"
#include "db/database.h"
#include "db/model_store.h"
#include "db/runs.h"
#include "db/sqlite.h"
#include "util/error.h"
#include "util/json.h"
#include "util/log.h"
#include "util/random.h"

namespace recs {
namespace {

using Clock = std::chrono::steady_clock;

struct Sample {
  double start;       // seconds since the benchmark's epoch
  double latency_ms;  // one login query, all rows read
  int rows;           // rows returned (ranks checked contiguous from 1)
  int status;         // 0 ok, 1 error, 2 ranks not 1..rows
};

double since(Clock::time_point epoch) {
  return std::chrono::duration<double>(Clock::now() - epoch).count();
}

// One reader process: its own read-only connection, random users, until the
// stop file appears. Writes its samples to `out`.
[[noreturn]] void reader(const Config& config, const std::string& sql,
                         const std::vector<std::int64_t>& users, int index, Clock::time_point epoch,
                         const std::filesystem::path& stop, const std::filesystem::path& out) {
  std::vector<Sample> samples;
  try {
    SQLite::Database db(config.database.string(), SQLite::OPEN_READONLY);
    db.setBusyTimeout(5000);
    SQLite::Statement q(db, sql);
    random::Rng rng(0, random::Stream::kBenchData, static_cast<std::uint64_t>(index));
    for (std::size_t i = 0;; ++i) {
      if (i % 64 == 0 && std::filesystem::exists(stop)) break;
      Sample s{since(epoch), 0, 0, 0};
      auto t0 = Clock::now();
      try {
        q.bind(":user_id", users[random::below(rng, users.size())]);
        q.bind(":limit", 1000000);
        while (q.executeStep()) {
          ++s.rows;
          if (q.getColumn(0).getInt() != s.rows) s.status = 2;
        }
      } catch (const SQLite::Exception&) {
        s.status = 1;
      }
      q.reset();
      s.latency_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
      samples.push_back(s);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "reader %d: %s\n", index, e.what());
    std::_Exit(1);
  }
  std::ofstream f(out, std::ios::binary);
  f.write(reinterpret_cast<const char*>(samples.data()),
          static_cast<std::streamsize>(samples.size() * sizeof(Sample)));
  std::_Exit(f ? 0 : 1);
}

JsonObject window(std::vector<Sample> s, double from, double to) {
  std::vector<double> lat;
  for (const auto& x : s) {
    if (x.start >= from && x.start < to) lat.push_back(x.latency_ms);
  }
  std::sort(lat.begin(), lat.end());
  auto pct = [&](double p) {
    return lat.empty() ? 0.0
                       : lat[std::min(lat.size() - 1, static_cast<std::size_t>(p * lat.size()))];
  };
  JsonObject o;
  o.add("queries", static_cast<std::int64_t>(lat.size()))
      .add("seconds", to - from)
      .add("p50_ms", pct(0.50))
      .add("p99_ms", pct(0.99))
      .add("max_ms", lat.empty() ? 0.0 : lat.back());
  return o;
}

}  // namespace

std::string bench_readers(const Config& config, const ReadersBenchOptions& o) {
  if (o.readers < 1) throw UsageError("bench readers: --readers must be positive");
  std::ifstream qf(o.query);
  if (!qf) throw UsageError("bench readers: cannot read the query " + o.query.string());
  std::stringstream sql;
  sql << qf.rdbuf();

  std::vector<std::int64_t> users;
  int old_top_n = 0;
  {
    auto db = db::open_read_only(config.database);
    users = db::sqlite_models(*db)->latest().user_ids;
    const std::optional<int> live = db::sqlite_published(*db)->top_n();
    if (!live) throw DatabaseError("bench readers: nothing published yet");
    old_top_n = *live;
  }
  auto scratch =
      std::filesystem::temp_directory_path() / ("recs-bench-readers-" + std::to_string(::getpid()));
  std::filesystem::create_directories(scratch);
  auto stop = scratch / "stop";
  auto epoch = Clock::now();
  std::vector<pid_t> pids;
  for (int i = 0; i < o.readers; ++i) {
    pid_t pid = fork();
    if (pid == 0) reader(config, sql.str(), users, i, epoch, stop, scratch / std::to_string(i));
    if (pid < 0) throw Error(ExitCode::kInternal, "bench readers: fork failed");
    pids.push_back(pid);
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(o.idle_seconds));
  double publish_start = since(epoch);
  {
    db::RunLock lock(config.database);
    auto db = db::open(config.database);
    db::RunRecord run(*db, "bench readers", describe_config(config, false));
    run_score(*db, config, run);
    run.succeed();
  }
  double publish_end = since(epoch);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  std::ofstream(stop).put('\n');

  std::vector<Sample> all;
  int failed_readers = 0;
  for (std::size_t i = 0; i < pids.size(); ++i) {
    int status = 0;
    waitpid(pids[i], &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) ++failed_readers;
    std::ifstream f(scratch / std::to_string(i), std::ios::binary);
    Sample s;
    while (f.read(reinterpret_cast<char*>(&s), sizeof s)) all.push_back(s);
  }
  std::filesystem::remove_all(scratch);

  std::int64_t errors = 0, bad = 0;
  for (const auto& s : all) {
    errors += s.status == 1;
    // A complete set gives every user all of its rows: the old N or the new N.
    bad += s.status == 2 || (s.status == 0 && s.rows != old_top_n && s.rows != config.score.top_n);
  }
  JsonObject out;
  out.add("bench", "readers")
      .add("readers", o.readers)
      .add_raw("idle", window(all, 0.2, publish_start).str())
      .add_raw("during_publish", window(all, publish_start, publish_end).str())
      .add("errors", errors)
      .add("partial_or_mixed_reads", bad)
      .add("failed_readers", failed_readers);
  return out.str();
}

}  // namespace recs
