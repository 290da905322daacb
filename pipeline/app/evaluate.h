// The evaluation: offline evaluation of the configured model on the stored
// ratings (see eval/evaluate.h): one JSON line on stdout, a table on stderr.
// Stores no model and publishes nothing. `pipeline evaluate` only reads the
// database; inside `pipeline run` (evaluate.in_run) the figures go to the
// run history and feed the quality gate.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <ostream>
#include <string>

#include "config/config.h"
#include "db/runs.h"
#include "eval/evaluate.h"

namespace recs {

// All stored ratings with dense indices (ascending external id, as
// load_ratings), values after import.rating_map, plus raw rating and, when
// evaluate.split needs them (eval::needs_timestamps), the timestamps (200 MB
// at ML-25M size otherwise held for nothing). Throws DatabaseError when there
// are none.
eval::EvalData load_eval_ratings(SQLite::Database& db, const Config& config);

// {"precision@10":..,...,"coverage":..} for one ranking.
std::string ranking_json(const eval::RankingMetrics& m);

// The stdout line (without newline): model, split, holdout_fraction,
// users_evaluated, rmse, mae (null for ranking-only models), model_metrics,
// popularity, seconds.
std::string eval_json(const eval::EvalResult& r, double seconds);

struct EvalSummary {
  eval::EvalResult result;
  std::string json;  // the line written to `out`
  double seconds = 0;
};

// Loads (unless `loaded` holds the ratings already), evaluates, writes the
// JSON line to `out` and the table to the log, and records the figures in
// `run` (metric "evaluation" holds the JSON object; eval_* scalar metrics
// for the headline figures) and saves it.
EvalSummary run_evaluate(SQLite::Database& db, const Config& config, db::RunRecord& run,
                         std::ostream& out, const eval::EvalData* loaded = nullptr);

// `pipeline evaluate`: opens the database read-only (no run lock, no run
// history: it never blocks a nightly run, nor waits for one) and evaluates.
// The ratings are one snapshot: a read that an import's commit overlapped
// is read again in one scan.
void evaluate_database(const Config& config, std::ostream& out);

}  // namespace recs
