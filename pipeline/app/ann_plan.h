// score.method: ann's plan for one scoring of a model: the index over the
// candidate movies and the nprobe calibrated against the exact kernel
// (score.ann_recall), or the fixed score.ann_nprobe. Computed once per
// generation: a shard takes the one its generation stores (db::ShardWriter::
// shared_ann_plan), so every shard probes the same clusters with the same
// nprobe and the sharded lists equal one process's.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdint>
#include <optional>
#include <vector>

#include "config/config.h"
#include "data/matrix.h"
#include "db/model_store.h"
#include "db/shards.h"
#include "scoring/ann.h"

namespace recs {

struct AnnPlan {
  AnnIndex index;
  int nprobe = 0;
  std::optional<double> recall;      // measured on the sample; empty: fixed nprobe
  std::optional<double> recall_low;  // its lower bound (ann.h)
  std::int64_t sample_users = 0;
  double seconds = 0;   // building and calibrating (where it was computed)
  bool shared = false;  // taken from the generation, computed by another shard
};

// Users the calibration measures recall on: the model's users in
// kAnnCalibrationRuns evenly spaced runs by id (each one range read of the
// ratings), every user when there are at most this many.
inline constexpr int kAnnCalibrationUsers = 2000;
inline constexpr int kAnnCalibrationRuns = 16;

// The plan for scoring against `movies` (the candidate movies' vectors,
// `candidates` their model indices, ascending) with `model`. With `share`,
// the generation's stored plan (or this one, stored): see above. Depends
// only on the model, the configuration and the sample's stored ratings.
AnnPlan plan_ann(SQLite::Database& db, const Config& config, const db::StoredModel& model,
                 const std::vector<std::int32_t>& candidates, const RowMatrix& movies,
                 db::ShardWriter* share);

}  // namespace recs
