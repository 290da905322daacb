#include "util/log.h"

#include <fmt/chrono.h>

#include <atomic>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace recs::log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::kInfo)};
std::mutex g_mutex;
std::string g_stage = "pipeline";
std::int64_t g_run = 0;
std::atomic<void (*)()> g_before_line{nullptr};

// A message as one line: a line break or another control character (from
// a value echoed back: a file name, a --set value) is written escaped, so a
// log reader's one line per event holds.
std::string one_line(std::string_view message) {
  std::string out;
  out.reserve(message.size());
  for (const char c : message) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (u < 0x20 && c != '\t') {
      out += fmt::format("\\x{:02x}", u);
    } else {
      out += c;
    }
  }
  return out;
}

// Callers hold g_mutex.
std::string line_locked(Level level, std::string_view message) {
  static constexpr const char* kNames[] = {"debug", "info", "warn", "error"};
  auto now = std::chrono::system_clock::now();
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm utc = fmt::gmtime(std::chrono::system_clock::to_time_t(now));
  std::string run = g_run > 0 ? fmt::format("[run {}] ", g_run) : std::string();
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}Z {:<5} {}{}: {}", utc, ms,
                     kNames[static_cast<int>(level)], run, g_stage, one_line(message));
}
}  // namespace

void set_level(Level level) { g_level = static_cast<int>(level); }

bool enabled(Level level) { return static_cast<int>(level) >= g_level; }

void with_lock(const std::function<void()>& f) {
  std::lock_guard lock(g_mutex);
  f();
}

void set_stage(std::string_view stage) {
  std::lock_guard lock(g_mutex);
  g_stage = stage;
}

void set_run(std::int64_t run_id) {
  std::lock_guard lock(g_mutex);
  g_run = run_id;
}

void set_before_line(void (*hook)()) { g_before_line = hook; }

void write(Level level, std::string_view message) {
  if (static_cast<int>(level) < g_level) return;
  std::lock_guard lock(g_mutex);
  if (auto* hook = g_before_line.load()) hook();
  // One write per line, so lines from threads never interleave. A log that
  // cannot be written (its disk full, a closed pipe) must not stop the run:
  // the run history in the database still records it, so the error is
  // dropped here (fmt::print would throw, and from a noexcept path abort).
  const std::string line = line_locked(level, message) + "\n";
  if (std::fwrite(line.data(), 1, line.size(), stderr) != line.size()) std::clearerr(stderr);
}

}  // namespace recs::log
