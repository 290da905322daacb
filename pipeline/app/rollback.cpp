#include "app/rollback.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "app/run.h"
#include "app/score.h"
#include "db/model_store.h"
#include "db/postgres.h"
#include "db/sqlite.h"
#include "util/error.h"
#include "util/log.h"

namespace recs {
namespace {

std::string optional_id(const std::optional<std::int64_t>& id) {
  return id ? std::to_string(*id) : std::string("none");
}

// Why there is nothing to roll back to, or to `published_by`'s set.
std::string nothing_kept(SQLite::Database& db, const Config& config,
                         const std::vector<db::KeptSet>& kept,
                         std::optional<std::int64_t> published_by) {
  if (!published_by) {
    if (!db::sqlite_published(db)->top_n()) return "nothing to roll back to: nothing is published";
    return fmt::format(
        "nothing to roll back to: no published set is kept besides the live one ({}); the live "
        "set stays",
        config.keep.sets < 2
            ? fmt::format("keep.sets is {}: a publish keeps no previous set", config.keep.sets)
            : std::string("the next publish keeps the set it replaces"));
  }
  if (db::sqlite_published(db)->run_id() == published_by) {
    return fmt::format("the set run {} published is live already; nothing changed", *published_by);
  }
  std::string runs;
  for (const db::KeptSet& k : kept) runs += (runs.empty() ? "" : ", ") + optional_id(k.run_id);
  return fmt::format("no kept set was published by run {} (kept: {}); nothing changed",
                     *published_by, runs.empty() ? "none" : "sets of runs " + runs);
}

}  // namespace

std::string describe_set(const db::KeptSet& set) {
  return fmt::format("the set of run {} (model {}, {} rows, published {})", optional_id(set.run_id),
                     optional_id(set.model_id), set.row_count, set.published_at);
}

void run_rollback(const Config& config, std::optional<std::int64_t> published_by) {
  log::set_stage("rollback");
  recorded_run(config, "rollback", [&](SQLite::Database& db, db::RunRecord& run, RunSummary&) {
    log::Stopwatch clock;
    run.id();  // records the run first: it cannot nest in the rollback
    if (!config.serve.postgres.empty()) {
      // The serving database keeps the previous generation: swap them.
      if (published_by) {
        throw NotFoundError(
            "serve.postgres keeps the live and the previous generation only: rollback --run "
            "does not apply; nothing changed");
      }
      const db::LiveSwitch s =
          db::postgres_generations({config.serve.postgres, config.serve.reader_role})->restore();
      log::info(
          "generation {} is live again on the PostgreSQL server ({} rows), restored in {:.3f} s; "
          "generation {} is kept in its place ('pipeline rollback' again swaps them back)",
          s.generation, s.rows, clock.seconds(), optional_id(s.previous));
      run.count("postgres_generation", s.generation);
      run.count("recommendations", s.rows);
      run.count("users_scored", s.users);
      run.timing("rollback", clock.seconds());
      return;
    }
    const auto sets = db::sqlite_kept_sets(db);
    const std::vector<db::KeptSet> kept = sets->list();
    const bool found =
        published_by ? std::any_of(kept.begin(), kept.end(),
                                   [&](const db::KeptSet& k) { return k.run_id == published_by; })
                     : !kept.empty();
    if (!found) throw NotFoundError(nothing_kept(db, config, kept, published_by));

    const db::Rollback r = sets->rollback(published_by);
    const double seconds = clock.seconds();
    log::info("{} is live again, restored in {:.3f} s", describe_set(r.restored), seconds);
    if (r.retired) {
      log::info("{} is kept in its place ('pipeline rollback' again swaps them back)",
                describe_set(*r.retired));
    }
    if (r.restored.run_id) run.count("restored_run_id", *r.restored.run_id);
    if (r.restored.model_id) {
      run.count("published_model_id", *r.restored.model_id);
      for (const db::ModelInfo& m : db::sqlite_models(db)->list()) {
        if (m.model_id == *r.restored.model_id) run.model_type(m.type);
      }
    }
    if (r.retired && r.retired->run_id) run.count("retired_run_id", *r.retired->run_id);
    run.count("recommendations", r.restored.row_count);
    run.count("users_scored", r.restored.user_count);
    run.timing("rollback", seconds);
  });
}

void run_publish(const Config& config, std::optional<std::int64_t> model_id) {
  log::set_stage("publish");
  recorded_run(config, "publish",
               [&](SQLite::Database& db, db::RunRecord& run, RunSummary& summary) {
                 summary.publish = run_score(db, config, run, model_id);
               });
}

}  // namespace recs
