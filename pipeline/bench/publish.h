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
};

// Publishes keep_sets sets (untimed), so the kept sets are as many as
// keep_sets allows, then times publishing one more over them (the nightly
// case: the oldest kept set is dropped, the live one kept) and, when sets
// are kept, a rollback to the set it replaced; returns one JSON line with
// seconds, rows/s and rollback_seconds.
std::string bench_publish(const PublishBenchOptions& options);

}  // namespace recs
