// Benchmark of the publish step alone: synthetic top-N rows written through
// the same Publisher the score stage uses, replacing a previous full set.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace recs {

struct PublishBenchOptions {
  int users = 162541;  // ML-25M size
  int movies = 59047;
  int top_n = 100;
  std::uint64_t seed = 42;
  int keep_sets = 2;          // as keep.sets: 1 deletes the old set, >= 2 keeps it
  std::filesystem::path dir;  // where the scratch database goes; empty = temp dir
  // Non-empty: also publish the same rows into this PostgreSQL server (a
  // libpq connection string; the schema recs/recs_store is created there)
  // and time it beside SQLite's, a reader looping during each publish.
  std::string postgres;
  // Ratings put in the scratch database first (untimed), which the
  // PostgreSQL publish copies as the rated movies the fallback leaves out;
  // 0 = none. ML-25M: 25000095.
  std::int64_t ratings = 0;
};

// Publishes keep_sets sets (untimed), so the kept sets are as many as
// keep_sets allows, then times publishing one more over them (the nightly
// case: the oldest kept set is dropped, the live one kept) and, when sets
// are kept, a rollback to the set it replaced; returns one JSON line with
// seconds, rows/s and rollback_seconds. With `postgres`, the line also has
// postgres_seconds (the same publish into the server, previous generations
// as many as kept there, catalog and rated movies included) and, for both,
// the reads a reader looping the web app's lookup of one user's list made
// during the timed publish and the slowest one (reads, max_read_ms).
std::string bench_publish(const PublishBenchOptions& options);

}  // namespace recs
