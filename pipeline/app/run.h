// The commands that write the database, as recorded runs: the nightly `run`
// (import -> optional evaluate + quality gate -> train -> score) and the
// stages import, train and score alone. The command line (cli/) parses and
// calls these; everything a run does around its stages (lock, migration,
// run history, closing summary, checkpoint) happens here, once.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <functional>
#include <ostream>
#include <string_view>

#include "app/summary.h"
#include "config/config.h"
#include "db/runs.h"

namespace recs {

// The body of a recorded run: the open, migrated database, the run's
// history row, and the summary its stages fill as they finish.
using RunBody = std::function<void(SQLite::Database& db, db::RunRecord& run, RunSummary& summary)>;

// Runs `body` as a recorded run named `command` (the runs table's command).
// Once the config is valid every run leaves a row, except when there is no
// database to write: the database path is unusable (ConfigError), another
// run holds the run lock (LockedError: that run owns the database), or the
// database cannot be opened or migrated (DatabaseError). Otherwise it takes
// the lock, opens (creating when missing) and migrates the database and
// inserts the 'running' row at once, so every log line names the run. Then:
// success is checkpointed and marked 'succeeded'; bad input or
// configuration the body finds (InputError, ConfigError: a missing file, a
// malformed CSV row) is marked 'refused' with its message; any other error
// is marked 'failed'; errors are rethrown. Either way the run ends with the
// summary paragraph on stderr, its figures saved in runs.summary. With
// `json`, the run's result goes there too as one JSON document (see
// run_result_json), also when it failed or was refused.
void recorded_run(const Config& config, std::string_view command, std::ostream* json,
                  const RunBody& body);
inline void recorded_run(const Config& config, std::string_view command, const RunBody& body) {
  recorded_run(config, command, nullptr, body);
}

// {"run_id":3,"command":"run","status":"refused","exit_code":4,"seconds":0.07,
//  "message":"...","summary":{...}}: what `--json` prints; message is null on
// success, summary is runs.summary.
std::string run_result_json(std::int64_t run_id, std::string_view command, std::string_view status,
                            int exit_code, double seconds, std::string_view message,
                            const std::string& summary);

// `pipeline run`: the nightly job as one recorded run "run". Checks the
// import inputs first; with evaluate.in_run evaluates the configured model
// on a hold-out split (its JSON line is not printed) and applies the quality
// gate (GateError, nothing published) before training on all ratings and
// scoring. Records each stage's timings and the total.
void run_nightly(const Config& config, std::ostream* json = nullptr);

// A stage run alone, reading what the previous stage left in the database.
enum class Stage { kImport, kTrain, kScore };

// Its name: the command word, the log stage and the runs table's command.
std::string_view stage_name(Stage stage);

// `pipeline import|train|score`: one stage as its own recorded run.
void run_stage(Stage stage, const Config& config, std::ostream* json = nullptr);

}  // namespace recs
