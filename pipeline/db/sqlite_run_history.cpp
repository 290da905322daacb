#include <SQLiteCpp/SQLiteCpp.h>

#include <algorithm>
#include <string>

#include "db/run_history.h"
#include "db/sqlite.h"
#include "db/sqlite_error.h"

namespace recs::db {
namespace {

std::optional<double> optional_real(const SQLite::Column& c) {
  if (c.isNull()) return std::nullopt;
  return c.getDouble();
}

class SqliteRunHistory final : public RunHistory {
 public:
  explicit SqliteRunHistory(SQLite::Database& db) : db_(db) {}

  std::vector<RunHistoryRow> recent(int limit, int ndcg_k, int recall_k) override {
    return translate_errors(db_, [&] { return read_recent(limit, ndcg_k, recall_k); });
  }
  std::pair<std::int64_t, std::vector<EpochRow>> last_training() override {
    return translate_errors(db_, [&] { return read_last_training(); });
  }
  ScoreHistogram score_histogram(int bins) override {
    return translate_errors(db_, [&] { return read_score_histogram(bins); });
  }
  std::vector<std::pair<std::string, std::string>> summary_of(std::int64_t run_id) override {
    return translate_errors(db_, [&] { return read_summary(run_id); });
  }

 private:
  std::vector<RunHistoryRow> read_recent(int limit, int ndcg_k, int recall_k) {
    // Keys such as "ndcg@10" need quoting inside a JSON path.
    auto path = [](const char* side, const char* metric, int k) {
      return std::string("$.evaluation.") + side + ".\"" + metric + "@" + std::to_string(k) + "\"";
    };
    SQLite::Statement q(db_,
                        "SELECT run_id, command, status, started_at, coalesce(finished_at, ''), "
                        "coalesce(message, ''), coalesce(model_type, ''), "
                        "json_extract(metrics, ?1), json_extract(metrics, ?2), "
                        "json_extract(metrics, ?3), json_extract(metrics, ?4), "
                        "json_extract(metrics, '$.evaluation.model_metrics.coverage'), "
                        "json_extract(metrics, '$.evaluation.popularity.coverage'), "
                        "json_extract(metrics, '$.churn'), json_extract(metrics, '$.coverage'), "
                        "json_extract(timings, '$.total') "
                        "FROM runs ORDER BY run_id DESC LIMIT ?5");
    q.bind(1, path("model_metrics", "ndcg", ndcg_k));
    q.bind(2, path("popularity", "ndcg", ndcg_k));
    q.bind(3, path("model_metrics", "recall", recall_k));
    q.bind(4, path("popularity", "recall", recall_k));
    q.bind(5, limit);
    std::vector<RunHistoryRow> rows;
    while (q.executeStep()) {
      RunHistoryRow r;
      r.run_id = q.getColumn(0).getInt64();
      r.command = q.getColumn(1).getString();
      r.status = q.getColumn(2).getString();
      r.started_at = q.getColumn(3).getString();
      r.finished_at = q.getColumn(4).getString();
      r.message = q.getColumn(5).getString();
      r.model_type = q.getColumn(6).getString();
      r.ndcg = optional_real(q.getColumn(7));
      r.popularity_ndcg = optional_real(q.getColumn(8));
      r.recall = optional_real(q.getColumn(9));
      r.popularity_recall = optional_real(q.getColumn(10));
      r.eval_coverage = optional_real(q.getColumn(11));
      r.popularity_coverage = optional_real(q.getColumn(12));
      r.churn = optional_real(q.getColumn(13));
      r.coverage = optional_real(q.getColumn(14));
      r.total_seconds = optional_real(q.getColumn(15));
      rows.push_back(std::move(r));
    }
    std::reverse(rows.begin(), rows.end());
    if (rows.empty()) return rows;
    SQLite::Statement t(
        db_,
        "SELECT r.run_id, j.key, j.value FROM runs AS r, json_each(r.timings) AS j "
        "WHERE r.run_id >= ? AND j.key <> 'total' AND j.type IN ('real', 'integer') "
        "ORDER BY r.run_id, j.id");
    t.bind(1, rows.front().run_id);
    std::size_t i = 0;
    while (t.executeStep()) {
      const std::int64_t id = t.getColumn(0).getInt64();
      while (i < rows.size() && rows[i].run_id < id) ++i;
      if (i == rows.size()) break;
      if (rows[i].run_id == id) {
        rows[i].timings.emplace_back(t.getColumn(1).getString(), t.getColumn(2).getDouble());
      }
    }
    return rows;
  }

  std::pair<std::int64_t, std::vector<EpochRow>> read_last_training() {
    SQLite::Statement q(
        db_,
        "SELECT r.run_id, json_extract(j.value, '$.epoch'), json_extract(j.value, '$.loss'), "
        "json_extract(j.value, '$.val_rmse') FROM runs AS r, json_each(r.metrics, '$.epochs') AS j "
        "WHERE r.run_id = (SELECT max(run_id) FROM runs "
        "                  WHERE json_array_length(metrics, '$.epochs') > 0) "
        "ORDER BY j.key");
    std::pair<std::int64_t, std::vector<EpochRow>> out{0, {}};
    while (q.executeStep()) {
      out.first = q.getColumn(0).getInt64();
      out.second.push_back(
          {q.getColumn(1).getInt(), optional_real(q.getColumn(2)), optional_real(q.getColumn(3))});
    }
    return out;
  }

  ScoreHistogram read_score_histogram(int bins) {
    ScoreHistogram h;
    SQLite::Statement range(db_, "SELECT min(score), max(score) FROM recommendations");
    if (!range.executeStep() || range.getColumn(0).isNull()) return h;
    h.min = range.getColumn(0).getDouble();
    h.max = range.getColumn(1).getDouble();
    h.counts.assign(static_cast<std::size_t>(bins), 0);
    const double width = h.max > h.min ? (h.max - h.min) / bins : 1.0;
    SQLite::Statement q(db_,
                        "SELECT min(CAST((score - ?1) / ?2 AS INTEGER), ?3 - 1) AS bin, count(*) "
                        "FROM recommendations GROUP BY bin");
    q.bind(1, h.min);
    q.bind(2, width);
    q.bind(3, bins);
    while (q.executeStep()) {
      const int bin = std::clamp(q.getColumn(0).getInt(), 0, bins - 1);
      h.counts[static_cast<std::size_t>(bin)] += q.getColumn(1).getInt64();
    }
    return h;
  }

  std::vector<std::pair<std::string, std::string>> read_summary(std::int64_t run_id) {
    SQLite::Statement q(db_,
                        "SELECT replace(substr(j.fullkey, 3), '\"', ''), coalesce(j.atom, 'null') "
                        "FROM runs AS r, json_tree(r.summary) AS j "
                        "WHERE r.run_id = ? AND j.type NOT IN ('object', 'array') ORDER BY j.id");
    q.bind(1, run_id);
    std::vector<std::pair<std::string, std::string>> out;
    while (q.executeStep())
      out.emplace_back(q.getColumn(0).getString(), q.getColumn(1).getString());
    return out;
  }

  SQLite::Database& db_;
};

}  // namespace

std::unique_ptr<RunHistory> sqlite_run_history(SQLite::Database& db) {
  return std::make_unique<SqliteRunHistory>(db);
}

}  // namespace recs::db
