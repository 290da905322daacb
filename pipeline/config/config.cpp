#include "config/config.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <functional>
#include <limits>
#include <optional>
#include <sstream>
#include <system_error>

#include "config/conninfo.h"
#include "models/registry.h"
#include "util/error.h"

namespace recs {
namespace fs = std::filesystem;

namespace {

// Where a value came from, for messages: "prod.yaml:12" or "--set".
struct Source {
  std::string origin;
  fs::path base_dir;  // relative paths are resolved against this
  // A --set: a bad value there is a bad command line (exit 2), not a bad file.
  bool command_line = false;
};

[[noreturn]] void fail(const Source& src, const std::string& key, const std::string& why) {
  if (src.command_line) throw UsageError(src.origin + ": " + key + ": " + why);
  throw ConfigError(src.origin + ": " + key + ": " + why);
}

std::string scalar_text(const YAML::Node& node) {
  if (node.IsScalar()) return "'" + node.Scalar() + "'";
  if (node.IsMap()) return "a mapping";
  if (node.IsSequence()) return "a list";
  return "nothing";
}

long long as_int(const YAML::Node& n, const Source& s, const std::string& key, long long lo,
                 long long hi) {
  long long v = 0;
  bool ok = n.IsScalar();
  if (ok) {
    const std::string& t = n.Scalar();
    std::size_t pos = 0;
    try {
      v = std::stoll(t, &pos, 10);
    } catch (const std::exception&) {
      ok = false;
    }
    ok = ok && pos == t.size();
  }
  if (!ok) fail(s, key, "expected an integer, got " + scalar_text(n));
  if (v < lo || v > hi) {
    fail(s, key,
         "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) + "], got " +
             std::to_string(v));
  }
  return v;
}

double as_real(const YAML::Node& n, const Source& s, const std::string& key, double lo, double hi) {
  double v = 0;
  bool ok = n.IsScalar();
  if (ok) {
    const std::string& t = n.Scalar();
    std::size_t pos = 0;
    try {
      v = std::stod(t, &pos);
    } catch (const std::exception&) {
      ok = false;
    }
    ok = ok && pos == t.size() && std::isfinite(v);
  }
  if (!ok) fail(s, key, "expected a finite number, got " + scalar_text(n));
  if (v < lo || v > hi) {
    std::ostringstream o;
    o.precision(10);  // 0.99999999 (beta2's bound) is not 1
    o << "must be in [" << lo << ", " << hi << "], got " << v;
    fail(s, key, o.str());
  }
  return v;
}

bool as_bool(const YAML::Node& n, const Source& s, const std::string& key) {
  if (n.IsScalar()) {
    // YAML 1.1's spellings, as yaml-cpp reads them: lower case, capitalised
    // or upper case (True, YES), nothing in between (tRUE).
    const std::string& t = n.Scalar();
    const auto spelled = [&](std::string_view word) {
      std::string cap(word), upper(word);
      cap[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(cap[0])));
      for (char& ch : upper) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      return t == word || t == cap || t == upper;
    };
    if (spelled("true") || spelled("yes") || spelled("on")) return true;
    if (spelled("false") || spelled("no") || spelled("off")) return false;
  }
  fail(s, key, "expected true or false, got " + scalar_text(n));
}

std::string as_string(const YAML::Node& n, const Source& s, const std::string& key) {
  if (!n.IsScalar()) fail(s, key, "expected a string, got " + scalar_text(n));
  return n.Scalar();
}

fs::path as_path(const YAML::Node& n, const Source& s, const std::string& key) {
  std::string t = as_string(n, s, key);
  if (t.empty()) return {};
  fs::path p(t);
  if (p.is_relative()) p = s.base_dir / p;
  return p.lexically_normal();
}

std::string fmt_real(double v) {
  std::ostringstream o;
  o << v;
  return o.str();
}

struct Field {
  std::string key;
  std::string doc;
  std::function<void(Config&, const YAML::Node&, const Source&)> set;
  std::function<std::string(const Config&)> show;
};

template <typename Section>
using SectionOf = Section Config::*;

template <typename S, typename T>
Field int_field(std::string key, SectionOf<S> sec, T S::*m, long long lo, long long hi,
                std::string doc) {
  auto k = key;
  return {std::move(key),
          std::move(doc) + " [" + std::to_string(lo) + ".." + std::to_string(hi) + "]",
          [=](Config& c, const YAML::Node& n, const Source& s) {
            (c.*sec).*m = static_cast<T>(as_int(n, s, k, lo, hi));
          },
          [=](const Config& c) { return std::to_string((c.*sec).*m); }};
}

template <typename S>
Field real_field(std::string key, SectionOf<S> sec, double S::*m, double lo, double hi,
                 std::string doc) {
  auto k = key;
  return {std::move(key), std::move(doc) + " [" + fmt_real(lo) + ".." + fmt_real(hi) + "]",
          [=](Config& c, const YAML::Node& n, const Source& s) {
            (c.*sec).*m = as_real(n, s, k, lo, hi);
          },
          [=](const Config& c) { return fmt_real((c.*sec).*m); }};
}

template <typename S>
Field bool_field(std::string key, SectionOf<S> sec, bool S::*m, std::string doc) {
  auto k = key;
  return {std::move(key), std::move(doc),
          [=](Config& c, const YAML::Node& n, const Source& s) { (c.*sec).*m = as_bool(n, s, k); },
          [=](const Config& c) { return std::string((c.*sec).*m ? "true" : "false"); }};
}

template <typename S>
Field path_field(std::string key, SectionOf<S> sec, fs::path S::*m, std::string doc) {
  auto k = key;
  return {std::move(key), std::move(doc),
          [=](Config& c, const YAML::Node& n, const Source& s) { (c.*sec).*m = as_path(n, s, k); },
          [=](const Config& c) { return "'" + ((c.*sec).*m).string() + "'"; }};
}

template <typename S>
Field choice_field(std::string key, SectionOf<S> sec, std::string S::*m,
                   std::vector<std::string> choices, std::string doc) {
  auto k = key;
  std::string list;
  for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
  return {std::move(key), std::move(doc) + " {" + list + "}",
          [=](Config& c, const YAML::Node& n, const Source& s) {
            std::string v = as_string(n, s, k);
            for (const auto& choice : choices) {
              if (v == choice) {
                (c.*sec).*m = v;
                return;
              }
            }
            fail(s, k, "must be one of " + list + ", got '" + v + "'");
          },
          [=](const Config& c) { return (c.*sec).*m; }};
}

template <typename S>
Field id_list_field(std::string key, SectionOf<S> sec, std::vector<std::int64_t> S::*m,
                    std::string doc) {
  auto k = key;
  return {std::move(key), std::move(doc),
          [=](Config& c, const YAML::Node& n, const Source& s) {
            std::vector<std::int64_t> ids;
            if (n.IsScalar() && !n.Scalar().empty()) {
              ids.push_back(as_int(n, s, k, 1, (1LL << 53)));
            } else if (n.IsSequence()) {
              for (const auto& e : n) ids.push_back(as_int(e, s, k, 1, (1LL << 53)));
            } else if (!n.IsNull() && !(n.IsScalar() && n.Scalar().empty())) {
              fail(s, k, "expected a list of movie ids, got " + scalar_text(n));
            }
            (c.*sec).*m = std::move(ids);
          },
          [=](const Config& c) {
            std::string out = "[";
            for (std::size_t i = 0; i < ((c.*sec).*m).size(); ++i) {
              if (i) out += ", ";
              out += std::to_string(((c.*sec).*m)[i]);
            }
            return out + "]";
          }};
}

template <typename S>
Field string_list_field(std::string key, SectionOf<S> sec, std::vector<std::string> S::*m,
                        std::string doc) {
  auto k = key;
  return {std::move(key), std::move(doc),
          [=](Config& c, const YAML::Node& n, const Source& s) {
            std::vector<std::string> out;
            auto one = [&](const YAML::Node& e) {
              std::string v = as_string(e, s, k);
              if (v.empty() || v.find('|') != std::string::npos)
                fail(s, k, "each entry must be one non-empty name without '|'");
              out.push_back(std::move(v));
            };
            if (n.IsScalar() && !n.Scalar().empty()) {
              one(n);
            } else if (n.IsSequence()) {
              for (const auto& e : n) one(e);
            } else if (!n.IsNull() && !(n.IsScalar() && n.Scalar().empty())) {
              fail(s, k, "expected a list of names, got " + scalar_text(n));
            }
            (c.*sec).*m = std::move(out);
          },
          [=](const Config& c) {
            std::string out = "[";
            for (std::size_t i = 0; i < ((c.*sec).*m).size(); ++i) {
              if (i) out += ", ";
              std::string quoted;
              for (char ch : ((c.*sec).*m)[i]) quoted += ch == '\'' ? "''" : std::string(1, ch);
              out += "'" + quoted + "'";
            }
            return out + "]";
          }};
}

// A free-form string; `show` gives how it is displayed (and recorded).
template <typename S>
Field string_field(std::string key, SectionOf<S> sec, std::string S::*m, std::string doc,
                   std::function<bool(const std::string&)> valid, std::string rule,
                   std::function<std::string(const std::string&)> show) {
  auto k = key;
  return {std::move(key), std::move(doc),
          [=](Config& c, const YAML::Node& n, const Source& s) {
            std::string v = n.IsNull() ? std::string() : as_string(n, s, k);
            if (!valid(v)) fail(s, k, rule + ", got '" + show(v) + "'");
            (c.*sec).*m = std::move(v);
          },
          [=](const Config& c) {
            std::string out;
            for (char ch : show((c.*sec).*m)) out += ch == '\'' ? "''" : std::string(1, ch);
            return "'" + out + "'";
          }};
}

// A PostgreSQL role name as written unquoted: lowercase letters, digits,
// '_' and '$', not starting with a digit or '$', at most 63 bytes.
bool role_name(const std::string& v) {
  if (v.empty()) return true;
  if (v.size() > 63 || std::isdigit(static_cast<unsigned char>(v[0])) || v[0] == '$') return false;
  for (char ch : v) {
    if (!(std::islower(static_cast<unsigned char>(ch)) ||
          std::isdigit(static_cast<unsigned char>(ch)) || ch == '_' || ch == '$'))
      return false;
  }
  return true;
}

// The registered model types of one kind, for docs: "dot, deep, biased_mf".
std::string type_names(ModelKind kind) {
  std::string out;
  for (const ModelType* t : model_types()) {
    if (t->kind == kind) out += (out.empty() ? "" : ", ") + t->name;
  }
  return out;
}

const std::vector<Field>& fields() {
  static const std::vector<Field> kFields = [] {
    std::vector<Field> f;
    f.push_back({"database", "SQLite database file (created and migrated as needed)",
                 [](Config& c, const YAML::Node& n, const Source& s) {
                   c.database = as_path(n, s, "database");
                   if (c.database.empty()) fail(s, "database", "must not be empty");
                 },
                 [](const Config& c) { return "'" + c.database.string() + "'"; }});
    f.push_back(path_field("import.ratings", &Config::import, &ImportConfig::ratings,
                           "ratings CSV: userId,movieId,rating,timestamp"));
    f.push_back(path_field("import.movies", &Config::import, &ImportConfig::movies,
                           "movies CSV: movieId,title,genres ('' = none)"));
    f.push_back({"import.rating_map",
                 "maps raw ratings to trained values, e.g. {1: -1, 3: 0, 5: 1}; {} = identity; "
                 "a rating with no entry is an input error",
                 [](Config& c, const YAML::Node& n, const Source& s) {
                   const std::string k = "import.rating_map";
                   if (n.IsNull()) {
                     c.import.rating_map.clear();
                     return;
                   }
                   if (!n.IsMap())
                     fail(s, k, "expected a mapping of rating: value, got " + scalar_text(n));
                   std::map<double, double> m;
                   for (const auto& kv : n) {
                     std::string sub = k + "." + (kv.first.IsScalar() ? kv.first.Scalar() : "?");
                     Source at = s;
                     // In a file, the entry's own line; a --set's origin is its text.
                     if (!s.command_line && kv.first.Mark().line >= 0 &&
                         s.origin.find(':') != std::string::npos) {
                       at.origin = s.origin.substr(0, s.origin.rfind(':')) + ":" +
                                   std::to_string(kv.first.Mark().line + 1);
                     }
                     double from = as_real(kv.first, at, sub, -1e9, 1e9);
                     double to = as_real(kv.second, at, sub, -1e9, 1e9);
                     if (!m.emplace(from, to).second) fail(at, sub, "mapped twice");
                   }
                   c.import.rating_map = std::move(m);
                 },
                 [](const Config& c) {
                   std::string out = "{";
                   for (const auto& [from, to] : c.import.rating_map) {
                     out += (out.size() > 1 ? ", " : "") + fmt_real(from) + ": " + fmt_real(to);
                   }
                   return out + "}";
                 }});
    f.push_back(real_field("import.rating_min", &Config::import, &ImportConfig::rating_min, -1e9,
                           1e9, "smallest valid raw rating"));
    f.push_back(real_field("import.rating_max", &Config::import, &ImportConfig::rating_max, -1e9,
                           1e9, "largest valid raw rating"));
    f.push_back(bool_field(
        "import.skip_bad_rows", &Config::import, &ImportConfig::skip_bad_rows,
        "skip and count malformed rows instead of failing the import (a skipped row counts as "
        "absent: a stored rating for its pair is removed)"));
    f.push_back(real_field("import.max_removed_share", &Config::import,
                           &ImportConfig::max_removed_share, 0.0, 1.0,
                           "largest share of the stored ratings one import may delete (a "
                           "truncated or wrong export is refused, nothing changed); 1 = no limit"));
    f.push_back(choice_field("model.type", &Config::model, &ModelConfig::type, model_type_names(),
                             "model to train; dot is the tutorial's embedding dot product; its "
                             "keys are model.<type>.* (or flat, model.<key>)"));
    f.push_back(int_field("model.seed", &Config::model, &ModelConfig::seed, 0,
                          std::numeric_limits<long long>::max(),
                          "seed for initialisation, shuffling and the validation split"));
    f.push_back(real_field(
        "train.validation_fraction", &Config::train, &TrainConfig::validation_fraction, 0.0, 0.9,
        "share of ratings held out to report validation error (" + type_names(ModelKind::kRating) +
            "; " + type_names(ModelKind::kImplicit) + " train on every rating)"));
    f.push_back(int_field("train.split_seed", &Config::train, &TrainConfig::split_seed, -1,
                          std::numeric_limits<long long>::max(),
                          "seed of the validation split, -1 = model.seed (fix it to compare "
                          "model seeds on one validation set)"));
    f.push_back(int_field("train.threads", &Config::train, &TrainConfig::threads, 0, 1024,
                          "training threads, 0 = all cores"));
    f.push_back(bool_field("train.warm_start", &Config::train, &TrainConfig::warm_start,
                           "with evaluate.in_run, pipeline run starts the published model from "
                           "the evaluated model's vectors (als); false = from its seeded start"));
    f.push_back(bool_field("train.refit", &Config::train, &TrainConfig::refit,
                           "rating models: publish a model trained again on every rating "
                           "(validation share included) for the epoch count the validation "
                           "run kept"));
    f.push_back(bool_field("evaluate.in_run", &Config::evaluate, &EvaluateConfig::in_run,
                           "also evaluate inside pipeline run, then publish from a model "
                           "trained on all ratings"));
    f.push_back(choice_field("evaluate.split", &Config::evaluate, &EvaluateConfig::split,
                             {"random", "latest"},
                             "hold out a random share of each user's ratings, or the latest"));
    f.push_back(real_field("evaluate.holdout_fraction", &Config::evaluate,
                           &EvaluateConfig::holdout_fraction, 0.01, 0.9,
                           "share of each user's ratings held out"));
    f.push_back({"evaluate.k", "cut-offs K for Precision/Recall/NDCG/MAP/hit rate, e.g. [10, 20]",
                 [](Config& c, const YAML::Node& n, const Source& s) {
                   const std::string k = "evaluate.k";
                   std::vector<int> ks;
                   if (n.IsScalar()) {
                     ks.push_back(static_cast<int>(as_int(n, s, k, 1, 10000)));
                   } else if (n.IsSequence() && n.size() > 0) {
                     for (const auto& e : n)
                       ks.push_back(static_cast<int>(as_int(e, s, k, 1, 10000)));
                   } else {
                     fail(s, k,
                          "expected a list of positive integers, got " +
                              (n.IsSequence() ? std::string("an empty list") : scalar_text(n)));
                   }
                   // Each cut-off once: the metrics are keyed by it.
                   for (std::size_t i = 1; i < ks.size(); ++i) {
                     if (std::find(ks.begin(), ks.begin() + static_cast<std::ptrdiff_t>(i),
                                   ks[i]) != ks.begin() + static_cast<std::ptrdiff_t>(i)) {
                       fail(s, k, "lists " + std::to_string(ks[i]) + " twice");
                     }
                   }
                   c.evaluate.k = std::move(ks);
                 },
                 [](const Config& c) {
                   std::string out = "[";
                   for (std::size_t i = 0; i < c.evaluate.k.size(); ++i) {
                     if (i) out += ", ";
                     out += std::to_string(c.evaluate.k[i]);
                   }
                   return out + "]";
                 }});
    f.push_back(real_field("evaluate.relevant_threshold", &Config::evaluate,
                           &EvaluateConfig::relevant_threshold, -1e9, 1e9,
                           "a held-out raw rating >= this counts as relevant"));
    f.push_back(int_field("evaluate.sample_users", &Config::evaluate, &EvaluateConfig::sample_users,
                          0, 100000000,
                          "ranking metrics on a seeded sample of this many users with a "
                          "relevant held-out rating when there are more; 0 = all of them"));
    f.push_back(bool_field("gate.enabled", &Config::gate, &GateConfig::enabled,
                           "when pipeline run evaluates, refuse to publish a model that ranks "
                           "worse than popularity or than the last published run"));
    f.push_back(real_field("gate.max_drop", &Config::gate, &GateConfig::max_drop, 0.0, 1.0,
                           "largest NDCG drop (at the first evaluate.k) allowed against the "
                           "last published run"));
    f.push_back(int_field("score.top_n", &Config::score, &ScoreConfig::top_n, 1, 10000,
                          "recommendations kept per user"));
    f.push_back(bool_field("score.exclude_rated", &Config::score, &ScoreConfig::exclude_rated,
                           "never recommend a movie the user already rated"));
    f.push_back(int_field("score.threads", &Config::score, &ScoreConfig::threads, 0, 1024,
                          "scoring threads, 0 = all cores"));
    f.push_back(int_field("score.user_block", &Config::score, &ScoreConfig::user_block, 1, 65536,
                          "users per scoring tile"));
    f.push_back(int_field("score.movie_block", &Config::score, &ScoreConfig::movie_block, 16,
                          1 << 20, "movies per scoring tile"));
    f.push_back(choice_field("score.method", &Config::score, &ScoreConfig::method, {"exact", "ann"},
                             "exact scores every candidate; ann takes candidates from an "
                             "approximate index over movie vectors and re-scores them exactly"));
    f.push_back(int_field("score.ann_nprobe", &Config::score, &ScoreConfig::ann_nprobe, 0, 1 << 20,
                          "ann: movie clusters probed per user (more = higher recall, slower), "
                          "0 = calibrated each run to score.ann_recall"));
    f.push_back(real_field("score.ann_recall", &Config::score, &ScoreConfig::ann_recall, 0.5, 1.0,
                           "ann: recall@top_n against exact scoring, measured on a sample of "
                           "users, that the calibrated nprobe must reach (ann_nprobe: 0)"));
    f.push_back(int_field("score.ann_clusters", &Config::score, &ScoreConfig::ann_clusters, 0,
                          1 << 20, "ann: movie clusters in the index, 0 = automatic"));
    f.push_back(id_list_field("score.exclude_movies", &Config::score, &ScoreConfig::exclude_movies,
                              "movie ids never recommended to anyone, e.g. [1, 2]"));
    f.push_back(string_list_field("score.exclude_genres", &Config::score,
                                  &ScoreConfig::exclude_genres,
                                  "movies with any of these genres are never recommended, "
                                  "e.g. [Horror]"));
    f.push_back(id_list_field("score.allow_movies", &Config::score, &ScoreConfig::allow_movies,
                              "when non-empty, only these movie ids are recommended"));
    f.push_back(bool_field("score.fold_in", &Config::score, &ScoreConfig::fold_in,
                           "score users rated after training, with vectors solved against the "
                           "fixed movie vectors"));
    f.push_back(real_field("score.fold_in_l2", &Config::score, &ScoreConfig::fold_in_l2, 0.0, 1e6,
                           "ridge penalty of the fold-in for rating models (" +
                               type_names(ModelKind::kRating) + "; the others use their own)"));
    f.push_back(bool_field("score.explain", &Config::score, &ScoreConfig::explain,
                           "give each recommendation the liked movie most similar to it "
                           "(recommendations.because_movie_id, \"because you rated X\")"));
    f.push_back(bool_field("similar.enabled", &Config::similar, &SimilarConfig::enabled,
                           "publish similar_movies: top-K movies by cosine of movie vectors"));
    f.push_back(int_field("similar.top_k", &Config::similar, &SimilarConfig::top_k, 1, 1000,
                          "similar movies kept per movie"));
    f.push_back(bool_field("clusters.enabled", &Config::clusters, &ClustersConfig::enabled,
                           "publish k-means clusters of users and of movies"));
    f.push_back(int_field("clusters.users", &Config::clusters, &ClustersConfig::users, 1, 100000,
                          "clusters of users (k)"));
    f.push_back(int_field("clusters.movies", &Config::clusters, &ClustersConfig::movies, 1, 100000,
                          "clusters of movies (k)"));
    f.push_back(int_field("clusters.iterations", &Config::clusters, &ClustersConfig::iterations, 1,
                          1000, "largest number of k-means iterations"));
    f.push_back(int_field("clusters.popular_n", &Config::clusters, &ClustersConfig::popular_n, 1,
                          10000, "most-rated movies kept per user cluster"));
    f.push_back(int_field("keep.models", &Config::keep, &KeepConfig::models, 1, 100,
                          "trained models kept (newest first); models a kept or the live set "
                          "came from are kept too"));
    f.push_back(int_field("keep.sets", &Config::keep, &KeepConfig::sets, 1, 10,
                          "published sets kept, the live one included (1 = no rollback); each "
                          "kept set takes the disk space of a full set"));
    f.push_back(string_field(
        "serve.postgres", &Config::serve, &ServeConfig::postgres,
        "libpq connection string of the PostgreSQL server the web app reads; empty = the "
        "SQLite database. Passwords: the libpq environment or .pgpass (one written here is "
        "shown and recorded as ***)",
        [](const std::string& v) { return v.find('\n') == std::string::npos; }, "must be one line",
        [](const std::string& v) { return redact_conninfo(v); }));
    f.push_back(string_field(
        "serve.reader_role", &Config::serve, &ServeConfig::reader_role,
        "PostgreSQL role granted SELECT on what the web app reads (schema recs) and nothing "
        "else; empty = no grants",
        role_name, "must be a lowercase role name (a-z, 0-9, _, $; at most 63 bytes)",
        [](const std::string& v) { return v; }));
    return f;
  }();
  return kFields;
}

const Field* find_field(const std::string& key) {
  for (const auto& f : fields()) {
    if (f.key == key) return &f;
  }
  return nullptr;
}

bool is_section(const std::string& prefix) {
  for (const auto& f : fields()) {
    if (f.key.rfind(prefix + ".", 0) == 0) return true;
  }
  return false;
}

// The model keys besides the fields: model.<type> (a section of that type's
// keys), model.<type>.<key>, and model.<key>, the flat form, which sets the
// chosen type's key of that name once model.type is known.
struct ModelKey {
  const ModelType* type = nullptr;  // nullptr: the flat form
  std::string name;                 // empty: the section model.<type> itself
};

std::optional<ModelKey> model_key(const std::string& key) {
  const std::string prefix = "model.";
  if (key.rfind(prefix, 0) != 0) return std::nullopt;
  const std::string rest = key.substr(prefix.size());
  const auto dot = rest.find('.');
  if (const ModelType* t = find_model_type(rest.substr(0, dot))) {
    return ModelKey{t, dot == std::string::npos ? "" : rest.substr(dot + 1)};
  }
  if (dot != std::string::npos) return std::nullopt;
  return ModelKey{nullptr, rest};
}

std::string key_list(const ModelType& t) {
  std::string out;
  for (const auto& k : t.keys) out += (out.empty() ? "" : ", ") + k.name;
  return out;
}

// A model key as written, applied once model.type is known (resolve_model).
struct ModelAssignment {
  // defaults < file section < file flat < --set section < --set flat
  enum Layer { kFileSection, kFileFlat, kSetSection, kSetFlat } layer;
  ModelKey key;
  YAML::Node value;
  Source at;           // for messages
  std::string origin;  // for Config::origin
};

struct Loader {
  Config& c;
  std::vector<ModelAssignment> model;

  // Buffers model.<type>.<key> or model.<key>; false when `key` is neither.
  bool model_assignment(const std::string& key, const YAML::Node& value, const Source& at,
                        bool from_file) {
    auto mk = model_key(key);
    if (!mk || mk->name.empty()) return false;
    if (mk->type) {
      if (!mk->type->key(mk->name)) {
        fail(at, key,
             "unknown key of model type " + mk->type->name + " (its keys: " + key_list(*mk->type) +
                 ")");
      }
    } else {
      bool any = false;
      for (const ModelType* t : model_types()) any = any || t->key(mk->name) != nullptr;
      if (!any) fail(at, key, "unknown key");
    }
    using L = ModelAssignment::Layer;
    const L layer = from_file ? (mk->type ? L::kFileSection : L::kFileFlat)
                              : (mk->type ? L::kSetSection : L::kSetFlat);
    model.push_back({layer, *mk, value, at, from_file ? at.origin : "--set"});
    return true;
  }

  void apply_map(const YAML::Node& map, const std::string& prefix, const Source& file) {
    for (const auto& kv : map) {
      Source at = file;
      at.origin = file.origin + ":" + std::to_string(kv.first.Mark().line + 1);
      if (!kv.first.IsScalar()) fail(at, prefix.empty() ? "(root)" : prefix, "keys must be names");
      std::string key = prefix.empty() ? kv.first.Scalar() : prefix + "." + kv.first.Scalar();
      if (c.origin.count(key)) fail(at, key, "set twice");
      if (const Field* f = find_field(key)) {
        f->set(c, kv.second, at);
        c.origin[key] = at.origin;
      } else if (model_assignment(key, kv.second, at, true)) {
        c.origin[key] = at.origin;
      } else if (is_section(key) || (model_key(key) && model_key(key)->type)) {
        if (kv.second.IsNull()) continue;  // an empty section keeps its defaults
        if (!kv.second.IsMap())
          fail(at, key, "expected a mapping of keys, got " + scalar_text(kv.second));
        apply_map(kv.second, key, file);
      } else {
        fail(at, key, "unknown key");
      }
    }
  }

  // Every type's parameters from its defaults and its section; then the flat
  // keys, which must be keys of the chosen type, on that type's.
  void resolve_model() {
    for (const ModelType* t : model_types()) c.model.params.try_emplace(t->name, t->defaults);
    const ModelType& chosen = model_type(c.model.type);
    // By pointer: assigning a YAML::Node would overwrite the node it refers to.
    std::vector<const ModelAssignment*> order;
    for (const auto& a : model) order.push_back(&a);
    std::stable_sort(order.begin(), order.end(),
                     [](const auto* x, const auto* y) { return x->layer < y->layer; });
    for (const ModelAssignment* p : order) {
      const ModelAssignment& a = *p;
      const ModelType& t = a.key.type ? *a.key.type : chosen;
      const std::string shown =
          a.key.type ? "model." + t.name + "." + a.key.name : "model." + a.key.name;
      const ParamKey* k = t.key(a.key.name);
      if (!k) {
        std::string others;
        for (const ModelType* o : model_types()) {
          if (o->key(a.key.name)) others += (others.empty() ? "" : ", ") + o->name;
        }
        auto it = c.origin.find("model.type");
        const std::string type_origin = it == c.origin.end()    ? "the default model.type"
                                        : it->second == "--set" ? "model.type from --set"
                                                                : "model.type at " + it->second;
        fail(a.at, shown,
             "not a key of model type " + t.name + " (" + type_origin +
                 "); its keys: " + key_list(t) + "; " + a.key.name + " belongs to " + others +
                 ", in its own section (e.g. model." + others.substr(0, others.find(',')) + "." +
                 a.key.name + ")");
      }
      k->set(c.model.params.at(t.name), parse(*k, a.value, a.at, shown));
      c.origin["model." + t.name + "." + a.key.name] = a.origin;
    }
  }

  static ParamValue parse(const ParamKey& k, const YAML::Node& n, const Source& s,
                          const std::string& key) {
    switch (k.kind) {
      case ParamKey::Kind::kInt:
        return as_int(n, s, key, static_cast<long long>(k.lo), static_cast<long long>(k.hi));
      case ParamKey::Kind::kReal:
        return as_real(n, s, key, k.lo, k.hi);
      case ParamKey::Kind::kBool:
        return as_bool(n, s, key);
      case ParamKey::Kind::kChoice: {
        std::string v = as_string(n, s, key);
        for (const auto& choice : k.choices) {
          if (v == choice) return v;
        }
        std::string list;
        for (const auto& choice : k.choices) list += (list.empty() ? "" : ", ") + choice;
        fail(s, key, "must be one of " + list + ", got '" + v + "'");
      }
    }
    fail(s, key, "unsupported key kind");
  }
};

// yaml-cpp's Load reads a file's first document and ignores the rest, so a
// config with a second one (after a '---' line) would be half read. Its
// events are walked without building nodes and stopped where the second
// document starts: bounded memory whatever the file holds.
class SecondDocumentFinder final : public YAML::EventHandler {
 public:
  struct Found {
    YAML::Mark mark;
  };
  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents_ == 2) throw Found{mark};
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t,
                const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                       YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t,
                  YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}

 private:
  int documents_ = 0;
};

void refuse_second_document(const fs::path& file, const std::string& text) {
  std::istringstream in(text);
  YAML::Parser parser(in);
  SecondDocumentFinder finder;
  try {
    while (parser.HandleNextDocument(finder)) {
    }
  } catch (const SecondDocumentFinder::Found& found) {
    throw ConfigError(file.string() + ":" + std::to_string(found.mark.line + 1) +
                      ": a second YAML document starts here; the config is one document "
                      "(remove this '---' line or what follows it)");
  }
}

}  // namespace

std::string Config::where(const std::string& key) const {
  auto it = origin.find(key);
  return it == origin.end() ? key + " (default)" : it->second + ": " + key;
}

Config load_config(const fs::path& file, const std::vector<std::string>& overrides) {
  Config c;
  Loader loader{c, {}};
  c.database = "recs.db";
  Source src{"(defaults)", fs::current_path()};
  if (!file.empty()) {
    std::error_code ec;
    if (!fs::exists(file, ec)) throw ConfigError(file.string() + ": config file not found");
    if (fs::is_directory(file, ec))
      throw ConfigError(file.string() + ": config file is a directory");
    c.file = fs::absolute(file).lexically_normal();
    src = {file.string(), c.file.parent_path()};
    c.database = src.base_dir / "recs.db";
    std::string text;
    {
      std::ifstream in(file, std::ios::binary);
      std::ostringstream all;
      if (in) all << in.rdbuf();
      if (!in || in.bad()) throw ConfigError(file.string() + ": cannot read config file");
      text = std::move(all).str();
    }
    YAML::Node root;
    try {
      root = YAML::Load(text);
      refuse_second_document(file, text);
    } catch (const YAML::ParserException& e) {
      throw ConfigError(file.string() + ":" + std::to_string(e.mark.line + 1) +
                        ": YAML syntax error: " + e.msg);
    }
    if (root.IsDefined() && !root.IsNull()) {
      if (!root.IsMap()) {
        throw ConfigError(file.string() + ":1: the config must be a mapping of keys");
      }
      loader.apply_map(root, "", src);
    }
  }
  for (const auto& o : overrides) {
    auto eq = o.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw UsageError("--set " + o + ": expected key.path=value");
    }
    std::string key = o.substr(0, eq);
    const Field* f = find_field(key);
    auto mk = model_key(key);
    const bool model_param = mk && !mk->name.empty();
    if (!f && !model_param) {
      if (mk && mk->type) {
        throw UsageError("--set " + o + ": " + key + ": a section; set one key, e.g. " + key + "." +
                         mk->type->keys.front().name + "=...");
      }
      if (is_section(key)) {
        for (const auto& field : fields()) {
          if (field.key.rfind(key + ".", 0) == 0) {
            throw UsageError("--set " + o + ": " + key + ": a section; set one key, e.g. " +
                             field.key + "=...");
          }
        }
      }
      throw UsageError("--set " + o + ": " + key + ": unknown key");
    }
    // YAML reads a '#' at the start or after a blank as a comment: on the
    // command line that would silently cut the value ("a copy #2.db" is
    // "a copy"), so an unquoted one is refused.
    const std::string text = o.substr(eq + 1);
    if (text.empty() || (text.front() != '"' && text.front() != '\'')) {
      for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '#' && (i == 0 || text[i - 1] == ' ' || text[i - 1] == '\t')) {
          throw UsageError("--set " + o + ": " + key +
                           ": YAML would read the value from its '#' on as a comment; quote "
                           "the value (--set '" +
                           key + "=\"" + text + "\"')");
        }
      }
    }
    YAML::Node value;
    try {
      value = YAML::Load(text);
    } catch (const YAML::Exception& e) {
      throw UsageError("--set " + o + ": " + key + ": cannot parse value: " + e.msg);
    }
    Source set_src{"--set " + o, fs::current_path(), true};
    if (f) {
      f->set(c, value, set_src);
    } else {
      loader.model_assignment(key, value, set_src, false);
    }
    c.origin[key] = "--set";
  }
  loader.resolve_model();
  // Checks across keys: when a --set gave one of them, it is the bad command
  // line (exit 2) and is the one named; otherwise the file's line is.
  auto across = [&](const std::vector<std::string>& keys, const std::string& why) {
    for (const std::string& k : keys) {
      auto it = c.origin.find(k);
      if (it != c.origin.end() && it->second == "--set")
        throw UsageError("--set: " + k + ": " + why);
    }
    // The first key the file set, so its line is named; else the first.
    for (const std::string& k : keys)
      if (c.origin.count(k)) throw ConfigError(c.where(k) + ": " + why);
    throw ConfigError(c.where(keys.front()) + ": " + why);
  };
  {
    const ModelType& chosen = model_type(c.model.type);
    if (const auto conflict = chosen.check(c.model.params.at(chosen.name), c.import)) {
      std::vector<std::string> keys = conflict->keys;
      // A flat key (model.members) given with --set is recorded as given.
      const std::string section = "model." + chosen.name + ".";
      for (const std::string& k : conflict->keys) {
        if (!k.starts_with(section)) continue;
        const std::string flat = "model." + k.substr(section.size());
        auto it = c.origin.find(flat);
        if (it != c.origin.end() && it->second == "--set") keys.insert(keys.begin(), flat);
      }
      across(keys, conflict->why);
    }
  }
  if (c.import.rating_min > c.import.rating_max) {
    across({"import.rating_min", "import.rating_max"},
           "import.rating_min (" + fmt_real(c.import.rating_min) +
               ") must not exceed import.rating_max (" + fmt_real(c.import.rating_max) + ")");
  }
  for (const auto& [from, to] : c.import.rating_map) {
    if (from < c.import.rating_min || from > c.import.rating_max) {
      across({"import.rating_map", "import.rating_min", "import.rating_max"},
             "rating " + fmt_real(from) +
                 " lies outside [import.rating_min, import.rating_max] = [" +
                 fmt_real(c.import.rating_min) + ", " + fmt_real(c.import.rating_max) + "]");
    }
  }
  return c;
}

void check_import_inputs(const Config& c) {
  std::error_code ec;
  auto check = [&](const std::string& key, const fs::path& p, bool required) {
    if (p.empty()) {
      if (required) throw ConfigError(c.where(key) + ": no file given");
      return;
    }
    if (!fs::exists(p, ec)) throw ConfigError(c.where(key) + ": file not found: " + p.string());
    if (fs::is_directory(p, ec))
      throw ConfigError(c.where(key) + ": is a directory: " + p.string());
  };
  check("import.ratings", c.import.ratings, true);
  check("import.movies", c.import.movies, false);
}

void check_database_path(const Config& c) {
  std::error_code ec;
  if (fs::is_directory(c.database, ec)) {
    throw ConfigError(c.where("database") + ": is a directory: " + c.database.string());
  }
  auto parent = c.database.parent_path();
  if (!parent.empty() && !fs::is_directory(parent, ec)) {
    throw ConfigError(c.where("database") + ": folder does not exist: " + parent.string());
  }
}

std::string describe_config(const Config& c, bool with_docs) {
  std::ostringstream out;
  auto line = [&](const std::string& text, const std::string& doc) {
    out << text;
    if (with_docs) out << std::string(text.size() < 40 ? 40 - text.size() : 1, ' ') << "# " << doc;
    out << "\n";
  };
  // The chosen type's own keys, as its section: the keys that apply.
  auto model_section = [&] {
    const ModelType& t = model_type(c.model.type);
    const std::any& params = model_params(c.model, t.name);
    line("  " + t.name + ":", "the keys of model.type " + t.name + " (model." + t.name +
                                  ".<key>, or flat: model.<key>)");
    for (const auto& k : t.keys) {
      const ParamValue v = k.get(params);
      std::string doc = k.doc;
      if (!k.range().empty()) doc += " " + k.range();
      const ParamValue d = k.get(t.defaults);
      if (v != d) doc += " (default " + to_string(d) + ")";
      line("    " + k.name + ": " + to_string(v), doc);
    }
  };
  std::string section;
  for (const auto& f : fields()) {
    auto dot = f.key.find('.');
    std::string sec = dot == std::string::npos ? "" : f.key.substr(0, dot);
    std::string name = dot == std::string::npos ? f.key : f.key.substr(dot + 1);
    if (sec != section) {
      if (section == "model") model_section();
      out << sec << ":\n";
      section = sec;
    }
    line((sec.empty() ? "" : "  ") + name + ": " + f.show(c), f.doc);
  }
  if (section == "model") model_section();
  return out.str();
}

}  // namespace recs
