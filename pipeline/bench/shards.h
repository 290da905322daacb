// Benchmark of the sharded score stage on one machine: for each shard count
// N, the N shards run as local processes at once (`pipeline score --shard
// I/N`), then `pipeline publish`; wall time and peak memory of every
// shard, the shards' wall time in all, and the publish's.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace recs {

struct ShardsBenchOptions {
  std::filesystem::path config;   // needs serve.postgres and a trained model
  std::vector<std::string> sets;  // --set overrides passed to every process
  std::vector<int> shards{1, 2, 4};
};

// One JSON line: per N, each shard's seconds and peak RSS (MB), the
// shards' wall time, the publish's seconds and peak RSS. Throws when a
// process fails.
std::string bench_shards(const ShardsBenchOptions& options);

}  // namespace recs
