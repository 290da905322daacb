// train.refit: the published rating model is trained again on every rating
// for the epoch count the validation run kept, so the validation share is
// not lost to it.
#include <gtest/gtest.h>

#include <string>

#include "test_util.h"

namespace recs {
namespace {

using namespace recs::test;

std::string last_train(const std::filesystem::path& db, const std::string& what) {
  return sqlite(db, "SELECT " + what + " FROM runs WHERE command = 'train' ORDER BY run_id DESC " +
                        "LIMIT 1;");
}

TEST(Refit, PublishesTheKeptEpochCountTrainedOnEveryRating) {
  TempDir dir;
  auto config = make_dataset(dir, 120, 150, 4000, "model:\n  type: biased_mf\n  factors: 8\n");
  const auto db = dir / "recs.db";
  ASSERT_EQ(run_pipeline("import --config " + quoted(config)).exit_code, 0);

  // The validation run: at most 12 epochs, early stopping on the 10 % share.
  auto r = run_pipeline("train --config " + quoted(config) + " --set model.epochs=12");
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.err.find("refitting biased_mf on all"), std::string::npos) << r.err;
  const std::string kept = last_train(db, "json_extract(counts, '$.refit_epochs')");
  const int epochs = std::stoi(kept);
  EXPECT_GE(epochs, 1);
  EXPECT_LE(epochs, 12);
  EXPECT_EQ(sqlite(db,
                   "SELECT json_extract(metrics, '$.refit_epochs') FROM models "
                   "ORDER BY model_id DESC LIMIT 1;"),
            kept);
  // The reported error stays the validation run's.
  EXPECT_NE(last_train(db, "json_extract(metrics, '$.val_rmse')"), "\n");

  // The published model is exactly a model trained on every rating for that
  // many epochs.
  auto all = run_pipeline(
      "train --config " + quoted(config) +
      " --set train.validation_fraction=0 --set model.epochs=" + std::to_string(epochs));
  ASSERT_EQ(all.exit_code, 0) << all.err;
  EXPECT_EQ(last_train(db, "json_extract(counts, '$.refit_epochs')"), "\n");  // nothing held out
  // Without refit the published model is the validation run's.
  auto off = run_pipeline("train --config " + quoted(config) +
                          " --set model.epochs=12 --set train.refit=false");
  ASSERT_EQ(off.exit_code, 0) << off.err;
  EXPECT_EQ(off.err.find("refitting"), std::string::npos) << off.err;
  EXPECT_EQ(sqlite(db,
                   "SELECT a.user_vectors = b.user_vectors AND a.movie_vectors = b.movie_vectors, "
                   "a.user_vectors = c.user_vectors FROM models a, models b, models c "
                   "WHERE a.model_id = 1 AND b.model_id = 2 AND c.model_id = 3;"),
            "1|0\n");
}

// Ranking models train on every rating anyway: nothing to refit.
TEST(Refit, RankingModelsAreNotRefit) {
  TempDir dir;
  auto config = make_dataset(dir, 80, 100, 2000, "model:\n  type: bpr\n  bpr: {epochs: 2}\n");
  ASSERT_EQ(run_pipeline("import --config " + quoted(config)).exit_code, 0);
  auto r = run_pipeline("train --config " + quoted(config));
  ASSERT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.err.find("refitting"), std::string::npos) << r.err;
  EXPECT_EQ(last_train(dir / "recs.db", "json_extract(counts, '$.refit_epochs')"), "\n");
}

}  // namespace
}  // namespace recs
