// A small declarative command-line parser: a tree of commands, each with
// options bound to typed targets. Parsing writes the targets, reports which
// commands were chosen and which options given, and throws recs::UsageError
// (one line, ending in " (see <program> --help)") for any bad command line.
//
// Accepted syntax: `--opt value`, `--opt=value`, short names (`-q`), flags
// (`--flag`, `--flag=true|false`), and one subcommand word per level. Options
// belong to the command they are declared on and come after its name.
#pragma once

#include <charconv>
#include <cmath>
#include <functional>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

namespace recs::cli {

namespace detail {

// Stores `text` into `out`; returns "" on success, else why it was refused.
template <typename T>
std::string parse_value(std::string_view text, T& out) {
  if constexpr (std::is_same_v<T, std::string>) {
    out = std::string(text);
    return {};
  } else if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    out.emplace_back(text);
    return {};
  } else {
    static_assert(std::is_arithmetic_v<T> && !std::is_same_v<T, bool>, "unsupported option type");
    const char* kind = std::is_floating_point_v<T> ? "a number"
                       : std::is_unsigned_v<T>     ? "a non-negative integer"
                                                   : "an integer";
    T value{};
    const char* end = text.data() + text.size();
    auto [stop, ec] = std::from_chars(text.data(), end, value);
    if (ec == std::errc::result_out_of_range) return std::string(text) + " is out of range";
    bool finite = true;
    if constexpr (std::is_floating_point_v<T>) finite = std::isfinite(value);
    if (ec != std::errc() || stop != end || !finite) {
      return std::string("expected ") + kind + ", got '" + std::string(text) + "'";
    }
    out = value;
    return {};
  }
}

// The placeholder shown in help: INT, UINT, FLOAT or TEXT.
template <typename T>
const char* type_name() {
  if constexpr (std::is_floating_point_v<T>) return "FLOAT";
  if constexpr (std::is_integral_v<T> && std::is_unsigned_v<T>) return "UINT";
  if constexpr (std::is_integral_v<T>) return "INT";
  return "TEXT";
}

template <typename T>
std::string to_text(const T& value) {
  if constexpr (std::is_same_v<T, std::vector<std::string>>) {
    return {};
  } else {
    std::ostringstream out;
    out << value;
    return out.str();
  }
}

}  // namespace detail

class Command;

// One option or flag. Configure it through the chainable setters right after
// Command::add_option / add_flag.
class Option {
 public:
  Option& required();
  // Shows the target's value at declaration time in help, as "=VALUE".
  Option& show_default();
  // The value must be one of `allowed`.
  Option& choices(std::vector<std::string> allowed);
  // Giving this option requires giving `other` too.
  Option& needs(const Option& other);
  // This option and `other` may not be given together (both directions).
  Option& excludes(Option& other);

  const std::string& name() const { return names_.back(); }  // the long name

 private:
  friend class Command;
  using Setter = std::function<std::string(std::string_view)>;
  Option(std::string names, std::string help)
      : names_(split_names(names)), help_(std::move(help)) {}
  static std::vector<std::string> split_names(const std::string& names);
  bool matches(std::string_view name) const;
  std::string label() const;  // left column of the help

  std::vector<std::string> names_;  // e.g. {"-q", "--quiet"}
  std::string help_;
  std::string type_;  // empty for a flag
  std::string default_text_;
  Setter set_;
  bool flag_ = false;
  bool required_ = false;
  bool repeatable_ = false;
  bool show_default_ = false;
  std::vector<std::string> choices_;
  std::vector<const Option*> needs_;
  std::vector<const Option*> excludes_;
};

// What parsing found. When `output` is set (help or version was asked for),
// print it to stdout and exit 0; nothing else is meaningful then.
struct Parsed {
  std::vector<const Command*> path;  // the root first, the chosen command last
  std::set<const Option*> given;
  std::optional<std::string> output;

  const Command& command() const { return *path.back(); }
  bool selected(const Command& c) const;
  bool has(const Option& o) const { return given.count(&o) > 0; }
};

// A command: options, and optionally subcommands (one of which is then
// required). Holds references to the bound targets, which must outlive it.
class Command {
 public:
  Command(std::string name, std::string description)
      : Command(std::move(name), std::move(description), nullptr) {}
  Command(const Command&) = delete;
  Command& operator=(const Command&) = delete;

  Command& add_subcommand(std::string name, std::string description);

  // Binds an option taking a value; T is an integer, double, std::string, or
  // std::vector<std::string> (repeatable, each occurrence appends one).
  template <typename T>
  Option& add_option(std::string names, T& target, std::string help) {
    Option& o = add(std::move(names), std::move(help));
    o.type_ = detail::type_name<T>();
    o.default_text_ = detail::to_text(target);
    o.repeatable_ = std::is_same_v<T, std::vector<std::string>>;
    o.set_ = [&target](std::string_view text) { return detail::parse_value(text, target); };
    return o;
  }
  Option& add_flag(std::string names, bool& target, std::string help);
  // A root-level flag that prints `text` and exits 0.
  void set_version_flag(std::string flag, std::string text);

  Parsed parse(const std::vector<std::string>& args) const;
  Parsed parse(int argc, const char* const* argv) const;  // skips argv[0]
  std::string help() const;
  const std::string& name() const { return name_; }

 private:
  Command(std::string name, std::string description, const Command* parent);
  Option& add(std::string names, std::string help);
  const Option* find_option(std::string_view name) const;
  const Command* find_subcommand(std::string_view name) const;
  std::string full_name() const;        // "pipeline bench score"
  std::string subcommand_path() const;  // "bench score"
  // The first broken rule (required, needs, excludes, missing subcommand), or "".
  std::string check(const Parsed& parsed) const;

  std::string name_;
  std::string description_;
  const Command* parent_;
  std::vector<std::unique_ptr<Option>> options_;
  std::vector<std::unique_ptr<Command>> subcommands_;
  std::string version_flag_, version_text_;
};

}  // namespace recs::cli
