// The commands that write the database, as recorded runs: the nightly `run`
// (import -> optional evaluate + quality gate -> train -> score) and each
// stage alone. The command line (cli/) parses and calls these; everything a
// run does around its stages (lock, migration, run history, checkpoint)
// happens here, once.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <functional>
#include <ostream>
#include <string_view>

#include "config/config.h"
#include "db/runs.h"

namespace recs {

// The body of a recorded run: the open, migrated database and the run's
// history row.
using RunBody = std::function<void(SQLite::Database& db, db::RunRecord& run)>;

// Runs `body` as a recorded run named `command` (the runs table's command):
// takes the run lock (LockedError while another run holds it), opens and
// migrates the database, and records the outcome. On success the WAL is
// checkpointed and the run marked succeeded. On failure the run is marked
// failed and the error rethrown, except that a run refused for bad input or
// configuration before it recorded anything stays unrecorded, so the
// database is byte-for-byte as before.
void recorded_run(const Config& config, std::string_view command, const RunBody& body);

// `pipeline run`: the nightly job as one recorded run "run". Checks the
// import inputs first; with evaluate.in_run evaluates the configured model
// on a hold-out split (its JSON line is not printed) and applies the quality
// gate (GateError, nothing published) before training on all ratings and
// scoring. Records each stage's timings and the total.
void run_nightly(const Config& config);

// A stage run alone, reading what the previous stage left in the database.
enum class Stage { kImport, kEvaluate, kTrain, kScore };

// Its name: the command word, the log stage and the runs table's command.
std::string_view stage_name(Stage stage);

// `pipeline import|evaluate|train|score`: one stage as its own recorded run.
// `results` receives what the stage prints for the user (evaluate's JSON
// line; the others print nothing).
void run_stage(Stage stage, const Config& config, std::ostream& results);

}  // namespace recs
