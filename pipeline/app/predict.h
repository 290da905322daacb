// pipeline predict: a stored model's score for (user, movie) pairs, the
// tutorial's model.predict([610], [1]). By default the model the live set
// was scored with, so predict agrees with what the web app shows.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <ostream>
#include <string_view>
#include <vector>

#include "db/model_store.h"
#include "db/publish.h"

namespace recs {

// Which stored model a command uses.
struct ModelChoice {
  enum class Kind {
    kPublished,  // the one the live set was scored with
    kLatest,     // the newest
    kId,         // model `id`
  };
  Kind kind = Kind::kPublished;
  std::int64_t id = 0;
};

// "published", "latest" or a model id (a positive decimal integer); empty
// for anything else.
std::optional<ModelChoice> parse_model_choice(std::string_view text);

// The model `choice` names; one line on stderr says which model it is and
// why. kPublished is the model `live` (the serving side's publication, see
// app/serving.h) was scored with; the newest model, saying so, while
// nothing is published or the live set's model is no longer kept. A model
// id that is not kept is a NotFoundError.
db::StoredModel choose_model(SQLite::Database& db, db::PublishedSet& live,
                             const ModelChoice& choice);

// Prints one score. Unknown ids are InputErrors.
void predict_one(const db::StoredModel& model, std::int64_t user, std::int64_t movie,
                 std::ostream& out);

// What predict_pairs does with a pair whose user or movie the model does not
// know: fail the whole file (nothing printed), leave the row out, or print
// its score as "nan". Malformed rows are InputErrors whatever the policy.
enum class OnUnknown { kError, kSkip, kNan };

// "error", "skip" or "nan"; empty for anything else.
std::optional<OnUnknown> parse_on_unknown(std::string_view text);

// The users and the movies that well-formed rows of the pairs file name
// (malformed rows are predict_pairs' to report), ascending, each once.
struct PairIds {
  std::vector<std::int64_t> users;
  std::vector<std::int64_t> movies;
};
PairIds ids_in_pairs(const std::filesystem::path& pairs);

// One warning line when `model` has a vector for movies of `movies` that the
// database no longer knows (an import removed them since it was trained):
// their scores are the model's, but no published list shows them.
void warn_removed_movies(SQLite::Database& db, const db::StoredModel& model,
                         const std::vector<std::int64_t>& movies);

// Reads a CSV "userId,movieId" and writes "userId,movieId,score" rows. With
// kSkip or kNan one warning line on stderr counts the unknown pairs.
void predict_pairs(const db::StoredModel& model, const std::filesystem::path& pairs,
                   std::ostream& out, OnUnknown on_unknown = OnUnknown::kError);

}  // namespace recs
