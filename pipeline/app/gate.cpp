#include "app/gate.h"

#include <cmath>
#include <cstdio>
#include <map>
#include <string>

#include "app/serving.h"
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

GateVerdict judge_quality_gate(SQLite::Database& db, const Config& config,
                               const eval::EvalResult& r) {
  GateVerdict v;
  if (r.model_metrics.at.empty()) return v;
  v.k = config.evaluate.k.front();
  v.ndcg = r.model_metrics.at.front().ndcg;
  v.popularity = r.popularity.at.front().ndcg;
  // The NDCG the live recommendations' run measured, if it evaluated: at the
  // first cut-off both measured, so a changed evaluate.k still compares.
  const std::map<std::string, double> measured = live_publication(config, db)->run_metrics();
  v.published = std::nan("");
  for (std::size_t i = 0; i < config.evaluate.k.size() && i < r.model_metrics.at.size(); ++i) {
    const auto it = measured.find("eval_ndcg@" + std::to_string(config.evaluate.k[i]));
    if (it == measured.end()) continue;
    v.published_k = config.evaluate.k[i];
    v.drop_ndcg = r.model_metrics.at[i].ndcg;
    v.published = it->second;
    break;
  }
  if (v.published_k == 0) {
    std::string theirs;
    for (const auto& [key, value] : measured)
      if (key.starts_with("eval_ndcg@")) theirs += (theirs.empty() ? "" : ", ") + key.substr(5);
    if (!theirs.empty()) {
      log::warn(
          "the live set's run measured {} but none of evaluate.k, so the gate cannot "
          "compare with it (gate.max_drop); put one of those cut-offs in evaluate.k",
          theirs);
    }
  }
  v.enabled = config.gate.enabled;
  if (!v.enabled) return v;

  const std::string ndcg = "NDCG@" + std::to_string(v.k);
  if (!std::isfinite(v.ndcg)) {
    v.refusal = ndcg + " is not a number";
  } else if (v.ndcg < v.popularity) {
    v.refusal =
        ndcg + " " + fmt(v.ndcg) + " is below the popularity baseline's " + fmt(v.popularity);
  } else if (std::isfinite(v.published) && !(v.drop_ndcg >= v.published - config.gate.max_drop)) {
    v.refusal = "NDCG@" + std::to_string(v.published_k) + " " + fmt(v.drop_ndcg) +
                " dropped more than gate.max_drop " + fmt(config.gate.max_drop) +
                " below the published run's " + fmt(v.published);
  }
  return v;
}

void enforce_quality_gate(const GateVerdict& v, db::RunRecord& run) {
  if (!v.enabled) return;
  run.metric("gate_passed", v.refusal.empty() ? 1.0 : 0.0);
  if (!v.refusal.empty()) {
    throw GateError("quality gate refused to publish: " + v.refusal +
                    "; the previous recommendations stay in place");
  }
  log::info("quality gate passed: NDCG@" + std::to_string(v.k) + " " + fmt(v.ndcg) +
            " (popularity " + fmt(v.popularity) +
            (!std::isfinite(v.published) ? ""
             : v.published_k == v.k
                 ? ", published run " + fmt(v.published)
                 : ", at " + std::to_string(v.published_k) + " " + fmt(v.drop_ndcg) +
                       " against the published run's " + fmt(v.published)) +
            ")");
}

}  // namespace recs
