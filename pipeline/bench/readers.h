// Benchmark of the readers' guarantee under load: reader processes run the
// web app's login query as fast as they can, first while nothing happens,
// then while the score stage publishes a full new set. Reports latency
// percentiles for both windows, errors, and any read that saw a partial set.
#pragma once

#include <filesystem>
#include <string>

#include "config/config.h"

namespace recs {

struct ReadersBenchOptions {
  int readers = 4;
  double idle_seconds = 2.0;
  std::filesystem::path query = "sql/login.sql";
};

// The database must hold a published set and a trained model. Returns one
// JSON line; throws on setup failures.
std::string bench_readers(const Config& config, const ReadersBenchOptions& options);

}  // namespace recs
