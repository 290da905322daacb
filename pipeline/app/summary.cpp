#include "app/summary.h"

#include <fmt/format.h>

#include <cmath>
#include <vector>

#include "util/json.h"

namespace recs {
namespace {

// A figure with 4 significant digits, "n/a" when it is not a number.
std::string num(double v) { return std::isfinite(v) ? fmt::format("{:.4g}", v) : "n/a"; }

std::string imported(const ImportSummary& s) {
  return fmt::format(
      "imported {} ratings from {} users ({} new, {} updated, {} removed{}), {} movies in the "
      "catalogue{}",
      s.ratings, s.users, s.inserted, s.updated, s.deleted,
      s.bad_rows ? fmt::format(", {} bad rows skipped", s.bad_rows) : "", s.movies,
      catalog_changes(s.catalog));
}

// The epoch the model kept (early stopping may restore an earlier one).
const EpochReport* kept_epoch(const TrainReport& r) {
  if (r.epochs.empty()) return nullptr;
  const int kept = r.kept_epoch;
  if (kept > 0 && kept <= static_cast<int>(r.epochs.size()))
    return &r.epochs[static_cast<std::size_t>(kept - 1)];
  return &r.epochs.back();
}

std::string trained(const TrainSummary& s) {
  std::string out =
      fmt::format("trained model {} ({}, {} epochs", s.model_id, s.type, s.report.epochs.size());
  if (const EpochReport* e = kept_epoch(s.report)) {
    if (s.report.kept_epoch > 0 && s.report.kept_epoch != static_cast<int>(s.report.epochs.size()))
      out += fmt::format(", kept epoch {}", s.report.kept_epoch);
    out += ", loss " + num(e->loss);
    if (s.validation_ratings > 0) {
      out +=
          fmt::format(", validation RMSE {} on {} ratings", num(e->val_rmse), s.validation_ratings);
    }
  }
  return out + ")";
}

std::string gate(const GateVerdict& g) {
  std::string figures = fmt::format("NDCG@{} {} vs popularity {} vs last published ", g.k,
                                    num(g.ndcg), num(g.popularity));
  if (g.published_k == 0 || g.published_k == g.k) {
    figures += num(g.published);
  } else {
    figures += fmt::format("{} at NDCG@{} (this run {})", num(g.published), g.published_k,
                           num(g.drop_ndcg));
  }
  if (!g.enabled) return "evaluated (quality gate off): " + figures;
  return (g.refusal.empty() ? "quality gate passed: " : "quality gate refused: ") + figures;
}

std::string published(const ScoreSummary& s) {
  std::string out =
      fmt::format("published {} recommendations for {} users", s.rows, s.users_published);
  if (s.users_published != s.users) out += fmt::format(" ({} scored)", s.users);
  out += fmt::format(" from model {} ({})", s.model_id, s.model_type);
  if (s.churn) {
    out += fmt::format(", churn {:.4f} over the {} users in both sets", *s.churn, s.churn_users);
    if (s.new_users) out += fmt::format(" ({} users new)", s.new_users);
  } else {
    out += ", churn n/a (no previous set to compare)";
  }
  out += fmt::format(", coverage {:.1f} % ({} of {} movies)", 100 * s.coverage, s.movies_covered,
                     s.candidate_movies);
  return out;
}

}  // namespace

std::string summary_paragraph(const RunSummary& s, std::string_view status, double seconds,
                              std::string_view command) {
  std::vector<std::string> parts;
  std::vector<std::string> missing;
  const bool all = command == "run";
  if (s.import) {
    parts.push_back(imported(*s.import));
  } else if (all || command == "import") {
    missing.push_back("import");
  }
  if (s.gate) parts.push_back(gate(*s.gate));
  if (s.train) {
    parts.push_back(trained(*s.train));
  } else if (all || command == "train") {
    missing.push_back("training");
  }
  if (s.publish) {
    parts.push_back(published(*s.publish));
  } else if (all || command == "score") {
    missing.push_back("publish");
  }
  std::string out = fmt::format("summary: {} {} in {:.2f} s", command, status, seconds);
  for (std::size_t i = 0; i < parts.size(); ++i) out += (i ? "; " : ": ") + parts[i];
  if (!missing.empty()) {
    out += parts.empty() ? ": no " : "; no ";
    for (std::size_t i = 0; i < missing.size(); ++i) {
      if (i) out += i + 1 == missing.size() ? " or " : ", ";
      out += missing[i];
    }
  }
  return out;
}

std::string summary_json(const RunSummary& s) {
  JsonObject out;
  if (s.import) {
    const ImportSummary& i = *s.import;
    out.add_raw("import", JsonObject()
                              .add("ratings", i.ratings)
                              .add("users", i.users)
                              .add("inserted", i.inserted)
                              .add("updated", i.updated)
                              .add("removed", i.deleted)
                              .add("movies", i.movies)
                              .add("bad_rows", i.bad_rows)
                              .str());
  }
  if (s.train) {
    const TrainSummary& t = *s.train;
    JsonObject o;
    o.add("model_id", t.model_id)
        .add("type", t.type)
        .add("epochs", static_cast<std::int64_t>(t.report.epochs.size()))
        .add("kept_epoch", t.report.kept_epoch)
        .add("train_ratings", t.train_ratings)
        .add("validation_ratings", t.validation_ratings);
    if (const EpochReport* e = kept_epoch(t.report)) {
      o.add("loss", e->loss);
      if (t.validation_ratings > 0) o.add("val_mse", e->val_mse).add("val_rmse", e->val_rmse);
    }
    out.add_raw("train", o.str());
  }
  if (s.gate) {
    const GateVerdict& g = *s.gate;
    JsonObject o;
    o.add("k", g.k)
        .add("enabled", g.enabled ? std::int64_t{1} : std::int64_t{0})
        .add("ndcg", g.ndcg)
        .add("popularity_ndcg", g.popularity)
        .add("published_ndcg", g.published);
    if (g.published_k != 0) o.add("published_k", g.published_k);
    if (g.enabled) o.add("passed", g.refusal.empty() ? std::int64_t{1} : std::int64_t{0});
    out.add_raw("gate", o.str());
  }
  if (s.publish) {
    const ScoreSummary& p = *s.publish;
    JsonObject o;
    o.add("model_id", p.model_id)
        .add("users", p.users_published)
        .add("users_scored", p.users)
        .add("rows", p.rows)
        .add("churn", p.churn.value_or(std::nan("")))
        .add("churn_users", p.churn_users)
        .add("new_users", p.new_users)
        .add("coverage", p.coverage)
        .add("movies_covered", p.movies_covered)
        .add("candidate_movies", p.candidate_movies);
    out.add_raw("publish", o.str());
  }
  return out.str();
}

}  // namespace recs
