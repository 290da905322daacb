#include "app/evaluate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>

#include "app/train.h"
#include "db/database.h"
#include "db/sqlite.h"
#include "io/movielens.h"
#include "models/registry.h"
#include "util/error.h"
#include "util/json.h"
#include "util/log.h"

namespace recs {
namespace {

std::string at(const char* name, int k) { return std::string(name) + "@" + std::to_string(k); }

std::string cell(double v) {
  if (!std::isfinite(v)) return "-";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}

std::string row(const std::string& name, double model, double popularity) {
  char buf[128];
  std::snprintf(buf, sizeof buf, "%-17s %10s %10s", name.c_str(), cell(model).c_str(),
                cell(popularity).c_str());
  return buf;
}

// The readable table: metric | model | popularity.
void log_table(const eval::EvalResult& r) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  char head[128];
  std::snprintf(head, sizeof head, "%-17s %10s %10s", "metric", r.model.c_str(), "popularity");
  log::info(head);
  log::info(row("rmse", r.rmse, nan));
  log::info(row("mae", r.mae, nan));
  for (std::size_t j = 0; j < r.model_metrics.at.size(); ++j) {
    const auto& m = r.model_metrics.at[j];
    const auto& p = r.popularity.at[j];
    log::info(row(at("precision", m.k), m.precision, p.precision));
    log::info(row(at("recall", m.k), m.recall, p.recall));
    log::info(row(at("recall_capped", m.k), m.recall_capped, p.recall_capped));
    log::info(row(at("ndcg", m.k), m.ndcg, p.ndcg));
    log::info(row(at("map", m.k), m.map, p.map));
    log::info(row(at("hit_rate", m.k), m.hit_rate, p.hit_rate));
  }
  log::info(row("coverage", r.model_metrics.coverage, r.popularity.coverage));
}

}  // namespace

eval::EvalData load_eval_ratings(SQLite::Database& db, const Config& config) {
  eval::EvalData d;
  d.ratings = load_ratings(db, config, &d.raw,
                           eval::needs_timestamps(config.evaluate) ? &d.rated_at : nullptr);
  return d;
}

std::string ranking_json(const eval::RankingMetrics& m) {
  JsonObject o;
  for (const auto& c : m.at) {
    o.add(at("precision", c.k), c.precision)
        .add(at("recall", c.k), c.recall)
        .add(at("recall_capped", c.k), c.recall_capped)
        .add(at("ndcg", c.k), c.ndcg)
        .add(at("map", c.k), c.map)
        .add(at("hit_rate", c.k), c.hit_rate);
  }
  o.add("coverage", m.coverage);
  return o.str();
}

std::string eval_json(const eval::EvalResult& r, double seconds) {
  JsonObject o;
  o.add("model", r.model)
      .add("split", r.split)
      .add("holdout_fraction", r.holdout_fraction)
      .add("users_evaluated", r.model_metrics.users_evaluated)
      .add("users_eligible", r.users_eligible)
      .add("users_fallback", r.users_fallback)
      .add("rmse", r.rmse)  // NaN is written as null
      .add("mae", r.mae)
      .add_raw("model_metrics", ranking_json(r.model_metrics))
      .add_raw("popularity", ranking_json(r.popularity))
      .add("seconds", seconds);
  return o.str();
}

namespace {

// The stored ratings as one snapshot. The parallel reader reads ranges of
// users on connections of their own; without the run lock an import may
// commit between their snapshots, and then the ratings are read again in one
// scan on `db`, inside one read transaction.
eval::EvalData load_snapshot(SQLite::Database& db, const Config& config) {
  const auto ratings = db::sqlite_ratings(db);
  const std::int64_t before = ratings->version();
  eval::EvalData d = load_eval_ratings(db, config);
  if (ratings->version() == before) return d;
  log::info("the ratings changed while they were read; reading them again in one snapshot");
  d = eval::EvalData{};
  d.ratings =
      db::read_rating_matrix(*ratings, rating_value_map(config), &d.raw,
                             eval::needs_timestamps(config.evaluate) ? &d.rated_at : nullptr,
                             /*parallel=*/false);
  return d;
}

EvalSummary evaluate_loaded(const eval::EvalData& data, const Config& config, std::ostream& out,
                            const log::Stopwatch& total) {
  EvalSummary s;
  s.result = eval::evaluate(data, config);
  s.seconds = total.seconds();
  s.json = eval_json(s.result, s.seconds);
  if (s.result.model_metrics.users_evaluated == 0) {
    log::warn("no user has a relevant held-out rating (evaluate.relevant_threshold " +
              std::to_string(config.evaluate.relevant_threshold) + "); ranking metrics are null");
  }
  if (s.result.users_fallback > 0) {
    log::info(std::to_string(s.result.users_fallback) + " user(s) without signal in " +
              s.result.model +
              "'s vectors are measured on the popularity fallback they are served");
  }
  log_table(s.result);
  log::info("evaluated " + s.result.model + " on " +
            std::to_string(s.result.model_metrics.users_evaluated) + " users in " +
            std::to_string(s.seconds) + " s");
  out << s.json << std::endl;
  return s;
}

}  // namespace

void evaluate_database(const Config& config, std::ostream& out) {
  log::Stopwatch total;
  const auto db = db::open_read_only(config.database, db::SchemaCheck::kAnyVersion);
  const eval::EvalData data = load_snapshot(*db, config);
  evaluate_loaded(data, config, out, total);
}

EvalSummary run_evaluate(SQLite::Database& db, const Config& config, db::RunRecord& run,
                         std::ostream& out, const eval::EvalData* loaded) {
  log::Stopwatch total;
  eval::EvalData own;
  if (!loaded) own = load_eval_ratings(db, config);
  const eval::EvalData& data = loaded ? *loaded : own;
  const double load_seconds = total.seconds();
  EvalSummary s = evaluate_loaded(data, config, out, total);

  run.model_type(s.result.model);
  run.metric_json("evaluation", s.json);
  if (is_rating_model(config.model)) {
    run.metric("eval_rmse", s.result.rmse);
    run.metric("eval_mae", s.result.mae);
  }
  for (const auto& c : s.result.model_metrics.at) {
    run.metric("eval_" + at("ndcg", c.k), c.ndcg);
    run.metric("eval_" + at("recall", c.k), c.recall);
    run.metric("eval_" + at("recall_capped", c.k), c.recall_capped);
  }
  run.count("eval_train_ratings", s.result.train_ratings);
  run.count("eval_test_ratings", s.result.test_ratings);
  run.count("eval_users", s.result.model_metrics.users_evaluated);
  run.count("eval_users_eligible", s.result.users_eligible);
  run.count("eval_users_fallback", s.result.users_fallback);
  run.timing("evaluate_load", load_seconds);
  run.timing("evaluate_fit", s.result.fit_seconds);
  run.timing("evaluate", s.seconds);
  run.save();
  return s;
}

}  // namespace recs
