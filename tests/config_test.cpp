#include "config/config.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <map>

#include "app/train.h"
#include "models/als.h"
#include "models/bpr.h"
#include "models/dot_model.h"
#include "models/registry.h"
#include "test_util.h"
#include "util/error.h"

namespace recs {
namespace {

using test::TempDir;
using test::write_file;

std::string config_error(const std::filesystem::path& file, std::vector<std::string> sets = {}) {
  try {
    load_config(file, sets);
  } catch (const Error& e) {  // ConfigError, or UsageError for a bad --set
    return e.what();
  }
  return "(no error)";
}

const DotParams& dot(const Config& c) { return model_params<DotParams>(c.model); }
const AlsParams& als(const Config& c) { return model_params<AlsParams>(c.model); }
const BprParams& bpr(const Config& c) { return model_params<BprParams>(c.model); }

// Every key of a type's parameters in `c`, as a config file spells them.
std::map<std::string, std::string> keys_of(const Config& c, const std::string& type) {
  std::map<std::string, std::string> out;
  const ModelType& t = model_type(type);
  for (const ParamKey& k : t.keys) out[k.name] = to_string(k.get(model_params(c.model, type)));
  return out;
}

TEST(Config, DefaultsAreTheTutorials) {
  Config c = load_config({}, {});
  EXPECT_EQ(c.model.type, "dot");
  EXPECT_EQ(dot(c).factors, 5);
  EXPECT_EQ(dot(c).epochs, 3);
  EXPECT_DOUBLE_EQ(dot(c).learning_rate, 0.001);
  EXPECT_EQ(dot(c).batch_size, 32);
  EXPECT_EQ(c.model.seed, 42u);
  EXPECT_DOUBLE_EQ(dot(c).epsilon, 1e-7);
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
  EXPECT_EQ(dot(c).factors, 16);
  EXPECT_DOUBLE_EQ(dot(c).learning_rate, 0.01);
  EXPECT_EQ(c.where("model.dot.factors"), (dir / "c.yaml").string() + ":7: model.dot.factors");
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
  // A second document would be ignored by a plain load: refused, at its line.
  write_file(f, "score:\n  top_n: 5\n---\nscore:\n  top_n: 6\n");
  EXPECT_EQ(config_error(f), f.string() +
                                 ":3: a second YAML document starts here; the config is one "
                                 "document (remove this '---' line or what follows it)");
  write_file(f, "score:\n  top_n: 5\n---\n");
  EXPECT_NE(config_error(f).find(":3: a second YAML document"), std::string::npos);
  // One document with its optional markers loads.
  write_file(f, "---\nscore:\n  top_n: 7\n...\n");
  EXPECT_EQ(load_config(f, {}).score.top_n, 7);
  EXPECT_EQ(config_error(dir / "missing.yaml"),
            (dir / "missing.yaml").string() + ": config file not found");
  EXPECT_NE(config_error(dir.path()).find("is a directory"), std::string::npos);
}

TEST(Config, OverrideErrors) {
  EXPECT_EQ(config_error({}, {"score.top_n=abc"}),
            "--set score.top_n=abc: score.top_n: expected an integer, got 'abc'");
  EXPECT_EQ(config_error({}, {"score.nope=1"}), "--set score.nope=1: score.nope: unknown key");
  EXPECT_EQ(config_error({}, {"novalue"}), "--set novalue: expected key.path=value");
  // A '#' YAML would read as a comment is refused, not dropped with what follows.
  EXPECT_EQ(config_error({}, {"database=a copy #2.db"}),
            "--set database=a copy #2.db: database: YAML would read the value from its '#' on "
            "as a comment; quote the value (--set 'database=\"a copy #2.db\"')");
  EXPECT_NE(config_error({}, {"score.top_n=#5"}).find("as a comment"), std::string::npos);
  EXPECT_EQ(load_config({}, {"database=\"a copy #2.db\""}).database.filename(), "a copy #2.db");
  EXPECT_EQ(load_config({}, {"database=copy#2.db"}).database.filename(), "copy#2.db");
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
  EXPECT_EQ(keys_of(example, "dot"), keys_of(load_config({}, {}), "dot"));  // the tutorial's
  EXPECT_EQ(example.import.rating_map.size(), 10u);
  EXPECT_NO_THROW(check_import_inputs(example));
  Config prod = load_config(test::source_dir() / "config" / "prod.yaml", {});
  EXPECT_EQ(prod.model.type, "als");
  EXPECT_TRUE(prod.evaluate.in_run);
  // Every type can be chosen on top of it and trains with that type's own
  // values in the file (its section, else its defaults), nothing else's.
  for (const auto& type : model_type_names()) {
    const Config switched =
        load_config(test::source_dir() / "config" / "prod.yaml", {"model.type=" + type});
    EXPECT_EQ(keys_of(switched, type), keys_of(prod, type)) << type;
  }
}

TEST(Config, DescribeListsEveryKeyWithDocs) {
  std::string text = describe_config(load_config({}, {}), true);
  EXPECT_NE(text.find("  top_n: 100"), std::string::npos);
  EXPECT_NE(text.find("# recommendations kept per user [1..10000]"), std::string::npos);
  EXPECT_NE(text.find("model:\n  type: dot"), std::string::npos);
  EXPECT_NE(text.find("  dot:"), std::string::npos);
  EXPECT_NE(text.find("    factors: 5"), std::string::npos);
  EXPECT_NE(text.find("# embedding dimensions [1..1024]"), std::string::npos);
}

// A printed range is the one checked: Adam's beta2 stops short of 1, and
// its bound says so instead of rounding to 1.
TEST(Config, PrintedRangesAreTheCheckedOnes) {
  const std::string text = describe_config(load_config({}, {"model.type=dot"}), true);
  EXPECT_NE(text.find("Adam second-moment decay [0..0.99999999]"), std::string::npos) << text;
  EXPECT_NO_THROW(load_config({}, {"model.dot.beta2=0.99999999"}));
  try {
    load_config({}, {"model.dot.beta2=1"});
    FAIL() << "beta2 1 must be refused";
  } catch (const std::exception& e) {
    EXPECT_NE(std::string(e.what()).find("must be in [0, 0.99999999], got 1"), std::string::npos)
        << e.what();
  }
}

// `pipeline config` lists the keys that apply: the chosen type's, with
// their values, ranges and docs, and no other type's.
TEST(Config, DescribeShowsOnlyTheChosenTypesKeys) {
  const std::string text = describe_config(load_config({}, {"model.type=als", "model.l2=5"}), true);
  EXPECT_NE(text.find("model:\n  type: als"), std::string::npos) << text;
  EXPECT_NE(text.find("\n  als:"), std::string::npos) << text;
  EXPECT_NE(text.find("\n    factors: 128"), std::string::npos) << text;
  EXPECT_NE(text.find("\n    l2: 5 "), std::string::npos) << text;
  EXPECT_NE(text.find("(default 17.5)"), std::string::npos) << text;
  EXPECT_NE(text.find("confidence 1 + alpha * rating [0..1000000]"), std::string::npos) << text;
  for (const char* other : {"learning_rate", "batch_size", "negatives", "  bpr:", "  dot:"}) {
    EXPECT_EQ(text.find(other), std::string::npos) << other << " listed for als:\n" << text;
  }
  // The description reloads to the same parameters.
  TempDir dir;
  write_file(dir / "d.yaml",
             describe_config(load_config({}, {"model.type=als", "model.l2=5"}), false));
  const Config again = load_config(dir / "d.yaml", {});
  EXPECT_EQ(again.model.type, "als");
  EXPECT_EQ(keys_of(again, "als"),
            keys_of(load_config({}, {"model.type=als", "model.l2=5"}), "als"));
}

// The defaults every type had when they were spread over a flat struct and a
// per-type table: the tutorial's for dot and deep, measured-best for the
// others. Changing one is a decision, not a side effect.
TEST(Config, EachTypeKeepsItsDefaults) {
  const std::map<std::string, std::string> dot_keys = {
      {"factors", "5"}, {"epochs", "3"},    {"learning_rate", "0.001"}, {"batch_size", "32"},
      {"beta1", "0.9"}, {"beta2", "0.999"}, {"epsilon", "1e-07"},       {"init_scale", "0.05"},
      {"l2", "0"},      {"shuffle", "true"}};
  // deep's keys whose default depends on model.deep.loss hold 0 (auto) and
  // resolve to the tutorial's values with loss mse (deep_test:
  // DefaultsDependOnTheLoss).
  std::map<std::string, std::string> deep_keys = dot_keys;
  for (const char* k : {"factors", "epochs", "learning_rate", "batch_size"}) deep_keys[k] = "0";
  deep_keys["l2"] = "-1";
  deep_keys.insert({{"hidden", "0"},
                    {"activation", "auto"},
                    {"patience", "0"},
                    {"loss", "mse"},
                    {"negatives", "0"},
                    {"temperature", "0.2"},
                    {"positive_threshold", "3.5"},
                    {"members", "0"}});
  const std::map<std::string, std::map<std::string, std::string>> expected = {
      {"dot", dot_keys},
      {"deep", deep_keys},
      {"biased_mf",
       {{"factors", "128"},
        {"epochs", "100"},
        {"learning_rate", "0.01"},
        {"l2", "0.02"},
        {"init_scale", "0.01"},
        {"optimizer", "sgd"},
        {"beta1", "0.9"},
        {"beta2", "0.999"},
        {"epsilon", "1e-07"},
        {"patience", "3"}}},
      {"als",
       {{"factors", "128"},
        {"epochs", "25"},
        {"l2", "17.5"},
        {"alpha", "1"},
        {"positive_threshold", "3.5"},
        {"preference", "graded"},
        {"init_scale", "0.01"},
        {"cg_steps", "2"},
        {"l2_frequency_exponent", "0.5"},
        {"tolerance", "0.002"}}},
      {"bpr",
       {{"factors", "64"},
        {"epochs", "50"},
        {"learning_rate", "0.05"},
        {"l2", "0.01"},
        {"init_scale", "0.1"},
        {"positive_threshold", "3.5"},
        {"negatives", "5"},
        {"tolerance", "0"}}},
      {"svdpp",
       {{"factors", "128"},
        {"epochs", "100"},
        {"learning_rate", "0.01"},
        {"implicit_learning_rate", "0.001"},
        {"l2", "0.02"},
        {"implicit_l2", "20"},
        {"init_scale", "0.01"},
        {"patience", "3"}}},
  };
  EXPECT_EQ(model_type_names().size(), expected.size());
  for (const auto& [type, keys] : expected) {
    EXPECT_EQ(keys_of(load_config({}, {"model.type=" + type}), type), keys) << type;
  }
}

// Each type's keys live in its own section, so one file holds tuned values
// for several types and switching model.type never inherits another's.
TEST(Config, TypeSectionsKeepEachTypesTunedValues) {
  TempDir dir;
  const auto f = dir / "c.yaml";
  write_file(f,
             "model:\n"
             "  type: als\n"
             "  als:\n"
             "    factors: 32\n"
             "    l2: 5\n"
             "  bpr:\n"
             "    l2: 0.02\n"
             "    negatives: 3\n");
  const Config c = load_config(f, {});
  EXPECT_EQ(als(c).factors, 32);
  EXPECT_DOUBLE_EQ(als(c).l2, 5);
  EXPECT_DOUBLE_EQ(als(c).alpha, 1);
  EXPECT_DOUBLE_EQ(bpr(c).l2, 0.02);
  EXPECT_EQ(bpr(c).negatives, 3);
  EXPECT_EQ(bpr(c).factors, 64);
  EXPECT_EQ(c.where("model.als.l2"), f.string() + ":5: model.als.l2");

  const Config switched = load_config(f, {"model.type=bpr"});
  EXPECT_EQ(switched.model.type, "bpr");
  EXPECT_EQ(bpr(switched).factors, 64);
  EXPECT_DOUBLE_EQ(bpr(switched).l2, 0.02);
  const Config untuned = load_config(f, {"model.type=dot"});
  EXPECT_EQ(keys_of(untuned, "dot"), keys_of(load_config({}, {}), "dot"));
  // A section may be set from the command line too.
  EXPECT_DOUBLE_EQ(bpr(load_config(f, {"model.bpr.l2=0.5"})).l2, 0.5);
  // An empty section keeps the defaults.
  write_file(f, "model:\n  type: als\n  als:\n");
  EXPECT_EQ(keys_of(load_config(f, {}), "als"),
            keys_of(load_config({}, {"model.type=als"}), "als"));
}

// Precedence: defaults < file < --set; within the file and within the
// overrides, the flat key (model.l2) wins over the chosen type's section.
TEST(Config, FlatKeysSetTheChosenTypeAndWinOverItsSection) {
  TempDir dir;
  const auto f = dir / "c.yaml";
  write_file(f,
             "model:\n"
             "  type: als\n"
             "  l2: 7\n"
             "  als:\n"
             "    l2: 5\n"
             "    factors: 32\n");
  EXPECT_DOUBLE_EQ(als(load_config(f, {})).l2, 7);
  EXPECT_EQ(als(load_config(f, {})).factors, 32);
  EXPECT_EQ(load_config(f, {}).where("model.als.l2"), f.string() + ":3: model.als.l2");
  EXPECT_DOUBLE_EQ(als(load_config(f, {"model.als.l2=9"})).l2, 9);
  EXPECT_DOUBLE_EQ(als(load_config(f, {"model.l2=11", "model.als.l2=9"})).l2, 11);
  EXPECT_DOUBLE_EQ(als(load_config(f, {"model.als.l2=9", "model.als.l2=10"})).l2, 10);
  // The flat form follows model.type; the section stays with its type.
  const Config bpr_config = load_config(f, {"model.type=bpr"});
  EXPECT_DOUBLE_EQ(bpr(bpr_config).l2, 7);
  EXPECT_DOUBLE_EQ(als(bpr_config).l2, 5);
}

TEST(Config, FlatKeyTheChosenTypeLacksIsAnError) {
  TempDir dir;
  const auto f = dir / "c.yaml";
  write_file(f, "model:\n  type: biased_mf\n  alpha: 2\n");
  std::string e = config_error(f);
  EXPECT_EQ(e.rfind(f.string() + ":3: model.alpha: not a key of model type biased_mf", 0), 0u) << e;
  EXPECT_NE(e.find("model.type at " + f.string() + ":2"), std::string::npos) << e;
  EXPECT_NE(e.find("model.als.alpha"), std::string::npos) << e;

  e = config_error({}, {"model.type=als", "model.learning_rate=0.1"});
  EXPECT_EQ(e.rfind("--set model.learning_rate=0.1: model.learning_rate: not a key of model "
                    "type als (model.type from --set)",
                    0),
            0u)
      << e;
  e = config_error({}, {"model.type=biased_mf", "model.alpha=2"});
  EXPECT_EQ(e.rfind("--set model.alpha=2: model.alpha: not a key of model type biased_mf", 0), 0u)
      << e;
  // A file's flat key checked against the type --set chose.
  write_file(f, "model:\n  type: als\n  alpha: 2\n");
  EXPECT_NO_THROW(load_config(f, {}));
  e = config_error(f, {"model.type=bpr"});
  EXPECT_EQ(e.rfind(f.string() + ":3: model.alpha: not a key of model type bpr (model.type "
                                 "from --set)",
                    0),
            0u)
      << e;
  // The default type is named too.
  EXPECT_NE(config_error({}, {"model.negatives=2"})
                .find("model.negatives: not a key of model type dot (the default model.type)"),
            std::string::npos);
}

TEST(Config, TypeSectionErrorsNameKeyAndLine) {
  TempDir dir;
  const auto f = dir / "c.yaml";
  write_file(f, "model:\n  als:\n    factors: 8\n    learning_rate: 0.1\n");
  EXPECT_EQ(
      config_error(f).rfind(
          f.string() + ":4: model.als.learning_rate: unknown key of model type als (its keys: ", 0),
      0u)
      << config_error(f);
  write_file(f, "model:\n  type: als\n  bpr:\n    l2: -1\n");
  EXPECT_EQ(config_error(f), f.string() + ":4: model.bpr.l2: must be in [0, 100], got -1");
  write_file(f, "model:\n  deep:\n    activation: tanh\n");
  EXPECT_EQ(
      config_error(f),
      f.string() + ":3: model.deep.activation: must be one of auto, linear, relu, got 'tanh'");
  write_file(f, "model:\n  als: 5\n");
  EXPECT_EQ(config_error(f), f.string() + ":2: model.als: expected a mapping of keys, got '5'");
  write_file(f, "model:\n  als:\n    l2: 5\n    l2: 6\n");
  EXPECT_EQ(config_error(f), f.string() + ":4: model.als.l2: set twice");
  write_file(f, "model:\n  lstm:\n    l2: 5\n");
  EXPECT_EQ(config_error(f), f.string() + ":2: model.lstm: unknown key");
  EXPECT_NE(config_error({}, {"model.als.nope=1"})
                .find("--set model.als.nope=1: model.als.nope: unknown key of model type als"),
            std::string::npos);
  EXPECT_NE(config_error({}, {"model.als=1"}).find("model.als: a section"), std::string::npos);
  EXPECT_EQ(config_error({}, {"score=5"}),
            "--set score=5: score: a section; set one key, e.g. score.top_n=...");
  EXPECT_EQ(config_error({}, {"model.bpr.negatives=0"}),
            "--set model.bpr.negatives=0: model.bpr.negatives: must be in [1, 100], got 0");
}

TEST(Config, EvaluateCutOffsAreANonEmptyListOfDistinctValues) {
  EXPECT_EQ(config_error({}, {"evaluate.k=[]"}),
            "--set evaluate.k=[]: evaluate.k: expected a list of positive integers, got an empty "
            "list");
  EXPECT_EQ(config_error({}, {"evaluate.k=[10, 20, 10]"}),
            "--set evaluate.k=[10, 20, 10]: evaluate.k: lists 10 twice");
  EXPECT_EQ(config_error({}, {"evaluate.k=[20, 10]"}), "(no error)");
}

// Booleans as YAML 1.1 spells them: lower case, capitalised, upper case.
TEST(Config, BooleansTakeYamlsSpellings) {
  for (const char* yes : {"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON"}) {
    EXPECT_TRUE(load_config({}, {std::string("score.exclude_rated=") + yes}).score.exclude_rated)
        << yes;
  }
  for (const char* no : {"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF"}) {
    EXPECT_FALSE(load_config({}, {std::string("score.exclude_rated=") + no}).score.exclude_rated)
        << no;
  }
  for (const char* bad : {"tRUE", "1", "y", "maybe"}) {
    EXPECT_NE(config_error({}, {std::string("score.exclude_rated=") + bad})
                  .find("score.exclude_rated: expected true or false"),
              std::string::npos)
        << bad;
  }
}

// Keys in range that do not go together stop the config with their line,
// before anything runs, not the training later.
TEST(Config, KeysThatDoNotGoTogetherNameTheirLine) {
  TempDir dir;
  const auto f = dir / "c.yaml";
  write_file(f, "model:\n  type: deep\n  deep:\n    members: 2\n");
  EXPECT_EQ(config_error(f), f.string() +
                                 ":4: model.deep.members: members 2 applies to the ranking "
                                 "losses (softmax, bpr), not loss mse");
  write_file(f, "model:\n  type: deep\n  deep:\n    members: 2\n    loss: softmax\n");
  EXPECT_EQ(config_error(f), "(no error)");
  // The --set that makes the conflict is the bad command line.
  EXPECT_EQ(config_error(f, {"model.deep.loss=mse"}),
            "--set: model.deep.loss: members 2 applies to the ranking losses (softmax, bpr), "
            "not loss mse");
  // Another type's section is not judged: it is not trained.
  write_file(f, "model:\n  type: als\n  deep:\n    members: 2\n");
  EXPECT_EQ(config_error(f), "(no error)");
  // A positive_threshold no rating reaches: every user would lack signal.
  write_file(f,
             "import:\n  rating_max: 5\nmodel:\n  type: als\n  als:\n    positive_threshold: 6\n");
  EXPECT_EQ(config_error(f),
            f.string() +
                ":6: model.als.positive_threshold: 6 is above the largest trained "
                "rating (5, import.rating_max): no rating would count as positive");
  // The tutorial's map to -1/0/1 with als's default threshold 3.5: the map's line.
  write_file(f, "import:\n  rating_map: {1: -1, 3: 0, 5: 1}\nmodel:\n  type: bpr\n");
  EXPECT_EQ(config_error(f),
            f.string() +
                ":2: import.rating_map: 3.5 is above the largest trained rating (1, "
                "the largest value of import.rating_map): no rating would count as "
                "positive");
  EXPECT_EQ(config_error({}, {"model.type=deep", "model.deep.loss=softmax",
                              "model.deep.positive_threshold=9"})
                .rfind("--set: model.deep.positive_threshold: 9 is above", 0),
            0u);
  // mse fits ratings: its threshold is not used.
  EXPECT_EQ(config_error({}, {"model.type=deep", "model.deep.positive_threshold=9"}), "(no error)");
}

// DESIGN.md's documented config (the tutorial's values, flat).
TEST(Config, TheDesignDocumentsConfigStillLoads) {
  TempDir dir;
  write_file(dir / "c.yaml",
             "database: recs.db\n"
             "import:\n"
             "  ratings: data/ratings.csv\n"
             "  movies: data/movies.csv\n"
             "  rating_map: {}\n"
             "model:\n"
             "  type: dot\n"
             "  factors: 5\n"
             "  epochs: 3\n"
             "  learning_rate: 0.001\n"
             "  batch_size: 32\n"
             "  seed: 42\n"
             "train:\n"
             "  validation_fraction: 0.1\n"
             "score:\n"
             "  top_n: 100\n"
             "  exclude_rated: true\n"
             "  threads: 0\n");
  const Config c = load_config(dir / "c.yaml", {});
  EXPECT_EQ(keys_of(c, "dot"), keys_of(load_config({}, {}), "dot"));
  EXPECT_EQ(c.model.seed, 42u);
}

// config/prod.yaml keeps only values that differ from the registry's
// defaults, in the type's own section: when a default changes later, the
// nightly job follows it instead of pinning the old value, and a value that
// became the default must be dropped from the file.
TEST(Config, ProdPinsOnlyWhatDiffersFromTheRegistry) {
  const auto file = test::source_dir() / "config" / "prod.yaml";
  const Config prod = load_config(file, {});
  const YAML::Node model = YAML::LoadFile(file.string())["model"];
  ASSERT_TRUE(model.IsMap());
  for (const auto& kv : model) {
    const std::string name = kv.first.Scalar();
    if (name == "type" || name == "seed") continue;
    const ModelType* t = find_model_type(name);
    ASSERT_NE(t, nullptr) << "prod.yaml: model." << name
                          << " is flat: it would follow model.type to another type; put it "
                             "in its type's section";
    if (kv.second.IsNull()) continue;
    for (const auto& key : kv.second) {
      const ParamKey* k = t->key(key.first.Scalar());
      ASSERT_NE(k, nullptr);
      EXPECT_NE(k->get(model_params(prod.model, t->name)), k->get(t->defaults))
          << "prod.yaml:" << key.first.Mark().line + 1 << ": model." << t->name << "." << k->name
          << " restates the default " << to_string(k->get(t->defaults))
          << "; remove it so the file follows the registry";
    }
  }
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

// A check across keys names the one a --set gave and is a bad command line
// (exit 2); from the file alone it names the file's line (exit 3).
TEST(Config, ChecksAcrossKeysBlameTheSetThatBrokeThem) {
  TempDir dir;
  write_file(dir / "c.yaml", "import:\n  rating_min: 1\n  rating_max: 5\n");
  auto code_and_message = [&](std::vector<std::string> sets) -> std::pair<int, std::string> {
    try {
      load_config(dir / "c.yaml", sets);
    } catch (const Error& e) {
      return {static_cast<int>(e.code()), e.what()};
    }
    return {0, "(no error)"};
  };
  auto [code, message] = code_and_message({"import.rating_max=0.5"});
  EXPECT_EQ(code, 2) << message;
  EXPECT_EQ(message.rfind("--set: import.rating_max: import.rating_min (1) must not exceed", 0), 0u)
      << message;
  std::tie(code, message) = code_and_message({"import.rating_min=6"});
  EXPECT_EQ(code, 2) << message;
  EXPECT_EQ(message.rfind("--set: import.rating_min: ", 0), 0u) << message;
  std::tie(code, message) = code_and_message({"import.rating_map={9: 1}"});
  EXPECT_EQ(code, 2) << message;
  EXPECT_EQ(message.rfind("--set: import.rating_map: rating 9 lies outside", 0), 0u) << message;

  write_file(dir / "c.yaml", "import:\n  rating_min: 4\n  rating_max: 3\n");
  std::tie(code, message) = code_and_message({});
  EXPECT_EQ(code, 3) << message;
  EXPECT_NE(message.find("c.yaml:2: import.rating_min: import.rating_min (4) must not exceed"),
            std::string::npos)
      << message;
}

}  // namespace
}  // namespace recs
