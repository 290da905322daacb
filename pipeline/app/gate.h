// The quality gate: before a run publishes, its evaluated model must rank at
// least as well as the popularity baseline on the same split and not worse
// than the last published run by more than gate.max_drop.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include "config/config.h"
#include "db/runs.h"
#include "eval/evaluate.h"

namespace recs {

// Throws GateError naming the figures when the model fails; records the
// verdict in `run` either way.
void check_quality_gate(SQLite::Database& db, const Config& config, const eval::EvalResult& r,
                        db::RunRecord& run);

}  // namespace recs
