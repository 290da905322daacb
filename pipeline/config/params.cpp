#include "config/params.h"

#include <sstream>

namespace recs {
namespace {

std::string real_text(double v) {
  std::ostringstream o;
  o.precision(10);  // 0.99999999 (beta2's bound) is not 1
  o << v;
  return o.str();
}

}  // namespace

std::string ParamKey::range() const {
  switch (kind) {
    case Kind::kInt:
      return "[" + std::to_string(static_cast<long long>(lo)) + ".." +
             std::to_string(static_cast<long long>(hi)) + "]";
    case Kind::kReal:
      return "[" + real_text(lo) + ".." + real_text(hi) + "]";
    case Kind::kBool:
      return "";
    case Kind::kChoice: {
      std::string list;
      for (const auto& c : choices) list += (list.empty() ? "" : ", ") + c;
      return "{" + list + "}";
    }
  }
  return "";
}

std::string to_string(const ParamValue& value) {
  if (const auto* i = std::get_if<long long>(&value)) return std::to_string(*i);
  if (const auto* d = std::get_if<double>(&value)) return real_text(*d);
  if (const auto* b = std::get_if<bool>(&value)) return *b ? "true" : "false";
  return std::get<std::string>(value);
}

}  // namespace recs
