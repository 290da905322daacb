// Typed keys of a parameter struct, declared once beside the struct: each key
// names its member (a member pointer), its documented range or choices and
// its doc string; the struct's member initialisers are the defaults. The
// config loader (config.cpp) parses and range-checks a value and hands it to
// the key; `pipeline config` shows every key with its range and doc. Model
// types declare their sections (model.<type>.*) this way, see
// models/registry.h. Knows nothing about YAML or about the model types.
#pragma once

#include <any>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

namespace recs {

// A parsed value: kInt keys hold long long, kReal double, kBool bool,
// kChoice std::string.
using ParamValue = std::variant<long long, double, bool, std::string>;

// One key, type-erased over the struct it sets (held in a std::any).
struct ParamKey {
  enum class Kind { kInt, kReal, kBool, kChoice };
  std::string name;  // as written under the section, e.g. "l2"
  Kind kind = Kind::kInt;
  double lo = 0;  // kInt, kReal: the documented, enforced range [lo, hi]
  double hi = 0;
  std::vector<std::string> choices;  // kChoice
  std::string doc;
  std::function<void(std::any& params, const ParamValue& value)> set;
  std::function<ParamValue(const std::any& params)> get;

  // "[1..1024]", "{sgd, adam}" or "" (kBool).
  std::string range() const;
};

// The value as a config file would spell it ("0.01", "true", "sgd").
std::string to_string(const ParamValue& value);

// The keys of parameter struct P, built with one add() per member; extend()
// takes over the keys of a base struct P derives from (deep's parameters are
// the dot model's plus its own).
template <typename P>
class ParamTable {
 public:
  struct Entry {
    ParamKey meta;  // without set/get
    std::function<void(P&, const ParamValue&)> set;
    std::function<ParamValue(const P&)> get;
  };

  ParamTable& add(std::string name, int P::*member, long long lo, long long hi, std::string doc) {
    Entry e = entry(std::move(name), ParamKey::Kind::kInt, std::move(doc));
    e.meta.lo = static_cast<double>(lo);
    e.meta.hi = static_cast<double>(hi);
    e.set = [member](P& p, const ParamValue& v) {
      p.*member = static_cast<int>(std::get<long long>(v));
    };
    e.get = [member](const P& p) { return ParamValue(static_cast<long long>(p.*member)); };
    entries_.push_back(std::move(e));
    return *this;
  }

  ParamTable& add(std::string name, double P::*member, double lo, double hi, std::string doc) {
    Entry e = entry(std::move(name), ParamKey::Kind::kReal, std::move(doc));
    e.meta.lo = lo;
    e.meta.hi = hi;
    e.set = [member](P& p, const ParamValue& v) { p.*member = std::get<double>(v); };
    e.get = [member](const P& p) { return ParamValue(p.*member); };
    entries_.push_back(std::move(e));
    return *this;
  }

  ParamTable& add(std::string name, bool P::*member, std::string doc) {
    Entry e = entry(std::move(name), ParamKey::Kind::kBool, std::move(doc));
    e.set = [member](P& p, const ParamValue& v) { p.*member = std::get<bool>(v); };
    e.get = [member](const P& p) { return ParamValue(p.*member); };
    entries_.push_back(std::move(e));
    return *this;
  }

  ParamTable& add(std::string name, std::string P::*member, std::vector<std::string> choices,
                  std::string doc) {
    Entry e = entry(std::move(name), ParamKey::Kind::kChoice, std::move(doc));
    e.meta.choices = std::move(choices);
    e.set = [member](P& p, const ParamValue& v) { p.*member = std::get<std::string>(v); };
    e.get = [member](const P& p) { return ParamValue(p.*member); };
    entries_.push_back(std::move(e));
    return *this;
  }

  template <typename Base>
  ParamTable& extend(const ParamTable<Base>& base) {
    static_assert(std::is_base_of_v<Base, P>, "extend() takes the keys of a base struct");
    for (const auto& b : base.entries()) {
      entries_.push_back({b.meta, [set = b.set](P& p, const ParamValue& v) { set(p, v); },
                          [get = b.get](const P& p) { return get(p); }});
    }
    return *this;
  }

  const std::vector<Entry>& entries() const { return entries_; }

  // The keys over a std::any holding a P.
  std::vector<ParamKey> erased() const {
    std::vector<ParamKey> out;
    for (const auto& e : entries_) {
      ParamKey k = e.meta;
      k.set = [set = e.set](std::any& p, const ParamValue& v) { set(std::any_cast<P&>(p), v); };
      k.get = [get = e.get](const std::any& p) { return get(std::any_cast<const P&>(p)); };
      out.push_back(std::move(k));
    }
    return out;
  }

 private:
  static Entry entry(std::string name, ParamKey::Kind kind, std::string doc) {
    Entry e;
    e.meta.name = std::move(name);
    e.meta.kind = kind;
    e.meta.doc = std::move(doc);
    return e;
  }

  std::vector<Entry> entries_;
};

}  // namespace recs
