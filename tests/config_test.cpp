#include "config/config.h"

#include <gtest/gtest.h>

#include "app/train.h"
#include "test_util.h"
#include "util/error.h"

namespace recs {
namespace {

using test::TempDir;
using test::write_file;

std::string config_error(const std::filesystem::path& file, std::vector<std::string> sets = {}) {
  try {
    load_config(file, sets);
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "(no error)";
}

TEST(Config, DefaultsAreTheTutorials) {
  Config c = load_config({}, {});
  EXPECT_EQ(c.model.type, "dot");
  EXPECT_EQ(c.model.factors, 5);
  EXPECT_EQ(c.model.epochs, 3);
  EXPECT_DOUBLE_EQ(c.model.learning_rate, 0.001);
  EXPECT_EQ(c.model.batch_size, 32);
  EXPECT_EQ(c.model.seed, 42u);
  EXPECT_DOUBLE_EQ(c.model.epsilon, 1e-7);
  EXPECT_DOUBLE_EQ(c.train.validation_fraction, 0.1);
  EXPECT_EQ(c.score.top_n, 100);
  EXPECT_TRUE(c.score.exclude_rated);
  EXPECT_EQ(c.score.threads, 0);
}

TEST(Config, FileValuesAndRelativePaths) {
  TempDir dir;
  write_file(dir / "c.yaml",
             "database: out/recs.db\n"
             "import:\n"
             "  ratings: data/r.csv\n"
             "  movies: /abs/m.csv\n"
             "  rating_map: {0.5: -1, 1: -1, 3: 0, 5: 1}\n"
             "model:\n"
             "  factors: 16\n"
             "  learning_rate: 0.01\n"
             "score:\n"
             "  top_n: 20\n"
             "  exclude_rated: false\n");
  Config c = load_config(dir / "c.yaml", {});
  EXPECT_EQ(c.database, dir.path() / "out/recs.db");
  EXPECT_EQ(c.import.ratings, dir.path() / "data/r.csv");
  EXPECT_EQ(c.import.movies, "/abs/m.csv");
  EXPECT_EQ(c.import.rating_map.size(), 4u);
  EXPECT_DOUBLE_EQ(c.import.rating_map.at(0.5), -1);
  EXPECT_DOUBLE_EQ(c.import.rating_map.at(3), 0);
  EXPECT_EQ(c.model.factors, 16);
  EXPECT_EQ(c.score.top_n, 20);
  EXPECT_FALSE(c.score.exclude_rated);
  EXPECT_EQ(c.where("score.top_n"), (dir / "c.yaml").string() + ":10: score.top_n");
}

TEST(Config, OverridesWinOverTheFile) {
  TempDir dir;
  write_file(dir / "c.yaml", "score:\n  top_n: 20\n");
  Config c =
      load_config(dir / "c.yaml", {"score.top_n=7", "model.type=dot", "import.ratings=x.csv"});
  EXPECT_EQ(c.score.top_n, 7);
  EXPECT_EQ(c.import.ratings, std::filesystem::current_path() / "x.csv");
}

TEST(Config, ErrorsNameKeyAndLine) {
  TempDir dir;
  auto f = dir / "c.yaml";
  write_file(f, "score:\n  top_n: 0\n");
  EXPECT_EQ(config_error(f), f.string() + ":2: score.top_n: must be in [1, 10000], got 0");
  write_file(f, "score:\n  top_nn: 5\n");
  EXPECT_EQ(config_error(f), f.string() + ":2: score.top_nn: unknown key");
  write_file(f, "model:\n  factors: five\n");
  EXPECT_EQ(config_error(f), f.string() + ":2: model.factors: expected an integer, got 'five'");
  write_file(f, "model:\n  type: lstm\n");
  EXPECT_NE(config_error(f).find(":2: model.type: must be one of"), std::string::npos);
  write_file(f, "score:\n  exclude_rated: maybe\n");
  EXPECT_NE(config_error(f).find(":2: score.exclude_rated: expected true or false"),
            std::string::npos);
  write_file(f, "train:\n  validation_fraction: .nan\n");
  EXPECT_NE(config_error(f).find(":2: train.validation_fraction: expected a finite number"),
            std::string::npos);
  write_file(f, "score: 5\n");
  EXPECT_NE(config_error(f).find(":1: score: expected a mapping"), std::string::npos);
  write_file(f, "import:\n  rating_map: [1, 2]\n");
  EXPECT_NE(config_error(f).find(":2: import.rating_map: expected a mapping"), std::string::npos);
  write_file(f, "import:\n  rating_map:\n    9: 1\n");
  EXPECT_NE(config_error(f).find("import.rating_map: rating 9 lies outside"), std::string::npos);
  write_file(f, "score:\n  top_n: 5\n  top_n: 6\n");
  EXPECT_NE(config_error(f).find("top_n"), std::string::npos);
  write_file(f, "score: {top_n: 5\n");
  EXPECT_NE(config_error(f).find("YAML syntax error"), std::string::npos);
  write_file(f, "- a\n- b\n");
  EXPECT_NE(config_error(f).find("must be a mapping"), std::string::npos);
  EXPECT_EQ(config_error(dir / "missing.yaml"),
            (dir / "missing.yaml").string() + ": config file not found");
  EXPECT_NE(config_error(dir.path()).find("is a directory"), std::string::npos);
}

TEST(Config, OverrideErrors) {
  EXPECT_EQ(config_error({}, {"score.top_n=abc"}),
            "--set score.top_n=abc: score.top_n: expected an integer, got 'abc'");
  EXPECT_EQ(config_error({}, {"score.nope=1"}), "--set score.nope=1: score.nope: unknown key");
  EXPECT_EQ(config_error({}, {"novalue"}), "--set novalue: expected key.path=value");
}

TEST(Config, SplitSeedKeepsTheValidationSetWhileModelSeedVaries) {
  RatingMatrix r;
  for (int i = 0; i < 200; ++i) {
    r.user.push_back(i % 20);
    r.movie.push_back(i / 20);
    r.value.push_back(static_cast<float>(i));
  }
  auto held_out = [&](const std::vector<std::string>& sets) {
    const Config c = load_config({}, sets);
    Triplets train, validation;
    split_ratings(r, 0.1, validation_split_seed(c), train, validation);
    EXPECT_EQ(validation.size(), 20u);
    EXPECT_EQ(train.size(), 180u);
    return validation.value;
  };
  // Default -1: the split follows model.seed.
  EXPECT_EQ(held_out({"model.seed=1"}), held_out({"model.seed=1", "train.split_seed=1"}));
  EXPECT_NE(held_out({"model.seed=1"}), held_out({"model.seed=2"}));
  // Fixed: the same validation set for any model.seed.
  EXPECT_EQ(held_out({"model.seed=1", "train.split_seed=9"}),
            held_out({"model.seed=2", "train.split_seed=9"}));
  EXPECT_NE(config_error({}, {"train.split_seed=-2"}).find("train.split_seed: "),
            std::string::npos);
}

TEST(Config, MissingInputFilesNameTheKey) {
  TempDir dir;
  write_file(dir / "c.yaml", "import:\n  ratings: nope.csv\n");
  Config c = load_config(dir / "c.yaml", {});
  try {
    check_import_inputs(c);
    FAIL() << "missing file accepted";
  } catch (const ConfigError& e) {
    EXPECT_EQ(std::string(e.what()),
              (dir / "c.yaml").string() +
                  ":2: import.ratings: file not found: " + (dir / "nope.csv").string());
  }
  write_file(dir / "d.yaml", "database: .\n");
  EXPECT_THROW(check_database_path(load_config(dir / "d.yaml", {})), ConfigError);
}

TEST(Config, ShippedConfigsAreValid) {
  Config example = load_config(test::source_dir() / "config" / "example.yaml", {});
  EXPECT_EQ(example.model.type, "dot");
  EXPECT_EQ(example.import.rating_map.size(), 10u);
  EXPECT_NO_THROW(check_import_inputs(example));
  Config prod = load_config(test::source_dir() / "config" / "prod.yaml", {});
  EXPECT_EQ(prod.model.type, "als");
  EXPECT_TRUE(prod.evaluate.in_run);
}

TEST(Config, DescribeListsEveryKeyWithDocs) {
  std::string text = describe_config(load_config({}, {}), true);
  EXPECT_NE(text.find("  top_n: 100"), std::string::npos);
  EXPECT_NE(text.find("# recommendations kept per user [1..10000]"), std::string::npos);
  EXPECT_NE(text.find("model:\n  type: dot"), std::string::npos);
}

TEST(Config, FiltersSimilarAndClusters) {
  Config d = load_config({}, {});
  EXPECT_EQ(d.score.method, "exact");
  EXPECT_TRUE(d.score.fold_in);
  EXPECT_TRUE(d.similar.enabled);
  EXPECT_TRUE(d.clusters.enabled);
  EXPECT_TRUE(d.score.exclude_movies.empty());
  TempDir dir;
  write_file(dir / "c.yaml",
             "score:\n  method: ann\n  exclude_movies: [1, 2]\n  exclude_genres: [Horror, "
             "Film-Noir]\n  allow_movies: 7\nsimilar:\n  top_k: 5\nclusters:\n  users: 3\n");
  Config c = load_config(dir / "c.yaml", {"clusters.enabled=false", "score.exclude_genres=[]"});
  EXPECT_EQ(c.score.method, "ann");
  EXPECT_EQ(c.score.exclude_movies, (std::vector<std::int64_t>{1, 2}));
  EXPECT_TRUE(c.score.exclude_genres.empty());
  EXPECT_EQ(c.score.allow_movies, (std::vector<std::int64_t>{7}));
  EXPECT_EQ(c.similar.top_k, 5);
  EXPECT_EQ(c.clusters.users, 3);
  EXPECT_FALSE(c.clusters.enabled);
  // Round trip through the description.
  write_file(dir / "d.yaml", describe_config(load_config(dir / "c.yaml", {}), false));
  Config again = load_config(dir / "d.yaml", {});
  EXPECT_EQ(again.score.exclude_genres, (std::vector<std::string>{"Horror", "Film-Noir"}));
  EXPECT_EQ(again.score.exclude_movies, c.score.exclude_movies);

  write_file(dir / "bad.yaml", "score:\n  exclude_movies: [1, x]\n");
  EXPECT_NE(config_error(dir / "bad.yaml").find("bad.yaml:2: score.exclude_movies"),
            std::string::npos)
      << config_error(dir / "bad.yaml");
  write_file(dir / "bad2.yaml", "score:\n  exclude_genres: {a: 1}\n");
  EXPECT_NE(config_error(dir / "bad2.yaml").find("score.exclude_genres"), std::string::npos);
  EXPECT_NE(config_error({}, {"score.method=fast"}).find("score.method"), std::string::npos);
}

}  // namespace
}  // namespace recs
