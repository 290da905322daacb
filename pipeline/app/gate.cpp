#include "app/gate.h"

#include <cmath>
#include <cstdio>
#include <string>

#include "db/publish.h"
#include "db/sqlite.h"
#include "util/error.h"
#include "util/log.h"

namespace recs {
namespace {

std::string fmt(double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.4f", v);
  return buf;
}

}  // namespace

void check_quality_gate(SQLite::Database& db, const Config& config, const eval::EvalResult& r,
                        db::RunRecord& run) {
  if (!config.gate.enabled || r.model_metrics.at.empty()) return;
  const int k = config.evaluate.k.front();
  const std::string key = "eval_ndcg@" + std::to_string(k);
  const double ndcg = r.model_metrics.at.front().ndcg;
  const double popularity = r.popularity.at.front().ndcg;

  // The NDCG the live recommendations' run measured, if it evaluated.
  const double previous = db::sqlite_published(db)->run_metric(key).value_or(std::nan(""));

  std::string why;
  if (!std::isfinite(ndcg)) {
    why = "NDCG@" + std::to_string(k) + " is not a number";
  } else if (ndcg < popularity) {
    why = "NDCG@" + std::to_string(k) + " " + fmt(ndcg) + " is below the popularity baseline's " +
          fmt(popularity);
  } else if (std::isfinite(previous) && ndcg < previous - config.gate.max_drop) {
    why = "NDCG@" + std::to_string(k) + " " + fmt(ndcg) + " dropped more than gate.max_drop " +
          fmt(config.gate.max_drop) + " below the published run's " + fmt(previous);
  }
  run.metric("gate_passed", why.empty() ? 1.0 : 0.0);
  if (!why.empty()) {
    throw GateError("quality gate refused to publish: " + why +
                    "; the previous recommendations stay in place");
  }
  log::info("quality gate passed: NDCG@" + std::to_string(k) + " " + fmt(ndcg) + " (popularity " +
            fmt(popularity) + (std::isfinite(previous) ? ", published run " + fmt(previous) : "") +
            ")");
}

}  // namespace recs
