// The quality gate: before a run publishes, its evaluated model must rank at
// least as well as the popularity baseline on the same split and not worse
// than the last published run by more than gate.max_drop.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <string>

#include "config/config.h"
#include "db/runs.h"
#include "eval/evaluate.h"

namespace recs {

// The gate's figures at the first evaluate.k, and its verdict.
struct GateVerdict {
  bool enabled = false;  // gate.enabled, with ranking figures to judge
  int k = 0;
  double ndcg = 0;        // the evaluated model's
  double popularity = 0;  // the popularity baseline's, same split
  // The drop check's cut-off: the first of evaluate.k the live set's run
  // measured NDCG at (0 when it measured none), this evaluation's NDCG there
  // and the run's.
  int published_k = 0;
  double drop_ndcg = 0;
  double published = 0;  // the live set's run's NDCG@published_k; NaN when none
  std::string refusal;   // why it refuses; empty = publish
};

// Judges the evaluation against the baseline and the live set's run.
GateVerdict judge_quality_gate(SQLite::Database& db, const Config& config,
                               const eval::EvalResult& r);

// Records the verdict in `run` and throws GateError naming the figures
// when it refuses.
void enforce_quality_gate(const GateVerdict& verdict, db::RunRecord& run);

}  // namespace recs
