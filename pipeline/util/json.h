// A minimal JSON object writer for run history and benchmark lines.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace recs {

class JsonObject {
 public:
  JsonObject& add(std::string_view key, double value);
  JsonObject& add(std::string_view key, std::int64_t value);
  JsonObject& add(std::string_view key, int value) { return add(key, std::int64_t{value}); }
  JsonObject& add(std::string_view key, std::string_view value);
  JsonObject& add(std::string_view key, const char* value) {
    return add(key, std::string_view(value));
  }
  JsonObject& add_raw(std::string_view key, std::string_view json);  // already-encoded JSON
  // Merges the members of another object's text ("{...}") into this one.
  JsonObject& merge(const std::string& object_text);
  std::string str() const { return "{" + body_ + "}"; }
  bool empty() const { return body_.empty(); }

 private:
  void key(std::string_view k);
  std::string body_;
};

std::string json_escape(std::string_view s);

}  // namespace recs
