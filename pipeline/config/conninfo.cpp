#include "config/conninfo.h"

#include <cctype>

namespace recs {
namespace {

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

// The keys whose values are secrets: the server password and the client
// key's passphrase.
bool secret(const std::string& key) { return key == "password" || key == "sslpassword"; }

// postgresql://[user[:password]@][host][/db][?key=value&...]
std::string redact_uri(const std::string& uri) {
  std::string out = uri;
  const std::size_t scheme = out.find("://") + 3;
  const std::size_t end_authority = out.find_first_of("/?", scheme);
  const std::size_t at =
      out.rfind('@', end_authority == std::string::npos ? out.size() : end_authority);
  if (at != std::string::npos && at >= scheme) {
    const std::size_t colon = out.find(':', scheme);
    if (colon != std::string::npos && colon < at) out.replace(colon + 1, at - colon - 1, "***");
  }
  std::size_t q = out.find('?');
  while (q != std::string::npos) {
    const std::size_t key = q + 1;
    const std::size_t eq = out.find('=', key);
    const std::size_t amp = out.find('&', key);
    if (eq != std::string::npos && (amp == std::string::npos || eq < amp) &&
        secret(out.substr(key, eq - key))) {
      const std::size_t value_end = amp == std::string::npos ? out.size() : amp;
      out.replace(eq + 1, value_end - eq - 1, "***");
      q = out.find('&', eq);
    } else {
      q = amp;
    }
  }
  return out;
}

// key = value pairs; a value is a bare word (\ escaping the next character)
// or single-quoted with \' and \\.
std::string redact_pairs(const std::string& s) {
  std::string out;
  std::size_t i = 0;
  const std::size_t n = s.size();
  while (i < n) {
    while (i < n && std::isspace(static_cast<unsigned char>(s[i]))) out += s[i++];
    const std::size_t key_begin = i;
    while (i < n && s[i] != '=' && !std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    const std::string key = s.substr(key_begin, i - key_begin);
    out += key;
    while (i < n && std::isspace(static_cast<unsigned char>(s[i]))) out += s[i++];
    if (i >= n || s[i] != '=') continue;
    out += s[i++];
    while (i < n && std::isspace(static_cast<unsigned char>(s[i]))) out += s[i++];
    std::string value;
    if (i < n && s[i] == '\'') {
      value += s[i++];
      while (i < n && s[i] != '\'') {
        if (s[i] == '\\' && i + 1 < n) value += s[i++];
        value += s[i++];
      }
      if (i < n) value += s[i++];
    } else {
      // Unquoted, a backslash escapes the next character (a blank too), as
      // libpq reads it: "password=open\ sesame" is one value.
      while (i < n && !std::isspace(static_cast<unsigned char>(s[i]))) {
        if (s[i] == '\\' && i + 1 < n) value += s[i++];
        value += s[i++];
      }
    }
    out += secret(key) ? std::string("***") : value;
  }
  return out;
}

}  // namespace

std::string redact_conninfo(const std::string& conninfo) {
  if (starts_with(conninfo, "postgresql://") || starts_with(conninfo, "postgres://")) {
    return redact_uri(conninfo);
  }
  return redact_pairs(conninfo);
}

}  // namespace recs
