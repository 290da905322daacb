// The model registry: every model.type, each declared once in its own file
// (models/<type>.cpp) as one ModelType: its parameter keys with defaults,
// ranges and docs, its kind, its factory and its fold-in policy. The config
// loader, the factory and the train, evaluate and score stages ask the
// registry instead of comparing type names.
//
// Adding a model type: write models/<type>.cpp (a parameter struct whose
// member initialisers are the defaults and whose kType is the name, the
// model, and a `const ModelType& <type>_model_type()` returning
// declare_model<Params>(...)), add that function to the list in
// models/registry.cpp, and let tests/model_contract_test.cpp (which runs over
// the whole registry) pass.
#pragma once

#include <any>
#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "config/config.h"
#include "config/params.h"
#include "models/fold_in.h"
#include "models/model.h"
#include "models/signal.h"

namespace recs {

enum class ModelKind {
  // Fits ratings: trains with a validation split, reports RMSE/MAE, folds new
  // users in by ridge least squares on their ratings.
  kRating,
  // Ranks from positive interactions: its scores are not on the rating scale,
  // so it trains on every rating and reports no rating error.
  kImplicit,
};

// What a type's fold-in policy may use beside its own parameters.
struct FoldInInputs {
  double rating_l2 = 0.1;  // score.fold_in_l2, the ridge penalty rating models use
  // Every stored (mapped) rating and the number of users they come from, for
  // policies that scale by the mean user (als).
  const std::vector<float>* ratings = nullptr;
  // Instead of `ratings`: each distinct (mapped) value and how many ratings
  // have it (a shard holds only its users' ratings, app/shard.h).
  const std::vector<std::pair<float, std::int64_t>>* rating_counts = nullptr;
  std::size_t users = 0;
  int threads = 0;  // score.threads
};

// The fold-in of a rating model: ridge least squares on the (mapped) ratings
// with penalty score.fold_in_l2.
FoldInOptions rating_fold_in(const FoldInInputs& inputs);

// One model type, type-erased over its parameter struct.
// Why two or more keys cannot go together.
struct ParamConflict {
  std::vector<std::string> keys;  // full key paths; the first is the one named
  std::string why;
};

// A positive_threshold (`key`, full path) no trained rating reaches: the
// largest is import.rating_max, or the largest value of import.rating_map.
std::optional<ParamConflict> unreachable_threshold(const std::string& key, double threshold,
                                                   const ImportConfig& import);

struct ModelType {
  std::string name;  // the model.type value and the section model.<name>
  ModelKind kind = ModelKind::kRating;
  std::vector<ParamKey> keys;  // model.<name>.<key>
  std::any defaults;           // the parameter struct, default-constructed
  std::function<std::unique_ptr<Model>(const std::any& params, const ModelContext&)> make;
  std::function<FoldInOptions(const std::any& params, const FoldInInputs&)> fold_in;
  // Which users' vectors carry no signal, so the score stage publishes no
  // rows for them (models/signal.h); README "Models" lists each type's.
  std::function<SignalRule(const std::any& params)> signal;
  // The kind for these parameters: `kind` unless the type's objective is a
  // parameter (deep's model.deep.loss).
  std::function<ModelKind(const std::any& params)> kind_of;
  // Keys that are each in range but do not go together (deep's members with
  // loss mse, a positive_threshold above every rating): the keys involved
  // and why, so the config names their lines before anything runs; nullopt
  // when fine.
  std::function<std::optional<ParamConflict>(const std::any& params, const ImportConfig& import)>
      check;

  const ParamKey* key(const std::string& key_name) const;
};

// A type's declaration, typed on its parameter struct P: P{} holds the
// defaults, P::kType the name.
template <typename P>
struct ModelDeclaration {
  ModelKind kind = ModelKind::kRating;
  ParamTable<P> keys;
  std::unique_ptr<Model> (*make)(const P& params, const ModelContext& context) = nullptr;
  FoldInOptions (*fold_in)(const P& params, const FoldInInputs& inputs) = nullptr;
  // nullptr: no user is dropped for want of signal (non-finite scores are
  // the quality gate's).
  SignalRule (*signal)(const P& params) = nullptr;
  // nullptr: always `kind`.
  ModelKind (*kind_of)(const P& params) = nullptr;
  // nullptr: every combination of in-range values is valid.
  std::optional<ParamConflict> (*check)(const P& params, const ImportConfig& import) = nullptr;
};

template <typename P>
ModelType declare_model(ModelDeclaration<P> d) {
  ModelType t;
  t.name = P::kType;
  t.kind = d.kind;
  t.keys = d.keys.erased();
  t.defaults = P{};
  t.make = [make = d.make](const std::any& p, const ModelContext& c) {
    return make(std::any_cast<const P&>(p), c);
  };
  t.fold_in = [fold_in = d.fold_in](const std::any& p, const FoldInInputs& in) {
    return fold_in(std::any_cast<const P&>(p), in);
  };
  t.signal = [signal = d.signal](const std::any& p) {
    return signal ? signal(std::any_cast<const P&>(p)) : SignalRule{};
  };
  t.kind_of = [kind = d.kind, kind_of = d.kind_of](const std::any& p) {
    return kind_of ? kind_of(std::any_cast<const P&>(p)) : kind;
  };
  t.check = [check = d.check](const std::any& p,
                              const ImportConfig& import) -> std::optional<ParamConflict> {
    return check ? check(std::any_cast<const P&>(p), import) : std::nullopt;
  };
  return t;
}

// Every model type, in the order `pipeline config` and error messages list
// them (models/registry.cpp).
const std::vector<const ModelType*>& model_types();
std::vector<std::string> model_type_names();
// nullptr when no type has that name.
const ModelType* find_model_type(const std::string& name);
// A ConfigError naming the known types when no type has that name.
const ModelType& model_type(const std::string& name);

// Whether the type fits ratings with its default parameters.
bool is_rating_model(const std::string& type);

// The parameters `config` holds for `type`: its section as loaded (flat keys
// already applied when it is the chosen type), or the type's defaults when
// the config holds none.
const std::any& model_params(const ModelConfig& config, const std::string& type);
template <typename P>
const P& model_params(const ModelConfig& config) {
  return std::any_cast<const P&>(model_params(config, P::kType));
}

// Whether config.type with the parameters `config` holds fits ratings
// (ModelKind::kRating): it trains with a validation split, reports RMSE and
// folds in by ridge least squares.
bool is_rating_model(const ModelConfig& config);

// The model config.type names, with its parameters, config.seed and
// train.threads.
std::unique_ptr<Model> make_model(const ModelConfig& config, const TrainConfig& train);

// `config` with the chosen type's `epochs` key set to `epochs` (for
// train.refit); an Error(kInternal) when the type has no such key.
ModelConfig with_epochs(const ModelConfig& config, int epochs);

// How to fold new users into a stored model of type `type`, from that type's
// parameters in `config`.
FoldInOptions fold_in_options(const ModelConfig& config, const std::string& type,
                              const FoldInInputs& inputs);

// Which users a stored model of type `type` publishes no rows for, from that
// type's parameters in `config`.
SignalRule signal_rule(const ModelConfig& config, const std::string& type);

}  // namespace recs
