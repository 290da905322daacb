#include "app/evaluate.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>

#include "io/movielens.h"
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
  std::snprintf(buf, sizeof buf, "%-14s %10s %10s", name.c_str(), cell(model).c_str(),
                cell(popularity).c_str());
  return buf;
}

// The readable table: metric | model | popularity.
void log_table(const eval::EvalResult& r) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  char head[128];
  std::snprintf(head, sizeof head, "%-14s %10s %10s", "metric", r.model.c_str(), "popularity");
  log::info(head);
  log::info(row("rmse", r.rmse, nan));
  log::info(row("mae", r.mae, nan));
  for (std::size_t j = 0; j < r.model_metrics.at.size(); ++j) {
    const auto& m = r.model_metrics.at[j];
    const auto& p = r.popularity.at[j];
    log::info(row(at("precision", m.k), m.precision, p.precision));
    log::info(row(at("recall", m.k), m.recall, p.recall));
    log::info(row(at("ndcg", m.k), m.ndcg, p.ndcg));
    log::info(row(at("map", m.k), m.map, p.map));
    log::info(row(at("hit_rate", m.k), m.hit_rate, p.hit_rate));
  }
  log::info(row("coverage", r.model_metrics.coverage, r.popularity.coverage));
}

}  // namespace

eval::EvalData load_eval_ratings(SQLite::Database& db, const Config& config) {
  eval::EvalData d;
  RatingMatrix& r = d.ratings;
  auto n = static_cast<std::size_t>(db.execAndGet("SELECT count(*) FROM ratings").getInt64());
  if (n == 0) throw DatabaseError(db.getFilename() + ": no ratings (run 'pipeline import' first)");
  std::vector<std::int64_t> movie_ext;
  movie_ext.reserve(n);
  r.user.reserve(n);
  r.value.reserve(n);
  d.raw.reserve(n);
  d.rated_at.reserve(n);
  SQLite::Statement q(
      db, "SELECT user_id, movie_id, rating, rated_at FROM ratings ORDER BY user_id, movie_id");
  const std::string where = db.getFilename() + ": table ratings";
  std::map<double, float> mapped;  // few distinct values; maps each once
  while (q.executeStep()) {
    std::int64_t u = q.getColumn(0).getInt64();
    if (r.user_ids.empty() || r.user_ids.back() != u) r.user_ids.push_back(u);
    r.user.push_back(static_cast<std::int32_t>(r.user_ids.size() - 1));
    movie_ext.push_back(q.getColumn(1).getInt64());
    double raw = q.getColumn(2).getDouble();
    auto it = mapped.find(raw);
    if (it == mapped.end()) {
      it = mapped.emplace(raw, static_cast<float>(map_rating(config.import, raw, where))).first;
    }
    r.value.push_back(it->second);
    d.raw.push_back(raw);
    d.rated_at.push_back(q.getColumn(3).getInt64());
  }
  r.movie_ids = movie_ext;
  std::sort(r.movie_ids.begin(), r.movie_ids.end());
  r.movie_ids.erase(std::unique(r.movie_ids.begin(), r.movie_ids.end()), r.movie_ids.end());
  r.movie.resize(movie_ext.size());
  for (std::size_t i = 0; i < movie_ext.size(); ++i) {
    r.movie[i] = static_cast<std::int32_t>(
        std::lower_bound(r.movie_ids.begin(), r.movie_ids.end(), movie_ext[i]) -
        r.movie_ids.begin());
  }
  return d;
}

std::string ranking_json(const eval::RankingMetrics& m) {
  JsonObject o;
  for (const auto& c : m.at) {
    o.add(at("precision", c.k), c.precision)
        .add(at("recall", c.k), c.recall)
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
      .add("rmse", r.rmse)  // NaN is written as null
      .add("mae", r.mae)
      .add_raw("model_metrics", ranking_json(r.model_metrics))
      .add_raw("popularity", ranking_json(r.popularity))
      .add("seconds", seconds);
  return o.str();
}

EvalSummary run_evaluate(SQLite::Database& db, const Config& config, db::RunRecord& run,
                         std::ostream& out) {
  log::Stopwatch total;
  const eval::EvalData data = load_eval_ratings(db, config);
  const double load_seconds = total.seconds();

  EvalSummary s;
  s.result = eval::evaluate(data, config);
  s.seconds = total.seconds();
  s.json = eval_json(s.result, s.seconds);
  if (s.result.model_metrics.users_evaluated == 0) {
    log::warn("no user has a relevant held-out rating (evaluate.relevant_threshold " +
              std::to_string(config.evaluate.relevant_threshold) + "); ranking metrics are null");
  }
  log_table(s.result);
  log::info("evaluated " + s.result.model + " on " +
            std::to_string(s.result.model_metrics.users_evaluated) + " users in " +
            std::to_string(s.seconds) + " s");
  out << s.json << std::endl;

  run.model_type(s.result.model);
  run.metric_json("evaluation", s.json);
  if (eval::is_rating_model(s.result.model)) {
    run.metric("eval_rmse", s.result.rmse);
    run.metric("eval_mae", s.result.mae);
  }
  for (const auto& c : s.result.model_metrics.at) {
    run.metric("eval_" + at("ndcg", c.k), c.ndcg);
    run.metric("eval_" + at("recall", c.k), c.recall);
  }
  run.count("eval_train_ratings", s.result.train_ratings);
  run.count("eval_test_ratings", s.result.test_ratings);
  run.count("eval_users", s.result.model_metrics.users_evaluated);
  run.timing("evaluate_load", load_seconds);
  run.timing("evaluate_fit", s.result.fit_seconds);
  run.timing("evaluate", s.seconds);
  run.save();
  return s;
}

}  // namespace recs
