// The run history as the report reads it: the figures each run recorded
// (runs.metrics, runs.timings, runs.summary), the last training's epochs
// and the live set's score distribution. Backend-neutral; db/sqlite.h makes
// the SQLite one. Read-only.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace recs::db {

struct RunHistoryRow {
  std::int64_t run_id = 0;
  std::string command, status, started_at, finished_at, message, model_type;
  // The in-run evaluation (metrics.evaluation), model and popularity.
  std::optional<double> ndcg, popularity_ndcg, recall, popularity_recall;
  std::optional<double> eval_coverage, popularity_coverage;
  // The publish (metrics.churn, metrics.coverage).
  std::optional<double> churn, coverage;
  std::optional<double> total_seconds;                  // timings.total
  std::vector<std::pair<std::string, double>> timings;  // every other timing, as recorded
};

struct EpochRow {
  int epoch = 0;
  std::optional<double> loss, val_rmse;
};

struct ScoreHistogram {
  double min = 0, max = 0;
  std::vector<std::int64_t> counts;  // equal-width bins over [min, max]
};

class RunHistory {
 public:
  virtual ~RunHistory() = default;

  // The last `limit` runs, oldest first. The evaluation's NDCG and recall
  // are read at `ndcg_k` and `recall_k` (evaluate.k's cut-offs).
  virtual std::vector<RunHistoryRow> recent(int limit, int ndcg_k, int recall_k) = 0;

  // The epochs of the newest run that recorded some (metrics.epochs), and
  // that run's id (0 when none did).
  virtual std::pair<std::int64_t, std::vector<EpochRow>> last_training() = 0;

  // The live recommendations' scores in `bins` bins (no counts when nothing
  // is published).
  virtual ScoreHistogram score_histogram(int bins) = 0;

  // The newest run's summary (runs.summary) flattened into (path, value)
  // pairs such as ("import.ratings", "100836"), in document order.
  virtual std::vector<std::pair<std::string, std::string>> summary_of(std::int64_t run_id) = 0;
};

}  // namespace recs::db
