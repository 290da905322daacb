// The sharded score stage as commands: `pipeline score --shard I/N` stages
// one shard's part of the newest model's generation in the serving
// database; `pipeline publish` (no --model) makes that generation live
// once every part is staged from that model.
#pragma once

#include "app/shard.h"
#include "config/config.h"

namespace recs {

// Throws ConfigError when serve.postgres is not set: sharded scoring stages
// into a server every shard can reach.
void require_shard_store(const Config& config, const char* what);

// `pipeline score --shard I/N` (or the index from the scheduler, see
// resolve_shard). Opens the SQLite database read-only (the model and the
// shard's ratings), takes no run lock (the shards of a night run at once)
// and records the shard's run beside its staged part.
void run_shard_stage(const Config& config, const ShardSpec& spec);

// `pipeline publish --config F`: the staged generation of the newest model,
// its movie side (similar movies, movie clusters) and the merged "popular
// in your cluster", made live in one atomic step; refuses (exit 8, naming
// the missing shards) while a part is missing or was staged from another
// model, leaving the live set untouched. Recorded as a `publish` run.
void run_publish_staged(const Config& config);

}  // namespace recs
