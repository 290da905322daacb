#include "app/predict.h"

#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cstdio>
#include <iterator>

#include "db/catalog.h"
#include "db/model_store.h"
#include "db/sqlite.h"
#include "io/csv.h"
#include "util/error.h"
#include "util/log.h"

namespace recs {
namespace {

std::string format_score(float v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.7g", static_cast<double>(v));
  return buf;
}

// Why the model cannot score the pair ("user 7 is not in the model ..."),
// empty when it can.
std::string unknown_reason(const db::StoredModel& m, std::int64_t user, std::int64_t movie) {
  if (m.user_index(user) < 0) {
    return "user " + std::to_string(user) + " is not in the model (trained on " +
           std::to_string(m.user_ids.size()) + " users)";
  }
  if (m.movie_index(movie) < 0) {
    return "movie " + std::to_string(movie) + " is not in the model (trained on " +
           std::to_string(m.movie_ids.size()) + " rated movies)";
  }
  return {};
}

float score(const db::StoredModel& m, std::int64_t user, std::int64_t movie,
            const std::string& where) {
  if (std::string why = unknown_reason(m, user, movie); !why.empty()) throw InputError(where + why);
  return m.users.row(m.user_index(user)).dot(m.movies.row(m.movie_index(movie)));
}

std::string describe(const db::StoredModel& m) {
  return fmt::format("model {} ({}, trained {})", m.model_id, m.type, m.created_at);
}

}  // namespace

std::optional<ModelChoice> parse_model_choice(std::string_view text) {
  if (text == "published") return ModelChoice{ModelChoice::Kind::kPublished, 0};
  if (text == "latest") return ModelChoice{ModelChoice::Kind::kLatest, 0};
  std::int64_t id = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size() || id <= 0) {
    return std::nullopt;
  }
  return ModelChoice{ModelChoice::Kind::kId, id};
}

db::StoredModel choose_model(SQLite::Database& db, db::PublishedSet& live,
                             const ModelChoice& choice) {
  auto models = db::sqlite_models(db);
  switch (choice.kind) {
    case ModelChoice::Kind::kPublished: {
      std::string why = "nothing is published yet";
      if (const auto id = live.model_id()) {
        try {
          db::StoredModel m = models->get(*id);
          log::info("scoring with {}, the published one", describe(m));
          return m;
        } catch (const NotFoundError&) {
          why = fmt::format("the published set's model {} is no longer kept", *id);
        }
      } else if (live.top_n()) {
        why = "the published set names no model";
      }
      db::StoredModel latest = models->latest();
      log::info("scoring with {}, the newest: {}", describe(latest), why);
      return latest;
    }
    case ModelChoice::Kind::kLatest: {
      db::StoredModel latest = models->latest();
      log::info("scoring with {}, the newest (--model latest)", describe(latest));
      return latest;
    }
    case ModelChoice::Kind::kId: {
      db::StoredModel m = models->get(choice.id);
      log::info("scoring with {} (--model {})", describe(m), choice.id);
      return m;
    }
  }
  throw Error(ExitCode::kInternal, "unknown model choice");
}

void predict_one(const db::StoredModel& m, std::int64_t user, std::int64_t movie,
                 std::ostream& out) {
  out << format_score(score(m, user, movie, "")) << "\n";
}

std::optional<OnUnknown> parse_on_unknown(std::string_view text) {
  if (text == "error") return OnUnknown::kError;
  if (text == "skip") return OnUnknown::kSkip;
  if (text == "nan") return OnUnknown::kNan;
  return std::nullopt;
}

PairIds ids_in_pairs(const std::filesystem::path& pairs) {
  CsvReader csv(pairs);
  std::vector<std::string_view> f;
  PairIds ids;
  const auto add = [](std::string_view text, std::vector<std::int64_t>& to) {
    std::int64_t id = 0;
    auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), id);
    if (ec == std::errc() && p == text.data() + text.size() && id > 0) to.push_back(id);
  };
  while (csv.next(f)) {
    if (csv.line() == 1 || f.size() != 2) continue;  // the header, or malformed
    add(f[0], ids.users);
    add(f[1], ids.movies);
  }
  for (auto* v : {&ids.users, &ids.movies}) {
    std::sort(v->begin(), v->end());
    v->erase(std::unique(v->begin(), v->end()), v->end());
  }
  return ids;
}

void warn_removed_movies(SQLite::Database& db, const db::StoredModel& m,
                         const std::vector<std::int64_t>& movies) {
  std::vector<std::int64_t> scored;
  for (std::int64_t id : movies)
    if (m.movie_index(id) >= 0) scored.push_back(id);
  if (scored.empty()) return;
  std::sort(scored.begin(), scored.end());
  const std::vector<std::int64_t> known = db::sqlite_catalog(db)->known_movie_ids();
  std::vector<std::int64_t> removed;
  std::set_difference(scored.begin(), scored.end(), known.begin(), known.end(),
                      std::back_inserter(removed));
  if (removed.empty()) return;
  log::warn(
      "{} movie{} asked about (first: {}) {} no longer in the database: an import removed {} "
      "since model {} was trained, so no published list shows {}",
      removed.size(), removed.size() == 1 ? "" : "s", removed.front(),
      removed.size() == 1 ? "is" : "are", removed.size() == 1 ? "it" : "them", m.model_id,
      removed.size() == 1 ? "it" : "them");
}

void predict_pairs(const db::StoredModel& m, const std::filesystem::path& pairs, std::ostream& out,
                   OnUnknown on_unknown) {
  CsvReader csv(pairs);
  csv.expect_header({"userId", "movieId"});
  std::vector<std::string_view> f;
  std::string text = "userId,movieId,score\n";
  std::int64_t unknown = 0;
  std::string first_unknown;
  while (csv.next(f)) {
    if (f.size() != 2)
      csv.fail("expected 2 fields (userId,movieId), got " + std::to_string(f.size()));
    std::int64_t ids[2];
    for (int i = 0; i < 2; ++i) {
      auto [p, ec] = std::from_chars(f[i].data(), f[i].data() + f[i].size(), ids[i]);
      if (f[i].empty() || ec != std::errc() || p != f[i].data() + f[i].size() || ids[i] <= 0) {
        csv.fail(std::string(i == 0 ? "userId" : "movieId") + " is not a positive integer");
      }
    }
    std::string where = pairs.string() + ":" + std::to_string(csv.line()) + ": ";
    std::string value;
    if (on_unknown != OnUnknown::kError && !unknown_reason(m, ids[0], ids[1]).empty()) {
      if (unknown++ == 0) first_unknown = where + unknown_reason(m, ids[0], ids[1]);
      if (on_unknown == OnUnknown::kSkip) continue;
      value = "nan";
    } else {
      value = format_score(score(m, ids[0], ids[1], where));
    }
    text += std::to_string(ids[0]) + "," + std::to_string(ids[1]) + "," + value + "\n";
  }
  if (unknown > 0) {
    log::warn("{} {} pair{} the model does not know (first: {})",
              on_unknown == OnUnknown::kSkip ? "left out" : "printed nan for", unknown,
              unknown == 1 ? "" : "s", first_unknown);
  }
  // Nothing reaches stdout unless every row was valid.
  out << text;
}

}  // namespace recs
