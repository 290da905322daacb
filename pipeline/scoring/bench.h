// Synthetic benchmark of the scoring kernel: random vectors of a given shape,
// optionally a random set of rated movies per user, timed end to end.
#pragma once

#include <cstdint>
#include <string>

namespace recs {

struct ScoreBenchOptions {
  int users = 162541;  // ML-25M size
  int movies = 59047;
  int factors = 64;
  int top_n = 100;
  int threads = 0;  // 0 = all cores
  std::uint64_t seed = 42;
  double rated_fraction = 0.0;  // share of movies each user has "rated", masked
  int user_block = 0;           // 0 = TopNOptions default
  int movie_block = 0;          // 0 = TopNOptions default
};

// Runs score_top_n once with a sink that only consumes the blocks and returns
// one JSON line: {"users":..,"movies":..,"factors":..,"top_n":..,"threads":..,
// "seconds":..,"gflops":..,"peak_rss_mb":..,...}. Only the scoring is timed.
std::string bench_score(const ScoreBenchOptions& options);

}  // namespace recs
