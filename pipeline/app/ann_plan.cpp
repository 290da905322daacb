#include "app/ann_plan.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "app/score.h"
#include "app/train.h"
#include "db/ratings.h"
#include "scoring/filters.h"
#include "util/error.h"
#include "util/log.h"

namespace recs {
namespace {

// The calibration's users (model user indices, ascending): every user, or
// kAnnCalibrationRuns evenly spaced runs of them by id.
std::vector<int> sample_users(int users) {
  std::vector<int> out;
  if (users <= kAnnCalibrationUsers) {
    for (int u = 0; u < users; ++u) out.push_back(u);
    return out;
  }
  const int per_run = kAnnCalibrationUsers / kAnnCalibrationRuns;
  for (int run = 0; run < kAnnCalibrationRuns; ++run) {
    const auto first = static_cast<int>(static_cast<long long>(run) * users / kAnnCalibrationRuns);
    for (int k = 0; k < per_run; ++k) out.push_back(first + k);
  }
  return out;
}

// The sample's rated movies (model movie indices, ascending per user), from
// one range read of the ratings per run of consecutive users.
UserItems sample_rated(SQLite::Database& db, const Config& config, const db::StoredModel& model,
                       const std::vector<int>& sample) {
  UserItems rated;
  rated.indptr.push_back(0);
  std::size_t i = 0;
  while (i < sample.size()) {
    std::size_t j = i + 1;
    while (j < sample.size() && sample[j] == sample[j - 1] + 1) ++j;
    db::RatingsRequest range;
    range.first_user = model.user_ids[static_cast<std::size_t>(sample[i])];
    range.last_user = model.user_ids[static_cast<std::size_t>(sample[j - 1])];
    std::vector<double> raw;
    const RatingMatrix r = load_ratings(db, config, range, &raw, false);
    // Per database user, the model's movie indices it rated.
    std::vector<std::vector<std::int32_t>> per(r.user_ids.size());
    for (std::size_t k = 0; k < r.size(); ++k) {
      const int m = model.movie_index(r.movie_ids[static_cast<std::size_t>(r.movie[k])]);
      if (m >= 0) per[static_cast<std::size_t>(r.user[k])].push_back(m);
    }
    std::size_t db_user = 0;
    for (std::size_t s = i; s < j; ++s) {
      const std::int64_t id = model.user_ids[static_cast<std::size_t>(sample[s])];
      while (db_user < r.user_ids.size() && r.user_ids[db_user] < id) ++db_user;
      if (db_user < r.user_ids.size() && r.user_ids[db_user] == id) {
        std::vector<std::int32_t>& movies = per[db_user];
        std::sort(movies.begin(), movies.end());
        rated.indices.insert(rated.indices.end(), movies.begin(), movies.end());
      }
      rated.indptr.push_back(static_cast<std::int64_t>(rated.indices.size()));
    }
    i = j;
  }
  return rated;
}

// What a stored plan must have been computed for to be reused.
std::string plan_params(const Config& config, const db::StoredModel& model,
                        const std::vector<std::int32_t>& candidates) {
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a over the candidates
  for (std::int32_t c : candidates) {
    h ^= static_cast<std::uint64_t>(static_cast<std::uint32_t>(c));
    h *= 1099511628211ULL;
  }
  return fmt::format(
      "model={} top_n={} exclude_rated={} nprobe={} recall={} clusters={} seed={} "
      "candidates={}:{:016x}",
      model.model_id, config.score.top_n, config.score.exclude_rated ? 1 : 0,
      config.score.ann_nprobe, config.score.ann_recall, config.score.ann_clusters,
      config.model.seed, candidates.size(), h);
}

}  // namespace

AnnPlan plan_ann(SQLite::Database& db, const Config& config, const db::StoredModel& model,
                 const std::vector<std::int32_t>& candidates, const RowMatrix& movies,
                 db::ShardWriter* share) {
  AnnOptions ann;
  if (config.score.ann_nprobe > 0) ann.nprobe = config.score.ann_nprobe;
  ann.clusters = config.score.ann_clusters;
  ann.seed = config.model.seed;
  const int threads = config.score.threads;
  const std::string params = plan_params(config, model, candidates);

  AnnPlan plan;
  bool computed_here = false;
  const db::AnnPlanCompute compute = [&] {
    log::Stopwatch clock;
    computed_here = true;
    plan.index = AnnIndex::build(movies, ann, threads);
    db::StoredAnnPlan stored;
    stored.params = params;
    stored.clusters = plan.index.clusters();
    stored.cluster_of = plan.index.assignment();
    if (config.score.ann_nprobe > 0) {
      stored.nprobe = config.score.ann_nprobe;
    } else {
      const std::vector<int> sample = sample_users(static_cast<int>(model.users.rows()));
      RowMatrix vectors(static_cast<Eigen::Index>(sample.size()), model.users.cols());
      for (std::size_t k = 0; k < sample.size(); ++k)
        vectors.row(static_cast<Eigen::Index>(k)) = model.users.row(sample[k]);
      UserItems rated;
      const UserItems* exclude = nullptr;
      if (config.score.exclude_rated) {
        rated = sample_rated(db, config, model, sample);
        if (candidates.size() != model.movie_ids.size()) {
          rated = restrict_items(rated, candidate_positions(candidates, model.movie_ids.size()));
        }
        exclude = &rated;
      }
      TopNOptions options;
      options.top_n = config.score.top_n;
      options.threads = threads;
      const AnnCalibration c =
          calibrate_nprobe(plan.index, movies, vectors, exclude, options, config.score.ann_recall,
                           static_cast<std::int64_t>(model.users.rows()), ann.user_block);
      stored.nprobe = c.nprobe;
      stored.recall = c.recall;
      stored.recall_low = c.recall_low;
      stored.sample_users = c.users;
    }
    stored.seconds = clock.seconds();
    return stored;
  };
  const db::StoredAnnPlan stored = share ? share->shared_ann_plan(compute) : compute();
  if (stored.params != params) {
    throw ConfigError(config.where("score.method") +
                      ": this shard's ann settings differ from those the other shards of its "
                      "generation used (" +
                      stored.params + " against " + params +
                      "); run every shard with the same configuration");
  }
  if (!computed_here) {
    plan.index = AnnIndex::from_assignment(movies, stored.cluster_of, stored.clusters);
    plan.shared = true;
  }
  plan.nprobe = stored.nprobe;
  plan.sample_users = stored.sample_users;
  plan.seconds = stored.seconds;
  if (!std::isnan(stored.recall)) plan.recall = stored.recall;
  if (!std::isnan(stored.recall_low)) plan.recall_low = stored.recall_low;
  if (plan.recall) {
    log::info(
        "ann: nprobe {} of {} clusters: recall@{} {:.4f} against exact scoring on {} sampled "
        "users (lower bound {:.4f}, target {}){}",
        plan.nprobe, plan.index.clusters(), config.score.top_n, *plan.recall, plan.sample_users,
        plan.recall_low.value_or(*plan.recall), config.score.ann_recall,
        plan.shared ? ", calibrated once for this generation by another shard"
                    : fmt::format(", calibrated in {:.3f} s", plan.seconds));
  } else {
    log::info("ann: nprobe {} of {} clusters (score.ann_nprobe, not calibrated){}", plan.nprobe,
              plan.index.clusters(), plan.shared ? ", index shared by the generation" : "");
  }
  return plan;
}

void record_ann(const AnnPlan& plan, AnnFigures& out) {
  out.used = true;
  out.nprobe = plan.nprobe;
  out.clusters = plan.index.clusters();
  out.recall = plan.recall;
  out.recall_low = plan.recall_low;
  out.sample_users = plan.sample_users;
  out.seconds = plan.shared ? 0 : plan.seconds;
  out.shared = plan.shared;
}

void record_ann(const AnnFigures& ann, db::RunRecord& run) {
  if (!ann.used) return;
  run.count("ann_nprobe", ann.nprobe);
  run.count("ann_clusters", ann.clusters);
  if (ann.recall) {
    run.metric("ann_recall", *ann.recall);
    run.metric("ann_recall_low", ann.recall_low.value_or(*ann.recall));
    run.count("ann_sample_users", ann.sample_users);
  }
  if (!ann.shared) run.timing("ann_plan", ann.seconds);
}

void record_ann(const AnnPlan& plan, db::RunRecord& run) {
  AnnFigures f;
  record_ann(plan, f);
  record_ann(f, run);
}

}  // namespace recs
