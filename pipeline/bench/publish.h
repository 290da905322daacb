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
  std::filesystem::path dir;  // where the scratch database goes; empty = temp dir
};

// Publishes one set (untimed), then times publishing a second one over it
// (the nightly case), and returns one JSON line with seconds and rows/s.
std::string bench_publish(const PublishBenchOptions& options);

}  // namespace recs
