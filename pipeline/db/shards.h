// Sharded scoring's staging: each shard of a generation (the scoring of
// one stored model, app/shard.h) stages its part of the web app's tables;
// a publish makes the generation live once every part is staged from that
// model. Backend-neutral; the serving database's backend implements it.
#pragma once

#include <cstdint>
#include <functional>
#include <limits>
#include <span>
#include <string>
#include <vector>

#include "data/clusters.h"
#include "data/top_n.h"

namespace recs::db {

// One staged part, as its shard recorded it.
struct StagedPart {
  std::int64_t generation = 0;
  int shard = 0;
  int shards = 0;  // the count the shard was run with
  std::int64_t model_id = 0;
  std::int64_t users = 0;  // with at least one recommendation
  std::int64_t rows = 0;
  std::string staged_at;
};

// score.method: ann's plan for one generation, computed once and shared by
// every shard (app/ann_plan.h): the index's coarse assignment and the
// calibrated nprobe.
struct StoredAnnPlan {
  std::string params;  // what it was computed for (top_n, target, filters...)
  int nprobe = 0;
  double recall = std::numeric_limits<double>::quiet_NaN();  // NaN: not calibrated
  double recall_low = std::numeric_limits<double>::quiet_NaN();
  std::int64_t sample_users = 0;
  int clusters = 0;
  std::vector<std::int32_t> cluster_of;  // per candidate movie
  double seconds = 0;                    // building and calibrating it
};
using AnnPlanCompute = std::function<StoredAnnPlan()>;

// One shard's part of a generation in progress. Rows are written as they
// come; commit() replaces whatever the part held before (an earlier run of
// the same shard) in one step, so a shard that fails or is killed leaves
// the part as it was and can simply run again.
class ShardWriter {
 public:
  virtual ~ShardWriter() = default;

  // As Publisher::add: a scored block, indices mapped to external ids,
  // `because` laid out as block.items (kNoBecause for none, empty: all
  // NULL). Returns false on a non-finite score.
  virtual bool add(const TopNBlock& block, const std::vector<std::int64_t>& user_ids,
                   const std::vector<std::int64_t>& movie_ids,
                   std::span<const std::int64_t> because) = 0;
  // The shard's users' clusters (centroids shared by every shard).
  virtual void add_user_clusters(const ClusterRows& users) = 0;
  // The shard's part of "popular in your cluster", summed at publish.
  virtual void add_cluster_counts(const std::vector<ClusterMovieCount>& counts) = 0;

  // The generation's ann plan: the stored one, or `compute`'s, stored for
  // the other shards (computed once: concurrent shards wait for it). The
  // default, for a writer with nothing to share it through, computes it.
  virtual StoredAnnPlan shared_ann_plan(const AnnPlanCompute& compute) { return compute(); }

  virtual void commit() = 0;

  virtual std::int64_t rows() const = 0;   // recommendations added
  virtual std::int64_t users() const = 0;  // users with at least one
};

}  // namespace recs::db
