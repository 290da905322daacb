#include "app/sharded.h"

#include "app/score.h"
#include "db/database.h"
#include "util/error.h"
#include "util/log.h"

namespace recs {

void require_shard_store(const Config& config, const char* what) {
  (void)config;
  throw ConfigError(std::string("serve.postgres (default): is not set; ") + what +
                    " needs a PostgreSQL server every shard can reach (serve.postgres: "
                    "<libpq connection string>)");
}

void run_shard_stage(const Config& config, const ShardSpec& spec) {
  log::set_stage("score");
  require_shard_store(config, "sharded scoring (--shard, --shards, SLURM_ARRAY_TASK_ID)");
  (void)spec;
}

void run_publish_staged(const Config& config) {
  log::set_stage("publish");
  require_shard_store(config, "publish without --model");
}

}  // namespace recs
