#include "app/train.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>

#include "app/serving.h"
#include "db/model_store.h"
#include "db/sqlite.h"
#include "io/movielens.h"
#include "models/registry.h"
#include "util/error.h"
#include "util/json.h"
#include "util/log.h"
#include "util/random.h"

namespace recs {

db::ValueMap rating_value_map(const Config& config) {
  return [&import = config.import](double stored, const std::string& where) {
    return static_cast<float>(map_rating(import, stored, where));
  };
}

RatingMatrix load_ratings(SQLite::Database& db, const Config& config, std::vector<double>* raw,
                          std::vector<std::int64_t>* rated_at) {
  return db::read_rating_matrix(*db::sqlite_ratings(db), rating_value_map(config), raw, rated_at);
}

RatingMatrix load_ratings(SQLite::Database& db, const Config& config,
                          const db::RatingsRequest& range, std::vector<double>* raw, bool require) {
  return db::read_rating_matrix(*db::sqlite_ratings(db), rating_value_map(config), range, raw,
                                require);
}

RatingMatrix imported_ratings(db::StoredRatings&& rows, SQLite::Database& db, const Config& config,
                              std::vector<double>* raw, std::vector<std::int64_t>* rated_at) {
  if (rows.user.empty()) {
    throw NotFoundError(db.getFilename() + ": no ratings (run 'pipeline import' first)");
  }
  return db::to_rating_matrix(std::move(rows), rating_value_map(config),
                              db.getFilename() + ": table ratings", raw, rated_at);
}

std::vector<std::pair<float, std::int64_t>> load_rating_census(SQLite::Database& db,
                                                               const Config& config,
                                                               std::size_t& users) {
  auto ratings = db::sqlite_ratings(db);
  const db::RatingsRepository::Census c = ratings->census();
  users = static_cast<std::size_t>(c.users);
  std::vector<std::pair<float, std::int64_t>> out;
  for (const auto& [stored, count] : c.counts) {
    out.emplace_back(static_cast<float>(
                         map_rating(config.import, stored, ratings->source() + ": table ratings")),
                     count);
  }
  return out;
}

std::uint64_t validation_split_seed(const Config& config) {
  return config.train.split_seed >= 0 ? static_cast<std::uint64_t>(config.train.split_seed)
                                      : config.model.seed;
}

void split_ratings(const RatingMatrix& r, double fraction, std::uint64_t seed, Triplets& train,
                   Triplets& validation) {
  const auto n_val =
      static_cast<std::size_t>(std::llround(fraction * static_cast<double>(r.size())));
  if (n_val == 0) {
    // Nothing held out: train on every rating in key order, without paying
    // for a shuffle of tens of millions of indices.
    validation = {};
    train = {};
    train.user = r.user;
    train.movie = r.movie;
    train.value = r.value;
    return;
  }
  // Selection sampling (Knuth's Algorithm S): rating i is held out with
  // probability (still to hold out) / (still to visit), which picks a uniform
  // subset of exactly n_val in one pass. Both halves stay in the stored
  // (user, movie) order, so a model that does not shuffle (model.shuffle:
  // false) sees its ratings in the order of the file, as Keras's does. The
  // split has its own random stream: with train.split_seed = model.seed it
  // is still independent of the model's shuffles.
  random::Rng rng(seed, random::Stream::kValidationSplit);
  const std::size_t n = r.size();
  std::vector<char> held(n, 0);
  std::size_t need = n_val;
  for (std::size_t i = 0; i < n && need > 0; ++i) {
    if (random::below(rng, n - i) < need) {
      held[i] = 1;
      --need;
    }
  }
  auto take = [&](Triplets& t, char which, std::size_t count) {
    t = {};
    t.user.reserve(count);
    t.movie.reserve(count);
    t.value.reserve(count);
    for (std::size_t i = 0; i < n; ++i) {
      if (held[i] != which) continue;
      t.user.push_back(r.user[i]);
      t.movie.push_back(r.movie[i]);
      t.value.push_back(r.value[i]);
    }
  };
  take(validation, 1, n_val);
  take(train, 0, n - n_val);
}

TrainSummary run_train(SQLite::Database& db, const Config& config, db::RunRecord& run,
                       RatingMatrix* loaded, const Factors* warm) {
  log::Stopwatch total;
  RatingMatrix own;
  if (!loaded) own = load_ratings(db, config);
  RatingMatrix& ratings = loaded ? *loaded : own;
  // Implicit models rank; they have no validation error to report, so
  // ratings held out would only be missing from the published model.
  double fraction = config.train.validation_fraction;
  if (!is_rating_model(config.model) && fraction > 0) {
    log::info(config.model.type +
              " reports no validation error: training on every rating "
              "(train.validation_fraction applies to rating models)");
    fraction = 0;
  }
  Triplets train, validation;
  // With nothing held out the model trains on the ratings' own columns: they
  // are lent to `train` for the fit and given back afterwards (also when it
  // throws), which saves a copy of every rating (300 MB at ML-25M size).
  const bool lend = std::llround(fraction * static_cast<double>(ratings.size())) == 0;
  struct Loan {
    RatingMatrix* from = nullptr;
    Triplets* to = nullptr;
    void give_back() {
      if (!from) return;
      from->user = std::move(to->user);
      from->movie = std::move(to->movie);
      from->value = std::move(to->value);
      from = nullptr;
    }
    ~Loan() { give_back(); }
  } loan;
  if (lend) {
    train.user = std::move(ratings.user);
    train.movie = std::move(ratings.movie);
    train.value = std::move(ratings.value);
    loan = {&ratings, &train};
  } else {
    split_ratings(ratings, fraction, validation_split_seed(config), train, validation);
  }
  const std::size_t train_size = train.size();
  double load_seconds = total.seconds();
  log::info("training " + config.model.type + " on " + std::to_string(train_size) + " ratings (" +
            std::to_string(validation.size()) + " held out) from " +
            std::to_string(ratings.num_users()) + " users and " +
            std::to_string(ratings.num_movies()) + " movies");

  log::Stopwatch clock;
  auto model = make_model(config.model, config.train);
  if (warm && model->warm_start(*warm)) {
    log::info("starting " + config.model.type + " from the evaluated model's vectors");
    run.count("train_warm_start", 1);
  }
  TrainSummary s;
  s.report = model->fit(train, validation, ratings.num_users(), ratings.num_movies());
  loan.give_back();
  // train.refit: the epoch count early stopping kept (or every epoch run),
  // trained again on every rating, so the validation share is not lost to
  // the published model. The reported figures stay the validation run's.
  int refit_epochs = 0;
  if (config.train.refit && !validation.value.empty() && !s.report.epochs.empty()) {
    refit_epochs =
        s.report.kept_epoch > 0 ? s.report.kept_epoch : static_cast<int>(s.report.epochs.size());
    log::info("refitting " + config.model.type + " on all " + std::to_string(ratings.size()) +
              " ratings for " + std::to_string(refit_epochs) +
              " epochs, the count validation kept (train.refit)");
    Triplets all, none;
    split_ratings(ratings, 0.0, validation_split_seed(config), all, none);
    model = make_model(with_epochs(config.model, refit_epochs), config.train);
    model->fit(all, Triplets{}, ratings.num_users(), ratings.num_movies());
  }
  double fit_seconds = clock.seconds();
  Factors f = model->factors();
  if (!f.users.allFinite() || !f.movies.allFinite()) {
    throw GateError(
        "training diverged: the model has non-finite vectors (try a "
        "smaller model.learning_rate)");
  }

  std::string epochs = "[";
  for (const auto& e : s.report.epochs) {
    JsonObject o;
    o.add("epoch", e.epoch)
        .add("loss", e.loss)
        .add("val_mse", e.val_mse)
        .add("val_rmse", e.val_rmse)
        .add("seconds", e.seconds);
    if (epochs.size() > 1) epochs += ',';
    epochs += o.str();
  }
  epochs += "]";
  JsonObject metrics;
  if (!s.report.epochs.empty()) {
    // The figures of the epoch the model kept (early stopping may have
    // restored an earlier one than the last trained).
    const int kept = s.report.kept_epoch;
    const auto& last = kept > 0 && kept <= static_cast<int>(s.report.epochs.size())
                           ? s.report.epochs[static_cast<std::size_t>(kept - 1)]
                           : s.report.epochs.back();
    metrics.add("train_loss", last.loss);
    if (!validation.value.empty()) {
      metrics.add("val_mse", last.val_mse).add("val_rmse", last.val_rmse);
      run.metric("val_mse", last.val_mse);
      run.metric("val_rmse", last.val_rmse);
    }
    run.metric("train_loss", last.loss);
  }
  metrics.add_raw("epochs", epochs);
  if (refit_epochs > 0) {
    metrics.add("refit_epochs", refit_epochs);
    run.count("refit_epochs", refit_epochs);
  }
  run.metric_json("epochs", epochs);

  db::StoredModel stored;
  stored.type = model->type();
  stored.user_ids = ratings.user_ids;
  stored.movie_ids = ratings.movie_ids;
  stored.users = std::move(f.users);
  stored.movies = std::move(f.movies);
  {
    // A model the serving server's generations still name stays, whatever
    // keep.models says; when the server cannot be read, nothing is pruned.
    const ModelKeep k = model_keep(config);
    std::int64_t run_id = run.id();  // records the run first: it cannot nest in the save
    const db::SavedModel saved =
        db::sqlite_models(db)->save(run_id, stored, metrics.str(), k.keep, k.served);
    s.model_id = saved.model_id;
    for (const db::ModelInfo& gone : saved.removed) log_removed_model(gone, config);
  }
  s.type = model->type();
  s.train_ratings = static_cast<std::int64_t>(train_size);
  s.validation_ratings = static_cast<std::int64_t>(validation.size());
  run.model_type(model->type());
  run.count("train_ratings", static_cast<std::int64_t>(train_size));
  run.count("validation_ratings", static_cast<std::int64_t>(validation.size()));
  run.count("model_id", s.model_id);
  run.timing("train_load", load_seconds);
  run.timing("train_fit", fit_seconds);
  run.timing("train", total.seconds());
  run.save();
  log::info("stored model " + std::to_string(s.model_id) + " (" + model->type() + ", " +
            std::to_string(stored.users.cols()) + " dims) in " + std::to_string(total.seconds()) +
            " s");
  return s;
}

}  // namespace recs
