#include "app/score.h"

#include <cmath>

#include "db/database.h"
#include "db/model_store.h"
#include "db/publish.h"
#include "scoring/topn.h"
#include "util/error.h"
#include "util/log.h"

namespace recs {
namespace {

// The movies each model user rated, as model indices (CSR), for masking.
UserItems rated_items(SQLite::Database& db, const db::StoredModel& m) {
  UserItems items;
  items.indptr.assign(m.user_ids.size() + 1, 0);
  SQLite::Statement q(db, "SELECT user_id, movie_id FROM ratings ORDER BY user_id, movie_id");
  std::size_t u = 0;
  while (q.executeStep()) {
    std::int64_t user = q.getColumn(0).getInt64();
    while (u < m.user_ids.size() && m.user_ids[u] < user) items.indptr[++u] = items.indices.size();
    if (u == m.user_ids.size() || m.user_ids[u] != user) continue;  // not in the model
    int movie = m.movie_index(q.getColumn(1).getInt64());
    if (movie >= 0) items.indices.push_back(movie);
  }
  while (u < m.user_ids.size()) items.indptr[++u] = items.indices.size();
  return items;
}

}  // namespace

ScoreSummary run_score(SQLite::Database& db, const Config& config, db::RunRecord& run) {
  log::Stopwatch total;
  db::StoredModel model = db::load_latest_model(db);
  if (!model.users.allFinite() || !model.movies.allFinite()) {
    throw GateError("model " + std::to_string(model.model_id) +
                    " has non-finite vectors; refusing to publish");
  }
  UserItems rated;
  if (config.score.exclude_rated) rated = rated_items(db, model);
  double load_seconds = total.seconds();
  log::info("scoring " + std::to_string(model.user_ids.size()) + " users x " +
            std::to_string(model.movie_ids.size()) + " movies with model " +
            std::to_string(model.model_id) + " (" + model.type + "), top " +
            std::to_string(config.score.top_n));

  TopNOptions options;
  options.top_n = config.score.top_n;
  options.threads = config.score.threads;
  options.user_block = config.score.user_block;
  options.movie_block = config.score.movie_block;

  ScoreSummary s;
  log::Stopwatch clock;
  std::int64_t run_id = run.id();  // records the run first: it cannot nest in the publish
  try {
    db::Publisher publisher(db);
    bool finite = true;
    score_top_n(
        model.users, model.movies, config.score.exclude_rated ? &rated : nullptr, options,
        [&](const TopNBlock& b) { finite &= publisher.add(b, model.user_ids, model.movie_ids); });
    if (!finite) throw GateError("scores are not finite; refusing to publish");
    publisher.commit(run_id, model.model_id, config.score.top_n);
    s.rows = publisher.rows();
    s.users = static_cast<std::int64_t>(model.user_ids.size());
  } catch (const SQLite::Exception& e) {
    throw DatabaseError(
        config.database.string() +
        ": publishing failed, the previous recommendations stay in place: " + e.what());
  }
  s.seconds = clock.seconds();
  log::info("published " + std::to_string(s.rows) + " recommendations for " +
            std::to_string(s.users) + " users in " + std::to_string(s.seconds) + " s");
  run.count("users_scored", s.users);
  run.count("recommendations", s.rows);
  run.count("published_model_id", model.model_id);
  run.model_type(model.type);
  run.timing("score_load", load_seconds);
  run.timing("score_publish", s.seconds);
  run.timing("score", total.seconds());
  return s;
}

}  // namespace recs
