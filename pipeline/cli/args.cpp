#include "cli/args.h"

#include <algorithm>
#include <cctype>

#include "util/error.h"

namespace recs::cli {
namespace {

constexpr std::size_t kHelpColumn = 30;

// "-q", "--quiet", "--opt=value": anything starting with '-' except "-",
// "--" and negative numbers, which are plain words.
bool is_option_like(std::string_view arg) {
  return arg.size() > 1 && arg != "--" && arg[0] == '-' &&
         !(std::isdigit(static_cast<unsigned char>(arg[1])) || arg[1] == '.');
}

std::string join(const std::vector<std::string>& items, std::string_view sep) {
  std::string out;
  for (const auto& item : items) out += (out.empty() ? "" : std::string(sep)) + item;
  return out;
}

std::string long_names(const std::vector<const Option*>& options) {
  std::vector<std::string> names;
  for (const Option* o : options) names.push_back(o->name());
  return join(names, " ");
}

void help_row(std::ostringstream& out, const std::string& label, const std::string& text) {
  std::string left = "  " + label;
  if (left.size() >= kHelpColumn) {
    out << left << '\n' << std::string(kHelpColumn, ' ');
  } else {
    out << left << std::string(kHelpColumn - left.size(), ' ');
  }
  out << text << '\n';
}

std::string parse_flag(std::string_view text, bool& out) {
  if (text == "true" || text == "1") {
    out = true;
  } else if (text == "false" || text == "0") {
    out = false;
  } else {
    return "expected true or false, got '" + std::string(text) + "'";
  }
  return {};
}

}  // namespace

// ---- Option ----------------------------------------------------------------

Option& Option::required() {
  required_ = true;
  return *this;
}

Option& Option::show_default() {
  show_default_ = true;
  return *this;
}

Option& Option::choices(std::vector<std::string> allowed) {
  choices_ = std::move(allowed);
  return *this;
}

Option& Option::needs(const Option& other) {
  needs_.push_back(&other);
  return *this;
}

Option& Option::excludes(Option& other) {
  excludes_.push_back(&other);
  other.excludes_.push_back(this);
  return *this;
}

std::vector<std::string> Option::split_names(const std::string& names) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (std::size_t comma; (comma = names.find(',', start)) != std::string::npos;
       start = comma + 1) {
    out.push_back(names.substr(start, comma - start));
  }
  out.push_back(names.substr(start));
  return out;
}

bool Option::matches(std::string_view name) const {
  return std::find(names_.begin(), names_.end(), name) != names_.end();
}

std::string Option::label() const {
  std::string s = join(names_, ",");
  if (!type_.empty()) s += " " + type_;
  if (!choices_.empty()) s += ":{" + join(choices_, ",") + "}";
  if (show_default_) s += "=" + default_text_;
  if (required_) s += " REQUIRED";
  if (!needs_.empty()) s += " Needs: " + long_names(needs_);
  if (!excludes_.empty()) s += " Excludes: " + long_names(excludes_);
  return s;
}

// ---- Parsed ----------------------------------------------------------------

bool Parsed::selected(const Command& c) const {
  return std::find(path.begin(), path.end(), &c) != path.end();
}

// ---- Command ---------------------------------------------------------------

Command::Command(std::string name, std::string description, const Command* parent)
    : name_(std::move(name)), description_(std::move(description)), parent_(parent) {}

Command& Command::add_subcommand(std::string name, std::string description) {
  subcommands_.push_back(
      std::unique_ptr<Command>(new Command(std::move(name), std::move(description), this)));
  return *subcommands_.back();
}

Option& Command::add(std::string names, std::string help) {
  options_.push_back(std::unique_ptr<Option>(new Option(std::move(names), std::move(help))));
  return *options_.back();
}

Option& Command::add_flag(std::string names, bool& target, std::string help) {
  Option& o = add(std::move(names), std::move(help));
  o.flag_ = true;
  o.repeatable_ = true;
  o.set_ = [&target](std::string_view text) { return parse_flag(text, target); };
  return o;
}

void Command::set_version_flag(std::string flag, std::string text) {
  version_flag_ = std::move(flag);
  version_text_ = std::move(text);
}

const Option* Command::find_option(std::string_view name) const {
  for (const auto& o : options_) {
    if (o->matches(name)) return o.get();
  }
  return nullptr;
}

const Command* Command::find_subcommand(std::string_view name) const {
  for (const auto& c : subcommands_) {
    if (c->name_ == name) return c.get();
  }
  return nullptr;
}

std::string Command::full_name() const {
  return parent_ ? parent_->full_name() + " " + name_ : name_;
}

std::string Command::subcommand_path() const {
  if (!parent_) return {};
  return parent_->parent_ ? parent_->subcommand_path() + " " + name_ : name_;
}

Parsed Command::parse(int argc, const char* const* argv) const {
  return parse(std::vector<std::string>(argv + std::min(argc, 1), argv + argc));
}

Parsed Command::parse(const std::vector<std::string>& args) const {
  Parsed parsed;
  parsed.path.push_back(this);
  const Command* cur = this;
  bool help = false;
  std::string error;  // the first problem; a request for help still wins
  auto fail = [&error](std::string message) {
    if (error.empty()) error = std::move(message);
  };

  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg == "-h" || arg == "--help") {
      help = true;
      continue;
    }
    if (!cur->version_flag_.empty() && arg == cur->version_flag_) {
      parsed.output = cur->version_text_ + "\n";
      return parsed;
    }
    if (!is_option_like(arg)) {  // a word: the next subcommand
      if (const Command* sub = cur->find_subcommand(arg)) {
        cur = sub;
        parsed.path.push_back(sub);
      } else {
        fail((cur->subcommands_.empty() ? "unexpected argument: " : "unknown subcommand: ") + arg);
      }
      continue;
    }
    std::string_view name = arg;
    std::optional<std::string_view> value;
    if (std::size_t eq = arg.find('='); arg.starts_with("--") && eq != std::string::npos) {
      name = name.substr(0, eq);
      value = std::string_view(arg).substr(eq + 1);
    }
    const Option* o = cur->find_option(name);
    if (o == nullptr) {
      fail("unknown option " + std::string(name) +
           (cur->parent_ ? " for '" + cur->subcommand_path() + "'" : ""));
      continue;
    }
    if (!o->flag_ && !value && i + 1 < args.size() && !is_option_like(args[i + 1])) {
      value = args[++i];
    }
    std::string why;
    if (o->flag_) {
      why = o->set_(value.value_or("true"));
    } else if (!value || value->empty()) {
      why = "missing value";
    } else if (parsed.has(*o) && !o->repeatable_) {
      why = "given more than once";
    } else if (!o->choices_.empty() &&
               std::find(o->choices_.begin(), o->choices_.end(), *value) == o->choices_.end()) {
      why = std::string(*value) + " not in {" + join(o->choices_, ",") + "}";
    } else {
      why = o->set_(*value);
    }
    if (why.empty()) {
      parsed.given.insert(o);
    } else {
      fail(o->name() + ": " + why);
    }
  }

  if (help) {
    parsed.output = cur->help();
    return parsed;
  }
  for (const Command* c : parsed.path) {
    if (error.empty()) error = c->check(parsed);
  }
  if (!error.empty()) throw UsageError(error + " (see " + name_ + " --help)");
  return parsed;
}

std::string Command::check(const Parsed& parsed) const {
  for (const auto& o : options_) {
    if (!parsed.has(*o)) {
      if (o->required_) return o->name() + " is required";
      continue;
    }
    for (const Option* other : o->needs_) {
      if (!parsed.has(*other)) return o->name() + " requires " + other->name();
    }
    for (const Option* other : o->excludes_) {
      if (parsed.has(*other)) return o->name() + " excludes " + other->name();
    }
  }
  if (!subcommands_.empty() && &parsed.command() == this) {
    std::vector<std::string> names;
    for (const auto& c : subcommands_) names.push_back(c->name_);
    std::string after = parent_ ? " after '" + subcommand_path() + "'" : "";
    return "missing subcommand" + after + ": one of " + join(names, ", ");
  }
  return {};
}

std::string Command::help() const {
  std::ostringstream out;
  out << description_ << '\n';
  out << "Usage: " << full_name() << " [OPTIONS]" << (subcommands_.empty() ? "" : " SUBCOMMAND")
      << '\n';
  out << "\nOptions:\n";
  help_row(out, "-h,--help", "Print this help message and exit");
  if (!version_flag_.empty()) {
    help_row(out, version_flag_, "Display program version information and exit");
  }
  for (const auto& o : options_) help_row(out, o->label(), o->help_);
  if (!subcommands_.empty()) {
    out << "\nSubcommands:\n";
    for (const auto& c : subcommands_) help_row(out, c->name_, c->description_);
  }
  out << '\n';
  return out.str();
}

}  // namespace recs::cli
