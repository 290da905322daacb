#include "models/registry.h"

#include <fmt/format.h>

#include <algorithm>

#include "util/error.h"

namespace recs {

std::optional<ParamConflict> unreachable_threshold(const std::string& key, double threshold,
                                                   const ImportConfig& import) {
  const bool mapped = !import.rating_map.empty();
  double top = import.rating_max;
  if (mapped) {
    top = import.rating_map.begin()->second;
    for (const auto& [from, to] : import.rating_map) top = std::max(top, to);
  }
  if (threshold <= top) return std::nullopt;
  return ParamConflict{
      {key, mapped ? "import.rating_map" : "import.rating_max"},
      fmt::format("{:g} is above the largest trained rating ({:g}, {}): no rating would count as "
                  "positive",
                  threshold, top,
                  mapped ? "the largest value of import.rating_map" : "import.rating_max")};
}

// Each type's entry, defined in its own file.
const ModelType& dot_model_type();
const ModelType& deep_model_type();
const ModelType& biased_mf_model_type();
const ModelType& als_model_type();
const ModelType& bpr_model_type();
const ModelType& svdpp_model_type();

const std::vector<const ModelType*>& model_types() {
  static const std::vector<const ModelType*> kTypes = {
      &dot_model_type(), &deep_model_type(), &biased_mf_model_type(),
      &als_model_type(), &bpr_model_type(),  &svdpp_model_type(),
  };
  return kTypes;
}

std::vector<std::string> model_type_names() {
  std::vector<std::string> names;
  for (const ModelType* t : model_types()) names.push_back(t->name);
  return names;
}

const ModelType* find_model_type(const std::string& name) {
  for (const ModelType* t : model_types()) {
    if (t->name == name) return t;
  }
  return nullptr;
}

const ModelType& model_type(const std::string& name) {
  if (const ModelType* t = find_model_type(name)) return *t;
  std::string known;
  for (const auto& n : model_type_names()) known += (known.empty() ? "" : ", ") + n;
  throw ConfigError("model.type: unknown model '" + name + "' (known: " + known + ")");
}

const ParamKey* ModelType::key(const std::string& key_name) const {
  for (const auto& k : keys) {
    if (k.name == key_name) return &k;
  }
  return nullptr;
}

bool is_rating_model(const std::string& type) {
  return model_type(type).kind == ModelKind::kRating;
}

bool is_rating_model(const ModelConfig& config) {
  const ModelType& t = model_type(config.type);
  return t.kind_of(model_params(config, t.name)) == ModelKind::kRating;
}

FoldInOptions rating_fold_in(const FoldInInputs& inputs) {
  FoldInOptions o;
  o.implicit = false;
  o.l2 = inputs.rating_l2;
  o.threads = inputs.threads;
  return o;
}

const std::any& model_params(const ModelConfig& config, const std::string& type) {
  const ModelType& t = model_type(type);
  auto it = config.params.find(t.name);
  return it == config.params.end() ? t.defaults : it->second;
}

std::unique_ptr<Model> make_model(const ModelConfig& config, const TrainConfig& train) {
  const ModelType& t = model_type(config.type);
  return t.make(model_params(config, t.name), ModelContext{config.seed, train.threads});
}

ModelConfig with_epochs(const ModelConfig& config, int epochs) {
  const ModelType& t = model_type(config.type);
  const ParamKey* k = t.key("epochs");
  if (k == nullptr || k->kind != ParamKey::Kind::kInt) {
    throw Error(ExitCode::kInternal, "model type " + t.name + " has no integer key 'epochs'");
  }
  ModelConfig out = config;
  std::any params = model_params(config, t.name);
  k->set(params, ParamValue(static_cast<long long>(epochs)));
  out.params[t.name] = std::move(params);
  return out;
}

FoldInOptions fold_in_options(const ModelConfig& config, const std::string& type,
                              const FoldInInputs& inputs) {
  const ModelType& t = model_type(type);
  return t.fold_in(model_params(config, t.name), inputs);
}

SignalRule signal_rule(const ModelConfig& config, const std::string& type) {
  const ModelType& t = model_type(type);
  return t.signal(model_params(config, t.name));
}

}  // namespace recs
