// Logging to stderr, one line per message:
//   2026-12-01T20:00:00.123Z error [run 42] import: ratings.csv:17: ...
// a UTC timestamp, the level, the run id once the run has one (lines before
// that have none), the stage, the message. main's final error line has the
// same form. stdout is reserved for results the user asked for.
#pragma once

#include <fmt/format.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <utility>

namespace recs::log {

enum class Level { kDebug = 0, kInfo = 1, kWarn = 2, kError = 3 };

void set_level(Level level);
// Whether lines of `level` are written.
bool enabled(Level level);
// Runs `f` holding the lock every line is written under (util/progress.h
// draws its line there, so it never cuts a log line in two).
void with_lock(const std::function<void()>& f);
// The stage named on each line ("pipeline" until a command sets one).
void set_stage(std::string_view stage);
// The run named on each line from now on ("[run 42]"); 0 = none.
void set_run(std::int64_t run_id);
// A function write() calls under that lock before each line (util/progress
// clears its line there, so a log line starts at the left margin); null:
// none. The log knows nothing else of what draws on stderr.
void set_before_line(void (*hook)());
void write(Level level, std::string_view message);

inline void info(std::string_view m) { write(Level::kInfo, m); }
inline void warn(std::string_view m) { write(Level::kWarn, m); }
inline void error(std::string_view m) { write(Level::kError, m); }
inline void debug(std::string_view m) { write(Level::kDebug, m); }

// The same with a fmt format string checked at compile time, e.g.
// log::info("{} on {}", command, path). At least one argument, so a plain
// message never goes through the formatter (a '{' in it stays literal).
template <typename T, typename... Args>
void info(fmt::format_string<T, Args...> format, T&& arg, Args&&... args) {
  write(Level::kInfo, fmt::format(format, std::forward<T>(arg), std::forward<Args>(args)...));
}
template <typename T, typename... Args>
void warn(fmt::format_string<T, Args...> format, T&& arg, Args&&... args) {
  write(Level::kWarn, fmt::format(format, std::forward<T>(arg), std::forward<Args>(args)...));
}
template <typename T, typename... Args>
void error(fmt::format_string<T, Args...> format, T&& arg, Args&&... args) {
  write(Level::kError, fmt::format(format, std::forward<T>(arg), std::forward<Args>(args)...));
}
template <typename T, typename... Args>
void debug(fmt::format_string<T, Args...> format, T&& arg, Args&&... args) {
  write(Level::kDebug, fmt::format(format, std::forward<T>(arg), std::forward<Args>(args)...));
}

// Seconds since construction, for stage timings.
class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

}  // namespace recs::log
